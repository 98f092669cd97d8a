"""Coalescing a batch of conversation chunks before the reducer applies it.

`coalesce_deltas(items, after)` joins each run of consecutive ``message-delta`` chunks of one
message and kind in a batch into one chunk, so a follower applies (and hands out) one state per
run: a reply the server wrote in one durable batch (Flue 2.x groups a fast reply's deltas for
up to 1 s) costs one state, not one per token. It works on the raw chunk dicts, before they
are built into models, and never changes what `flue._protocol.conversation.Conversation`
ends up with.
"""

from __future__ import annotations

from typing import Any

from flue._models.chunks import ChunkPosition

__all__ = ["coalesce_deltas"]


def _key(position: Any) -> tuple[Any, Any] | None:
    if not isinstance(position, dict):
        return None
    batch, index = position.get("batch"), position.get("index")
    if type(batch) not in (int, float) or type(index) not in (int, float):
        return None
    return batch, index


def coalesce_deltas(items: list[Any], after: ChunkPosition | None) -> list[Any]:
    """The chunks of one batch with each run of consecutive ``message-delta`` chunks of one
    message and kind joined into one (its text the run's texts in order, its position the
    run's last): applying the result gives the same state as applying every chunk, with one
    state per run instead of one per delta. Chunks at or below `after` (already applied: a
    redelivered batch) are left out of runs, so a run never carries a delta twice; anything
    else (another type, a bad field or position) is passed through as it is, for
    `Conversation.apply` to judge."""
    floor = (after.batch, after.index) if after is not None else None
    out: list[Any] = []
    run: list[Any] = []  # the deltas of the current run
    for item in items:
        if (
            type(item) is dict
            and item.get("type") == "message-delta"
            and type(item.get("delta")) is str
            and (key := _key(item.get("position"))) is not None
            and (floor is None or key > floor)
        ):
            if run and (
                run[0].get("messageId") == item.get("messageId")
                and run[0].get("kind") == item.get("kind")
            ):
                run.append(item)
                continue
            _flush(run, out)
            run = [item]
            continue
        _flush(run, out)
        run = []
        out.append(item)
    _flush(run, out)
    return out


def _flush(run: list[Any], out: list[Any]) -> None:
    if len(run) == 1:
        out.append(run[0])
    elif run:
        joined = dict(run[-1])
        joined["delta"] = "".join(item["delta"] for item in run)
        out.append(joined)
