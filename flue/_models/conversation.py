"""Agent conversation models: messages and their parts, settlements, snapshots, the live state
of `observe()`, and the results of the agent and ``workflows.run`` calls (the chunks of the
``view=updates`` stream are in `flue._models.chunks`).

Every model is built leniently like the run models (`flue._models.base`): a missing or mistyped
field reads as ``None`` and the JSON object it came from is kept in ``raw``. Sequences are
tuples, so a state handed to you never changes under you. An unknown part ``type`` gives an
`UnknownPart`, which keeps the raw object.
"""

from __future__ import annotations

from typing import Any, TypeAlias, cast

import attrs

from flue._models.base import register_model
from flue._models.records import PromptUsage

__all__ = [
    "AgentAbortResult",
    "AgentPromptResult",
    "AgentResult",
    "AgentSendResult",
    "ConversationSnapshot",
    "ConversationState",
    "FilePart",
    "Message",
    "MessageMetadata",
    "ModelRef",
    "Part",
    "ReasoningPart",
    "Settlement",
    "TextPart",
    "ToolPart",
    "UnknownPart",
    "WorkflowRunResult",
    "message_from_dict",
    "snapshot_from_dict",
]


# -- parts ----------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class TextPart:
    """Assistant or user text; ``state`` is ``"streaming"`` while deltas arrive, then
    ``"done"``."""

    type: str = "text"
    text: str = ""
    state: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ReasoningPart:
    """Model reasoning ("thinking") text; ``state`` as for `TextPart`."""

    type: str = "reasoning"
    text: str = ""
    state: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class FilePart:
    """An attachment (an image sent with a prompt...). ``url`` is filled in by the client for a
    recorded attachment (one with an ``id``): the agent's attachments route, which an agent
    serves only when it opts in (else that URL answers 404)."""

    type: str = "file"
    media_type: str | None = None
    id: str | None = None
    size: int | None = None
    url: str | None = None
    filename: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolPart:
    """A tool call (``"dynamic-tool"``): ``state`` is ``"input-available"``, then
    ``"output-available"`` (with ``output``) or ``"output-error"`` (with ``error_text``)."""

    type: str = "dynamic-tool"
    tool_name: str | None = None
    tool_call_id: str | None = None
    state: str | None = None
    input: Any = None
    output: Any = None
    error_text: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class UnknownPart:
    """A part of a ``type`` this version does not know (everything is in ``raw``)."""

    type: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


Part: TypeAlias = TextPart | ReasoningPart | FilePart | ToolPart | UnknownPart

_PART_BUILD = {
    "text": register_model(TextPart, fixed=("type",), hooks={"text": lambda v, _: _text(v)}),
    "reasoning": register_model(
        ReasoningPart, fixed=("type",), hooks={"text": lambda v, _: _text(v)}
    ),
    "file": register_model(FilePart, fixed=("type",)),
    "dynamic-tool": register_model(ToolPart, fixed=("type",)),
}


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


def part_from_dict(d: Any) -> Part:
    """One part; an unknown or missing ``type`` (or a non-object) gives an `UnknownPart`."""
    if not isinstance(d, dict):
        return UnknownPart(type="", raw={"value": d})
    kind = d.get("type")
    build = _PART_BUILD.get(kind) if isinstance(kind, str) else None
    if build is None:
        return UnknownPart(type=kind if isinstance(kind, str) else "", raw=d)
    return cast(Part, build(d))


def _parts(v: Any, _: Any = None) -> tuple[Part, ...]:
    return tuple(part_from_dict(p) for p in v) if isinstance(v, list) else ()


# -- messages -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class ModelRef:
    """The model that produced a message: ``provider`` and ``id``."""

    provider: str | None = None
    id: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(ModelRef)


@attrs.frozen(kw_only=True, slots=False)
class MessageMetadata:
    """When a message was recorded (user) or started (assistant), its model and usage."""

    timestamp: str | None = None
    usage: PromptUsage | None = None
    model: ModelRef | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(MessageMetadata)


