"""Data models: run records, invoke results and stream events, built from decoded JSON.

How this works: every model is a frozen, keyword-only attrs class with snake_case attributes,
built by a structure function generated for its class on first use (camelCase JSON keys
renamed); `converter` is a cattrs converter that builds the same models. Reads are forward
compatible: an unknown event ``type`` gives an `UnknownEvent`; a missing field, or one of another
JSON type than expected, reads as ``None``; and every model keeps the complete JSON object it came
from in ``raw`` (excluded from ``==`` and ``repr``), so nothing the server sent is lost. Only a
non-object input is an error (`flue.errors.ProtocolError`). The implementation lives in
``flue._models``.

The names are loaded on first access, each from its own module (`_LAZY`): reading a run record
imports neither the event classes nor cattrs. A new models module adds its names to `_LAZY` and
to the ``TYPE_CHECKING`` imports below (a test holds the two equal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flue._lazy import DEPENDENCY_HINT, load

if TYPE_CHECKING:
    from cattrs import Converter

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
        UnknownChunk,
        chunk_from_dict,
    )
    from flue._models.conversation import (
        Admission,
        AgentAbortResult,
        AgentPromptResult,
        AgentResult,
        AgentSendResult,
        ConversationSnapshot,
        ConversationState,
        Message,
        MessageMetadata,
        ModelRef,
        Settlement,
        SettlementMarker,
        SignalDescriptor,
        WorkflowRunResult,
        message_from_dict,
        snapshot_from_dict,
    )
    from flue._models.convert import event_from_dict, events_from_dicts
    from flue._models.events import (
        EVENT_TYPES,
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
    from flue._models.messages import ImageAttachment, Signal, UserMessage
    from flue._models.parts import (
        DataPart,
        FilePart,
        Part,
        ReasoningPart,
        TextPart,
        ToolPart,
        UnknownPart,
    )
    from flue._models.records import (
        ModelErrorInfo,
        ModelRequestInfo,
        ModelResponse,
        PromptUsage,
        SerializedError,
        UsageCost,
    )
    from flue._models.replies import Reply
    from flue._models.runs import (
        InvokeResult,
        RunRecord,
        invoke_result_from_dict,
        run_record_from_dict,
    )

    converter: Converter
    """The cattrs converter that builds every model from decoded JSON (created on first use)."""

__all__ = [
    "EVENT_TYPES",
    "Admission",
    "AgentAbortResult",
    "AgentEndEvent",
    "AgentPromptResult",
    "AgentResult",
    "AgentSendResult",
    "AgentStartEvent",
    "BaseEvent",
    "ChunkPosition",
    "CompactionEvent",
    "CompactionStartEvent",
    "ConversationChunk",
    "ConversationResetChunk",
    "ConversationSnapshot",
    "ConversationState",
    "DataPart",
    "DataPartChunk",
    "Event",
    "FilePart",
    "IdleEvent",
    "ImageAttachment",
    "InvokeResult",
    "LogEvent",
    "Message",
    "MessageAppendedChunk",
    "MessageCompletedChunk",
    "MessageDeltaChunk",
    "MessageEndEvent",
    "MessageMetadata",
    "MessageMetadataChunk",
    "MessageStartEvent",
    "MessageStartedChunk",
    "ModelErrorInfo",
    "ModelRef",
    "ModelRequestInfo",
    "ModelResponse",
    "OperationEvent",
    "OperationStartEvent",
    "Part",
    "PromptUsage",
    "ReasoningPart",
    "Reply",
    "RunEndEvent",
    "RunRecord",
    "RunResumeEvent",
    "RunStartEvent",
    "SerializedError",
    "Settlement",
    "SettlementMarker",
    "Signal",
    "SignalDescriptor",
    "StreamCheckpointChunk",
    "SubmissionSettledChunk",
    "SubmissionSettledEvent",
    "TaskEvent",
    "TaskStartEvent",
    "TextDeltaEvent",
    "TextPart",
    "ThinkingDeltaEvent",
    "ThinkingEndEvent",
    "ThinkingStartEvent",
    "ToolEvent",
    "ToolInputChunk",
    "ToolOutputChunk",
    "ToolOutputErrorChunk",
    "ToolPart",
    "ToolStartEvent",
    "TurnEvent",
    "TurnMessagesEvent",
    "TurnStartEvent",
    "UnknownChunk",
    "UnknownEvent",
    "UnknownPart",
    "UsageCost",
    "UserMessage",
    "WorkflowRunResult",
    "chunk_from_dict",
    "converter",
    "event_from_dict",
    "events_from_dicts",
    "invoke_result_from_dict",
    "message_from_dict",
    "run_record_from_dict",
    "snapshot_from_dict",
]


# public name -> the module that defines it (imported on first access of the name)
_LAZY: dict[str, str] = {
    "converter": "flue._models.base",
    **dict.fromkeys(
        (
            "Admission",
            "AgentAbortResult",
            "AgentPromptResult",
            "AgentResult",
            "AgentSendResult",
            "ConversationSnapshot",
            "ConversationState",
            "Message",
            "MessageMetadata",
            "ModelRef",
            "Settlement",
            "SettlementMarker",
            "SignalDescriptor",
            "WorkflowRunResult",
            "message_from_dict",
            "snapshot_from_dict",
        ),
        "flue._models.conversation",
    ),
    **dict.fromkeys(
        (
            "DataPart",
            "FilePart",
            "Part",
            "ReasoningPart",
            "TextPart",
            "ToolPart",
            "UnknownPart",
        ),
        "flue._models.parts",
    ),
    **dict.fromkeys(("ImageAttachment", "Signal", "UserMessage"), "flue._models.messages"),
    "Reply": "flue._models.replies",
    **dict.fromkeys(
        (
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
        ),
        "flue._models.chunks",
    ),
    **dict.fromkeys(("event_from_dict", "events_from_dicts"), "flue._models.convert"),
    **dict.fromkeys(
        (
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
        ),
        "flue._models.events",
    ),
    **dict.fromkeys(
        (
            "ModelErrorInfo",
            "ModelRequestInfo",
            "ModelResponse",
            "PromptUsage",
            "SerializedError",
            "UsageCost",
        ),
        "flue._models.records",
    ),
    **dict.fromkeys(
        ("InvokeResult", "RunRecord", "invoke_result_from_dict", "run_record_from_dict"),
        "flue._models.runs",
    ),
}


def __getattr__(name: str) -> Any:
    return load(
        "flue.models",
        _LAZY,
        name,
        globals(),
        DEPENDENCY_HINT,
    )


def __dir__() -> list[str]:
    return sorted(__all__)
