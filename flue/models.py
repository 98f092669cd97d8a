"""Data models: run records, invoke results and stream events, built from decoded JSON.

How this works: every model is a frozen, keyword-only attrs class with snake_case attributes,
built by one cattrs `converter` whose per-class structure functions are generated once at import
(camelCase JSON keys renamed). Reads are forward compatible: an unknown event ``type`` gives an
`UnknownEvent`; a missing field, or one of another JSON type than expected, reads as ``None``;
and every model keeps the complete JSON object it came from in ``raw`` (excluded from ``==`` and
``repr``), so nothing the server sent is lost. Only a non-object input is an error
(`flue.errors.ProtocolError`). The implementation lives in ``flue._models``.
"""

from __future__ import annotations

from flue._models.base import converter
from flue._models.convert import EVENT_TYPES, event_from_dict, events_from_dicts
from flue._models.events import (
    AgentEndEvent,
    AgentStartEvent,
    BaseEvent,
    CompactionEvent,
    CompactionStartEvent,
    Event,
    IdleEvent,
    LogEvent,
    MessageEndEvent,
    MessageStartEvent,
    OperationEvent,
    OperationStartEvent,
    RunEndEvent,
    RunResumeEvent,
    RunStartEvent,
    SubmissionSettledEvent,
    TaskEvent,
    TaskStartEvent,
    TextDeltaEvent,
    ThinkingDeltaEvent,
    ThinkingEndEvent,
    ThinkingStartEvent,
    ToolEvent,
    ToolStartEvent,
    TurnEvent,
    TurnMessagesEvent,
    TurnStartEvent,
    UnknownEvent,
)
from flue._models.records import (
    InvokeResult,
    ModelErrorInfo,
    ModelRequestInfo,
    ModelResponse,
    PromptUsage,
    RunRecord,
    SerializedError,
    UsageCost,
    invoke_result_from_dict,
    run_record_from_dict,
)

__all__ = [
    "EVENT_TYPES",
    "AgentEndEvent",
    "AgentStartEvent",
    "BaseEvent",
    "CompactionEvent",
    "CompactionStartEvent",
    "Event",
    "IdleEvent",
    "InvokeResult",
    "LogEvent",
    "MessageEndEvent",
    "MessageStartEvent",
    "ModelErrorInfo",
    "ModelRequestInfo",
    "ModelResponse",
    "OperationEvent",
    "OperationStartEvent",
    "PromptUsage",
    "RunEndEvent",
    "RunRecord",
    "RunResumeEvent",
    "RunStartEvent",
    "SerializedError",
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
    "UsageCost",
    "converter",
    "event_from_dict",
    "events_from_dicts",
    "invoke_result_from_dict",
    "run_record_from_dict",
]
