"""One frozen class per event type of Flue's event stream (event formats v1 and v3).

Every event shares the `BaseEvent` fields; each class adds the fields of its ``type``.
`EVENT_TYPES` maps each ``type`` to its class; each class is registered with
`flue._models.base.register_model` at the end of this module. A field
that only one format has (``content_index``: v3; ``TurnEvent.model``...: v1;
``TurnEvent.request``/``response``: v3) is ``None`` in the other. Shapes that vary (messages,
tool arguments, results, free-form errors) are left as decoded JSON.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import attrs

from flue._models.base import register_hook, register_model, structure_fn
from flue._models.records import ModelRequestInfo, ModelResponse, PromptUsage, SerializedError

__all__ = [
    "EVENT_TYPES",
    "AgentEndEvent",
    "AgentStartEvent",
    "BaseEvent",
    "CompactionEvent",
    "CompactionStartEvent",
    "Event",
    "IdleEvent",
    "LogEvent",
    "MessageEndEvent",
    "MessageStartEvent",
    "OperationEvent",
    "OperationStartEvent",
    "RunEndEvent",
    "RunResumeEvent",
    "RunStartEvent",
    "SubmissionSettledEvent",
    "TaskEvent",
    "TaskStartEvent",
    "TextDeltaEvent",
    "ThinkingDeltaEvent",
    "ThinkingEndEvent",
    "ThinkingStartEvent",
    "ToolEvent",
    "ToolStartEvent",
    "TurnEvent",
    "TurnMessagesEvent",
    "TurnStartEvent",
    "UnknownEvent",
]


def _type_first(cls: type, fields: list[attrs.Attribute[Any]]) -> list[attrs.Attribute[Any]]:
    # A subclass redefines ``type`` (to default it), which attrs would move to the end.
    return sorted(fields, key=lambda a: a.name != "type")


@attrs.frozen(kw_only=True, slots=False, repr=False)
class BaseEvent:
    """Fields common to every event.

    ``type`` is the event type; ``v`` the event-format version (1 or 3 today); ``event_index``
    the event's position in the run; ``timestamp`` an ISO-8601 string. The rest is context that
    is present only where it applies (``agent_name`` and ``conversation_id`` exist from v3 on).
    ``raw`` is the complete JSON object the event was built from.
    """

    type: str = ""
    v: int | None = None
    event_index: int | None = None
    timestamp: str | None = None
    run_id: str | None = None
    instance_id: str | None = None
    dispatch_id: str | None = None
    submission_id: str | None = None
    session: str | None = None
    parent_session: str | None = None
    task_id: str | None = None
    harness: str | None = None
    operation_id: str | None = None
    turn_id: str | None = None
    agent_name: str | None = None
    conversation_id: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    def __repr__(self) -> str:
        # Most of the ~20 fields are None in any one event; show only those that are set.
        shown = ", ".join(
            f"{a.name}={getattr(self, a.name)!r}"
            for a in attrs.fields(type(self))
            if a.repr and getattr(self, a.name) is not None
        )
        return f"{type(self).__name__}({shown})"


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class UnknownEvent(BaseEvent):
    """An event whose ``type`` this version of `flue` does not know; everything is in ``raw``.

    ``type`` is ``""`` when the object had no string ``type``.
    """


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class RunStartEvent(BaseEvent):
    """``run_start``: the run began (``input`` is the workflow input)."""

    type: str = "run_start"
    workflow_name: str | None = None
    started_at: str | None = None
    input: Any = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class RunResumeEvent(BaseEvent):
    """``run_resume``: the run was resumed after an interruption."""

    type: str = "run_resume"
    workflow_name: str | None = None
    started_at: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class AgentStartEvent(BaseEvent):
    """``agent_start``: an agent began working."""

    type: str = "agent_start"


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class AgentEndEvent(BaseEvent):
    """``agent_end``: an agent finished; ``messages`` is its message list."""

    type: str = "agent_end"
    messages: list[Any] | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TurnStartEvent(BaseEvent):
    """``turn_start``: a model turn began (``purpose``: agent, compaction, compaction_prefix)."""

    type: str = "turn_start"
    purpose: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TurnMessagesEvent(BaseEvent):
    """``turn_messages``: the assistant message of a turn and the tool results it led to."""

    type: str = "turn_messages"
    purpose: str | None = None
    message: Any = None
    tool_results: list[Any] | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class MessageStartEvent(BaseEvent):
    """``message_start``: a message began; ``message`` is a dict with ``role`` and ``content``."""

    type: str = "message_start"
    message: dict[str, Any] | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class MessageEndEvent(BaseEvent):
    """``message_end``: a message is complete; ``message`` as in `MessageStartEvent`."""

    type: str = "message_end"
    message: dict[str, Any] | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TextDeltaEvent(BaseEvent):
    """``text_delta``: a piece of streamed assistant text."""

    type: str = "text_delta"
    text: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class ThinkingStartEvent(BaseEvent):
    """``thinking_start``: reasoning began (``content_index``: v3 only)."""

    type: str = "thinking_start"
    content_index: int | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class ThinkingDeltaEvent(BaseEvent):
    """``thinking_delta``: a piece of streamed reasoning (``content_index``: v3 only)."""

    type: str = "thinking_delta"
    content_index: int | None = None
    delta: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class ThinkingEndEvent(BaseEvent):
    """``thinking_end``: reasoning finished; ``content`` is all of it (``content_index``: v3)."""

    type: str = "thinking_end"
    content_index: int | None = None
    content: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class ToolStartEvent(BaseEvent):
    """``tool_start``: a tool call began; ``args`` are its arguments as sent."""

    type: str = "tool_start"
    tool_name: str | None = None
    tool_call_id: str | None = None
    args: Any = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class ToolEvent(BaseEvent):
    """``tool``: a tool call finished, with ``result`` and its duration."""

    type: str = "tool"
    tool_name: str | None = None
    tool_call_id: str | None = None
    is_error: bool | None = None
    result: Any = None
    duration_ms: float | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TurnEvent(BaseEvent):
    """``turn``: a model turn finished.

    Format v1 flattens the turn into ``model``, ``provider``, ``api``, ``output`` (assistant
    message dict), ``usage``, ``stop_reason`` and ``error``; format v3 carries ``request``
    (`ModelRequestInfo`) and ``response`` (`ModelResponse`, holding output, usage, finish reason
    and error) instead. The fields of the other format are ``None``.
    """

    type: str = "turn"
    purpose: str | None = None
    duration_ms: float | None = None
    is_error: bool | None = None
    request: ModelRequestInfo | None = None
    response: ModelResponse | None = None
    model: str | None = None
    provider: str | None = None
    api: str | None = None
    output: dict[str, Any] | None = None
    usage: PromptUsage | None = None
    stop_reason: str | None = None
    error: Any = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TaskStartEvent(BaseEvent):
    """``task_start``: a sub-task began with ``prompt`` (optionally ``agent`` and ``cwd``)."""

    type: str = "task_start"
    prompt: str | None = None
    agent: str | None = None
    cwd: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class TaskEvent(BaseEvent):
    """``task``: a sub-task finished with ``result``."""

    type: str = "task"
    agent: str | None = None
    is_error: bool | None = None
    result: Any = None
    duration_ms: float | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class CompactionStartEvent(BaseEvent):
    """``compaction_start``: context compaction began (``reason``: threshold/overflow/manual)."""

    type: str = "compaction_start"
    reason: str | None = None
    estimated_tokens: int | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class CompactionEvent(BaseEvent):
    """``compaction``: context compaction finished."""

    type: str = "compaction"
    messages_before: int | None = None
    messages_after: int | None = None
    duration_ms: float | None = None
    is_error: bool | None = None
    error: Any = None
    usage: PromptUsage | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class OperationStartEvent(BaseEvent):
    """``operation_start``: an operation began (``operation_kind``: prompt, skill, task...)."""

    type: str = "operation_start"
    operation_kind: str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class OperationEvent(BaseEvent):
    """``operation``: an operation finished, with ``result`` or ``error`` and ``usage``."""

    type: str = "operation"
    operation_kind: str | None = None
    duration_ms: float | None = None
    is_error: bool | None = None
    error: Any = None
    result: Any = None
    usage: PromptUsage | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class LogEvent(BaseEvent):
    """``log``: a log line emitted by the workflow (``level``: info, warn, error)."""

    type: str = "log"
    level: str | None = None
    message: str | None = None
    attributes: dict[str, Any] | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class IdleEvent(BaseEvent):
    """``idle``: the agent has nothing left to do for now."""

    type: str = "idle"


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class SubmissionSettledEvent(BaseEvent):
    """``submission_settled``: recovery settled an interrupted submission.

    ``outcome`` is ``"completed"`` or ``"failed"``. ``error`` is a plain message string in
    format v1 and a `SerializedError` in v3; ``result`` exists from v3 on.
    """

    type: str = "submission_settled"
    outcome: str | None = None
    result: Any = None
    error: SerializedError | str | None = None


@attrs.frozen(kw_only=True, slots=False, repr=False, field_transformer=_type_first)
class RunEndEvent(BaseEvent):
    """``run_end``: the run ended, with ``result`` or (``is_error``) ``error``."""

    type: str = "run_end"
    result: Any = None
    is_error: bool | None = None
    error: Any = None
    duration_ms: float | None = None


Event: TypeAlias = (
    RunStartEvent
    | RunResumeEvent
    | AgentStartEvent
    | AgentEndEvent
    | TurnStartEvent
    | TurnMessagesEvent
    | MessageStartEvent
    | MessageEndEvent
    | TextDeltaEvent
    | ThinkingStartEvent
    | ThinkingDeltaEvent
    | ThinkingEndEvent
    | ToolStartEvent
    | ToolEvent
    | TurnEvent
    | TaskStartEvent
    | TaskEvent
    | CompactionStartEvent
    | CompactionEvent
    | OperationStartEvent
    | OperationEvent
    | LogEvent
    | IdleEvent
    | SubmissionSettledEvent
    | RunEndEvent
    | UnknownEvent
)
"""Any event `event_from_dict` can return; all are `BaseEvent` subclasses."""


# -- the generated structure functions (`flue._models.base`) -----------------------------------

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    "run_start": RunStartEvent,
    "run_resume": RunResumeEvent,
    "agent_start": AgentStartEvent,
    "agent_end": AgentEndEvent,
    "turn_start": TurnStartEvent,
    "turn_messages": TurnMessagesEvent,
    "message_start": MessageStartEvent,
    "message_end": MessageEndEvent,
    "text_delta": TextDeltaEvent,
    "thinking_start": ThinkingStartEvent,
    "thinking_delta": ThinkingDeltaEvent,
    "thinking_end": ThinkingEndEvent,
    "tool_start": ToolStartEvent,
    "tool": ToolEvent,
    "turn": TurnEvent,
    "task_start": TaskStartEvent,
    "task": TaskEvent,
    "compaction_start": CompactionStartEvent,
    "compaction": CompactionEvent,
    "operation_start": OperationStartEvent,
    "operation": OperationEvent,
    "log": LogEvent,
    "idle": IdleEvent,
    "submission_settled": SubmissionSettledEvent,
    "run_end": RunEndEvent,
}
"""Event ``type`` string -> event class, for every type this version knows."""

# Context fields most events lack; looked for only when an event has keys left over.
_RARE = (
    "instance_id",
    "dispatch_id",
    "submission_id",
    "session",
    "parent_session",
    "task_id",
    "harness",
    "operation_id",
    "turn_id",
    "agent_name",
    "conversation_id",
)

# A known class's hook does not read ``type``: dispatch already matched it to the class default.
for _cls in EVENT_TYPES.values():
    register_model(_cls, label="event", fixed=("type",), rare=_RARE)
del _cls


def _type_or_empty(v: Any, _: Any = None) -> str:
    return v if isinstance(v, str) else ""


# UnknownEvent's ``type`` is plain ``str`` (not ``str | None``): "" when there was no string.
register_model(UnknownEvent, label="event", rare=_RARE, hooks={"type": _type_or_empty})


def _structure_event(d: Any, _: Any = None) -> Event:
    # ``converter.structure(d, BaseEvent)`` (or ``Event``): the dispatch of
    # `flue.models.event_from_dict`, without its cache
    kind = d.get("type") if isinstance(d, dict) else None
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    return structure_fn(cls or UnknownEvent)(d)  # type: ignore[return-value]


register_hook(BaseEvent, _structure_event)
register_hook(Event, _structure_event)
