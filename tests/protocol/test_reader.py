"""The ReadMachine state machine, driven with scripted responses (no sockets)."""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flue._protocol.http import HttpRequest, RequestKind
from flue._protocol.params import LiveMode
from flue._protocol.reader import (
    NEED_DATA,
    Deliver,
    Done,
    ReaderState,
    ReadMachine,
    SendRequest,
    Sleep,
)
from flue._protocol.retry import RetryPolicy
from flue.errors import (
    AuthenticationError,
    BadRequestError,
    ConnectError,
    ProtocolError,
    RunNotFoundError,
    ServerError,
)
from tests.protocol.scripted import Scripted, drive

URL = "https://h/api/runs/r1"


def q(req: HttpRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}


def off(i: int) -> str:
    return f"0000_{i:06d}"


class FakeRun:
    """A scripted Flue run: events 0..n-1, offsets off(i) = position after i events."""

    def __init__(self, n: int, *, page: int = 100, closed: bool = True, split: int = 0) -> None:
        self.events = [{"type": "log", "eventIndex": i} for i in range(n)]
        self.page = page
        self.closed = closed
        self.split = split  # split bodies into chunks of this size (0: one chunk)
        self.cursor = 100

    def _pos(self, offset: str, tail: str | None) -> int:
        if offset == "-1":
            return max(0, len(self.events) - int(tail)) if tail else 0
        if offset == "now":
            return len(self.events)
        return int(offset.split("_")[1])

    def chunks(self, body: bytes) -> list[bytes]:
        if not self.split:
            return [body]
        return [body[i : i + self.split] for i in range(0, len(body), self.split)] or [b""]

    def __call__(self, req: HttpRequest) -> Scripted:
        params = q(req)
        start = self._pos(params["offset"], params.get("tail"))
        end = min(len(self.events), start + self.page)
        headers = {"Stream-Next-Offset": off(end), "Content-Type": "application/json"}
        at_tail = end == len(self.events)
        if params.get("live") == "long-poll":
            self.cursor += 1
            headers["Stream-Cursor"] = str(self.cursor)
            if start == end:
                if self.closed:
                    headers["Stream-Closed"] = "true"
                return Scripted(status=204, headers=headers)
        if at_tail:
            headers["Stream-Up-To-Date"] = "true"
            if self.closed:
                headers["Stream-Closed"] = "true"
        body = json.dumps(self.events[start:end]).encode()
        return Scripted(headers=headers, chunks=self.chunks(body))


def reader(**kw: Any) -> ReadMachine:
    kw.setdefault("offset", "-1")
    kw.setdefault("retry", RetryPolicy(jitter=False, max_attempts=5))
    kw.setdefault("rng", random.Random(0))
    return ReadMachine(URL, **kw)


def indexes(items: list[Any]) -> list[int]:
    return [e["eventIndex"] for e in items]


def test_catch_up_pages_until_up_to_date() -> None:
    run = FakeRun(250, closed=False)
    trace = drive(reader(), run)
    assert indexes(trace.items) == list(range(250))
    assert trace.checkpoints == [off(100), off(200), off(250)]
    assert [q(r)["offset"] for r in trace.requests] == ["-1", off(100), off(200)]
    assert all(r.kind is RequestKind.CATCH_UP for r in trace.requests)
    assert trace.done == Done(closed=False)


def test_closed_run_ends_even_when_live() -> None:
    trace = drive(reader(live=LiveMode.LONG_POLL), FakeRun(120))
    assert indexes(trace.items) == list(range(120))
    assert trace.done == Done(closed=True)
    assert len(trace.requests) == 2


def test_tail_is_sent_only_on_the_first_request_and_kept_on_retry() -> None:
    run = FakeRun(500, closed=True)
    calls = []

    def respond(req: HttpRequest) -> Scripted:
        calls.append(req)
        if len(calls) == 1:
            return Scripted(status=503, headers={"Retry-After": "0"})
        return run(req)

    trace = drive(reader(tail=150), respond)
    assert indexes(trace.items) == list(range(350, 500))
    assert q(calls[0])["tail"] == "150" and q(calls[1])["tail"] == "150"
    assert all("tail" not in q(r) for r in calls[2:])


def test_checkpoint_moves_only_when_batch_delivered() -> None:
    r = reader()
    run = FakeRun(150)
    action = r.next_action()
    assert isinstance(action, SendRequest)
    resp = run(action.request)
    r.receive_response(resp.status, resp.headers)
    assert r.next_action() is NEED_DATA
    r.receive_data(resp.chunks[0])
    r.receive_data(b"")
    deliver = r.next_action()
    assert isinstance(deliver, Deliver) and len(deliver.batch.items) == 100
    assert r.offset == "-1"
    assert r.state is ReaderState.DELIVERING
    with pytest.raises(RuntimeError, match="batch_delivered"):
        r.next_action()
    r.batch_delivered()
    assert r.offset == off(100)


def test_offset_resume_and_now() -> None:
    trace = drive(reader(offset=off(240)), FakeRun(250))
    assert indexes(trace.items) == list(range(240, 250))
    trace = drive(reader(offset="now", live=None), FakeRun(250, closed=False))
    assert trace.items == [] and trace.checkpoints == [off(250)]


