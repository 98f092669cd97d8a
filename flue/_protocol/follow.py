"""Following one submission along its conversation's updates stream until it settles.

How it works: `SettlementFollow` is fed every item the stream hands out, in order, and answers
what to do with it, as the TypeScript SDK's ``wait()`` does on both server lines:

* `SKIP`: a 2.x ``stream-checkpoint`` with the incarnation already seen (or the first one: it
  is learnt), or a chunk at or below the last position handed out (a batch redelivered after a
  reconnect);
* `Deliver`: a new chunk, for ``on_event``; its ``settlement`` is set when it settles the
  submission (a ``submission-settled`` chunk of that id, or a ``conversation-reset`` whose
  snapshot holds its settlement), and the follow is over;
* `RESTART`: the checkpoint names another incarnation (the stream was reset and regrown): the
  caller drops the stream and reopens it from `offset`; positions seen are forgotten.

`gone()` is the caller's answer to ``416 stream_offset_gone`` (the offset is past the head of a
regrown stream): the follow restarts from the stream's origin ``-1`` and never goes back.
Nothing here reads or waits; the drive loop lives in the client (``conversation.wait()``).
"""

from __future__ import annotations

from typing import Any

import attrs

from flue._models.base import structure_fn
from flue._models.chunks import ChunkPosition, chunk_from_dict
from flue._models.conversation import Settlement
from flue._protocol.conversation import Flag

__all__ = ["RESTART", "SKIP", "Deliver", "SettlementFollow", "Step"]


SKIP = Flag("SKIP")
RESTART = Flag("RESTART")


@attrs.frozen(kw_only=True)
class Deliver:
    """A chunk to hand out; ``settlement`` is the submission's when this chunk settles it."""

    chunk: Any
    settlement: Settlement | None = None


Step = Flag | Deliver

_POSITION_KEYS = ("type", "position", "conversationId")


def _settlement(item: dict[str, Any], submission_id: str) -> Settlement | None:
    kind = item.get("type")
    if kind == "submission-settled" and item.get("submissionId") == submission_id:
        fields = {k: v for k, v in item.items() if k not in _POSITION_KEYS}
        return structure_fn(Settlement)(fields)
    if kind == "conversation-reset":
        snapshot = item.get("snapshot")
        found = snapshot.get("settlements") if isinstance(snapshot, dict) else None
        for entry in found if isinstance(found, list) else ():
            if isinstance(entry, dict) and entry.get("submissionId") == submission_id:
                return structure_fn(Settlement)(entry)
    return None


class SettlementFollow:
    """The follow of one submission (module comment). ``offset`` is where the stream is
    (re)opened; ``incarnation`` the 2.x stream generation seen (None on beta.9)."""

    def __init__(self, submission_id: str, offset: str) -> None:
        self.submission_id = submission_id
        self.offset = offset
        self.incarnation: str | None = None
        self.last: ChunkPosition | None = None
        self.restarts = 0

    def feed(self, item: Any) -> Step:
        """What to do with one item of the stream."""
        if isinstance(item, dict) and item.get("type") == "stream-checkpoint":
            incarnation = item.get("incarnation")
            if not isinstance(incarnation, str):
                return SKIP  # a marker without its identity says nothing
            if self.incarnation is not None and incarnation != self.incarnation:
                self.incarnation = incarnation
                self.last = None
                self.restarts += 1
                return RESTART
            self.incarnation = incarnation
            return SKIP
        chunk = chunk_from_dict(item)
        position = chunk.position
        if position is not None:
            if self.last is not None and position <= self.last:
                return SKIP
            self.last = position
        settlement = _settlement(item, self.submission_id) if isinstance(item, dict) else None
        return Deliver(chunk=chunk, settlement=settlement)

    def gone(self) -> None:
        """The stream answered ``416 stream_offset_gone``: reopen from its origin."""
        self.offset = "-1"
        self.last = None
        self.incarnation = None
        self.restarts += 1
