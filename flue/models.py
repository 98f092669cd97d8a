"""Data models: run records, invoke results and stream events, built from decoded JSON.

How this works: every model is a frozen, keyword-only attrs class with snake_case attributes,
built by a structure function generated for its class on first use (camelCase JSON keys
renamed); `converter` is a cattrs converter that builds the same models. Reads are forward
compatible: an unknown event ``type`` gives an `UnknownEvent`; a missing field, or one of another
JSON type than expected, reads as ``None``; and every model keeps the complete JSON object it came
from in ``raw`` (excluded from ``==`` and ``repr``), so nothing the server sent is lost. Only a
non-object input is an error (`flue.errors.ProtocolError`). The implementation lives in
``flue._models``.

The names are loaded on first access, each from its own module: reading a run record imports
neither the event classes nor cattrs. The one list of public names is the ``TYPE_CHECKING``
block of re-exports (``from ... import X as X``, one per line): type checkers read it, and
`_LAZY` (name -> module) and ``__all__`` are made from it at import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flue._lazy import DEPENDENCY_HINT, lazy_attributes, reexports

if TYPE_CHECKING:  # the one list of public names (module comment); add a model here
    from flue._models.base import converter as converter
    from flue._models.chunks import ChunkPosition as ChunkPosition
    from flue._models.chunks import ConversationChunk as ConversationChunk
    from flue._models.chunks import ConversationResetChunk as ConversationResetChunk
    from flue._models.chunks import DataPartChunk as DataPartChunk
    from flue._models.chunks import MessageAppendedChunk as MessageAppendedChunk
    from flue._models.chunks import MessageCompletedChunk as MessageCompletedChunk
    from flue._models.chunks import MessageDeltaChunk as MessageDeltaChunk
    from flue._models.chunks import MessageMetadataChunk as MessageMetadataChunk
    from flue._models.chunks import MessageStartedChunk as MessageStartedChunk
    from flue._models.chunks import StreamCheckpointChunk as StreamCheckpointChunk
    from flue._models.chunks import SubmissionSettledChunk as SubmissionSettledChunk
    from flue._models.chunks import ToolInputChunk as ToolInputChunk
    from flue._models.chunks import ToolOutputChunk as ToolOutputChunk
    from flue._models.chunks import ToolOutputErrorChunk as ToolOutputErrorChunk
    from flue._models.chunks import UnknownChunk as UnknownChunk
    from flue._models.chunks import chunk_from_dict as chunk_from_dict
    from flue._models.conversation import Admission as Admission
    from flue._models.conversation import AgentAbortResult as AgentAbortResult
    from flue._models.conversation import AgentPromptResult as AgentPromptResult
    from flue._models.conversation import AgentResult as AgentResult
    from flue._models.conversation import AgentSendResult as AgentSendResult
    from flue._models.conversation import ConversationSnapshot as ConversationSnapshot
    from flue._models.conversation import ConversationState as ConversationState
    from flue._models.conversation import Message as Message
    from flue._models.conversation import MessageMetadata as MessageMetadata
    from flue._models.conversation import ModelRef as ModelRef
    from flue._models.conversation import Settlement as Settlement
    from flue._models.conversation import SettlementMarker as SettlementMarker
    from flue._models.conversation import SignalDescriptor as SignalDescriptor
    from flue._models.conversation import WorkflowRunResult as WorkflowRunResult
    from flue._models.conversation import message_from_dict as message_from_dict
    from flue._models.conversation import snapshot_from_dict as snapshot_from_dict
    from flue._models.convert import event_from_dict as event_from_dict
    from flue._models.convert import events_from_dicts as events_from_dicts
    from flue._models.events import EVENT_TYPES as EVENT_TYPES
    from flue._models.events import AgentEndEvent as AgentEndEvent
    from flue._models.events import AgentStartEvent as AgentStartEvent
    from flue._models.events import BaseEvent as BaseEvent
    from flue._models.events import CompactionEvent as CompactionEvent
    from flue._models.events import CompactionStartEvent as CompactionStartEvent
    from flue._models.events import Event as Event
    from flue._models.events import IdleEvent as IdleEvent
    from flue._models.events import LogEvent as LogEvent
    from flue._models.events import MessageEndEvent as MessageEndEvent
    from flue._models.events import MessageStartEvent as MessageStartEvent
    from flue._models.events import OperationEvent as OperationEvent
    from flue._models.events import OperationStartEvent as OperationStartEvent
    from flue._models.events import RunEndEvent as RunEndEvent
    from flue._models.events import RunResumeEvent as RunResumeEvent
    from flue._models.events import RunStartEvent as RunStartEvent
    from flue._models.events import SubmissionSettledEvent as SubmissionSettledEvent
    from flue._models.events import TaskEvent as TaskEvent
    from flue._models.events import TaskStartEvent as TaskStartEvent
    from flue._models.events import TextDeltaEvent as TextDeltaEvent
    from flue._models.events import ThinkingDeltaEvent as ThinkingDeltaEvent
    from flue._models.events import ThinkingEndEvent as ThinkingEndEvent
    from flue._models.events import ThinkingStartEvent as ThinkingStartEvent
    from flue._models.events import ToolEvent as ToolEvent
    from flue._models.events import ToolStartEvent as ToolStartEvent
    from flue._models.events import TurnEvent as TurnEvent
    from flue._models.events import TurnMessagesEvent as TurnMessagesEvent
    from flue._models.events import TurnStartEvent as TurnStartEvent
    from flue._models.events import UnknownEvent as UnknownEvent
    from flue._models.messages import ImageAttachment as ImageAttachment
    from flue._models.messages import Signal as Signal
    from flue._models.messages import UserMessage as UserMessage
    from flue._models.parts import DataPart as DataPart
    from flue._models.parts import FilePart as FilePart
    from flue._models.parts import Part as Part
    from flue._models.parts import ReasoningPart as ReasoningPart
    from flue._models.parts import TextPart as TextPart
    from flue._models.parts import ToolPart as ToolPart
    from flue._models.parts import UnknownPart as UnknownPart
    from flue._models.records import ModelErrorInfo as ModelErrorInfo
    from flue._models.records import ModelRequestInfo as ModelRequestInfo
    from flue._models.records import ModelResponse as ModelResponse
    from flue._models.records import PromptUsage as PromptUsage
    from flue._models.records import SerializedError as SerializedError
    from flue._models.records import UsageCost as UsageCost
    from flue._models.replies import Reply as Reply
    from flue._models.runs import InvokeResult as InvokeResult
    from flue._models.runs import RunRecord as RunRecord
    from flue._models.runs import invoke_result_from_dict as invoke_result_from_dict
    from flue._models.runs import run_record_from_dict as run_record_from_dict


# public name -> the module that defines it (imported on first access of the name): the
# re-exports above, read from this file's source
_LAZY = reexports(globals())

__all__ = sorted(_LAZY)  # the public names: those of `_LAZY`, each listed once


__getattr__, __dir__ = lazy_attributes("flue.models", _LAZY, globals(), DEPENDENCY_HINT)
