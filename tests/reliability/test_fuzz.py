"""Fuzzing the sans-IO core with Hypothesis: the SSE decoder with arbitrary bytes in arbitrary
chunks, and the stream reader with generated server scripts (statuses, headers, bodies cut at
random points, transport errors). Only our own exceptions may come out, nothing may grow past
its cap, and every script ends (no spinning)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flue._protocol.params import LiveMode
from flue._protocol.reader import NEED_DATA, Deliver, Done, ReadMachine, SendRequest, Sleep
from flue._protocol.retry import RetryPolicy
from flue._protocol.sse import SSEDecoder
from flue.errors import ConnectionLostError, FlueError, ProtocolError

CAP = 2048
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

# -- the SSE decoder -------------------------------------------------------------------------

_SSE_TOKENS = st.sampled_from(
    [
        b"data:",
        b"data: ",
        b"event: data",
        b"event: control",
        b"event:",
        b": hb",
        b"id: 1",
        b"retry: 10",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\xef\xbb\xbf",
        b"\xff",
        b"\xc3",
        b"x" * 700,
        b'{"a":1}',
        b"[",
        b"]",
        b"\x00",
        b":",
    ]
)
_SSE_BYTES = st.one_of(st.binary(max_size=300), st.lists(_SSE_TOKENS, max_size=40).map(b"".join))


@FUZZ
@given(body=_SSE_BYTES, cuts=st.lists(st.integers(0, 400), max_size=8))
def test_sse_decoder_raises_only_protocol_errors_and_stays_bounded(
    body: bytes, cuts: list[int]
) -> None:
    decoder = SSEDecoder(max_event_size=CAP)
    points = sorted({0, len(body), *(c for c in cuts if c < len(body))})
    chunks = [body[a:b] for a, b in itertools.pairwise(points)] + [b""]
    try:
        for chunk in chunks:
            for event in decoder.feed(chunk):
                assert isinstance(event.data, str) and isinstance(event.event, str)
            assert decoder.buffered <= CAP + 3  # +3: a BOM still being recognised
    except ProtocolError:
        pass


@FUZZ
@given(chunk=st.binary(min_size=1, max_size=600), repeats=st.integers(1, 40))
def test_sse_decoder_memory_is_capped_for_a_line_that_never_ends(
    chunk: bytes, repeats: int
) -> None:
    decoder = SSEDecoder(max_event_size=CAP)
    line = chunk.replace(b"\n", b"x").replace(b"\r", b"x")
    try:
        for _ in range(repeats):
            decoder.feed(line)
            assert decoder.buffered <= CAP + 3
    except ProtocolError as exc:
        assert "max_event_size" in str(exc)
    else:
        assert len(line) * repeats <= CAP + 3


# -- the reader, against generated server scripts ---------------------------------------------

_OFFSETS = st.one_of(
    st.integers(1, 9).map(lambda n: f"0_{n}"), st.sampled_from(["-1", "now", "", "0_1"])
)
_FLAG = st.sampled_from([None, "true", "false", "TRUE", ""])


def _event(i: int) -> dict[str, Any]:
    return {"type": "log", "eventIndex": i, "v": 3}


_JSON_BODIES = st.one_of(
    st.lists(st.integers(0, 5), max_size=4).map(lambda xs: json.dumps([_event(i) for i in xs])),
    st.lists(st.integers(0, 5), max_size=4).map(lambda xs: json.dumps([_event(i) for i in xs])),
    st.sampled_from(["", "[", "{}", "[1]", "null", '{"error": {"type": "x"}}', "<html>"]),
).map(str.encode)


@st.composite
def _sse_frames(draw: st.DrawFn) -> bytes:
    frames = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["data", "control", "comment", "other", "garbage"]))
        if kind == "data":
            frames.append(b"event: data\ndata:" + draw(_JSON_BODIES) + b"\n\n")
        elif kind == "control":
            doc: dict[str, Any] = {}
            offset = draw(_OFFSETS)
            if offset:
                doc["streamNextOffset"] = offset
            for key in ("upToDate", "streamClosed"):
                if draw(st.booleans()):
                    doc[key] = draw(st.sampled_from([True, False, "true"]))
            if draw(st.booleans()):
                doc["streamCursor"] = draw(st.sampled_from(["1", 2]))
            frames.append(b"event: control\ndata:" + json.dumps(doc).encode() + b"\n\n")
        elif kind == "comment":
            frames.append(b": heartbeat\n\n")
        elif kind == "other":
            frames.append(b"event: ping\ndata: {}\n\n")
        else:
            frames.append(draw(_SSE_BYTES))
    return b"".join(frames)


@st.composite
def _response(draw: st.DrawFn, live: LiveMode | None) -> dict[str, Any]:
    status = draw(st.sampled_from([200] * 16 + [204, 304, 400, 404, 429, 500, 503, 302]))
    headers: dict[str, str] = {}
    for name, strategy in (
        (
            "Stream-Next-Offset",
            st.one_of(*[st.integers(1, 9).map(lambda n: f"0_{n}")] * 6, _OFFSETS, st.none()),
        ),
        ("Stream-Up-To-Date", _FLAG),
        ("Stream-Closed", _FLAG),
        ("Stream-Cursor", st.sampled_from([None, "5", ""])),
        ("Retry-After", st.sampled_from([None, "0", "1", "soon", "-3"])),
        (
            "content-type",
            st.sampled_from(
                ["text/event-stream"] * (6 if live is LiveMode.SSE else 1)
                + ["application/json", "", None]
            ),
        ),
    ):
        value = draw(strategy)
        if value is not None:
            headers[name] = value
    sse = headers.get("content-type") == "text/event-stream"
    body = draw(_sse_frames()) if sse else draw(_JSON_BODIES)
    cuts = sorted(set(draw(st.lists(st.integers(0, max(len(body), 1)), max_size=4))))
    chunks = [body[a:b] for a, b in itertools.pairwise([0, *cuts, len(body)])]
    error_at = draw(st.one_of(*[st.none()] * 4, st.integers(0, len(chunks))))
    return {"status": status, "headers": headers, "chunks": chunks, "error_at": error_at}


@FUZZ
@given(data=st.data(), live=st.sampled_from([None, LiveMode.LONG_POLL, LiveMode.SSE]))
def test_reader_survives_any_server_script(data: st.DataObject, live: LiveMode | None) -> None:
    offset = data.draw(st.sampled_from(["-1", "now", "0_1"]))
    script = data.draw(st.lists(_response(live), min_size=1, max_size=12))
    ticks = itertools.count()
    reader = ReadMachine(
        "http://h/runs/r",
        offset=offset,
        live=live,
        retry=RetryPolicy(max_attempts=4, jitter=False),
        max_event_size=CAP,
        max_body_size=4 * CAP,
        clock=lambda: float(next(ticks)),  # one second per look: no answer is "instant"
    )
    responses = iter(script)
    current: dict[str, Any] | None = None
    position = 0
    delivered = 0
    steps = 0
    try:
        while True:
            steps += 1
            # each step consumes a scripted chunk, response or delivery: a bound on steps
            # proves the reader does not spin on its own
            assert steps < 50 * len(script) + 200, "the reader spins"
            action = reader.next_action()
            if action is NEED_DATA:
                assert current is not None
                if current["error_at"] == position:
                    current = None
                    reader.receive_transport_error(ConnectionLostError("cut"))
                    continue
                chunks = current["chunks"]
                reader.receive_data(chunks[position] if position < len(chunks) else b"")
                position += 1
                body = reader._body
                received = body.received if body is not None else 0
                assert received <= 4 * CAP + max(map(len, chunks), default=0)
                if reader._sse is not None:
                    assert reader._sse.buffered <= CAP + 3
            elif isinstance(action, SendRequest):
                current = next(responses, None)
                position = 0
                if current is None:  # the script is over: the server is gone for good
                    reader.receive_transport_error(ConnectionLostError("gone"))
                    continue
                reader.receive_response(current["status"], current["headers"])
            elif isinstance(action, Deliver):
                delivered += len(action.batch.items)
                assert all(isinstance(item, dict) for item in action.batch.items)
                reader.batch_delivered()
                assert reader.offset == action.batch.next_offset
            elif isinstance(action, Sleep):
                assert action.seconds >= 0
                current = None
            else:
                assert isinstance(action, Done)
                event("done")
                return
    except FlueError as exc:
        event(f"raised {type(exc).__name__}")
    finally:
        event("delivered events" if delivered else "delivered nothing")


# -- endless servers that make no progress: every script must end in bounded steps ------------


@st.composite
def _endless_server(draw: st.DrawFn, live: LiveMode | None) -> Any:
    """A server that answers forever without making progress, as a function of the request's
    offset (so it repeats itself): offsets drawn from a small pool (they cycle or go back, or
    never advance), or a fresh offset every time with no item and never up to date; every
    answer comes at once (the clock never moves)."""
    family = draw(
        st.sampled_from(
            ["pool", "fresh", "comments"] if live is LiveMode.SSE else ["pool", "fresh"]
        )
    )
    pool = [f"0_{i}" for i in range(draw(st.integers(1, 4)))]
    table = {
        offset: (
            draw(st.sampled_from(pool)),
            draw(st.integers(0, 2)),
            draw(st.booleans()),
            draw(st.sampled_from([200, 200, 204])),
            draw(st.integers(1, 3)),
        )
        for offset in ["-1", *pool]
    }
    counter = itertools.count(1)

    def answer(request: Any) -> tuple[int, dict[str, str], list[bytes]]:
        here = (
            request.url.split("offset=", 1)[1].split("&", 1)[0]
            if "offset=" in request.url
            else "-1"
        )
        if family == "comments":
            return 200, {"content-type": "text/event-stream"}, [b": hb\n\n"] * 5
        if family == "fresh":
            nxt, n_items, up_to_date, status, repeat = f"1_{next(counter):06d}", 0, False, 200, 1
        else:
            nxt, n_items, up_to_date, status, repeat = table.get(here, table["-1"])
        items = [{"type": "log", "i": i} for i in range(n_items)]
        if live is LiveMode.SSE:
            frames = b""
            for _ in range(repeat):
                if items:
                    frames += b"event: data\ndata:" + json.dumps(items).encode() + b"\n\n"
                control: dict[str, Any] = {"streamNextOffset": nxt, "streamCursor": "1"}
                if up_to_date:
                    control["upToDate"] = True
                frames += b"event: control\ndata:" + json.dumps(control).encode() + b"\n\n"
            return 200, {"content-type": "text/event-stream"}, [frames]
        headers = {"stream-next-offset": nxt, "content-type": "application/json"}
        if up_to_date:
            headers["stream-up-to-date"] = "true"
        if status == 204 and not items:
            return 204, headers, []
        return 200, {**headers, "content-length": "1"}, [json.dumps(items).encode()]

    return answer


@FUZZ
@given(data=st.data(), live=st.sampled_from([None, LiveMode.LONG_POLL, LiveMode.SSE]))
def test_reader_ends_against_endless_servers_that_make_no_progress(
    data: st.DataObject, live: LiveMode | None
) -> None:
    answer = data.draw(_endless_server(live))
    reader = ReadMachine(
        "http://h/runs/r",
        offset=data.draw(st.sampled_from(["-1", "0_0"])),
        live=live,
        retry=RetryPolicy(max_attempts=4, max_elapsed=None, jitter=False),
        stall=5.0,
        clock=lambda: 0.0,  # every answer comes at once
    )
    current: list[bytes] = []
    position = 0
    steps = 0
    try:
        while True:
            steps += 1
            # the bound: 100 empty steps (the largest guard) of a few actions each
            assert steps < 3000, "the reader did not end against a server without progress"
            action = reader.next_action()
            if action is NEED_DATA:
                reader.receive_data(current[position] if position < len(current) else b"")
                position += 1
            elif isinstance(action, SendRequest):
                status, headers, current = answer(action.request)
                position = 0
                reader.receive_response(status, headers)
            elif isinstance(action, Deliver):
                reader.batch_delivered()
            elif isinstance(action, Sleep):
                current = []
            else:
                assert isinstance(action, Done)
                event("done")
                return
    except FlueError as exc:
        event(f"raised {type(exc).__name__}")
