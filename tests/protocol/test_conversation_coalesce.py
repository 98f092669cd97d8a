"""`coalesce_deltas`: applying the coalesced batch gives the state of applying every chunk."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from flue._models.chunks import ChunkPosition, chunk_from_dict
from flue._models.conversation import snapshot_from_dict
from flue._protocol.coalesce import coalesce_deltas
from flue._protocol.conversation import Conversation, Rehydrate


def _pos(batch: int, index: int) -> dict[str, int]:
    return {"batch": batch, "index": index}


def _started(mid: str, batch: int, index: int) -> dict[str, Any]:
    return {
        "type": "message-started",
        "conversationId": "c",
        "messageId": mid,
        "submissionId": "s",
        "position": _pos(batch, index),
    }


def _delta(mid: str, kind: str, text: str, batch: int, index: int) -> dict[str, Any]:
    return {
        "type": "message-delta",
        "conversationId": "c",
        "messageId": mid,
        "kind": kind,
        "delta": text,
        "position": _pos(batch, index),
    }


def _random_batch(rng: random.Random) -> list[dict[str, Any]]:
    items = [_started("m1", 1, 0), _started("m2", 1, 1)]
    for i in range(2, rng.randint(3, 60)):
        if rng.random() < 0.1:
            items.append(_started(rng.choice(["m1", "m2"]), 1, i))  # a no-op step
        else:
            mid, kind = rng.choice(["m1", "m2"]), rng.choice(["text", "text", "reasoning"])
            items.append(_delta(mid, kind, f"w{i} ", 1, i))
    return items


def _apply_all(items: list[dict[str, Any]], after: ChunkPosition | None = None) -> Any:
    conversation = Conversation(snapshot_from_dict({"conversationId": "c", "messages": []}))
    conversation.position = after
    for item in items:
        outcome = conversation.apply(chunk_from_dict(item))
        assert not isinstance(outcome, Rehydrate), outcome
    return conversation.state, conversation.position


@pytest.mark.parametrize("seed", range(40))
def test_same_state_as_every_chunk(seed: int) -> None:
    items = _random_batch(random.Random(seed))
    coalesced = coalesce_deltas(items, None)
    assert _apply_all(coalesced) == _apply_all(items)
    runs = 1 + sum(
        1
        for a, b in itertools.pairwise(items)
        if not (
            a["type"] == b["type"] == "message-delta"
            and (a["messageId"], a["kind"]) == (b["messageId"], b["kind"])
        )
    )
    assert len(coalesced) == runs


def test_a_long_reply_is_one_chunk() -> None:
    items = [_started("m", 1, 0)] + [_delta("m", "text", f"{i} ", 1, i) for i in range(1, 10_001)]
    coalesced = coalesce_deltas(items, None)
    assert len(coalesced) == 2
    assert coalesced[1]["delta"] == "".join(f"{i} " for i in range(1, 10_001))
    assert coalesced[1]["position"] == _pos(1, 10_000)
    assert items[-1]["delta"] == "10000 "  # the batch itself is not changed


def test_redelivered_deltas_never_join_a_run() -> None:
    items = [_delta("m", "text", f"{i} ", 1, i) for i in range(1, 6)]
    coalesced = coalesce_deltas(items, ChunkPosition(batch=1, index=3))
    # the applied ones pass through (apply drops them), the new ones form the run
    assert [c["delta"] for c in coalesced] == ["1 ", "2 ", "3 ", "4 5 "]


def test_odd_chunks_pass_through_unjoined() -> None:
    bad = _delta("m", "text", "x", 1, 2)
    bad["position"] = {"batch": "1", "index": 2}
    no_text = _delta("m", "text", "y", 1, 3)
    no_text["delta"] = None
    items = [_delta("m", "text", "a", 1, 1), bad, no_text, _delta("m", "text", "b", 1, 4)]
    assert coalesce_deltas(items, None) == items
