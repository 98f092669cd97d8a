"""Per-item resume positions (``"<offset>+<n>"``): the reader skips exactly the items handed
out before, and refuses a stream that has fewer of them there. Scripted bytes, no sockets."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flue._protocol.http import HttpRequest
from flue._protocol.params import LiveMode
from flue._protocol.position import format_position, parse_position
from flue._protocol.reader import NEED_DATA, Deliver, ReadMachine, SendRequest
from flue.errors import InvalidArgumentError, ProtocolError
from tests.protocol.scripted import Scripted, drive

URL = "https://h/api/runs/r1"
# the stream: 8 events in pages of 3 (offsets o0 .. o8)
EVENTS = [{"type": "log", "i": i} for i in range(8)]


def offset_of(i: int) -> str:
    return "-1" if i == 0 else f"o{i}"


def paged(page: int, *, cut_first: bool = False) -> Any:
    state = {"cut": cut_first}

    def respond(req: HttpRequest) -> Scripted:
        raw = parse_qs(urlsplit(req.url).query)["offset"][0]
        start = 0 if raw == "-1" else int(raw[1:])
        end = min(start + page, len(EVENTS))
        body = json.dumps(EVENTS[start:end]).encode()
        headers = {"Stream-Next-Offset": f"o{end}"}
        if end == len(EVENTS):
            headers["Stream-Up-To-Date"] = "true"
        if state["cut"]:  # the first answer breaks after its head: a reconnect from the same offset
            state["cut"] = False
            return Scripted(headers=headers, chunks=[body], error_at=0)
        return Scripted(headers=headers, chunks=[body])

    return respond


def test_position_round_trip_and_plus_in_offsets() -> None:
    assert format_position("a+b+7", 3) == "a+b+7+3"
    assert parse_position("a+b+7+3") == ("a+b+7", 3)
    assert parse_position("-1+0") == ("-1", 0)
    for bad in ("o3", "+3", "o3+", "o3+-1", "o3+x", "o3+٣", "o3+" + "9" * 13, 5, None):
        with pytest.raises(InvalidArgumentError, match="position"):
            parse_position(bad)


def _read_until(reader: ReadMachine, respond: Any, count: int) -> tuple[list[Any], str]:
    """Hand out `count` items one by one (a real driver's steps) and return the position."""
    seen: list[Any] = []
    position = reader.position()
    current: Scripted | None = None
    pos = 0
    while len(seen) < count:
        action = reader.next_action()
        if action is NEED_DATA:
            assert current is not None
            if pos < len(current.chunks):
                pos += 1
                reader.receive_data(current.chunks[pos - 1])
            else:
                reader.receive_data(b"")
        elif isinstance(action, SendRequest):
            current, pos = respond(action.request), 0
            reader.receive_response(current.status, current.headers)
        else:
            assert isinstance(action, Deliver)
            items = action.batch.items
            for n, item in enumerate(items, 1):
                seen.append(item)
                position = reader.position(n)
                if len(seen) == count and n < len(items):
                    return seen, position
            reader.batch_delivered()
            position = reader.position()
    return seen, position


@given(page=st.integers(1, 9), stop=st.integers(0, 8), cut=st.booleans())
def test_resume_is_exact_at_every_item(page: int, stop: int, cut: bool) -> None:
    seen, position = _read_until(ReadMachine(URL, offset="-1"), paged(page), stop)
    assert seen == EVENTS[:stop]
    offset, skip = parse_position(position)
    resumed = ReadMachine(URL, offset=offset)
    resumed.resume_after(skip)
    assert resumed.position() == position  # nothing handed out yet: the same place
    trace = drive(resumed, paged(page, cut_first=cut))
    assert seen + trace.items == EVENTS


def test_position_inside_a_batch_counts_items_after_the_checkpoint() -> None:
    seen, position = _read_until(ReadMachine(URL, offset="-1"), paged(3), 5)
    assert (seen, position) == (EVENTS[:5], "o3+2")
    seen, position = _read_until(ReadMachine(URL, offset="-1"), paged(3), 6)
    assert position == "o6+0"  # a whole batch: its next offset


def test_fewer_items_at_the_offset_is_a_protocol_error_not_a_gap() -> None:
    reader = ReadMachine(URL, offset="o3")
    reader.resume_after(4)  # but the server has pages of 3 there
    with pytest.raises(ProtocolError, match="only 3 item"):
        drive(reader, paged(3))


def test_an_empty_answer_at_the_offset_is_a_protocol_error() -> None:
    def respond(req: HttpRequest) -> Scripted:
        headers = {"Stream-Next-Offset": "o3", "Stream-Up-To-Date": "true"}
        return Scripted(headers=headers, chunks=[b"[]"])

    reader = ReadMachine(URL, offset="o3")
    reader.resume_after(1)
    with pytest.raises(ProtocolError, match="only 0 item"):
        drive(reader, respond)


def test_a_count_needs_a_fixed_start() -> None:
    for kwargs in ({"offset": "now"}, {"offset": "-1", "tail": 5}):
        reader = ReadMachine(URL, live=LiveMode.LONG_POLL, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="cannot resume"):
            reader.resume_after(2)
        reader.resume_after(0)  # "+0" is the offset itself
    with pytest.raises(InvalidArgumentError, match="byte stream"):
        ReadMachine(URL, offset="o3", decode="bytes").resume_after(1)


def test_without_a_fixed_start_the_position_is_the_offset_until_the_batch_is_whole() -> None:
    # a tail read: "-1" with tail names a moving window, so no count is handed out from it
    seen, position = _read_until(ReadMachine(URL, offset="-1", tail=8), paged(3), 2)
    assert (seen, position) == (EVENTS[:2], "-1+0")
    seen, position = _read_until(ReadMachine(URL, offset="-1", tail=8), paged(3), 4)
    assert position == "o3+1"  # the first batch is whole: exact from here on


def _sse_data(items: list[Any]) -> bytes:
    return b"event: data\ndata:" + json.dumps(items).encode() + b"\n\n"


def _sse_control(offset: str, **flags: Any) -> bytes:
    return (
        b"event: control\ndata:"
        + json.dumps({"streamNextOffset": offset, **flags}).encode()
        + b"\n\n"
    )


def test_sse_skip_spans_data_frames_and_survives_a_cut_before_the_control_frame() -> None:
    answers = [
        # cut after the data frames, before their control frame: nothing was queued
        Scripted(
            headers={"Content-Type": "text/event-stream"},
            chunks=[_sse_data(EVENTS[3:5]), _sse_data(EVENTS[5:6])],
            error_at=2,
        ),
        Scripted(
            headers={"Content-Type": "text/event-stream"},
            chunks=[
                _sse_data(EVENTS[3:5]),
                _sse_data(EVENTS[5:8]),
                _sse_control("o8", upToDate=True, streamClosed=True),
            ],
        ),
    ]
    reader = ReadMachine(URL, offset="o3", live=LiveMode.SSE)
    reader.resume_after(3)  # events 3, 4 and 5 were handed out before
    trace = drive(reader, lambda req: answers.pop(0))
    assert trace.items == EVENTS[6:8]
    assert [parse_qs(urlsplit(r.url).query)["offset"] for r in trace.requests] == [["o3"]] * 2
    assert reader.position() == "o8+0"
