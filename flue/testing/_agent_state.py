# The state of the fake server's agent instances: registered agents, submissions and
# conversations (batches of chunk bodies plus the materialized history). Plain data with small
# helpers; the behaviour is in _conversations.py (submissions) and _transcript.py (writing).

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from typing import Any

import attrs

from ._agents import AgentHandle, AgentImage, Reply
from ._store import format_offset

__all__ = ["AgentDef", "Conversation", "Submission", "public", "ulid"]


def public(message: dict[str, Any]) -> dict[str, Any]:
    """A copy of a stored message without the fake's private ``_`` keys."""
    out = {k: v for k, v in message.items() if not k.startswith("_")}
    out["parts"] = [dict(p) for p in message["parts"]]
    if "metadata" in out:
        out["metadata"] = dict(out["metadata"])
    return out


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid() -> str:

    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def ulid() -> str:
    """A fresh ULID (Crockford base32, 26 characters), as Flue's ids carry."""
    return _ulid()


@attrs.define(eq=False)
class AgentDef:
    """A registered agent."""

    name: str
    reply: Reply
    handle: AgentHandle
    token_delay: float = 0.0
    pause_after: int | None = None
    attachments: bool = False
    model: tuple[str, str] = ("fake", "echo")
    resumed: asyncio.Event = attrs.field(factory=asyncio.Event)


@attrs.define(eq=False)
class Submission:
    """One prompt: its input, its task and how it ended."""

    submission_id: str
    message: str
    images: tuple[AgentImage, ...]
    task: asyncio.Task[None] | None = None
    signal: dict[str, Any] | None = None  # 2.x: {type, attributes?, tagName?} of a signal
    body: str | None = None  # 2.x: a signal's body (``message`` is its rendered text)
    joined: list[Submission] = attrs.field(factory=list)  # 2.x: messages joining this reply
    running: bool = False
    abort_requested: bool = False
    outcome: asyncio.Future[tuple[str, Any]] = attrs.field(
        factory=lambda: asyncio.get_running_loop().create_future()
    )


@attrs.define(eq=False)
class Conversation:
    """An agent instance's conversation and stream."""

    agent: str
    instance_id: str
    conversation_id: str = attrs.field(factory=lambda: f"conv_{_ulid()}")
    batches: list[list[dict[str, Any]]] = attrs.field(factory=list)
    messages: list[dict[str, Any]] = attrs.field(factory=list)
    settlements: list[dict[str, Any]] = attrs.field(factory=list)
    attachments: dict[str, tuple[dict[str, Any], bytes]] = attrs.field(factory=dict)
    active: list[Submission] = attrs.field(factory=list)
    tool_calls: int = 0  # default tool call ids are call_fake<n>, unique in the conversation
    # Flue 2.x only: the incarnation and instance uid, the data it was created with, the
    # receipts of idempotency keys (key -> (fingerprint, submission id)) and the submission
    # whose reply a new message joins (None when no reply is being produced).
    line: str = "1.0"
    incarnation: str = attrs.field(factory=lambda: f"inc_{_ulid()}")
    uid: str = attrs.field(factory=lambda: f"inst_{_ulid()}")
    initial_data: Any = None
    receipts: dict[str, tuple[Any, str]] = attrs.field(factory=dict)
    joinable: Submission | None = None
    # Long-polls waiting for a change, for `AgentHandle.wait_for_readers`.
    waiting: int = 0
    waiting_changed: threading.Condition = attrs.field(factory=threading.Condition)
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
    changed: asyncio.Event = attrs.field(factory=asyncio.Event)

    @property
    def head(self) -> int:
        """Sequence number of the last batch (-1 when empty)."""
        return len(self.batches) - 1

    @property
    def offset(self) -> str:
        return format_offset(self.head)

    def append(self, bodies: list[dict[str, Any]]) -> None:
        """Append one batch of chunk bodies and wake readers."""
        cid = self.conversation_id
        stamped = [{"type": body["type"], "conversationId": cid, **body} for body in bodies]
        self.batches.append(stamped)
        old, self.changed = self.changed, asyncio.Event()
        old.set()

    def chunks(self, seq: int) -> list[dict[str, Any]]:
        """The chunks of batch ``seq`` with their positions."""
        return [
            {**body, "position": {"batch": seq, "index": index}}
            for index, body in enumerate(self.batches[seq])
        ]

    def snapshot(self) -> dict[str, Any]:
        """The history snapshot: completed messages, then in-progress ones."""
        done = [m for m in self.messages if not m.get("_streaming")]
        live = [m for m in self.messages if m.get("_streaming")]
        return {
            "v": 1,
            "conversationId": self.conversation_id,
            "offset": self.offset,
            "messages": [public(m) for m in done + live],
            "settlements": [dict(s) for s in self.settlements],
        }

    def history(self) -> dict[str, Any]:
        """What a history read answers: the snapshot, plus the incarnation on Flue 2.x."""
        snapshot = self.snapshot()
        if self.line == "2":
            snapshot["incarnation"] = self.incarnation
        return snapshot

    def checkpoint(self) -> dict[str, Any]:
        """Flue 2.x's in-band marker at the start of every updates answer."""
        return {"type": "stream-checkpoint", "incarnation": self.incarnation}

    def message(self, message_id: str) -> dict[str, Any]:
        return next(m for m in self.messages if m["id"] == message_id)
