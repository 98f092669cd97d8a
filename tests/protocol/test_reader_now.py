"""``offset="now"`` with a live read: the first request already waits (scripted, no sockets).

Durable Streams lets a reader ask for ``offset=now&live=long-poll`` so the server starts waiting
at the tail at once; Flue 1.0.0-beta.5 and beta.9 answer it with a 200 holding what was appended
while waiting, a 204 when the window passed (``Stream-Next-Offset`` = the tail), or, on an
ended run, a 204 with ``Stream-Closed: true`` at once (tests/interop/FINDINGS.md).
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flue._protocol.http import HttpRequest, RequestKind
from flue._protocol.params import LiveMode
from flue._protocol.reader import Done, ReadMachine
from flue._protocol.retry import RetryPolicy
from tests.protocol.scripted import Scripted, drive

URL = "https://h/runs/r1"
TAIL = "0000_000007"
LATER = "0000_000009"


def q(req: HttpRequest) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}


def ticking(step: float = 1.0) -> Callable[[], float]:
    """Every read of the clock is `step` seconds later: every long-poll was held."""
    counter = itertools.count()
    return lambda: next(counter) * step


def reader(**kw: Any) -> ReadMachine:
    kw.setdefault("offset", "now")
    kw.setdefault("live", LiveMode.LONG_POLL)
    kw.setdefault("retry", RetryPolicy(jitter=False, max_attempts=4, initial_delay=0.5))
    kw.setdefault("rng", random.Random(0))
    kw.setdefault("clock", ticking())
    return ReadMachine(URL, **kw)


def events(*indexes: int) -> bytes:
    return json.dumps([{"type": "log", "eventIndex": i} for i in indexes]).encode()


def page(next_offset: str, body: bytes, *, closed: bool = False, cursor: str = "7") -> Scripted:
    headers = {
        "Content-Type": "application/json",
        "Stream-Next-Offset": next_offset,
        "Stream-Up-To-Date": "true",
        "Stream-Cursor": cursor,
    }
    if closed:
        headers["Stream-Closed"] = "true"
    return Scripted(headers=headers, chunks=[body])


def no_content(next_offset: str, *, closed: bool = False, cursor: str = "7") -> Scripted:
    headers = {
        "Stream-Next-Offset": next_offset,
        "Stream-Up-To-Date": "true",
        "Stream-Cursor": cursor,
    }
    if closed:
        headers["Stream-Closed"] = "true"
    return Scripted(status=204, headers=headers)


def test_first_request_is_a_long_poll_and_delivers_what_was_appended() -> None:
    answers = iter([page(TAIL, events(6)), page(LATER, events(7, 8), closed=True, cursor="8")])
    trace = drive(reader(), lambda req: next(answers))
    assert q(trace.requests[0]) == {"offset": "now", "live": "long-poll"}
    assert trace.requests[0].kind is RequestKind.LONG_POLL
    # then long-polls from the concrete offset, echoing the cursor
    assert q(trace.requests[1]) == {"offset": TAIL, "live": "long-poll", "cursor": "7"}
    assert len(trace.requests) == 2
    assert [e["eventIndex"] for e in trace.items] == [6, 7, 8]
    assert trace.checkpoints == [TAIL, LATER]
    assert trace.done == Done(closed=True)


def test_window_passed_204_moves_the_checkpoint_from_now_to_the_tail() -> None:
    r = reader()
    answers = iter([no_content(TAIL), page(LATER, events(7, 8), closed=True)])
    trace = drive(r, lambda req: next(answers))
    assert [q(req)["offset"] for req in trace.requests] == ["now", TAIL]
    assert all(req.kind is RequestKind.LONG_POLL for req in trace.requests)
    # the empty batch of the 204 is handed over: it turns "now" into a resumable checkpoint
    assert trace.checkpoints == [TAIL, LATER]
    assert trace.sleeps == []  # a held 204 is no failure
    assert [e["eventIndex"] for e in trace.items] == [7, 8]


def test_checkpoint_after_a_204_is_up_to_date_and_resumable() -> None:
    r = reader()
    trace = drive(r, lambda req: no_content(TAIL), on_batch=lambda t: True)
    assert len(trace.requests) == 1
    assert r.offset == TAIL and r.up_to_date and not r.closed
    assert r.cursor == "7"


def test_ended_run_ends_after_one_request() -> None:
    trace = drive(reader(), lambda req: no_content(TAIL, closed=True))
    assert len(trace.requests) == 1
    assert q(trace.requests[0]) == {"offset": "now", "live": "long-poll"}
    assert trace.items == [] and trace.checkpoints == [TAIL]
    assert trace.done == Done(closed=True)


def test_ended_run_answered_at_once_is_not_a_failure() -> None:
    # a closed stream is answered at once; the held-long-poll guard must not back off
    trace = drive(reader(clock=lambda: 0.0), lambda req: no_content(TAIL, closed=True))
    assert trace.sleeps == [] and trace.done == Done(closed=True)


def test_a_server_answering_now_at_once_backs_off_but_keeps_the_tail() -> None:
    # a server that does not wait at "now" (204 at once, not closed) is polled with backoff,
    # never in a spin; the tail it named still becomes the checkpoint
    answers = iter([no_content(TAIL), page(LATER, events(7, 8), closed=True)])
    trace = drive(reader(clock=lambda: 0.0), lambda req: next(answers))
    assert trace.sleeps == [0.5]
    assert [q(req)["offset"] for req in trace.requests] == ["now", TAIL]
    assert trace.checkpoints == [TAIL, LATER]


def test_proxy_timeout_on_the_first_long_poll_probes_with_a_catch_up_from_now() -> None:
    answers = iter(
        [
            Scripted(status=504, headers={"Content-Type": "text/plain"}, chunks=[b"timeout"]),
            page(TAIL, b"[]", cursor="7"),  # the catch-up from "now": empty, at the tail
            page(LATER, events(7, 8), closed=True),
        ]
    )
    trace = drive(reader(), lambda req: next(answers))
    kinds = [req.kind for req in trace.requests]
    assert kinds == [RequestKind.LONG_POLL, RequestKind.CATCH_UP, RequestKind.LONG_POLL]
    assert [q(req)["offset"] for req in trace.requests] == ["now", "now", TAIL]
    assert trace.checkpoints == [TAIL, LATER]


def test_catch_up_from_now_is_unchanged() -> None:
    trace = drive(reader(live=None), lambda req: page(TAIL, b"[]"))
    assert len(trace.requests) == 1
    assert q(trace.requests[0]) == {"offset": "now"}
    assert trace.checkpoints == [TAIL] and trace.done == Done(closed=False)


def test_sse_from_now_is_one_request() -> None:
    body = (
        b'event: control\ndata:{"streamNextOffset":"'
        + TAIL.encode()
        + b'","streamClosed":true}\n\n'
    )
    sse = Scripted(headers={"Content-Type": "text/event-stream"}, chunks=[body])
    trace = drive(reader(live=LiveMode.SSE), lambda req: sse)
    assert len(trace.requests) == 1
    assert q(trace.requests[0]) == {"offset": "now", "live": "sse"}
    assert trace.done == Done(closed=True) and trace.checkpoints == [TAIL]


def test_a_concrete_offset_still_catches_up_first() -> None:
    answers = iter([page(TAIL, events(5, 6)), page(LATER, events(7, 8), closed=True)])
    trace = drive(reader(offset="0000_000005"), lambda req: next(answers))
    assert [req.kind for req in trace.requests] == [RequestKind.CATCH_UP, RequestKind.LONG_POLL]
