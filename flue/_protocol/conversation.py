"""The conversation reducer: the ``view=updates`` chunks of an agent conversation applied to its
state, with redelivery dropped and "cannot apply" turned into a request to re-read the history.

How it works: `apply_chunk(state, chunk)` is a pure function from a `ConversationState` and one
chunk to the next state; it returns `CannotApply` (never raises) for a chunk it cannot apply: an
unknown type, a missing field, a message or tool call the state does not hold. `Conversation`
wraps it with the one piece of memory a follower needs, the position of the last chunk applied:

* `Conversation.apply(chunk)` -> `APPLIED` (``.state`` changed), `UNCHANGED` (applied, nothing
  moved: a ``message-started`` seen before), `DROPPED` (a redelivery: its position is at or
  below the last applied one, so a delta is never appended twice when an SSE reconnect replays
  a batch), or a `Rehydrate` carrying the reason: re-read the history and call `reset()` with it.
* `reset(snapshot)` starts again from a history snapshot (forgetting the last position: chunks
  read from the snapshot's offset all come after it).

Every chunk carries a ``position`` ``{batch, index}``; positions grow but have gaps, so they are
only compared. File parts with an attachment ``id`` get the ``url`` of the attachment route
under the conversation's URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import attrs

from flue._models.chunks import (
    ChunkPosition,
    ConversationChunk,
    ConversationResetChunk,
    MessageAppendedChunk,
    MessageCompletedChunk,
    MessageDeltaChunk,
    MessageStartedChunk,
    SubmissionSettledChunk,
    ToolInputChunk,
    ToolOutputChunk,
    ToolOutputErrorChunk,
)
from flue._models.conversation import (
    ConversationSnapshot,
    ConversationState,
    FilePart,
    Message,
    MessageMetadata,
    Part,
    ReasoningPart,
    Settlement,
    TextPart,
    ToolPart,
)

__all__ = [
    "APPLIED",
    "DROPPED",
    "UNCHANGED",
    "CannotApply",
    "Conversation",
    "Outcome",
    "Rehydrate",
    "apply_chunk",
    "attachment_url",
    "state_from_snapshot",
]


@attrs.frozen
class _Flag:
    name: str

    def __repr__(self) -> str:
        return self.name


APPLIED = _Flag("APPLIED")
UNCHANGED = _Flag("UNCHANGED")
DROPPED = _Flag("DROPPED")


@attrs.frozen(kw_only=True)
class CannotApply:
    """`apply_chunk` could not apply a chunk; ``reason`` says why."""

    reason: str


@attrs.frozen(kw_only=True)
class Rehydrate:
    """The follower must re-read the history (then `Conversation.reset()`); ``reason`` says
    why."""

    reason: str


Outcome = _Flag | Rehydrate


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


def _find(messages: tuple[Message, ...], message_id: str | None) -> int:
    if message_id is None:
        return -1
    for i in range(len(messages) - 1, -1, -1):  # the message being written is near the end
        if messages[i].id == message_id:
            return i
    return -1


def _replace(state: ConversationState, index: int, message: Message) -> ConversationState:
    messages = state.messages
    return attrs.evolve(state, messages=(*messages[:index], message, *messages[index + 1 :]))


def _done(part: Part) -> Part:
    if isinstance(part, TextPart | ReasoningPart) and part.state == "streaming":
        return attrs.evolve(part, state="done")
    return part


def _missing(chunk: ConversationChunk, what: str) -> CannotApply:
    return CannotApply(reason=f"{chunk.type} chunk without a valid {what}")


def apply_chunk(
    state: ConversationState, chunk: ConversationChunk, conversation_url: str | None = None
) -> ConversationState | CannotApply:
    """`state` with `chunk` applied (the same object when nothing changes), or `CannotApply`."""
    if isinstance(chunk, MessageDeltaChunk):
        return _delta(state, chunk)
    if isinstance(chunk, MessageStartedChunk):
        if chunk.message_id is None:
            return _missing(chunk, "messageId")
        if _find(state.messages, chunk.message_id) >= 0:
            return state
        metadata = None
        if chunk.timestamp is not None or chunk.model is not None:
            metadata = MessageMetadata(timestamp=chunk.timestamp, model=chunk.model)
        message = Message(
            id=chunk.message_id,
            role="assistant",
            submission_id=chunk.submission_id,
            parts=(),
            metadata=metadata,
        )
        return attrs.evolve(state, messages=(*state.messages, message))
    if isinstance(chunk, MessageAppendedChunk):
        if chunk.message is None or chunk.message.id is None:
            return _missing(chunk, "message")
        message = _with_urls(chunk.message, conversation_url)
        index = _find(state.messages, message.id)
        if index < 0:
            return attrs.evolve(state, messages=(*state.messages, message))
        return _replace(state, index, message)
    if isinstance(chunk, ToolInputChunk):
        return _tool_input(state, chunk)
    if isinstance(chunk, ToolOutputChunk | ToolOutputErrorChunk):
        return _tool_result(state, chunk)
    if isinstance(chunk, MessageCompletedChunk):
        index = _find(state.messages, chunk.message_id)
        if index < 0:
            return CannotApply(reason=f"message-completed for unknown message {chunk.message_id!r}")
        message = state.messages[index]
        parts = tuple(_done(p) for p in message.parts)
        metadata = message.metadata
        if chunk.usage is not None:
            metadata = attrs.evolve(metadata or MessageMetadata(), usage=chunk.usage)
        return _replace(state, index, attrs.evolve(message, parts=parts, metadata=metadata))
    if isinstance(chunk, SubmissionSettledChunk):
        if chunk.submission_id is None or chunk.outcome is None:
            return _missing(chunk, "submissionId and outcome")
        settlement = Settlement(
            submission_id=chunk.submission_id,
            outcome=chunk.outcome,
            result=chunk.result,
            error=chunk.error,
            raw={k: v for k, v in chunk.raw.items() if k not in ("type", "position")},
        )
        settlements = state.settlements
        for i, s in enumerate(settlements):
            if s.submission_id == chunk.submission_id:
                settlements = (*settlements[:i], settlement, *settlements[i + 1 :])
                break
        else:
            settlements = (*settlements, settlement)
        return attrs.evolve(state, settlements=settlements)
    if isinstance(chunk, ConversationResetChunk):
        if chunk.snapshot is None:
            return _missing(chunk, "snapshot")
        return state_from_snapshot(chunk.snapshot, conversation_url)
    return CannotApply(reason=f"unknown chunk type {chunk.type!r}")


def _delta(state: ConversationState, chunk: MessageDeltaChunk) -> ConversationState | CannotApply:
    if chunk.kind not in ("text", "reasoning") or chunk.delta is None:
        return _missing(chunk, "kind and delta")
    index = _find(state.messages, chunk.message_id)
    if index < 0:
        return CannotApply(reason=f"message-delta for unknown message {chunk.message_id!r}")
    message = state.messages[index]
    parts = message.parts
    last = parts[-1] if parts else None
    cls = TextPart if chunk.kind == "text" else ReasoningPart
    if isinstance(last, cls) and last.state == "streaming":
        grown = attrs.evolve(last, text=last.text + chunk.delta)
        parts = (*parts[:-1], grown)
    else:
        if last is not None:
            parts = (*parts[:-1], _done(last))  # a change of kind closes the part before
        parts = (*parts, cls(text=chunk.delta, state="streaming"))
    return _replace(state, index, attrs.evolve(message, parts=parts))


def _tool_input(state: ConversationState, chunk: ToolInputChunk) -> ConversationState | CannotApply:
    if chunk.tool_call_id is None:
        return _missing(chunk, "toolCallId")
    index = _find(state.messages, chunk.message_id)
    if index < 0:
        return CannotApply(reason=f"tool-input for unknown message {chunk.message_id!r}")
    message = state.messages[index]
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
    return _replace(state, index, attrs.evolve(message, parts=(*parts, tool)))


def _tool_result(
    state: ConversationState, chunk: ToolOutputChunk | ToolOutputErrorChunk
) -> ConversationState | CannotApply:
    if chunk.tool_call_id is None:
        return _missing(chunk, "toolCallId")
    for index in range(len(state.messages) - 1, -1, -1):
        message = state.messages[index]
        parts = list(message.parts)
        for j, part in enumerate(parts):
            if isinstance(part, ToolPart) and part.tool_call_id == chunk.tool_call_id:
                if isinstance(chunk, ToolOutputChunk):
                    parts[j] = attrs.evolve(
                        part, state="output-available", output=chunk.output, error_text=None
                    )
                else:
                    parts[j] = attrs.evolve(
                        part, state="output-error", output=None, error_text=chunk.error_text
                    )
                return _replace(state, index, attrs.evolve(message, parts=tuple(parts)))
    return CannotApply(reason=f"{chunk.type} for unknown tool call {chunk.tool_call_id!r}")


class Conversation:
    """A conversation's state as chunks are applied, with redelivery dropped (module
    comment). ``position`` is the position of the last chunk applied (None after a reset)."""

    def __init__(
        self, snapshot: ConversationSnapshot, *, conversation_url: str | None = None
    ) -> None:
        self.conversation_url = conversation_url
        self.state = state_from_snapshot(snapshot, conversation_url)
        self.position: ChunkPosition | None = None

    def reset(self, snapshot: ConversationSnapshot) -> None:
        """Start again from a history snapshot."""
        self.state = state_from_snapshot(snapshot, self.conversation_url)
        self.position = None

    def apply(self, chunk: ConversationChunk) -> Outcome:
        """Apply one chunk: `APPLIED`, `UNCHANGED`, `DROPPED` or `Rehydrate`."""
        position = chunk.position
        if position is None:
            return Rehydrate(reason=f"{chunk.type or 'a'} chunk without a valid position")
        if self.position is not None and position <= self.position:
            return DROPPED
        result = apply_chunk(self.state, chunk, self.conversation_url)
        if isinstance(result, CannotApply):
            return Rehydrate(reason=result.reason)
        self.position = position
        if result is self.state:
            return UNCHANGED
        self.state = result
        return APPLIED


def settled_submission(chunk: Any, submission_id: str) -> SubmissionSettledChunk | None:
    """`chunk` if it is the ``submission-settled`` chunk of `submission_id`, else None."""
    if isinstance(chunk, SubmissionSettledChunk) and chunk.submission_id == submission_id:
        return chunk
    return None
