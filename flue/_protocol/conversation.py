"""The conversation reducer: the ``view=updates`` chunks of an agent conversation applied to its
state, with redelivery dropped and "cannot apply" turned into a request to re-read the history.

How it works: `apply_chunk(state, chunk)` is a pure function from a `ConversationState` and one
chunk to the next state; it returns `CannotApply` (never raises) for a chunk it cannot apply: an
unknown type, a missing field, a message or tool call the state does not hold. `Conversation`
wraps it with the memory a follower needs: the position of the last chunk applied, and the
incarnation (generation) of the stream the state comes from (Flue 2.x; None on beta.9):

* `Conversation.apply(chunk)` -> `APPLIED` (``.state`` changed), `UNCHANGED` (applied, nothing
  moved: a ``message-started`` seen before, a ``stream-checkpoint`` of the same incarnation),
  `DROPPED` (a redelivery: its position is at or below the last applied one, so a delta is
  never appended twice when an SSE reconnect replays a batch), or a `Rehydrate` carrying the
  reason: re-read the history and call `reset()` with it.
* `reset(snapshot)` starts again from a history snapshot (forgetting the last position: chunks
  read from the snapshot's offset all come after it), taking its incarnation.
* `flue._protocol.coalesce.coalesce_deltas` joins a batch's runs of deltas before they are
  applied, so a follower hands out one state per run, not one per token.

Every chunk but ``stream-checkpoint`` carries a ``position`` ``{batch, index}``; positions grow
but have gaps, so they are only compared. A ``stream-checkpoint`` is never position-checked: it
changes nothing when it names the incarnation the state comes from (or when that is not known:
it is then learnt), and asks for a rehydrate when it names another (the stream was reset and
grew again, so offsets and positions held belong to a dead generation).

What each chunk does, as the TypeScript SDK's reducer (``@flue/sdk`` 2.0.3) does:
``message-started`` adds an assistant message (none if it is there: a later step of the same
reply); ``message-delta`` grows the last text or reasoning part, or opens one; ``tool-input``
adds a tool part; ``tool-output(-error)`` sets its outcome (and ``duration_ms``);
``message-metadata`` deep-merges into the message's metadata; ``data-part`` sets the message's
data part of that name (appended the first time, replaced in place later);
``message-completed`` marks the text and reasoning parts done; ``submission-settled`` adds or
replaces the settlement; ``message-appended`` adds or replaces a whole message;
``conversation-reset`` replaces the state with its snapshot (settlements included). Two
choices differ from the SDK: a chunk for a message or tool call the state does not hold asks
for a rehydrate (the SDK ignores it), and a tool result goes to the last call of its id still
waiting for one, as the server's history places it (the SDK updates every call of that id in
the message; the ids repeat when a reply's steps reuse them).

Flue 1.0 (beta.9) and 2.x differ on ``message-started``: beta.9 puts its ``timestamp`` and
``model`` into the message's metadata; 2.x sends the agent's ``metadata`` (the timestamp is
the record's, not metadata), a ``turnId``, and the message is ``purpose="assistant"``,
``display="visible"``. A chunk with ``model`` is beta.9's; one with ``metadata`` or ``turnId``,
or any chunk of a stream known to be 2.x (``v2``), is 2.x's.

Cost per chunk, in the number n of messages: a chunk for the message the previous chunk changed
(every delta of a reply) is O(1): the state keeps the tuple of messages it shares with the
states before it and the one message that differs (`flue._models.conversation.with_message`),
looked up first by id; ``state.messages`` is built when first read. A new message, or a change
to another message, copies the tuple once (O(n), a C-level copy of references) and looks the
id up from the end. (A delta also copies the text of the part it grows: O(length of that part).)
File parts with an attachment ``id`` get the ``url`` of the attachment route under the
conversation's URL.
"""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import quote

import attrs

