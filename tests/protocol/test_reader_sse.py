"""The ReadMachine over SSE, and SSE frames -> batches, with scripted bytes."""

from __future__ import annotations

import base64
import json
import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flue._protocol.batches import SSEBatcher
from flue._protocol.http import HttpRequest, RequestKind
from flue._protocol.params import LiveMode
from flue._protocol.reader import Done, ReadMachine, SendRequest
from flue._protocol.retry import RetryPolicy
from flue._protocol.sse import SSEEvent
from flue.errors import ProtocolError
from tests.protocol.scripted import Scripted, drive

URL = "https://h/runs/r1"
SSE_HEADERS = {"Content-Type": "text/event-stream"}


def q(req: HttpRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}


def data(events: list[dict[str, Any]]) -> bytes:
    # Flue writes `data:` with no space after the colon, the array on one line
    return b"event: data\ndata:" + json.dumps(events, separators=(",", ":")).encode() + b"\n\n"


def control(offset: str, **flags: Any) -> bytes:
    doc = {"streamNextOffset": offset, **flags}
    return b"event: control\ndata:" + json.dumps(doc).encode() + b"\n\n"


def ev(i: int) -> dict[str, Any]:
    return {"type": "log", "eventIndex": i}


def reader(**kw: Any) -> ReadMachine:
    kw.setdefault("offset", "-1")
    kw.setdefault("live", LiveMode.SSE)
    kw.setdefault("retry", RetryPolicy(jitter=False, max_attempts=4))
    kw.setdefault("rng", random.Random(0))
    return ReadMachine(URL, **kw)


def test_flue_framing_with_keepalive_duplicates_and_close() -> None:
    body = (
        data([ev(0), ev(1)])
        + control("o2", streamCursor="5", upToDate=True)
        + b": heartbeat\n\n"
        + control("o2", streamCursor="5", upToDate=True)
        + control("o2", streamCursor="5", upToDate=True)
        + data([ev(2)])
        + control("o3", streamCursor="6", upToDate=True)
        + control("o3", streamClosed=True, upToDate=True)
    )
    trace = drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=[body]))
    assert [e["eventIndex"] for e in trace.items] == [0, 1, 2]
    # the two identical keep-alive control frames produce no batch
    assert trace.checkpoints == ["o2", "o3", "o3"]
    assert trace.done == Done(closed=True)
    assert len(trace.requests) == 1


def test_several_data_frames_merge_into_one_batch() -> None:
    body = data([ev(0)]) + data([ev(1)]) + control("o2", streamClosed=True)
    trace = drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=[body]))
    assert [e["eventIndex"] for e in trace.items] == [0, 1]
    assert trace.checkpoints == ["o2"]


def test_body_ending_without_closed_reconnects_from_checkpoint_with_cursor() -> None:
    bodies = [
        data([ev(0)]) + control("o1", streamCursor="9") + data([ev(1)]),  # cut before control
        data([ev(1)]) + control("o2", streamCursor="10", streamClosed=True),
    ]
    calls: list[HttpRequest] = []

    def respond(req: HttpRequest) -> Scripted:
        calls.append(req)
        return Scripted(headers=SSE_HEADERS, chunks=[bodies[len(calls) - 1]])

    trace = drive(reader(), respond)
    assert [e["eventIndex"] for e in trace.items] == [0, 1]
    assert q(calls[1]) == {"offset": "o1", "live": "sse", "cursor": "9"}
    assert trace.sleeps == []  # progress was made: reconnect at once


def test_never_reconnect_after_closed() -> None:
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        return Scripted(
            headers=SSE_HEADERS, chunks=[control("o0", streamClosed=True), data([ev(9)])]
        )

    trace = drive(reader(), respond)
    assert calls == 1 and trace.items == [] and trace.done == Done(closed=True)


def test_empty_sse_bodies_back_off_then_fail() -> None:
    with pytest.raises(ProtocolError, match="before any control frame"):
        drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=[b": hi\n\n"]))


