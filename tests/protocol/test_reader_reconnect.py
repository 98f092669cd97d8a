"""Reconnect rules of the ReadMachine (its module comment): recycling, fast reconnect, proxy
timeouts on long-polls. Scripted bytes and a scripted clock: no sockets, no sleeping."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from flue._protocol.http import HttpRequest, RequestKind
from flue._protocol.params import LiveMode
from flue._protocol.reader import Done, ReadMachine
from flue._protocol.retry import RetryPolicy, RetryState
from flue.errors import ConnectError, ProtocolError, ServerError, TransportError
from tests.protocol.scripted import Scripted, drive

URL = "https://h/runs/r1"
SSE = {"Content-Type": "text/event-stream"}
POLICY = RetryPolicy(jitter=False, initial_delay=0.5, max_attempts=3)


def q(req: HttpRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}


def data(*indexes: int) -> bytes:
    events = [{"type": "log", "eventIndex": i} for i in indexes]
    return b"event: data\ndata:" + json.dumps(events).encode() + b"\n\n"


def control(offset: str, **flags: Any) -> bytes:
    doc = {"streamNextOffset": offset, "streamCursor": "7", **flags}
    return b"event: control\ndata:" + json.dumps(doc).encode() + b"\n\n"


def closing(offset: str) -> bytes:
    return (
        b"event: control\ndata:"
        + json.dumps({"streamNextOffset": offset, "streamClosed": True}).encode()
        + b"\n\n"
    )


def ticking(step: float = 1.0) -> Callable[[], float]:
    """A clock that moves `step` seconds every time it is read: every connection is held."""
    counter = itertools.count()
    return lambda: next(counter) * step


def frozen() -> float:
    """A clock that never moves: every connection ends at once."""
    return 0.0


def reader(**kw: Any) -> ReadMachine:
    kw.setdefault("offset", "o1")
    kw.setdefault("live", LiveMode.SSE)
    kw.setdefault("retry", POLICY)
    kw.setdefault("rng", random.Random(0))
    kw.setdefault("clock", frozen)
    return ReadMachine(URL, **kw)


def indexes(items: list[Any]) -> list[int]:
    return [e["eventIndex"] for e in items]


# -- RetryState: immediate failures ---------------------------------------------------------------


def test_an_immediate_failure_waits_nothing_counts_and_keeps_the_backoff_sequence() -> None:
    state = RetryState(POLICY, clock=frozen)
    assert state.failed(immediate=True) == 0.0
    assert state.failures == 1 and state.total_retries == 1
    assert state.failed() == 0.5  # the backoff sequence starts where it was: initial_delay
    assert state.failed() is None  # max_attempts=3 counts the immediate one too
    fresh = RetryState(POLICY, clock=frozen)
    assert fresh.failed(3.0, immediate=True) == 3.0  # Retry-After stays a floor


# -- rule 1: SSE recycling ------------------------------------------------------------------------


def test_an_idle_tail_recycled_again_and_again_is_not_a_failure() -> None:
    # A server (or proxy) ends each SSE body cleanly after holding it open with one keep-alive
    # control frame: 40 recycles, 3 attempts allowed, not one sleep; then data comes.
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        assert q(req)["offset"] == "o1"
        if calls <= 40:
            return Scripted(headers=SSE, chunks=[b": heartbeat\n\n", control("o1", upToDate=True)])
        return Scripted(headers=SSE, chunks=[data(2), closing("o2")])

    trace = drive(reader(clock=ticking()), respond)
    assert indexes(trace.items) == [2]
    assert trace.sleeps == []
    assert trace.done == Done(closed=True)
    assert len(trace.requests) == 41


def test_quick_recycles_with_progress_are_free() -> None:
    # Each body delivers one event, then ends at once: progress every time, never a failure.
    def respond(req: HttpRequest) -> Scripted:
        n = int(q(req)["offset"][1:])
        if n == 30:
            return Scripted(headers=SSE, chunks=[closing("o30")])
        return Scripted(headers=SSE, chunks=[data(n + 1), control(f"o{n + 1}")])

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(2, 31))
    assert trace.sleeps == []


def test_quick_recycles_without_progress_are_bounded() -> None:
    # A server that ends every body right after one idle control frame: three reconnect at
    # once, then each end is a failed attempt with backoff, and the retry limits end the stream.
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(headers=SSE, chunks=[control("o1", upToDate=True)])

    r = reader()
    with pytest.raises(ProtocolError, match=r"in a row right after a control frame") as info:
        drive(r, respond)
    assert "gave up after 3 attempts" in str(info.value)
    # 1 (the first "up to date" is progress) + 3 free + 3 counted (the third gives up)
    assert r.requests_sent == 7


def test_a_held_or_progressing_connection_resets_the_quick_end_count() -> None:
    # Three quick no-progress ends, then one with data, again and again: never a failure.
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        n = int(q(req)["offset"][1:])
        if n == 10:
            return Scripted(headers=SSE, chunks=[closing("o10")])
        if calls % 4:
            return Scripted(headers=SSE, chunks=[control(f"o{n}", upToDate=True)])
        return Scripted(headers=SSE, chunks=[data(n + 1), control(f"o{n + 1}", upToDate=True)])

    trace = drive(reader(), respond)
    assert indexes(trace.items) == list(range(2, 11))
    assert trace.sleeps == []


def test_a_body_ending_before_any_control_frame_is_a_failed_attempt() -> None:
    with pytest.raises(ProtocolError, match="before any control frame"):
        drive(reader(clock=ticking()), lambda req: Scripted(headers=SSE, chunks=[data(2)]))


# -- rule 2: fast reconnect -----------------------------------------------------------------------


def test_sse_cut_after_progress_reconnects_at_once_then_backs_off() -> None:
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        if calls == 1:  # delivers event 2, then the connection is cut
            return Scripted(headers=SSE, chunks=[data(2), control("o2"), data(3)], error_at=2)
        if calls == 2:  # cut before anything complete: a consecutive failure
            return Scripted(headers=SSE, chunks=[b"event: da"], error_at=1)
        return Scripted(headers=SSE, chunks=[data(3), closing("o3")])

    trace = drive(reader(), respond)
    assert indexes(trace.items) == [2, 3]
    assert trace.sleeps == [0.0, 0.5]  # at once, then backoff from initial_delay
    assert [q(r)["offset"] for r in trace.requests] == ["o1", "o2", "o2"]


def test_instant_cuts_after_an_idle_control_frame_are_bounded() -> None:
    # Control frame, cut, at once, with no progress and no hold: the first retry is immediate
    # (the previous connection had worked), then the backoff grows and the limits end it.
    def respond(req: HttpRequest) -> Scripted:
        return Scripted(headers=SSE, chunks=[control("o1", upToDate=True)], error_at=1)

    r = reader()
    with pytest.raises(TransportError, match="gave up after 3 attempts"):
        drive(r, respond)
    assert r.requests_sent == 3


def long_poll_run(answers: list[Scripted | None]) -> Callable[[HttpRequest], Scripted]:
    """Answer from `answers` in order; None means a long-poll 200 with the next event."""
    position = {"n": 1}

    def respond(req: HttpRequest) -> Scripted:
        answer = answers.pop(0) if answers else None
        if answer is not None:
            return answer
        n = position["n"]
        if n == 4:
            headers = {"Stream-Next-Offset": "o4", "Stream-Up-To-Date": "true"}
            return Scripted(status=204, headers={**headers, "Stream-Closed": "true"})
        position["n"] = n + 1
        body = json.dumps([{"eventIndex": n + 1}]).encode()
        headers = {"Stream-Next-Offset": f"o{n + 1}", "Stream-Up-To-Date": "true"}
        return Scripted(headers=headers, chunks=[body])

    return respond


def test_long_poll_cut_after_a_success_reconnects_at_once() -> None:
    cut = Scripted(headers={"Stream-Next-Offset": "o9"}, chunks=[b"[{"], error_at=1)
    answers: list[Scripted | None] = [None, cut, cut, None]
    r = reader(live=LiveMode.LONG_POLL)
    r.up_to_date = True
    trace = drive(r, long_poll_run(answers))
    assert indexes(trace.items) == [2, 3, 4]
    assert trace.sleeps == [0.0, 0.5]


def test_a_failure_before_anything_worked_backs_off() -> None:
    # The first request of a stream has no working connection behind it: no fast reconnect.
    answers: list[Scripted | None] = [Scripted(open_error=ConnectError("refused")), None]
    r = reader(live=LiveMode.LONG_POLL)
    r.up_to_date = True
    trace = drive(r, long_poll_run(answers))
    assert trace.sleeps == [0.5]


# -- rule 3: 502/504 on a long-poll ---------------------------------------------------------------


def gateway(status: int = 504) -> Scripted:
    return Scripted(status=status, chunks=[b"<html>504 Gateway Time-out</html>"])


def test_proxy_timeouts_on_long_polls_never_end_a_live_stream() -> None:
    # A proxy answers each idle long-poll 504 (after its 10 s read timeout); the catch-up read
    # that follows works, so 60 of them (600 s, twice max_elapsed) do not end the stream.
    policy = RetryPolicy(jitter=False, max_attempts=2, max_elapsed=300)
    kinds: list[RequestKind] = []
    proxied = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal proxied
        kinds.append(req.kind)
        headers = {"Stream-Next-Offset": "o1", "Stream-Up-To-Date": "true"}
        if req.kind is RequestKind.LONG_POLL:
            proxied += 1
            if proxied <= 60:
                return gateway(502 if proxied % 2 else 504)
            return Scripted(status=204, headers={**headers, "Stream-Closed": "true"})
        return Scripted(headers=headers, chunks=[b"[]"])

    r = reader(live=LiveMode.LONG_POLL, retry=policy, clock=ticking(10.0))
    r.up_to_date = True
    trace = drive(r, respond)
    assert trace.done == Done(closed=True)
    assert kinds[:4] == [RequestKind.LONG_POLL, RequestKind.CATCH_UP] * 2
    assert kinds.count(RequestKind.CATCH_UP) == 60
    assert trace.sleeps == [0.5] * 60


def test_a_stream_of_only_proxy_timeouts_ends_after_max_attempts() -> None:
    r = reader(live=LiveMode.LONG_POLL, clock=ticking())
    r.up_to_date = True
    with pytest.raises(ServerError, match="gave up after 3 attempts"):
        drive(r, lambda req: gateway())
    assert r.requests_sent == 3


def test_other_statuses_on_a_long_poll_retry_the_long_poll() -> None:
    answers: list[Scripted | None] = [Scripted(status=503, chunks=[b"busy"]), None]
    r = reader(live=LiveMode.LONG_POLL)
    r.up_to_date = True
    trace = drive(r, long_poll_run(answers))
    assert [req.kind for req in trace.requests[:2]] == [RequestKind.LONG_POLL] * 2


# -- forced races: an end or a cut at every byte --------------------------------------------------

BODY = data(2) + control("o2") + data(3, 4) + control("o4", upToDate=True)
RESUME = {
    "o1": BODY + closing("o4"),
    "o2": data(3, 4) + closing("o4"),
    "o4": closing("o4"),
}


@pytest.mark.parametrize("cut", [False, True], ids=["clean-end", "cut"])
def test_an_end_at_every_byte_delivers_each_event_once(cut: bool) -> None:
    first_control_end = len(data(2) + control("o2"))
    data_line = BODY.index(b"data:") + len(b"data:")  # from here a data frame is being cut
    for at in range(len(BODY) + 1):
        calls = 0

        def respond(req: HttpRequest, at: int = at) -> Scripted:
            nonlocal calls
            calls += 1
            if calls == 1:
                chunks = [BODY[:at]] if at else []
                return Scripted(headers=SSE, chunks=chunks, error_at=len(chunks) if cut else None)
            return Scripted(headers=SSE, chunks=[RESUME[q(req)["offset"]]])

        trace = drive(reader(), respond)
        assert indexes(trace.items) == [2, 3, 4], at
        worked = at >= first_control_end  # a whole control frame came, with progress
        if cut:
            # a cut inside the data line brought bytes (retried at once, uncounted); after
            # event 2's array item was whole it hands it out: the position moved
            brought = at >= data_line
            assert trace.sleeps == ([0.0] if worked or brought else [0.5]), at
        else:
            assert trace.sleeps == ([] if worked else [0.5]), at


# -- edges of the same state machine --------------------------------------------------------------


def test_an_unexpected_success_status_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="unexpected HTTP 206"):
        drive(reader(live=None), lambda req: Scripted(status=206, chunks=[b"[]"]))


def test_a_json_body_over_max_body_size_is_a_protocol_error() -> None:
    headers = {"Stream-Next-Offset": "o2", "Stream-Up-To-Date": "true"}
    with pytest.raises(ProtocolError, match="max_body_size=8"):
        drive(
            reader(live=None, max_body_size=8),
            lambda req: Scripted(headers=headers, chunks=[b"[1,2,3,", b"4,5,6]"]),
        )


def test_a_long_error_body_is_read_only_up_to_its_cap() -> None:
    huge = [b"x" * 65536, b"y" * 65536]
    with pytest.raises(ServerError, match="gave up"):
        drive(reader(live=None), lambda req: Scripted(status=500, chunks=huge))


def test_a_catch_up_ending_in_a_204_at_the_tail_is_done() -> None:
    headers = {"Stream-Next-Offset": "o1", "Stream-Up-To-Date": "true"}
    r = reader(live=None)
    r.up_to_date = True
    trace = drive(r, lambda req: Scripted(status=204, headers=headers))
    assert trace.items == [] and trace.done == Done(closed=False)


def test_control_frames_that_never_advance_are_a_protocol_error() -> None:
    body = control("o1") * 12
    with pytest.raises(ProtocolError, match="never advances"):
        drive(reader(), lambda req: Scripted(headers=SSE, chunks=[body]))


def test_a_transport_error_reported_out_of_turn_is_misuse() -> None:
    r = reader()
    with pytest.raises(RuntimeError, match="receive_transport_error"):
        r.receive_transport_error(TransportError("early"))


# -- rule 5: answers that may have been cut inside their header block -----------------------------

LP = {"Stream-Next-Offset": "o1", "Stream-Up-To-Date": "true", "Stream-Cursor": "4"}


@pytest.mark.parametrize(
    ("headers", "match"),
    [
        ({"Content-Type": "application/json"}, "no Stream-Next-Offset"),
        ({"Stream-Next-Offset": "o2", "Content-Length": ""}, "empty body"),
        ({"Stream-Next-Offset": "o2", "Transfer-Encoding": "chun"}, "empty body"),
        ({"Stream-Next-Offset": "o2"}, "empty body"),
    ],
)
def test_an_unframed_malformed_answer_is_retried_as_a_cut(
    headers: dict[str, str], match: str
) -> None:
    # http.client takes the end of the stream for the end of the header block: a cut there
    # gives a "complete" answer with the headers so far and no body.
    answers: list[Scripted | None] = [None, Scripted(headers=headers), None]
    r = reader(live=LiveMode.LONG_POLL)
    r.up_to_date = True
    trace = drive(r, long_poll_run(answers))
    assert indexes(trace.items) == [2, 3, 4]
    assert trace.sleeps == [0.0]  # after a working answer: a fast reconnect
    with pytest.raises(ProtocolError, match=match):
        framed = {**headers, "Content-Length": "0"}
        drive(reader(live=None), lambda req: Scripted(headers=framed))


def test_an_sse_answer_cut_before_its_content_type_is_retried() -> None:
    calls = 0

    def respond(req: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        if calls == 1:
            return Scripted(headers={})
        return Scripted(headers=SSE, chunks=[data(2), closing("o2")])

    trace = drive(reader(), respond)
    assert indexes(trace.items) == [2] and trace.sleeps == [0.5]
    framed = {"Content-Type": "text/html", "Content-Length": "0"}
    with pytest.raises(ProtocolError, match="content-type"):
        drive(reader(), lambda req: Scripted(headers=framed))


def test_a_204_cut_inside_its_offset_never_moves_the_checkpoint() -> None:
    # "…_0000000000000125" cut to "…_000000000000012": taken at face value it would move the
    # checkpoint back and deliver events twice.
    truncated = Scripted(status=204, headers={"Stream-Next-Offset": "o"})
    answers: list[Scripted | None] = [None, truncated, None]
    r = reader(live=LiveMode.LONG_POLL)
    r.up_to_date = True
    trace = drive(r, long_poll_run(answers))
    assert indexes(trace.items) == [2, 3, 4]
    assert trace.checkpoints == ["o2", "o3", "o4", "o4"]
    assert trace.sleeps == [0.0]


def test_a_204_may_resolve_now_or_close_the_stream() -> None:
    closed = {"Stream-Next-Offset": "o7", "Stream-Closed": "true"}
    trace = drive(reader(live=LiveMode.LONG_POLL), lambda req: Scripted(status=204, headers=closed))
    assert trace.checkpoints == ["o7"] and trace.done == Done(closed=True)
    timeout = {
        "Stream-Next-Offset": "o7",
        **{k: v for k, v in LP.items() if k != "Stream-Next-Offset"},
    }
    r = reader(offset="now", live=None)
    trace = drive(r, lambda req: Scripted(status=204, headers=timeout))
    assert trace.checkpoints == ["o7"] and trace.done == Done(closed=False)
