# The Durable Streams read side of `/runs/{id}`, as Flue 1.0.0-beta.5 serves it.
#
# `parse_read_query` validates the query in Flue's order (duplicate offset, duplicate tail, tail
# syntax, live without offset, live value, offset syntax). `head` answers HEAD. `read` picks the
# mode: catch-up (one page, ETag, exact-match 304), long-poll (answer at once when events or the
# closed tail are there, else wait on the run's change event up to the window and answer with
# that change: 200 with the events it appended, else 204), or SSE (a frame generator: data
# frame + control frame per page, heartbeat comments while waiting, a keep-alive control frame
# after each idle window, end after `streamClosed`; with `sse_recycle`, the body also ends
# cleanly after a control frame once the connection is that old, as Durable Streams servers
# recycle SSE connections).

from __future__ import annotations

import asyncio
import base64
import math
import re
import threading
import time
from collections.abc import AsyncGenerator, Callable
from typing import Literal, Protocol

import attrs

from ._send import Frame, Reply
from ._store import Change, ReadResult, RunState, format_offset, parse_offset
from ._wire import SECURITY_HEADERS, dumps, invalid_request

__all__ = ["ReadConfig", "ReadQuery", "head", "parse_read_query", "read"]

_CURSOR_EPOCH_MS = 1728432000000
_CURSOR_INTERVAL_MS = 20_000
_TAIL_RE = re.compile(r"[1-9][0-9]*")
_OFFSET_RE = re.compile(r"[0-9]+_[0-9]+")
_JS_INT_PREFIX = re.compile(r"\s*([+-]?[0-9]+)")


@attrs.frozen(kw_only=True)
class ReadConfig:
    """Timing and paging of the read side (Flue's values by default)."""

    page_size: int = 100
    long_poll_timeout: float = 30.0
    sse_heartbeat: float | None = 15.0
    sse_keepalive: float = 30.0
    sse_batch: int = 100
    sse_recycle: float | None = None


@attrs.frozen(kw_only=True)
class ReadQuery:
    """A validated read query."""

    offset: str
    tail: int | None
    live: Literal["long-poll", "sse"] | None
    cursor: str | None


def _values(query: tuple[tuple[str, str], ...], name: str) -> list[str]:
    return [value for key, value in query if key == name]


def parse_read_query(query: tuple[tuple[str, str], ...]) -> ReadQuery | Reply:
    """The read parameters, or the 400 answer Flue gives for them."""
    offsets = _values(query, "offset")
    tails = _values(query, "tail")
    lives = _values(query, "live")
    cursors = _values(query, "cursor")
    if len(offsets) > 1:
        return invalid_request("Duplicate offset parameters are not allowed.")
    if len(tails) > 1:
        return invalid_request("Duplicate tail parameters are not allowed.")
    if tails and not _TAIL_RE.fullmatch(tails[0]):
        return invalid_request("Tail must be an integer greater than or equal to 1.")
    if lives and not offsets:
        return invalid_request("Offset is required for live mode.")
    if lives and lives[0] not in ("long-poll", "sse"):
        return invalid_request('Invalid live mode. Use "long-poll" or "sse".')
    offset = offsets[0] if offsets else "-1"
    if offset not in ("-1", "now") and not _OFFSET_RE.fullmatch(offset):
        return invalid_request("Invalid offset format.")
    live: Literal["long-poll", "sse"] | None = None
    if lives:
        live = "sse" if lives[0] == "sse" else "long-poll"
    return ReadQuery(
        offset=offset,
        tail=int(tails[0]) if tails else None,
        live=live,
        cursor=cursors[0] if cursors else None,
    )


def _etag(run_id: str, start: str, end: str, closed: bool) -> str:
    path = base64.b64encode(f"runs/{run_id}".encode()).decode()
    return f'"{path}:{start}:{end}{":c" if closed else ""}"'


def make_cursor(client_cursor: str | None, rand: Callable[[], float]) -> str:
    """Flue's long-poll cursor: the current 20 s interval, pushed past a client's cursor."""
    interval = math.floor((time.time() * 1000 - _CURSOR_EPOCH_MS) / _CURSOR_INTERVAL_MS)
    if not client_cursor:
        return str(interval)
    match = _JS_INT_PREFIX.match(client_cursor)
    if match is None or int(match.group(1)) < interval:
        return str(interval)
    return str(int(match.group(1)) + math.floor(rand() * 180) + 1)