def test_sse_with_wrong_content_type() -> None:
    with pytest.raises(ProtocolError, match="content-type"):
        drive(reader(), lambda req: Scripted(headers={"Content-Type": "text/html"}, chunks=[b""]))


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"event: control\ndata:\n\n", "empty"),
        (b"event: control\ndata: \n\n", "empty"),
        (b"event: control\n\n", None),
        (b"event: control\ndata: {oops\n\n", "not valid JSON"),
        (b"event: control\ndata: [1]\n\n", "not a JSON object"),
        (b'event: control\ndata: {"upToDate": true}\n\n', "streamNextOffset"),
        (b'event: data\ndata: {"a": 1}\n\n', "not a JSON array"),
        (b"event: data\ndata: [1, 2\n\n", "not valid JSON"),
        (b"event: data\ndata: [1]\n\n", "int"),
    ],
)
def test_malformed_frames_are_protocol_errors(frame: bytes, match: str | None) -> None:
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(headers=SSE_HEADERS, chunks=[frame, control("o1", streamClosed=True)])

    if match is None:  # an event without any data line is not dispatched (WHATWG)
        assert drive(reader(), respond).done == Done(closed=True)
        return
    with pytest.raises(ProtocolError, match=match):
        drive(reader(), respond)


def test_unknown_events_are_ignored() -> None:
    body = b"event: other\ndata: whatever\n\n" + data([ev(0)]) + control("o1", streamClosed=True)
    trace = drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=[body]))
    assert trace.items == [ev(0)]


def test_catch_up_only_never_asks_for_sse() -> None:
    action = reader(live=None).next_action()
    assert isinstance(action, SendRequest)
    assert action.request.kind is RequestKind.CATCH_UP


def test_base64_bytes_stream() -> None:
    payload = bytes(range(256))
    enc = base64.b64encode(payload)
    body = (
        b"event: data\ndata: "
        + enc[:100]
        + b"\ndata: "
        + enc[100:]
        + b"\n\n"
        + control("o1", streamClosed=True)
    )
    headers = {**SSE_HEADERS, "stream-sse-data-encoding": "base64"}
    trace = drive(
        reader(decode="bytes", objects_only=False),
        lambda req: Scripted(headers=headers, chunks=[body]),
    )
    assert trace.items == [payload]


def test_text_bytes_stream_and_bad_base64() -> None:
    b = SSEBatcher(decode="bytes")
    assert b.push(SSEEvent(event="data", data="héllo", id=None, retry=None)) is None
    batch = b.push(SSEEvent(event="control", data='{"streamNextOffset":"x"}', id=None, retry=None))
    assert batch is not None and batch.data == "héllo".encode()
    b64 = SSEBatcher(decode="bytes", base64_data=True)
    with pytest.raises(ProtocolError, match="base64"):
        b64.push(SSEEvent(event="data", data="!!!", id=None, retry=None))


def test_batcher_pending_and_discard() -> None:
    b = SSEBatcher()
    b.push(SSEEvent(event="data", data="[{}]", id=None, retry=None))
    assert b.pending == 1
    b.discard_pending()
    batch = b.push(
        SSEEvent(
            event="control", data='{"streamNextOffset":"o","streamCursor":7}', id=None, retry=None
        )
    )
    assert batch is not None and batch.items == [] and batch.cursor == "7"


def flue_body(n: int, per_frame: int) -> bytes:
    out = b""
    for start in range(0, n, per_frame):
        end = min(n, start + per_frame)
        out += data([ev(i) for i in range(start, end)]) + control(f"o{end}", streamCursor="1")
        out += b": heartbeat\r\n\r\n"
    return out + control(f"o{n}", streamClosed=True, upToDate=True)


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=300),
    per_frame=st.integers(min_value=1, max_value=100),
    cuts=st.lists(st.integers(min_value=0, max_value=100_000), max_size=40),
)
def test_any_split_of_an_sse_body_gives_the_same_batches(
    n: int, per_frame: int, cuts: list[int]
) -> None:
    body = flue_body(n, per_frame)
    points = sorted({c % (len(body) + 1) for c in cuts})
    bounds = zip([0, *points], [*points, len(body)], strict=True)
    chunks = [body[a:b] for a, b in bounds if b > a]  # b"" would mean end of body
    whole = drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=[body]))
    split = drive(reader(), lambda req: Scripted(headers=SSE_HEADERS, chunks=chunks))
    assert [e["eventIndex"] for e in split.items] == list(range(n))
    assert split.checkpoints == whole.checkpoints
    assert split.done == Done(closed=True)


def test_final_closed_frame_without_up_to_date_is_up_to_date() -> None:
    # Flue's last control frame is {"streamNextOffset": ..., "streamClosed": true} only
    body = data([ev(0)]) + control("o1", streamCursor="3") + control("o1", streamClosed=True)
    r = reader()
    trace = drive(r, lambda req: Scripted(headers=SSE_HEADERS, chunks=[body]))
    assert trace.done == Done(closed=True)
    assert r.up_to_date and r.closed
