"""The incremental SSE decoder, with scripted bytes split at every boundary."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flue._protocol.sse import SSEDecoder, SSEEvent
from flue.errors import InvalidArgumentError, ProtocolError

BOM = b"\xef\xbb\xbf"


def decode(chunks: Iterable[bytes], *, max_event_size: int = 64 * 1024 * 1024) -> list[SSEEvent]:
    """Feed ``chunks`` then the end of body; all events."""
    decoder = SSEDecoder(max_event_size=max_event_size)
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += decoder.feed(chunk)
    events += decoder.feed(b"")
    return events


def split_at(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(points)]


def every_split(body: bytes) -> Iterable[list[bytes]]:
    """The body whole, in 1-byte chunks, and cut at every single and every pair of positions."""
    yield [body]
    yield [body[i : i + 1] for i in range(len(body))]
    for i in range(1, len(body)):
        yield split_at(body, [i])
        for j in range(i + 1, len(body)):
            yield split_at(body, [i, j])


def assert_same_at_every_split(body: bytes, expected: list[SSEEvent]) -> None:
    for chunks in every_split(body):
        assert decode(chunks) == expected, chunks


def msg(
    data: str, event: str = "message", id: str | None = None, retry: int | None = None
) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


# -- Flue's framing ------------------------------------------------------------------------------


def test_flue_frames_no_space_after_colon_and_duplicate_controls() -> None:
    events = json.dumps([{"type": "log", "eventIndex": 0, "text": "a b\u2028c"}])
    ctrl = '{"streamNextOffset":"0000_0001","streamCursor":"7","upToDate":true}'
    body = (
        f"event: data\ndata:{events}\n\n"
        f"event: control\ndata:{ctrl}\n\n"
        ": heartbeat\n\n"
        f"event: control\ndata:{ctrl}\n\n"
        f"event: control\ndata:{ctrl}\n\n"
    ).encode()
    expected = [
        msg(events, "data"),
        msg(ctrl, "control"),
        msg(ctrl, "control"),
        msg(ctrl, "control"),
    ]
    assert decode([body]) == expected
    assert decode([body[i : i + 7] for i in range(0, len(body), 7)]) == expected


def test_every_split_of_a_tricky_stream() -> None:
    body = BOM + b"data:a\r\n\r\nid: \xc3\xa9\rdata: \xe2\x80\xa8\r\r: c\nevent:x\ndata\n\n"
    expected = [msg("a"), msg("\u2028", id="é"), msg("", event="x", id="é")]
    assert_same_at_every_split(body, expected)


# -- fields --------------------------------------------------------------------------------------


def test_default_event_type_is_message_and_empty_event_field_too() -> None:
    assert decode([b"data: x\n\nevent:\ndata: y\n\nevent: custom\ndata: z\n\n"]) == [
        msg("x"),
        msg("y"),
        msg("z", event="custom"),
    ]


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode([b"data: a\ndata:b\ndata\ndata:  c\ndata:\n\n"]) == [msg("a\nb\n\n c\n")]


def test_exactly_one_leading_space_is_stripped() -> None:
    assert decode([b"data:x\n\ndata: x\n\ndata:  x\n\nevent:  e\ndata: x \n\n"]) == [
        msg("x"),
        msg("x"),
        msg(" x"),
        msg("x ", event=" e"),
    ]


def test_value_keeps_later_colons() -> None:
    assert decode([b"data: a: b:c\n\n"]) == [msg("a: b:c")]


def test_line_without_colon_is_a_field_with_empty_value() -> None:
    assert decode([b"data\n\n"]) == [msg("")]
    assert decode([b"event: e\nevent\ndata: x\n\n"]) == [msg("x")]
    assert decode([b"id: 1\nid\ndata: x\n\n"]) == [msg("x", id="")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    body = b": heartbeat\n:data: no\nfoo: bar\nData: no\n data: no\nretry2: 5\ndata: yes\n\n"
    assert decode([body]) == [msg("yes")]


def test_comment_only_blocks_dispatch_nothing() -> None:
    assert decode([b": heartbeat\n\n: heartbeat\n\n\n\n"]) == []


def test_event_without_data_is_not_dispatched_and_resets_the_type() -> None:
    assert decode([b"event: control\n\ndata: x\n\n"]) == [msg("x")]
    assert decode([b"event: control\nretry: 5\n\ndata: x\n\n"]) == [msg("x")]


def test_id_persists_across_events_and_is_none_until_set() -> None:
    body = b"data: a\n\nid: 1\ndata: b\n\ndata: c\n\nid: 2\n\ndata: d\n\nid:\ndata: e\n\n"
    assert decode([body]) == [
        msg("a"),
        msg("b", id="1"),
        msg("c", id="1"),
        msg("d", id="2"),  # an id in an event without data still takes effect
        msg("e", id=""),
    ]


def test_id_containing_nul_is_ignored() -> None:
    assert decode([b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"]) == [
        msg("a", id="1"),
        msg("b", id="1"),
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1000", 1000),
        (b"0", 0),
        (b"007", 7),
        (b"", None),
        (b" 10", None),  # the value is " 10" after the one stripped space
        (b"10 ", None),
        (b"-1", None),
        (b"1.5", None),
        (b"+1", None),
        (b"1e3", None),
        ("\u0661\u0662".encode(), None),  # Arabic-Indic digits are not ASCII digits
        (b"1" * 5000, None),  # too many digits for int(): ignored, not a crash
    ],
)
def test_retry_only_when_all_ascii_digits(value: bytes, expected: int | None) -> None:
    assert decode([b"retry: " + value + b"\ndata: x\n\n"]) == [msg("x", retry=expected)]


def test_retry_belongs_to_its_event_and_last_valid_one_wins() -> None:
    body = b"retry: 5\nretry: 7\nretry: x\ndata: a\n\ndata: b\n\n"
    assert decode([body]) == [msg("a", retry=7), msg("b")]


# -- line endings --------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_each_line_ending(eol: bytes) -> None:
    body = eol.join([b"event: e", b"data: a", b"data: b", b"", b"data: c", b"", b""])
    assert_same_at_every_split(body, [msg("a\nb", event="e"), msg("c")])


def test_mixed_line_endings() -> None:
    body = b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\rdata: e\n\n"
    assert_same_at_every_split(body, [msg("a\nb\nc"), msg("d"), msg("e")])


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # An extra empty line would dispatch "a" on its own.
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [msg("a\nb")]


def test_cr_at_chunk_end_then_other_bytes() -> None:
    assert decode([b"data: a\r", b"data: b\r", b"\r"]) == [msg("a\nb")]
    assert decode([b"data: a\r", b"\r", b"\n", b"data: b\n\n"]) == [msg("a"), msg("b")]


def test_unicode_line_separators_are_not_line_breaks() -> None:
    text = "a\u2028b\u2029c\u0085d\x0be\x0cf\x1cg\x1dh\x1ei"
    assert decode([b"data: " + text.encode() + b"\n\n"]) == [msg(text)]


# -- BOM -----------------------------------------------------------------------------------------


def test_leading_bom_is_dropped_at_every_split() -> None:
    assert_same_at_every_split(BOM + b"data: x\n\n", [msg("x")])


def test_bom_alone_then_data() -> None:
    assert decode([BOM[:1], BOM[1:2], BOM[2:], b"data: x\n\n"]) == [msg("x")]
    assert decode([BOM, b"data: x\n\n"]) == [msg("x")]


def test_only_one_bom_and_only_at_stream_start() -> None:
    # A second BOM becomes part of the field name, which is then unknown.
    assert decode([BOM + BOM + b"data: x\n\ndata: y\n\n"]) == [msg("y")]
    assert decode([b"data: x\n\n" + BOM + b"data: y\n\n"]) == [msg("x")]
    assert decode([b"data: x\n\n", BOM + b"data: y\n\n"]) == [msg("x")]


def test_bom_in_a_value_is_kept() -> None:
    assert decode([b"data: " + BOM + b"x\n\n"]) == [msg("\ufeffx")]


def test_partial_bom_prefix_is_not_dropped() -> None:
    # b"\xef\xbb" then not b"\xbf": those bytes start the first field name, so it is unknown.
    assert decode([b"\xef\xbb", b"data: x\n\ndata: y\n\n"]) == [msg("y")]
    assert decode([b"\xef", b"\n", b"data: y\n\n"]) == [msg("y")]


def test_stream_of_only_a_partial_bom() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"\xef\xbb") == []
    assert decoder.buffered == 2
    assert decoder.feed(b"") == []
    assert decoder.buffered == 0


# -- end of body ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tail", [b"data: z", b"data: z\n", b"data: z\r", b"data: z\r\n", b"event: e\ndata: z\n"]
)
def test_unterminated_event_at_end_of_body_is_discarded(tail: bytes) -> None:
    assert_same_at_every_split(b"data: a\n\n" + tail, [msg("a")])


def test_feed_after_end_raises_and_end_is_idempotent() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\n") == [msg("a")]
    assert decoder.feed(b"") == []
    assert decoder.feed(b"") == []
    with pytest.raises(ProtocolError, match="after the end"):
        decoder.feed(b"data: b\n\n")


def test_end_releases_buffers() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\ndata: b")
    assert decoder.buffered == len("a\n") + len("data: b")  # data so far + the partial line
    decoder.feed(b"")
    assert decoder.buffered == 0


# -- UTF-8 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"data: \xff\n\n",
        b"data: ok\ndata: \xc3\n\n",  # truncated sequence
        b"data: \xed\xa0\x80\n\n",  # an encoded surrogate
        b"data: \xc0\xaf\n\n",  # overlong
        b"event: \xfe\ndata: x\n\n",
        b"id: \xfe\n",
    ],
)
def test_invalid_utf8_in_a_used_value_raises(body: bytes) -> None:
    with pytest.raises(ProtocolError, match="not valid UTF-8") as info:
        decode([body])
    assert isinstance(info.value.__cause__, UnicodeDecodeError)


def test_invalid_utf8_in_comments_and_ignored_fields_is_never_decoded() -> None:
    assert decode([b": \xff\n\xff: x\ndata: ok\n\n"]) == [msg("ok")]


def test_multibyte_characters_split_across_chunks() -> None:
    text = "é€😀"
    assert_same_at_every_split(b"data: " + text.encode() + b"\n\n", [msg(text)])


def test_decoder_is_unusable_after_an_error() -> None:
    decoder = SSEDecoder()
    with pytest.raises(ProtocolError):
        decoder.feed(b"data: \xff\n\n")
    assert decoder.buffered == 0
    with pytest.raises(ProtocolError, match="already failed"):
        decoder.feed(b"data: x\n\n")
    with pytest.raises(ProtocolError, match="already failed"):
        decoder.feed(b"")


# -- max_event_size ------------------------------------------------------------------------------


def test_never_ending_line_in_small_chunks_hits_the_cap_with_bounded_memory() -> None:
    cap, chunk = 10_000, b"x" * 97
    decoder = SSEDecoder(max_event_size=cap)
    decoder.feed(b"data: ")
    with pytest.raises(ProtocolError) as info:
        for _ in range(10 * cap):
            decoder.feed(chunk)
            assert decoder.buffered <= cap + len(chunk)
    message = str(info.value)
    assert f"max_event_size={cap}" in message
    assert "line that never ends" in message
    assert decoder.buffered == 0


def test_never_ending_comment_line_hits_the_cap() -> None:
    decoder = SSEDecoder(max_event_size=100)
    decoder.feed(b":")
    with pytest.raises(ProtocolError, match="max_event_size=100"):
        for _ in range(200):
            decoder.feed(b"x")


def test_many_data_lines_without_a_blank_line_hit_the_cap() -> None:
    with pytest.raises(ProtocolError, match="max_event_size=100"):
        decode([b"data: 0123456789\n" * 20], max_event_size=100)
    decoder = SSEDecoder(max_event_size=100)
    with pytest.raises(ProtocolError, match="max_event_size=100"):
        for _ in range(20):
            decoder.feed(b"data: 0123456789\n")
            assert decoder.buffered <= 100


def test_long_line_inside_one_chunk_hits_the_cap() -> None:
    with pytest.raises(ProtocolError, match="max_event_size=50"):
        decode([b"data: ok\n\n: " + b"x" * 60 + b"\n\n"], max_event_size=50)


def test_cap_boundary_and_reset_per_event() -> None:
    line = b"data:" + b"x" * 45  # 50 bytes
    for chunks in ([line + b"\n\n"], [line, b"\n\n"], [line[:25], line[25:], b"\n", b"\n"]):
        assert decode(chunks, max_event_size=50) == [msg("x" * 45)]
        with pytest.raises(ProtocolError):
            decode(chunks, max_event_size=49)
    # The cap is per event: many events add up to far more than the cap.
    assert decode([(line + b"\n\n") * 100], max_event_size=50) == [msg("x" * 45)] * 100


def test_cap_must_be_positive() -> None:
    with pytest.raises(InvalidArgumentError):
        SSEDecoder(max_event_size=0)


def test_long_line_in_many_chunks() -> None:
    payload = "[" + ",".join(f'{{"i":{i}}}' for i in range(20_000)) + "]"
    body = b"event: data\ndata:" + payload.encode() + b"\n\n"
    assert decode(body[i : i + 100] for i in range(0, len(body), 100)) == [msg(payload, "data")]


# -- properties: any chunking equals feeding whole equals a reference parser ----------------------


def reference(body: bytes) -> list[SSEEvent]:
    """A direct transcription of the WHATWG algorithm over the whole decoded text."""
    text = body.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = re.split(r"\r\n|\r|\n", text)[:-1]  # the last piece never ended: discarded
    events = []
    data, event_type, last_id, retry = "", "", None, None
    for line in lines:
        if line == "":
            if data:
                event = event_type or "message"
                events.append(SSEEvent(event=event, data=data[:-1], id=last_id, retry=retry))
            data, event_type, retry = "", "", None
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data += value + "\n"
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value and all(c in "0123456789" for c in value):
            retry = int(value)
    return events


values = st.text(
    alphabet=st.one_of(
        st.sampled_from("ab :\u2028\u2029\u0085\ufeff\x00\x0b\x0c\x1c é€😀0123"),
        st.characters(codec="utf-8", exclude_characters="\r\n"),
    ),
    max_size=12,
)
names = st.sampled_from(["data", "data", "data", "event", "id", "retry", "", "foo", "Data"])


@st.composite
def lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["field", "field", "bare", "comment", "blank", "blank", "retry"]))
    if kind == "blank":
        return ""
    if kind == "bare":
        return draw(names)
    if kind == "comment":
        return ":" + draw(values)
    if kind == "retry":
        return (
            "retry:"
            + draw(st.sampled_from(["", " "]))
            + draw(st.from_regex(r"[0-9x]{0,4}", fullmatch=True))
        )
    return draw(names) + ":" + draw(st.sampled_from(["", " ", "  "])) + draw(values)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    body = draw(st.lists(lines(), max_size=25))
    endings = draw(
        st.lists(st.sampled_from(["\n", "\r", "\r\n"]), min_size=len(body), max_size=len(body))
    )
    text = "".join(line + eol for line, eol in zip(body, endings, strict=True))
    text += draw(st.sampled_from(["", "", "data: unterminated", "data: x\n"]))
    bom = draw(st.sampled_from(["", "", "\ufeff", "\ufeff\ufeff"]))
    return (bom + text).encode()


def chunkings(body: bytes) -> st.SearchStrategy[list[bytes]]:
    if len(body) < 2:
        return st.just([body])
    return st.one_of(
        st.just([body[i : i + 1] for i in range(len(body))]),
        st.lists(st.integers(1, len(body) - 1), max_size=8).map(lambda cuts: split_at(body, cuts)),
    )


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_chunking_equals_whole_equals_reference(data: st.DataObject) -> None:
    body = data.draw(streams())
    chunks = data.draw(chunkings(body))
    whole = decode([body])
    assert whole == reference(body)
    assert decode(chunks) == whole


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), cap=st.integers(1, 60))
def test_cap_decision_does_not_depend_on_chunking(data: st.DataObject, cap: int) -> None:
    body = data.draw(streams())
    chunks = data.draw(chunkings(body))

    def outcome(parts: Sequence[bytes]) -> list[SSEEvent] | str:
        try:
            return decode(parts, max_event_size=cap)
        except ProtocolError as exc:
            return str(exc)

    whole = outcome([body])
    assert outcome(chunks) == whole
    if isinstance(whole, list):
        assert whole == reference(body)
