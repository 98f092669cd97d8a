# In-memory runs: one record and one append-only event list per run, like Flue's run store and
# event stream store. An event at sequence number n (0-based) has the offset
# "0000000000000000_<n, 16 digits>"; a read from offset X returns the events with a sequence
# number greater than X's second component (the first component is ignored, as in Flue), and its
# next offset is the offset of the last event returned, or X itself (re-formatted) when nothing
# was returned. Every change replaces the run's `Change` (an `asyncio.Event` plus what the stream
# looked like at that moment), so waiters wake without polling; a long-poll answers with the
# change that woke it, as Flue's does (see `_reads._long_poll`). Everything here runs on the
# server's event loop thread.

from __future__ import annotations

import asyncio
import datetime
import re
import threading
import time
from typing import Any

import attrs

__all__ = [
    "MISSING",
    "Change",
    "ReadResult",
    "RunState",
    "format_offset",
    "now_iso",
    "parse_offset",
]

_PAD = 16
_OFFSET_RE = re.compile(r"[0-9]+_([0-9]+)")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""Sentinel: no value was given (distinct from ``None``, which is JSON ``null``)."""


def format_offset(seq: int) -> str:
    """The wire offset of sequence number ``seq`` (``-1`` stays ``"-1"``)."""
    if seq < 0:
        return "-1"
    return f"{0:0{_PAD}d}_{seq:0{_PAD}d}"


def parse_offset(offset: str) -> int | None:
    """The sequence number an offset points at, ``-1`` for ``"-1"``, ``None`` if malformed."""
    if offset == "-1":
        return -1
    match = _OFFSET_RE.fullmatch(offset)
    return int(match.group(1)) if match else None


def now_iso() -> str:
    """The current UTC time as Flue writes it: ISO 8601 with milliseconds and ``Z``."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@attrs.frozen
class ReadResult:
    """One page of a run's event stream."""

    events: list[dict[str, Any]]
    next_offset: str
    up_to_date: bool
    closed: bool


@attrs.define(eq=False)
class Change:
    """The next change of a run: `event` is set when it happens, and `events`/`closed` then
    hold the stream's length and closed flag as that change left them."""

    event: asyncio.Event = attrs.field(factory=asyncio.Event)
    events: int = 0
    closed: bool = False


@attrs.define(eq=False)
class RunState:
    """A run's record and its event stream."""

    run_id: str
    workflow_name: str
    started_at: str
    input: Any = MISSING
    started_monotonic: float = attrs.field(factory=time.monotonic)
    status: str = "active"
    ended_at: str | None = None
    is_error: bool | None = None
    duration_ms: int | None = None
    result: Any = MISSING
    error: Any = MISSING
    events: list[dict[str, Any]] = attrs.field(factory=list)
    closed: bool = False
    next_event_index: int = 0
    changed: Change = attrs.field(factory=Change)
    # reads waiting for a change (long-polls, SSE streams at the tail), for
    # `FlueTestServer.wait_for_readers`; the condition is the one thing here used across threads
    waiting: int = 0
    waiting_changed: threading.Condition = attrs.field(factory=threading.Condition)

    # -- stream -------------------------------------------------------------------------------

    @property
    def tail_offset(self) -> str:
        """Offset of the last event (``"-1"`` when there is none): Flue's ``meta.nextOffset``."""
        return format_offset(len(self.events) - 1)

    def notify(self) -> None:
        """Wake everything waiting on this run."""
        old, self.changed = self.changed, Change()
        old.events, old.closed = len(self.events), self.closed
        old.event.set()

    def decorate(self, event: dict[str, Any]) -> dict[str, Any]:
        """Fill in the envelope fields Flue stamps on every event, keeping any already set."""
        out = dict(event)
        out.setdefault("runId", self.run_id)
        out.setdefault("v", 3)
        index = out.setdefault("eventIndex", self.next_event_index)
        if isinstance(index, int) and not isinstance(index, bool):
            self.next_event_index = max(self.next_event_index, index + 1)
        out.setdefault("timestamp", now_iso())
        return out

    def append(self, events: list[dict[str, Any]]) -> None:
        """Append already-decorated events and wake waiters."""
        if self.closed:
            raise RuntimeError(f"run {self.run_id!r} is closed: no more events can be appended")
        self.events.extend(events)
        self.notify()

    def close(self) -> None:
        """Close the event stream (idempotent) and wake waiters."""
        self.closed = True
        self.notify()

    def read(self, start_after: int, limit: int, as_of: Change | None = None) -> ReadResult:
        """Events after sequence number ``start_after``, at most ``limit`` of them; with
        ``as_of``, as the stream stood right after that change."""
        size, closed = (
            (len(self.events), self.closed) if as_of is None else (as_of.events, as_of.closed)
        )
        first = max(start_after + 1, 0)
        page = self.events[first : min(first + limit, size)]
        up_to_date = first + limit >= size
        next_offset = format_offset(first + len(page) - 1) if page else format_offset(start_after)
        return ReadResult(
            events=page, next_offset=next_offset, up_to_date=up_to_date, closed=closed
        )

    # -- record -------------------------------------------------------------------------------

    def finish(self, *, is_error: bool, result: Any, error: Any) -> int:
        """Mark the record ended; returns the duration in milliseconds."""
        self.duration_ms = int((time.monotonic() - self.started_monotonic) * 1000)
        self.ended_at = now_iso()
        self.is_error = is_error
        self.status = "errored" if is_error else "completed"
        self.result = MISSING if is_error else result
        self.error = error if is_error else MISSING
        return self.duration_ms

    def record(self) -> dict[str, Any]:
        """The RunRecord as ``GET /runs/{id}?meta`` answers it (absent fields omitted)."""
        out: dict[str, Any] = {
            "runId": self.run_id,
            "workflowName": self.workflow_name,
            "status": self.status,
            "startedAt": self.started_at,
        }
        if self.input is not MISSING:
            out["input"] = self.input
        if self.ended_at is not None:
            out["endedAt"] = self.ended_at
            out["isError"] = self.is_error
            out["durationMs"] = self.duration_ms
        if self.result is not MISSING:
            out["result"] = self.result
        if self.error is not MISSING:
            out["error"] = self.error
        return out