def head(run: RunState) -> Reply:
    """HEAD: the stream's metadata, no body."""
    headers = [
        ("content-type", "application/json"),
        *SECURITY_HEADERS,
        ("Stream-Next-Offset", run.tail_offset),
        ("Stream-Up-To-Date", "true"),
        ("cache-control", "no-store"),
    ]
    if run.closed:
        headers.append(("Stream-Closed", "true"))
    headers.append(("etag", _etag(run.run_id, "-1", run.tail_offset, run.closed)))
    return Reply(200, headers)


async def wait_either(
    event: asyncio.Event, timeout: float | None, stopping: asyncio.Event
) -> Literal["data", "timeout", "stopped"]:
    """Wait until ``event`` is set, ``timeout`` passes or the server stops (``stopping``)."""
    changed = asyncio.ensure_future(event.wait())
    stopped = asyncio.ensure_future(stopping.wait())
    try:
        done, _ = await asyncio.wait(
            {changed, stopped}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        changed.cancel()
        stopped.cancel()
    if stopped in done:
        return "stopped"
    return "data" if changed in done else "timeout"


class Watched(Protocol):
    """What readers wait on (a run, an agent conversation): the count of waiting reads, and
    the condition a test blocks on until enough wait (``wait_for_readers``)."""

    waiting: int
    waiting_changed: threading.Condition


async def wait_for_change(
    watched: Watched, event: asyncio.Event, timeout: float | None, stopping: asyncio.Event
) -> Literal["data", "timeout", "stopped"]:
    """Wait until ``event`` (the current change event of ``watched``) is set, ``timeout``
    passes or the server stops, counted in ``watched.waiting`` meanwhile. The count goes up
    before the first await: a change made once a test saw the count is certainly what wakes
    this read, as the event it sets is the one taken here."""
    with watched.waiting_changed:
        watched.waiting += 1
        watched.waiting_changed.notify_all()
    try:
        return await wait_either(event, timeout, stopping)
    finally:
        with watched.waiting_changed:
            watched.waiting -= 1
            watched.waiting_changed.notify_all()


async def read(
    run: RunState,
    query: ReadQuery,
    if_none_match: str | None,
    config: ReadConfig,
    rand: Callable[[], float],
    stopping: asyncio.Event,
) -> Reply:
    """GET: catch-up, long-poll or SSE."""
    offset = query.offset
    if offset == "now" and query.live is not None:
        offset = run.tail_offset
    elif offset == "-1" and query.tail is not None:
        last = parse_offset(run.tail_offset)
        assert last is not None
        offset = format_offset(max(-1, last - query.tail))
    if query.live == "sse":
        frames = _sse_frames(run, offset, config, rand, stopping)
        headers = [
            ("content-type", "text/event-stream"),
            ("cache-control", "no-cache"),
            *SECURITY_HEADERS,
        ]
        return Reply(200, headers, frames=frames)
    if query.live == "long-poll":
        return await _long_poll(run, offset, query.cursor, config, rand, stopping)
    return _catch_up(run, offset, if_none_match, config)


def _page(run: RunState, offset: str, limit: int, as_of: Change | None = None) -> ReadResult:
    start = parse_offset(offset)
    assert start is not None
    return run.read(start, limit, as_of)


def _catch_up(run: RunState, offset: str, if_none_match: str | None, config: ReadConfig) -> Reply:
    if offset == "now":
        result = ReadResult(
            events=[], next_offset=run.tail_offset, up_to_date=True, closed=run.closed
        )
    else:
        result = _page(run, offset, config.page_size)
    closed = result.closed and result.up_to_date
    etag = None if offset == "now" else _etag(run.run_id, offset, result.next_offset, closed)
    if etag is not None and if_none_match == etag:
        return Reply(304, [("etag", etag), *SECURITY_HEADERS])
    headers = [
        ("content-type", "application/json"),
        ("Stream-Next-Offset", result.next_offset),
        ("cache-control", "no-store"),
        *SECURITY_HEADERS,
    ]
    if etag is not None:
        headers.append(("etag", etag))
    if result.up_to_date:
        headers.append(("Stream-Up-To-Date", "true"))
    if closed:
        headers.append(("Stream-Closed", "true"))
    return Reply(200, headers, dumps(result.events))


async def _long_poll(
    run: RunState,
    offset: str,
    client_cursor: str | None,
    config: ReadConfig,
    rand: Callable[[], float],
    stopping: asyncio.Event,
) -> Reply:
    def data(result: ReadResult) -> Reply:
        closed = result.closed and result.up_to_date
        headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            *SECURITY_HEADERS,
            ("Stream-Next-Offset", result.next_offset),
            ("Stream-Cursor", make_cursor(client_cursor, rand)),
        ]
        if result.up_to_date:
            headers.append(("Stream-Up-To-Date", "true"))
        if closed:
            headers.append(("Stream-Closed", "true"))
        headers.append(("etag", _etag(run.run_id, offset, result.next_offset, closed)))
        return Reply(200, headers, dumps(result.events))

    def empty(next_offset: str, closed: bool) -> Reply:
        headers = [
            *SECURITY_HEADERS,
            ("Stream-Next-Offset", next_offset),
            ("Stream-Up-To-Date", "true"),
            ("Stream-Cursor", make_cursor(client_cursor, rand)),
        ]
        if closed:
            headers.append(("Stream-Closed", "true"))
        return Reply(204, headers)

    first = _page(run, offset, config.page_size)
    if first.events:
        return data(first)
    if first.closed and first.up_to_date:
        return empty(first.next_offset, True)
    # No await since the read above, so no change can have been missed.
    change = run.changed
    outcome = await wait_for_change(run, change.event, config.long_poll_timeout, stopping)
    if outcome == "data":
        # Flue re-reads as soon as the append that woke the poll has landed, so its answer holds
        # that append only: a workflow's `run_end` and the closing of the stream come later
        # (tests/interop/FINDINGS.md). Reading the stream as that change left it does the same.
        fresh = _page(run, offset, config.page_size, as_of=change)
        if fresh.events:
            return data(fresh)
        return empty(first.next_offset, change.closed)
    return empty(first.next_offset, run.closed)