from flue._models.chunks import (
    ChunkPosition,
    ConversationChunk,
    ConversationResetChunk,
    DataPartChunk,
    MessageAppendedChunk,
    MessageCompletedChunk,
    MessageDeltaChunk,
    MessageMetadataChunk,
    MessageStartedChunk,
    StreamCheckpointChunk,
    SubmissionSettledChunk,
    ToolInputChunk,
    ToolOutputChunk,
    ToolOutputErrorChunk,
)
from flue._models.conversation import (
    ConversationSnapshot,
    ConversationState,
    Message,
    Settlement,
    find_message,
    message_at,
    message_count,
    metadata_from_dict,
    with_appended,
    with_message,
    with_settlements,
)
from flue._models.parts import (
    DataPart,
    FilePart,
    Part,
    ReasoningPart,
    TextPart,
    ToolPart,
)

__all__ = [
    "APPLIED",
    "DROPPED",
    "UNCHANGED",
    "CannotApply",
    "Flag",
    "Conversation",
    "Outcome",
    "Rehydrate",
    "apply_chunk",
    "attachment_url",
    "deep_merge",
    "settled_submission",
    "state_from_snapshot",
]


@attrs.frozen
class Flag:
    """A named marker value (`APPLIED`...; also the settlement follow's `SKIP`, `RESTART`)."""

    name: str

    def __repr__(self) -> str:
        return self.name


APPLIED = Flag("APPLIED")
UNCHANGED = Flag("UNCHANGED")
DROPPED = Flag("DROPPED")


@attrs.frozen(kw_only=True)
class CannotApply:
    """`apply_chunk` could not apply a chunk; ``reason`` says why."""

    reason: str


@attrs.frozen(kw_only=True)
class Rehydrate:
    """The follower must re-read the history (then `Conversation.reset()`); ``reason`` says
    why."""

    reason: str


Outcome = Flag | Rehydrate


def attachment_url(conversation_url: str, attachment_id: str) -> str:
    """The URL of one attachment's bytes: ``{conversation}/attachments/{id}`` (id encoded)."""
    return f"{conversation_url}/attachments/{quote(attachment_id, safe='')}"


def _with_urls(message: Message, conversation_url: str | None) -> Message:
    if conversation_url is None:
        return message
    if not any(isinstance(p, FilePart) and p.id and p.url is None for p in message.parts):
        return message
    parts = tuple(
        attrs.evolve(p, url=attachment_url(conversation_url, p.id))
        if isinstance(p, FilePart) and p.id and p.url is None
        else p
        for p in message.parts
    )
    return attrs.evolve(message, parts=parts)


def state_from_snapshot(
    snapshot: ConversationSnapshot, conversation_url: str | None = None
) -> ConversationState:
    """The state a snapshot describes (attachment URLs filled in under `conversation_url`)."""
    return ConversationState(
        conversation_id=snapshot.conversation_id,
        messages=tuple(_with_urls(m, conversation_url) for m in snapshot.messages),
        settlements=snapshot.settlements,
    )


def _done(part: Part) -> Part:
    if isinstance(part, TextPart | ReasoningPart) and part.state == "streaming":
        return attrs.evolve(part, state="done")
    return part


def _missing(chunk: ConversationChunk, what: str) -> CannotApply:
    return CannotApply(reason=f"{chunk.type} chunk without a valid {what}")


class _UnknownMessage(Exception):
    """A chunk names a message the state does not hold (`apply_chunk` returns `CannotApply`)."""


def _message_of(state: ConversationState, chunk: Any) -> tuple[int, Message]:
    """The index and the message `chunk` is about; `_UnknownMessage` if there is none."""
    index = find_message(state, chunk.message_id)
    if index < 0:
        raise _UnknownMessage(f"{chunk.type} for unknown message {chunk.message_id!r}")
    return index, message_at(state, index)


