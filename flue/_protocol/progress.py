"""What counts as progress, and the health of the current connection: the reader's accounting.

This is the one place that says what progress is; `flue._protocol.reader` asks, and acts.

* A response *makes progress* when it brings something new: items, a moved offset, the first
  "up to date", or the end of the stream (a batch that `Delivery.offer` queues). Flue's
  repeated keep-alive control frames at the same offset are not progress, and neither is an
  SSE comment.
* A response *works* when it makes progress or is a valid answer that did its job: a complete
  200/204/304 answer (the instant long-poll guard below aside), or an SSE connection that sent
  a valid control frame and stayed open at least `MIN_WAIT` (an idle tail). A working response
  resets the backoff.

Guards against servers that answer without progress (each ends in a `ProtocolError`, through
the retry limits or at once, in bounded time and memory):

* *Instant long-polls*: a long-poll must wait for data. One answered sooner than `MIN_WAIT`
  with no item and without closing the stream is a failed attempt with backoff, whether or not
  its offset moved (a moved offset is still handed over).
* *Stuck controls*: `MAX_STUCK_CONTROLS` SSE control frames in a row that neither move the
  offset nor say "up to date" (more data is waiting, yet none comes) are fatal.
* *Empty steps*: `MAX_EMPTY_STEPS` answers (pages, 204s or control frames) in a row that move
  the offset but bring no item and are not up to date are fatal: a server that hands out a
  fresh offset each time would otherwise be paged forever.
* *Overdue control frame*: an SSE connection that sends no control frame for longer than the
  stall timeout (comments, data frames, or bytes of a frame that never ends keep the socket
  busy but are not progress) is dropped and retried as a failed attempt. Flue sends a control
  frame every 30 s even when idle.
* *Quick ends*: only `FREE_QUICK_ENDS` SSE ends in a row may be quick (no progress, open less
  than `MIN_WAIT`) and still reconnect at once, uncounted; every further one is a failed attempt.
* Offsets that cycle or go backwards are caught by `Delivery.offer`.
"""

from __future__ import annotations

from collections.abc import Callable

from flue._protocol.batches import Batch
from flue.errors import ProtocolError

__all__ = ["FREE_QUICK_ENDS", "MAX_EMPTY_STEPS", "MAX_STUCK_CONTROLS", "MIN_WAIT", "Progress"]

# A long-poll answer without progress that comes back faster than this did not wait for data,
# and an SSE connection without progress that ends sooner was not held open at an idle tail: a
# server that does so every time would make the reader spin. (Flue waits 30 s, Durable Streams
# servers recycle SSE after about 60 s, proxies time out after seconds; test servers 0.2 s.)
MIN_WAIT = 0.1
# Quick SSE ends in a row that still reconnect at once, uncounted.
FREE_QUICK_ENDS = 3
# Consecutive SSE control frames that neither move the offset nor say "up to date".
MAX_STUCK_CONTROLS = 10
# Consecutive answers that move the offset with no item and not up to date.
MAX_EMPTY_STEPS = 100


class Progress:
    """Progress and health of the current request's connection, for one stream read."""

    def __init__(self, clock: Callable[[], float], *, stall: float | None = None) -> None:
        self._clock = clock
        self._stall = stall
        self.sent_at = 0.0
        self.worked = False  # the last response worked: a transport failure retries at once
        self.quick_ends = 0  # quick SSE ends in a row
        self.empty_steps = 0
        self.stuck_controls = 0
        self.sse_healthy = False  # this SSE connection sent a valid control frame
        self.sse_progress = False  # ... and one that made progress
        self._last_control = 0.0

    def request_sent(self) -> None:
        self.sent_at = self._clock()

    def answered_at_once(self) -> bool:
        """The response came sooner than a long-poll that waited for data can."""
        return self._clock() - self.sent_at < MIN_WAIT

    def sse_opened(self) -> None:
        self.stuck_controls = 0
        self.sse_healthy = False
        self.sse_progress = False
        if self._stall is not None:
            self._last_control = self._clock()

    def step(self, batch: Batch, *, queued: bool) -> None:
        """Count an answer's batch towards the empty-steps guard."""
        if batch.items or batch.up_to_date or batch.closed:
            self.empty_steps = 0
        elif queued:
            self.empty_steps += 1
            if self.empty_steps >= MAX_EMPTY_STEPS:
                raise ProtocolError(
                    f"the server answered {self.empty_steps} reads in a row with a new offset "
                    "but no events and not up to date; it makes no progress, and reading on "
                    "would never end"
                )

    def control_frame(self, batch: Batch, *, queued: bool) -> bool:
        """A valid SSE control frame; True when it is this connection's first progress."""
        self.sse_healthy = True
        if self._stall is not None:
            self._last_control = self._clock()
        if queued or batch.up_to_date:
            self.stuck_controls = 0
        else:
            self.stuck_controls += 1
            if self.stuck_controls >= MAX_STUCK_CONTROLS:
                raise ProtocolError(
                    f"the SSE stream sent {self.stuck_controls} control frames in a row at "
                    f"offset {batch.next_offset!r} that say more data is waiting, but the "
                    "offset never advances"
                )
        self.step(batch, queued=queued)
        first = queued and not self.sse_progress
        self.sse_progress = self.sse_progress or queued
        return first

    def control_overdue(self) -> float | None:
        """Seconds since the last control frame, when longer than the stall timeout."""
        if self._stall is None:
            return None
        waited = self._clock() - self._last_control
        return waited if waited > self._stall else None

    def settle_sse(self) -> bool:
        """An SSE connection ended or was cut: True when it worked but has not yet reset the
        backoff (it was held open at an idle tail)."""
        if self.sse_progress:
            self.quick_ends = 0  # its first progress already reset the backoff
            return False
        if self.sse_healthy and self._clock() - self.sent_at >= MIN_WAIT:
            self.quick_ends = 0
            return True
        if self.sse_healthy:
            self.quick_ends += 1
        return False

    def recycle_is_free(self) -> bool:
        """After `settle_sse`: reconnect at once, uncounted (the server recycles connections)."""
        return self.sse_healthy and self.quick_ends <= FREE_QUICK_ENDS
