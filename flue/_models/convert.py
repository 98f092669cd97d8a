"""Event dispatch: decoded JSON objects in, event models out.

How this works: at import time `register_model` generates and registers on the converter one
structure hook per event class; `_BUILD` maps each ``type`` string to its hook. Converting an
event is a dict lookup on ``type`` and one call of the hook. The hooks cannot raise on a dict
(every field check is lenient, see `flue._models.base`), so the only failure is a non-dict
input, which is a `ProtocolError`. Anything with an unknown, missing or unhashable ``type``
becomes an `UnknownEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from flue._models import events as ev
from flue._models.base import converter, register_model
from flue.errors import ProtocolError

__all__ = ["EVENT_TYPES", "event_from_dict", "events_from_dicts"]

EVENT_TYPES: dict[str, type[ev.BaseEvent]] = {
    "run_start": ev.RunStartEvent,
    "run_resume": ev.RunResumeEvent,
    "agent_start": ev.AgentStartEvent,
    "agent_end": ev.AgentEndEvent,
    "turn_start": ev.TurnStartEvent,
    "turn_messages": ev.TurnMessagesEvent,
    "message_start": ev.MessageStartEvent,
    "message_end": ev.MessageEndEvent,
    "text_delta": ev.TextDeltaEvent,
    "thinking_start": ev.ThinkingStartEvent,
    "thinking_delta": ev.ThinkingDeltaEvent,
    "thinking_end": ev.ThinkingEndEvent,
    "tool_start": ev.ToolStartEvent,
    "tool": ev.ToolEvent,
    "turn": ev.TurnEvent,
    "task_start": ev.TaskStartEvent,
    "task": ev.TaskEvent,
    "compaction_start": ev.CompactionStartEvent,
    "compaction": ev.CompactionEvent,
    "operation_start": ev.OperationStartEvent,
    "operation": ev.OperationEvent,
    "log": ev.LogEvent,
    "idle": ev.IdleEvent,
    "submission_settled": ev.SubmissionSettledEvent,
    "run_end": ev.RunEndEvent,
}
"""Event ``type`` string -> event class, for every type this version knows."""

_Build = Callable[[Any], ev.Event]

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
_BUILD: dict[str, _Build] = {
    name: cast(_Build, register_model(cls, label="event", fixed=("type",), rare=_RARE))
    for name, cls in EVENT_TYPES.items()
}


def _type_or_empty(v: Any, _: Any = None) -> str:
    return v if isinstance(v, str) else ""


# UnknownEvent's ``type`` is plain ``str`` (not ``str | None``): "" when there was no string.
_build_unknown: _Build = cast(
    _Build,
    register_model(ev.UnknownEvent, label="event", rare=_RARE, hooks={"type": _type_or_empty}),
)


def event_from_dict(d: dict[str, Any]) -> ev.Event:
    """Build the event model for one decoded JSON object.

    Never fails on a dict: an unknown ``type`` gives an `UnknownEvent`, unknown fields are kept
    in ``raw``, missing or mistyped fields read as ``None``. A non-dict raises `ProtocolError`.
    """
    try:
        build = _BUILD[d["type"]]
    except (KeyError, TypeError, IndexError):  # no type, an unknown or unhashable one, not a dict
        build = _build_unknown
    return build(d)


def events_from_dicts(ds: list[dict[str, Any]]) -> list[ev.Event]:
    """Build the event models for a list of decoded JSON objects (one batch of the stream).

    Same rules as `event_from_dict`; a non-list, or a non-dict item, raises `ProtocolError`.
    """
    if not isinstance(ds, list):
        raise ProtocolError(f"expected a JSON array of events, got {type(ds).__name__}")
    table = _BUILD
    unknown = _build_unknown
    out: list[ev.Event] = []
    append = out.append
    # The hooks check for a dict themselves; try/except costs nothing in CPython 3.11+ unless
    # it catches, which only happens for an unknown or missing type.
    for d in ds:
        try:
            build = table[d["type"]]
        except (KeyError, TypeError, IndexError):
            build = unknown
        append(build(d))
    return out


def _event_hook(d: Any, _: Any = None) -> ev.Event:
    return event_from_dict(d)


# ``converter.structure(d, BaseEvent)`` (or ``Event``) dispatches on ``type`` like the functions.
converter.register_structure_hook(ev.BaseEvent, _event_hook)
converter.register_structure_hook(ev.Event, _event_hook)