def apply_chunk(
    state: ConversationState,
    chunk: ConversationChunk,
    conversation_url: str | None = None,
    *,
    v2: bool = False,
) -> ConversationState | CannotApply:
    """`state` with `chunk` applied (the same object when nothing changes), or `CannotApply`.
    `v2`: the stream is known to be Flue 2.x (module comment, on ``message-started``)."""
    try:
        if isinstance(chunk, MessageDeltaChunk):
            return _delta(state, chunk)
        if isinstance(chunk, MessageStartedChunk):
            return _started(state, chunk, v2)
        if isinstance(chunk, MessageMetadataChunk):
            return _metadata(state, chunk)
        if isinstance(chunk, DataPartChunk):
            return _data_part(state, chunk)
        if isinstance(chunk, StreamCheckpointChunk):
            return state  # a marker, not content (`Conversation.apply` acts on it)
        if isinstance(chunk, MessageAppendedChunk):
            if chunk.message is None or chunk.message.id is None:
                return _missing(chunk, "message")
            message = _with_urls(chunk.message, conversation_url)
            index = find_message(state, message.id)
            if index < 0:
                return with_appended(state, message)
            return with_message(state, index, message)
        if isinstance(chunk, ToolInputChunk):
            return _tool_input(state, chunk)
        if isinstance(chunk, ToolOutputChunk | ToolOutputErrorChunk):
            return _tool_result(state, chunk)
        if isinstance(chunk, MessageCompletedChunk):
            index, message = _message_of(state, chunk)
            parts = tuple(_done(p) for p in message.parts)
            metadata = message.metadata
            if chunk.usage is not None:  # beta.9: the reply's usage goes into its metadata
                base = metadata.raw if metadata is not None else {}
                metadata = metadata_from_dict({**base, "usage": chunk.usage.raw})
            return with_message(state, index, attrs.evolve(message, parts=parts, metadata=metadata))
        if isinstance(chunk, SubmissionSettledChunk):
            if chunk.submission_id is None or chunk.outcome is None:
                return _missing(chunk, "submissionId and outcome")
            settlement = Settlement(
                submission_id=chunk.submission_id,
                outcome=chunk.outcome,
                result=chunk.result,
                error=chunk.error,
                answered_by_submission_id=chunk.answered_by_submission_id,
                timestamp=chunk.timestamp,
                raw={k: v for k, v in chunk.raw.items() if k not in ("type", "position")},
            )
            settlements = state.settlements
            for i, s in enumerate(settlements):
                if s.submission_id == chunk.submission_id:
                    settlements = (*settlements[:i], settlement, *settlements[i + 1 :])
                    break
            else:
                settlements = (*settlements, settlement)
            return with_settlements(state, settlements)
        if isinstance(chunk, ConversationResetChunk):
            if chunk.snapshot is None:
                return _missing(chunk, "snapshot")
            return state_from_snapshot(chunk.snapshot, conversation_url)
        return CannotApply(reason=f"unknown chunk type {chunk.type!r}")
    except _UnknownMessage as exc:
        return CannotApply(reason=str(exc))


def _started(
    state: ConversationState, chunk: MessageStartedChunk, v2: bool
) -> ConversationState | CannotApply:
    if chunk.message_id is None:
        return _missing(chunk, "messageId")
    if find_message(state, chunk.message_id) >= 0:
        return state  # a later step of the same reply
    if chunk.model is None and (v2 or chunk.turn_id is not None or chunk.metadata is not None):
        message = Message(
            id=chunk.message_id,
            role="assistant",
            purpose="assistant",
            display="visible",
            submission_id=chunk.submission_id,
            turn_id=chunk.turn_id,
            metadata=None if chunk.metadata is None else metadata_from_dict(chunk.metadata),
        )
    else:  # beta.9
        fields = {"timestamp": chunk.timestamp, "model": chunk.raw.get("model")}
        found = {k: v for k, v in fields.items() if v is not None}
        message = Message(
            id=chunk.message_id,
            role="assistant",
            submission_id=chunk.submission_id,
            metadata=metadata_from_dict(found) if found else None,
        )
    return with_appended(state, message)


# keys a JavaScript merge must drop; dropped here too, so the state is the SDK's
_POLLUTING = frozenset({"__proto__", "constructor", "prototype"})


