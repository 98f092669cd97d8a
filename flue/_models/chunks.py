"""The chunks of an agent conversation's ``view=updates`` stream, as models.

Every chunk carries ``type``, ``conversationId`` and a monotonic ``position``; `chunk_from_dict`
never raises: an unknown or missing ``type`` (or an item that is not an object) gives an
`UnknownChunk` keeping the raw value, and a missing or invalid ``position`` reads as None (the
reducer, `flue._protocol.conversation`, then asks for the history to be read again).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias, TypeGuard

import attrs

from flue._models.base import register_model
from flue._models.conversation import ConversationSnapshot, Message, ModelRef
from flue._models.records import PromptUsage

__all__ = [
    "ChunkPosition",
    "ConversationChunk",
    "ConversationResetChunk",
    "MessageAppendedChunk",
    "MessageCompletedChunk",
    "MessageDeltaChunk",
    "MessageStartedChunk",
    "SubmissionSettledChunk",
    "ToolInputChunk",
    "ToolOutputChunk",
    "ToolOutputErrorChunk",
    "UnknownChunk",
    "chunk_from_dict",
]


@attrs.frozen(kw_only=True, slots=False, order=True)
class ChunkPosition:
    """The monotonic position of a chunk (compared by ``batch``, then ``index``)."""

    batch: float
    index: float


def _position(v: Any, _: Any = None) -> ChunkPosition | None:
    if not isinstance(v, dict):
        return None
    b, i = v.get("batch"), v.get("index")
    if not (_finite(b) and _finite(i)):
        return None
    return ChunkPosition(batch=b, index=i)


def _finite(x: Any) -> TypeGuard[float]:
    return type(x) in (int, float) and math.isfinite(x)


@attrs.frozen(kw_only=True, slots=False)
class ConversationResetChunk:
    """``conversation-reset``: the state is replaced by ``snapshot``."""

    type: str = "conversation-reset"
    conversation_id: str | None = None
    snapshot: ConversationSnapshot | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageAppendedChunk:
    """``message-appended``: a whole message (a user prompt, a notice) is added or replaced."""

    type: str = "message-appended"
    conversation_id: str | None = None
    message: Message | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageStartedChunk:
    """``message-started``: an assistant message begins (no parts yet)."""

    type: str = "message-started"
    conversation_id: str | None = None
    message_id: str | None = None
    submission_id: str | None = None
    timestamp: str | None = None
    model: ModelRef | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageDeltaChunk:
    """``message-delta``: text (``kind="text"``) or reasoning appended to a message."""

    type: str = "message-delta"
    conversation_id: str | None = None
    message_id: str | None = None
    kind: str | None = None
    delta: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolInputChunk:
    """``tool-input``: the model called a tool."""

    type: str = "tool-input"
    conversation_id: str | None = None
    message_id: str | None = None
    tool_call_id: str | None = None
    tool_name: str | None = None
    input: Any = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolOutputChunk:
    """``tool-output``: a tool call returned ``output``."""

    type: str = "tool-output"
    conversation_id: str | None = None
    tool_call_id: str | None = None
    output: Any = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolOutputErrorChunk:
    """``tool-output-error``: a tool call failed with ``error_text``."""

    type: str = "tool-output-error"
    conversation_id: str | None = None
    tool_call_id: str | None = None
    error_text: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageCompletedChunk:
    """``message-completed``: the message's text and reasoning parts are done."""

    type: str = "message-completed"
    conversation_id: str | None = None
    message_id: str | None = None
    usage: PromptUsage | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class SubmissionSettledChunk:
    """``submission-settled``: a submission ended (``outcome`` ``"completed"``, ``"failed"``
    or ``"aborted"``)."""

    type: str = "submission-settled"
    conversation_id: str | None = None
    submission_id: str | None = None
    outcome: str | None = None
    result: Any = None
    error: Any = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class UnknownChunk:
    """A chunk of a ``type`` this version does not know (everything is in ``raw``)."""

    type: str = ""
    conversation_id: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


ConversationChunk: TypeAlias = (
    ConversationResetChunk
    | MessageAppendedChunk
    | MessageStartedChunk
    | MessageDeltaChunk
    | ToolInputChunk
    | ToolOutputChunk
    | ToolOutputErrorChunk
    | MessageCompletedChunk
    | SubmissionSettledChunk
    | UnknownChunk
)

_POS: dict[str, Callable[[Any, Any], Any]] = {"position": _position}
_CHUNK_BUILD: dict[str, Any] = {
    attrs.fields(cls).type.default: register_model(cls, label="chunk", fixed=("type",), hooks=_POS)
    for cls in (
        ConversationResetChunk,
        MessageAppendedChunk,
        MessageStartedChunk,
        MessageDeltaChunk,
        ToolInputChunk,
        ToolOutputChunk,
        ToolOutputErrorChunk,
        MessageCompletedChunk,
        SubmissionSettledChunk,
    )
}
_build_unknown_chunk = register_model(UnknownChunk, label="chunk", fixed=("type",), hooks=_POS)


def chunk_from_dict(d: Any) -> ConversationChunk:
    """One chunk of the ``view=updates`` stream. Never raises: an unknown or missing ``type``,
    or an item that is not an object, gives an `UnknownChunk` keeping the raw value."""
    if not isinstance(d, dict):
        return UnknownChunk(type="", raw={"value": d})
    kind = d.get("type")
    build = _CHUNK_BUILD.get(kind) if isinstance(kind, str) else None
    if build is None:
        chunk: UnknownChunk = _build_unknown_chunk(d)
        return attrs.evolve(chunk, type=kind if isinstance(kind, str) else "")
    built: ConversationChunk = build(d)
    return built
