"""The checkpoint, and the batches on their way from the server to the caller.

`Delivery` owns the resume checkpoint (`offset`, `up_to_date`, `closed`, `cursor`) and the queue
of batches received but not yet handed over. Invariants:

* `offset` moves only in `confirm()`, to the ``next_offset`` of a batch the caller has whole,
  so resuming from it never skips an item;
* the queue holds, in order, only batches that bring something new: items (which must move
  the offset, except Flue 2.x's ``stream-checkpoint`` marker, which starts every answer of a
  conversation's stream at the offset it was read from and is no content), a new offset,
  the first "up to date" at an offset, or the end of the stream; `frontier` is the
  ``next_offset`` of the last one queued (the checkpoint when none is);
* an offset never comes back: a batch whose ``next_offset`` is an earlier checkpoint, or an
  offset already reached on the same connection, is a `ProtocolError` (a server whose offsets
  cycle or go backwards would otherwise be read forever). Offsets stay opaque: they are only
  compared for equality.

A stream resumed from a position (`flue._protocol.position`) first drops the items already
handed out: `resume_after(n)` at the checkpoint ``X`` makes the first batch queued from ``X``
lose its first ``n`` items (recorded as its ``skipped``); a batch from ``X`` with fewer than
``n`` items is a `ProtocolError`, never a silent gap. The skip holds until the checkpoint moves
past ``X`` (a reconnect before then skips again).

A cut inside an answer (`salvage()`) queues the complete items received from the checkpoint
that were not handed out yet as a *partial* batch at ``X``: confirming it adds them to the skip
(the checkpoint stays ``X``, the position moves), and the items handed out at ``X`` are kept so
that a re-read which does not start with the same items is a `ProtocolError` (the server broke
the rule that data at an offset never changes), never a silent duplicate or gap.
"""

from __future__ import annotations

from collections import deque

import attrs

from flue._protocol.batches import Batch
from flue._protocol.lines import is_checkpoint
from flue.errors import ProtocolError

__all__ = ["Delivery"]

# earlier checkpoints remembered for the "never comes back" check
_HISTORY = 4096


class Delivery:
    """Checkpoint and delivery queue of one stream read."""

    def __init__(self, offset: str) -> None:
        self.offset = offset
        self.up_to_date = False
        self.closed = False
        self.cursor: str | None = None
        self.frontier = offset
        self.frontier_up_to_date = False
        self._queue: deque[Batch] = deque()
        self._delivering: Batch | None = None
        self._history: deque[str] = deque(maxlen=_HISTORY)
        self._earlier: set[str] = set()
        self._reached: set[str] = {offset}
        self.skip = 0  # items to drop from the first batch read at the checkpoint
        # the items handed out at the checkpoint, in order (None: resumed from a position, the
        # items it counts were handed out by another read)
        self._seen: list[object] | None = []

    def resume_after(self, skip: int) -> None:
        """Drop the first `skip` items read from the checkpoint (handed out before)."""
        self.skip = skip
        self._seen = [] if skip == 0 else None

    def salvage(self, items: list[object]) -> bool:
        """A cut inside an answer read from the checkpoint: queue its complete `items` not
        handed out yet as a partial batch; True when there were new ones (the position moves).
        """
        if self.frontier != self.offset or self._queue:
            return False  # this connection moved past the checkpoint: they start elsewhere
        self._check_seen(items)
        if len(items) <= self.skip:
            return False
        batch = Batch(
            items=items[self.skip :],
            next_offset=self.offset,
            up_to_date=False,
            closed=False,
            cursor=None,
            skipped=self.skip,
            partial=True,
        )
        self._queue.append(batch)
        return True

    def _check_seen(self, items: list[object]) -> None:
        seen = self._seen
        if not seen:
            return
        same = min(len(seen), len(items))
        if items[:same] != seen[:same]:
            index = next(i for i in range(same) if items[i] != seen[i])
            raise ProtocolError(
                f"the server sent different data at offset {self.offset!r} when it was read "
                f"again after a cut (item {index + 1} there changed); data at an offset never "
                "changes, so reading on could duplicate or drop items"
            )

    @property
    def delivering(self) -> Batch | None:
        """The batch taken and not yet confirmed."""
        return self._delivering

    def start_request(self) -> None:
        """A request goes out from the checkpoint: what a previous connection queued is gone."""
        self.frontier = self.offset
        self.frontier_up_to_date = self.up_to_date
        self._reached = {self.offset}

    def offer(self, batch: Batch) -> bool:
        """Queue a batch unless it brings nothing new; True when queued."""
        offset = batch.next_offset
        if (
            not batch.items
            and offset == self.frontier
            and not batch.closed
            and not (batch.up_to_date and not self.frontier_up_to_date)
        ):
            # nothing new: Flue's repeated keep-alive control frames; and "not up to date" at
            # the same offset, which moves nothing (the stuck-controls guard counts those)
            if batch.cursor is not None:
                self.cursor = batch.cursor
            return False
        if batch.items and offset == self.frontier and not all(map(is_checkpoint, batch.items)):
            raise ProtocolError(
                f"the server sent {len(batch.items)} item(s) without moving the offset past "
                f"them (still {offset!r}); resuming would deliver them again and again"
            )
        if offset != self.frontier and (offset in self._earlier or offset in self._reached):
            raise ProtocolError(
                f"the server's offset went back to {offset!r}, which this read had already "
                f"passed (now at {self.frontier!r}); offsets that cycle or go backwards would "
                "make the read repeat forever"
            )
        if self.skip and self.frontier == self.offset:
            batch = self._skipped(batch)
        self._reached.add(offset)
        self.frontier = offset
        self.frontier_up_to_date = batch.up_to_date
        self._queue.append(batch)
        return True

    def _skipped(self, batch: Batch) -> Batch:
        """The first batch read at the checkpoint, without the items handed out before."""
        skip = self.skip
        self._check_seen(batch.items)
        if len(batch.items) < skip:
            raise ProtocolError(
                f"resuming at offset {self.offset!r} after {skip} item(s) handed out before, "
                f"but the server sent only {len(batch.items)} item(s) from there; data at an "
                "offset never changes, so this is not the stream the position was saved from "
                "(or the server lost data), and skipping on could drop an item"
            )
        return attrs.evolve(batch, items=batch.items[skip:], skipped=skip)

    @property
    def pending(self) -> bool:
        """True when a batch waits to be handed over."""
        return bool(self._queue)

    def take(self) -> Batch:
        """The next batch to hand over (`confirm()` it once the caller has it)."""
        batch = self._delivering = self._queue.popleft()
        return batch

    def confirm(self) -> Batch:
        """The caller has the last batch taken: move the checkpoint past it."""
        batch = self._delivering
        assert batch is not None
        self._delivering = None
        if batch.partial:
            self.skip += len(batch.items)  # the position moves, the checkpoint stays
            if self._seen is not None:
                self._seen.extend(batch.items)
            return batch
        if batch.next_offset != self.offset:
            self.skip = 0  # the items skipped are behind the checkpoint now
            self._seen = []
            if len(self._history) == _HISTORY:
                self._earlier.discard(self._history[0])
            self._history.append(self.offset)
            self._earlier.add(self.offset)
            self._reached.discard(self.offset)  # held once, in the bounded history
        self.offset = batch.next_offset
        self.up_to_date = batch.up_to_date
        if batch.cursor is not None:
            self.cursor = batch.cursor
        if batch.closed:
            self.closed = True
        return batch

    def clear(self) -> None:
        """Drop the batches not yet handed over (their connection is gone, or the stream ended)."""
        self._queue.clear()
