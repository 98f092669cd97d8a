"""Nested models of events: token usage and cost, model request and response, errors.

All fields default to ``None`` and read as ``None`` when the server omitted them or sent another
JSON type; the complete original object is always in ``raw``. The run record and the invoke
result live in `flue._models.runs` (re-exported here), so that reading a run record does not
build these classes.
"""

from __future__ import annotations

from typing import Any

import attrs

from flue._models.base import register_hook, register_model
from flue._models.runs import (
    InvokeResult,
    RunRecord,
    invoke_result_from_dict,
    run_record_from_dict,
)

__all__ = [
    "InvokeResult",
    "ModelErrorInfo",
    "ModelRequestInfo",
    "ModelResponse",
    "PromptUsage",
    "RunRecord",
    "SerializedError",
    "UsageCost",
    "invoke_result_from_dict",
    "run_record_from_dict",
]


@attrs.frozen(kw_only=True, slots=False)
class UsageCost:
    """Cost of model work, in the provider's currency (``PromptUsage.cost``)."""

    input: float | None = None
    output: float | None = None
    cache_read: float | None = None
    cache_write: float | None = None
    total: float | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(UsageCost)


@attrs.frozen(kw_only=True, slots=False)
class PromptUsage:
    """Aggregated token counts and cost of model work (``usage`` of turns, operations...)."""

    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    total_tokens: int | None = None
    cost: UsageCost | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(PromptUsage)


@attrs.frozen(kw_only=True, slots=False)
class ModelRequestInfo:
    """What a model turn asked for (``TurnEvent.request``, event format v3)."""

    provider_id: str | None = None
    provider_name: str | None = None
    requested_model: str | None = None
    api: str | None = None
    server_address: str | None = None
    server_port: int | None = None
    reasoning_level: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    context_compacted: bool | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(ModelRequestInfo)


@attrs.frozen(kw_only=True, slots=False)
class ModelErrorInfo:
    """Error of a failed model response (``ModelResponse.error``)."""

    type: str | None = None
    name: str | None = None
    code: str | None = None
    message: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(ModelErrorInfo)


@attrs.frozen(kw_only=True, slots=False)
class ModelResponse:
    """What a model turn got back (``TurnEvent.response``, event format v3).

    ``output`` is the assistant message as a dict (``{"role": "assistant", "content": [...]}``).
    """

    response_id: str | None = None
    response_model: str | None = None
    output: dict[str, Any] | None = None
    usage: PromptUsage | None = None
    finish_reason: str | None = None
    error: ModelErrorInfo | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(ModelResponse)


@attrs.frozen(kw_only=True, slots=False)
class SerializedError:
    """A structured error (``SubmissionSettledEvent.error`` in event format v3)."""

    name: str | None = None
    message: str | None = None
    type: str | None = None
    details: str | None = None
    dev: str | None = None
    meta: dict[str, Any] | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_serialized_error = register_model(SerializedError)


def _error_or_message(v: Any, _: Any = None) -> SerializedError | str | None:
    # Format v1 sends a plain message string, v3 a structured object: keep whichever came.
    if isinstance(v, dict):
        return _structure_serialized_error(v)
    return v if isinstance(v, str) else None


register_hook(SerializedError | str | None, _error_or_message)