@attrs.frozen(kw_only=True, slots=False)
class Message:
    """One message of a conversation: ``role`` is ``"user"`` or ``"assistant"``;
    ``submission_id`` is set on messages of a tracked submission when the server says so."""

    id: str | None = None
    role: str | None = None
    submission_id: str | None = None
    parts: tuple[Part, ...] = ()
    metadata: MessageMetadata | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def text(self) -> str:
        """The message's text: its text parts joined (reasoning and tools left out)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


_structure_message = register_model(Message, hooks={"parts": _parts})


def message_from_dict(d: Any) -> Message:
    """A `Message` from its JSON object (a non-object raises `ProtocolError`)."""
    return _structure_message(d)


def _messages(v: Any, _: Any = None) -> tuple[Message, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(_structure_message(m) for m in v if isinstance(m, dict))


@attrs.frozen(kw_only=True, slots=False)
class Settlement:
    """How one submission ended: ``outcome`` is ``"completed"`` (with ``result``),
    ``"failed"`` or ``"aborted"`` (with ``error``, the JSON value the server sent)."""

    submission_id: str | None = None
    outcome: str | None = None
    result: Any = None
    error: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_settlement = register_model(Settlement)


def _settlements(v: Any, _: Any = None) -> tuple[Settlement, ...]:
    if not isinstance(v, list):
        return ()
    return tuple(_structure_settlement(s) for s in v if isinstance(s, dict))


@attrs.frozen(kw_only=True, slots=False)
class ConversationState:
    """A conversation as `observe()` maintains it: its messages (in order) and the
    settlements of its submissions. Immutable: each change gives a new state."""

    conversation_id: str | None = None
    messages: tuple[Message, ...] = ()
    settlements: tuple[Settlement, ...] = ()

    def settlement(self, submission_id: str) -> Settlement | None:
        """The settlement of one submission, or None while it has not settled."""
        for s in self.settlements:
            if s.submission_id == submission_id:
                return s
        return None


@attrs.frozen(kw_only=True, slots=False)
class ConversationSnapshot:
    """A whole conversation read at ``offset`` (``agents.history()``)."""

    conversation_id: str | None = None
    offset: str | None = None
    messages: tuple[Message, ...] = ()
    settlements: tuple[Settlement, ...] = ()
    v: int | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def state(self) -> ConversationState:
        """The snapshot as a `ConversationState`."""
        return ConversationState(
            conversation_id=self.conversation_id,
            messages=self.messages,
            settlements=self.settlements,
        )


_structure_snapshot = register_model(
    ConversationSnapshot, hooks={"messages": _messages, "settlements": _settlements}
)


def snapshot_from_dict(d: Any) -> ConversationSnapshot:
    """A `ConversationSnapshot` from the history JSON object (a non-object raises
    `ProtocolError`)."""
    return _structure_snapshot(d)


# -- results --------------------------------------------------------------------------------


@attrs.frozen(kw_only=True, slots=False)
class AgentResult:
    """What a completed prompt produced: the reply ``text``, ``usage`` and ``model``."""

    text: str | None = None
    usage: PromptUsage | None = None
    model: ModelRef | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_agent_result = register_model(AgentResult)


def agent_result_from_value(v: Any) -> AgentResult:
    """An `AgentResult` from a settlement's ``result`` (a non-object gives an empty one, with
    the value under ``raw["value"]``)."""
    if isinstance(v, dict):
        return _structure_agent_result(v)
    return AgentResult(text=v if isinstance(v, str) else None, raw={"value": v})


@attrs.frozen(kw_only=True, slots=False)
class AgentSendResult:
    """A prompt the agent accepted: its ``submission_id``, and where its events are
    (``stream_url`` read from ``offset``). Pass it to ``agents.wait()``.

    ``conversation_url`` is the conversation's URL as the client addressed it (what `wait()`
    reads; None when the result was built from saved values, then ``stream_url`` is used).
    """

    submission_id: str
    stream_url: str | None = None
    offset: str | None = None
    conversation_url: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_send = register_model(AgentSendResult, hooks={"conversation_url": lambda v, _: None})


@attrs.frozen(kw_only=True, slots=False)
class AgentPromptResult:
    """A prompt that was waited for: the admission fields and its ``result``."""

    submission_id: str
    stream_url: str | None = None
    offset: str | None = None
    result: AgentResult = attrs.field(factory=AgentResult)
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class AgentAbortResult:
    """``aborted`` is True when there was work under way or queued (it now settles as
    aborted), False when the conversation was idle."""

    aborted: bool = False
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class WorkflowRunResult:
    """A finished run started by ``workflows.run()``: its id and its result."""

    run_id: str
    result: Any = None