def _has_more(run: RunState, offset: str) -> bool:
    start = parse_offset(offset)
    return run.closed or (start is not None and len(run.events) > start + 1)


def _control(payload: dict[str, object]) -> Frame:
    return Frame("control", dumps(payload).decode())


async def _sse_frames(
    run: RunState,
    offset: str,
    config: ReadConfig,
    rand: Callable[[], float],
    stopping: asyncio.Event,
) -> AsyncGenerator[Frame, None]:
    loop = asyncio.get_running_loop()
    heartbeat = config.sse_heartbeat
    next_heartbeat = loop.time() + heartbeat if heartbeat else math.inf
    recycle_at = loop.time() + config.sse_recycle if config.sse_recycle else math.inf
    current = offset
    while not stopping.is_set():
        result = _page(run, current, config.sse_batch)
        if result.events:
            yield Frame("data", dumps(result.events).decode())
        closed = result.closed and result.up_to_date
        control: dict[str, object] = {"streamNextOffset": result.next_offset}
        if closed:
            control["streamClosed"] = True
        else:
            control["streamCursor"] = make_cursor(None, rand)
            if result.up_to_date:
                control["upToDate"] = True
        yield _control(control)
        current = result.next_offset
        if closed or loop.time() >= recycle_at:
            return  # recycling ends the body cleanly after a control frame
        if not result.up_to_date:
            continue
        # At the tail of an open run: wait for a change, beating the heart meanwhile.
        idle_deadline = loop.time() + config.sse_keepalive
        while True:
            if _has_more(run, current):
                break
            wake_at = min(idle_deadline, next_heartbeat, recycle_at)
            outcome = await wait_for_change(
                run, run.changed.event, max(0.0, wake_at - loop.time()), stopping
            )
            if outcome == "stopped":
                return
            if outcome == "data":
                break
            now = loop.time()
            if now >= recycle_at:
                yield _control(
                    {
                        "streamNextOffset": current,
                        "streamCursor": make_cursor(None, rand),
                        "upToDate": True,
                    }
                )
                return
            if now >= idle_deadline:
                # Flue re-reads after this, so an idle wait ends in two identical controls.
                keep_alive = {
                    "streamNextOffset": current,
                    "streamCursor": make_cursor(None, rand),
                    "upToDate": True,
                }
                yield _control(keep_alive)
                break
            if heartbeat and now >= next_heartbeat:
                while next_heartbeat <= now:
                    next_heartbeat += heartbeat
                yield Frame(None, "heartbeat")
