"""Non-event models: the run record, the invoke result, and the typed nested objects.

All fields default to ``None`` and read as ``None`` when the server omitted them or sent another
JSON type; the complete original object is always in ``raw``.
"""

from __future__ import annotations

from typing import Any

import attrs

from flue._models.base import converter, register_model

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


converter.register_structure_hook(SerializedError | str | None, _error_or_message)


@attrs.frozen(kw_only=True, slots=False)
class RunRecord:
    """The persisted record of a workflow run (``GET /runs/:id``).

    ``status`` is ``"active"``, ``"completed"`` or ``"errored"`` (kept as a plain string so a
    future status reads fine). ``ended_at``, ``is_error`` and ``duration_ms`` are set once the run
    ended, then ``result`` (success) or ``error``; ``input`` is the input when one was sent
    (``"input" in record.raw`` tells an absent input from a JSON ``null``).
    """

    run_id: str | None = None
    workflow_name: str | None = None
    status: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    is_error: bool | None = None
    duration_ms: float | None = None
    input: Any = None
    result: Any = None
    error: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_run_record = register_model(RunRecord)


def run_record_from_dict(d: dict[str, Any]) -> RunRecord:
    """Build a `RunRecord` from a decoded JSON object; a non-dict raises `ProtocolError`."""
    return _structure_run_record(d)


@attrs.frozen(kw_only=True, slots=False)
class InvokeResult:
    """The answer to starting a run: its id, and with ``?wait=result`` the workflow's result."""

    run_id: str
    result: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_structure_invoke = register_model(InvokeResult)


def invoke_result_from_dict(d: dict[str, Any]) -> InvokeResult:
    """Build an `InvokeResult` from ``{"runId", "result"?}``.

    Raises `ProtocolError` for a non-dict or when ``runId`` is missing or not a string.
    """
    return _structure_invoke(d)
