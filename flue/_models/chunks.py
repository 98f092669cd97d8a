"""The chunks of an agent conversation's ``view=updates`` stream, as models.

Every chunk carries ``type``, ``conversationId`` and a monotonic ``position``, except Flue 2.x's
``stream-checkpoint`` (`StreamCheckpointChunk`: only the stream's ``incarnation``, a marker
that is not conversation content). `chunk_from_dict` never raises: an unknown or missing
``type`` (or an item that is not an object) gives an `UnknownChunk` keeping the raw value, and
a missing or invalid ``position`` reads as None (the reducer, `flue._protocol.conversation`,
then asks for the history to be read again).

Flue 1.0 (beta.9) fields stay and read None on 2.x (``model`` of ``message-started``, ``usage``
of ``message-completed``, ``result`` of ``submission-settled``); the 2.x fields read None on
beta.9.
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
    "DataPartChunk",
    "MessageAppendedChunk",
    "MessageCompletedChunk",
    "MessageDeltaChunk",
    "MessageMetadataChunk",
    "MessageStartedChunk",
    "StreamCheckpointChunk",
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
    """``message-started``: an assistant message begins (no parts yet). A second one for a
    message already there is a later step of the same reply, and changes nothing.

    ``timestamp`` is when it started. Flue 1.0 (beta.9) sends ``model``; Flue 2.x sends
    ``turn_id`` and the agent's ``metadata`` (from its ``useResponseStart`` hooks).
    """

    type: str = "message-started"
    conversation_id: str | None = None
    message_id: str | None = None
    submission_id: str | None = None
    turn_id: str | None = None
    metadata: dict[str, Any] | None = None
    timestamp: str | None = None
    model: ModelRef | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageMetadataChunk:
    """``message-metadata`` (Flue 2.x): ``metadata`` is deep-merged into the message's
    metadata (later values win, objects merge key by key)."""

    type: str = "message-metadata"
    conversation_id: str | None = None
    message_id: str | None = None
    metadata: dict[str, Any] | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class DataPartChunk:
    """``data-part`` (Flue 2.x): the message's data part ``name`` now holds ``data`` (the
    first write of a name appends a `DataPart`, a later one replaces its data in place)."""

    type: str = "data-part"
    conversation_id: str | None = None
    message_id: str | None = None
    name: str | None = None
    data: Any = None
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
    timestamp: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolOutputChunk:
    """``tool-output``: a tool call returned ``output``; Flue 2.x adds how long the tool ran
    (``duration_ms``) and when (``timestamp``)."""

    type: str = "tool-output"
    conversation_id: str | None = None
    tool_call_id: str | None = None
    output: Any = None
    duration_ms: float | None = None
    timestamp: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolOutputErrorChunk:
    """``tool-output-error``: a tool call failed with ``error_text``; ``duration_ms`` and
    ``timestamp`` as for `ToolOutputChunk`."""

    type: str = "tool-output-error"
    conversation_id: str | None = None
    tool_call_id: str | None = None
    error_text: str | None = None
    duration_ms: float | None = None
    timestamp: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class MessageCompletedChunk:
    """``message-completed``: the message's text and reasoning parts are done. Flue 1.0
    (beta.9) sends the reply's ``usage``; Flue 2.x the ``timestamp``."""

    type: str = "message-completed"
    conversation_id: str | None = None
    message_id: str | None = None
    usage: PromptUsage | None = None
    timestamp: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class SubmissionSettledChunk:
    """``submission-settled``: a submission ended (``outcome`` ``"completed"``, ``"failed"``
    or ``"aborted"``). Flue 1.0 (beta.9) sends the ``result``; Flue 2.x the submission whose
    reply answered this one (``answered_by_submission_id``) and the ``timestamp``."""

    type: str = "submission-settled"
    conversation_id: str | None = None
    submission_id: str | None = None
    outcome: str | None = None
    result: Any = None
    error: Any = None
    answered_by_submission_id: str | None = None
    timestamp: str | None = None
    position: ChunkPosition | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class StreamCheckpointChunk:
    """``stream-checkpoint`` (Flue 2.x): the ``incarnation`` (generation) of the stream being
    read, at the start of every JSON answer and of every SSE connection. Not conversation
    content: it has no ``conversationId`` and no ``position`` (``position`` is None, as it
    would be for any chunk without one, and is never compared). Another incarnation than the
    history's means the stream was reset and grew again: the history must be read again."""

    type: str = "stream-checkpoint"
    incarnation: str | None = None
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
    | MessageMetadataChunk
    | DataPartChunk
    | MessageDeltaChunk
    | ToolInputChunk
    | ToolOutputChunk
    | ToolOutputErrorChunk
    | MessageCompletedChunk
    | SubmissionSettledChunk
    | StreamCheckpointChunk
    | UnknownChunk
)

_POS: dict[str, Callable[[Any, Any], Any]] = {"position": _position}
_CHUNK_BUILD: dict[str, Any] = {
    attrs.fields(cls).type.default: register_model(cls, label="chunk", fixed=("type",), hooks=_POS)
    for cls in (
        ConversationResetChunk,
        MessageAppendedChunk,
        MessageStartedChunk,
        MessageMetadataChunk,
        DataPartChunk,
        MessageDeltaChunk,
        ToolInputChunk,
        ToolOutputChunk,
        ToolOutputErrorChunk,
        MessageCompletedChunk,
        SubmissionSettledChunk,
    )
}
_CHUNK_BUILD["stream-checkpoint"] = register_model(
    StreamCheckpointChunk, label="chunk", fixed=("type",), hooks=_POS
)
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