def deep_merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` merged into a copy of `base`: a key of `new` wins, except that two objects merge
    key by key (again deeply); neither input is changed. As the SDK's ``deepMergeMetadata``,
    keys ``__proto__``, ``constructor`` and ``prototype`` of `new` are left out."""
    merged = dict(base)
    for key, value in new.items():
        if key in _POLLUTING:
            continue
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def _metadata(
    state: ConversationState, chunk: MessageMetadataChunk
) -> ConversationState | CannotApply:
    if chunk.metadata is None:
        return _missing(chunk, "metadata")
    index, message = _message_of(state, chunk)
    base = message.metadata.raw if message.metadata is not None else {}
    metadata = metadata_from_dict(deep_merge(base, chunk.metadata))
    return with_message(state, index, attrs.evolve(message, metadata=metadata))


def _data_part(state: ConversationState, chunk: DataPartChunk) -> ConversationState | CannotApply:
    if chunk.name is None:
        return _missing(chunk, "name")
    index, message = _message_of(state, chunk)
    part = DataPart(name=chunk.name, data=chunk.data)
    parts = message.parts
    for j, old in enumerate(parts):
        if isinstance(old, DataPart) and old.name == chunk.name:  # rewritten in place
            parts = (*parts[:j], part, *parts[j + 1 :])
            break
    else:
        parts = (*parts, part)
    return with_message(state, index, attrs.evolve(message, parts=parts))


def _delta(state: ConversationState, chunk: MessageDeltaChunk) -> ConversationState | CannotApply:
    if chunk.kind not in ("text", "reasoning") or chunk.delta is None:
        return _missing(chunk, "kind and delta")
    index, message = _message_of(state, chunk)
    parts = message.parts
    last = parts[-1] if parts else None
    cls = TextPart if chunk.kind == "text" else ReasoningPart
    if isinstance(last, cls) and last.state == "streaming":
        grown = _evolved(last, text=last.text + chunk.delta)
        parts = (*parts[:-1], grown)
    else:
        if last is not None:
            parts = (*parts[:-1], _done(last))  # a change of kind closes the part before
        parts = (*parts, cls(text=chunk.delta, state="streaming"))
    return with_message(state, index, _evolved(message, parts=parts))


_M = TypeVar("_M")


def _evolved(model: _M, **changes: Any) -> _M:
    """``attrs.evolve(model, **changes)`` for the frozen models of a message (fields in the
    instance dict, no validators or converters), without evolve's walk over the fields: the
    path of every delta."""
    new: _M = object.__new__(type(model))
    new.__dict__.update(model.__dict__, **changes)
    return new


def _tool_input(state: ConversationState, chunk: ToolInputChunk) -> ConversationState | CannotApply:
    if chunk.tool_call_id is None:
        return _missing(chunk, "toolCallId")
    index, message = _message_of(state, chunk)
    if any(isinstance(p, ToolPart) and p.tool_call_id == chunk.tool_call_id for p in message.parts):
        return state
    parts = message.parts
    if parts:
        parts = (*parts[:-1], _done(parts[-1]))  # a tool call closes the text before it
    tool = ToolPart(
        tool_name=chunk.tool_name,
        tool_call_id=chunk.tool_call_id,
        state="input-available",
        input=chunk.input,
    )
    return with_message(state, index, attrs.evolve(message, parts=(*parts, tool)))


def _tool_result(
    state: ConversationState, chunk: ToolOutputChunk | ToolOutputErrorChunk
) -> ConversationState | CannotApply:
    if chunk.tool_call_id is None:
        return _missing(chunk, "toolCallId")
    for index in range(message_count(state) - 1, -1, -1):
        message = message_at(state, index)
        j = _tool_part(message.parts, chunk.tool_call_id)
        if j < 0:
            continue
        part = message.parts[j]
        assert isinstance(part, ToolPart)
        duration = part.duration_ms if chunk.duration_ms is None else chunk.duration_ms
        if isinstance(chunk, ToolOutputChunk):
            done = attrs.evolve(
                part,
                state="output-available",
                output=chunk.output,
                error_text=None,
                duration_ms=duration,
            )
        else:
            done = attrs.evolve(
                part,
                state="output-error",
                output=None,
                error_text=chunk.error_text,
                duration_ms=duration,
            )
        parts = (*message.parts[:j], done, *message.parts[j + 1 :])
        return with_message(state, index, attrs.evolve(message, parts=parts))
    return CannotApply(reason=f"{chunk.type} for unknown tool call {chunk.tool_call_id!r}")


def _tool_part(parts: tuple[Part, ...], tool_call_id: str) -> int:
    """The index of the part a result of `tool_call_id` goes to, or -1. The steps of one reply
    share its message, and a tool call id is unique within a step only: the result goes to
    the last call of that id still waiting for one (as the server's history does), else to
    the last call of that id."""
    last = -1
    for j in range(len(parts) - 1, -1, -1):
        part = parts[j]
        if isinstance(part, ToolPart) and part.tool_call_id == tool_call_id:
            if part.state == "input-available":
                return j
            if last < 0:
                last = j
    return last


class Conversation:
    """A conversation's state as chunks are applied, with redelivery dropped (module
    comment). ``position`` is the position of the last chunk applied (None after a reset);
    ``incarnation`` the stream generation the state comes from (Flue 2.x: the snapshot's, or
    learnt from the first ``stream-checkpoint`` when the snapshot had none; None on beta.9)."""

    def __init__(
        self, snapshot: ConversationSnapshot, *, conversation_url: str | None = None
    ) -> None:
        self.conversation_url = conversation_url
        self.state = state_from_snapshot(snapshot, conversation_url)
        self.position: ChunkPosition | None = None
        self.incarnation = snapshot.incarnation

    def reset(self, snapshot: ConversationSnapshot) -> None:
        """Start again from a history snapshot."""
        self.state = state_from_snapshot(snapshot, self.conversation_url)
        self.position = None
        self.incarnation = snapshot.incarnation

    def apply(self, chunk: ConversationChunk) -> Outcome:
        """Apply one chunk: `APPLIED`, `UNCHANGED`, `DROPPED` or `Rehydrate`."""
        if isinstance(chunk, StreamCheckpointChunk):
            return self._checkpoint(chunk)
        position = chunk.position
        if position is None:
            return Rehydrate(reason=f"{chunk.type or 'a'} chunk without a valid position")
        last = self.position
        # compared as tuples: the attrs-generated ordering costs several µs per chunk
        if last is not None and (position.batch, position.index) <= (last.batch, last.index):
            return DROPPED
        v2 = self.incarnation is not None
        result = apply_chunk(self.state, chunk, self.conversation_url, v2=v2)
        if isinstance(result, CannotApply):
            return Rehydrate(reason=result.reason)
        self.position = position
        if isinstance(chunk, ConversationResetChunk) and chunk.snapshot is not None:
            # a reset's snapshot has no incarnation: the generation is the stream's own
            self.incarnation = chunk.snapshot.incarnation or self.incarnation
        if result is self.state:
            return UNCHANGED
        self.state = result
        return APPLIED

    def _checkpoint(self, chunk: StreamCheckpointChunk) -> Outcome:
        if chunk.incarnation is None:
            return Rehydrate(reason="stream-checkpoint chunk without a valid incarnation")
        if self.incarnation is None:
            self.incarnation = chunk.incarnation
        elif chunk.incarnation != self.incarnation:
            return Rehydrate(reason="the conversation's stream was reset (incarnation changed)")
        return UNCHANGED


def settled_submission(chunk: Any, submission_id: str) -> SubmissionSettledChunk | None:
    """`chunk` if it is the ``submission-settled`` chunk of `submission_id`, else None."""
    if isinstance(chunk, SubmissionSettledChunk) and chunk.submission_id == submission_id:
        return chunk
    return None