def test_long_poll_switch_cursor_echo_and_close() -> None:
    run = FakeRun(3, closed=False)
    polls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal polls
        if q(req).get("live") == "long-poll":
            polls += 1
            if polls == 2:
                run.events.append({"type": "log", "eventIndex": 3})
            if polls == 4:
                run.closed = True
        return run(req)

    trace = drive(reader(live=LiveMode.LONG_POLL), respond)
    assert indexes(trace.items) == [0, 1, 2, 3]
    live = [r for r in trace.requests if r.kind is RequestKind.LONG_POLL]
    assert len(live) == 4
    assert "cursor" not in q(live[0])
    assert [q(r)["cursor"] for r in live[1:]] == ["101", "102", "103"]
    assert trace.done == Done(closed=True)


def test_missing_next_offset_is_a_protocol_error_without_retry() -> None:
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        return Scripted(headers={"Content-Length": "2"}, chunks=[b"[]"])

    with pytest.raises(ProtocolError, match="Stream-Next-Offset"):
        drive(reader(), respond)
    assert calls == 1  # a complete (framed) answer: see test_reader_reconnect for cut ones


def test_offset_that_never_advances_raises() -> None:
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(headers={"Stream-Next-Offset": q(req)["offset"]}, chunks=[b"[]"])

    with pytest.raises(ProtocolError, match="loop forever"):
        drive(reader(offset="x_1"), respond)


def test_past_the_tail_echo_is_fine() -> None:
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(
            headers={"Stream-Next-Offset": q(req)["offset"], "Stream-Up-To-Date": "true"},
            chunks=[b"[]"],
        )

    trace = drive(reader(offset="x_999"), respond)
    assert trace.items == [] and trace.done == Done(closed=False)


def test_immediate_empty_long_poll_backs_off_then_fails() -> None:
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(
            headers={"Stream-Next-Offset": "x_1", "Stream-Up-To-Date": "true"}, chunks=[b"[]"]
        )

    with pytest.raises(ProtocolError, match="long-poll"):
        drive(reader(offset="x_1", live=LiveMode.LONG_POLL), respond)


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, AuthenticationError), (404, RunNotFoundError)],
)
def test_fatal_statuses_are_not_retried(status: int, cls: type[Exception]) -> None:
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        body = json.dumps({"error": {"type": "x", "message": "no"}}).encode()
        return Scripted(status=status, chunks=[body])

    with pytest.raises(cls):
        drive(reader(run_id="r1"), respond)
    assert calls == 1


def test_transient_statuses_retry_from_checkpoint_with_retry_after() -> None:
    run = FakeRun(300)
    n = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal n
        n += 1
        if n in (2, 3):
            return Scripted(status=503 if n == 2 else 429, headers={"Retry-After": "4"})
        if n == 4:
            return Scripted(status=500, chunks=[b"<html>oops</html>"])
        return run(req)

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(300))
    assert trace.sleeps[:2] == [4.0, 4.0] and len(trace.sleeps) == 3
    assert [q(r)["offset"] for r in trace.requests[1:5]] == [off(100)] * 4


def test_transport_errors_resume_from_checkpoint() -> None:
    run = FakeRun(300, split=1000)
    n = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal n
        n += 1
        if n == 2:
            return Scripted(open_error=ConnectError("refused"))
        scripted = run(req)
        if n == 3:
            scripted.error_at = 1  # cut mid-body
        return scripted

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(300))
    assert len(trace.sleeps) == 2


def test_retries_exhausted_raise_the_last_error() -> None:
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(status=502, chunks=[b"bad gateway"])

    with pytest.raises(ServerError, match=r"gave up after 5 attempt"):
        drive(reader(), respond)


def test_bytes_decode_catch_up() -> None:
    def respond(req: HttpRequest) -> Scripted:
        if q(req)["offset"] == "-1":
            return Scripted(headers={"Stream-Next-Offset": "b_3"}, chunks=[b"ab", b"c"])
        return Scripted(
            headers={"Stream-Next-Offset": "b_3", "Stream-Up-To-Date": "true"}, chunks=[b""]
        )

    trace = drive(reader(decode="bytes", objects_only=False), respond)
    assert trace.items == [b"abc"]


def test_misuse_is_reported() -> None:
    r = reader()
    with pytest.raises(RuntimeError):
        r.receive_response(200, {})
    with pytest.raises(RuntimeError):
        r.batch_delivered()
    r.next_action()
    with pytest.raises(RuntimeError):
        r.next_action()
    with pytest.raises(RuntimeError):
        r.receive_data(b"x")


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=450),
    page=st.integers(min_value=1, max_value=120),
    split=st.integers(min_value=0, max_value=3000),
)
def test_any_split_of_a_multi_page_catch_up_gives_the_same_result(
    n: int, page: int, split: int
) -> None:
    whole = drive(reader(), FakeRun(n, page=page))
    chunked = drive(reader(), FakeRun(n, page=page, split=split))
    assert indexes(chunked.items) == list(range(n)) == indexes(whole.items)
    assert chunked.checkpoints == whole.checkpoints
    assert chunked.checkpoints[-1] == off(n)


def test_sleep_action_is_returned_once() -> None:
    r = reader()
    r.next_action()
    r.receive_transport_error(ConnectError("refused"))
    action = r.next_action()
    assert isinstance(action, Sleep) and action.attempt == 1
    assert isinstance(r.next_action(), SendRequest)
