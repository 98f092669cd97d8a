"""The run record and the invoke result: the models of the one-shot calls.

Kept apart from the event models so that ``runs.get()`` and ``workflows.invoke()`` build only
these two classes. All fields of the record default to ``None`` and read as ``None`` when the
server omitted them or sent another JSON type; the complete original object is always in ``raw``.
"""

from __future__ import annotations

from typing import Any

import attrs

from flue._models.base import register_model, structure_fn

__all__ = ["InvokeResult", "RunRecord", "invoke_result_from_dict", "run_record_from_dict"]


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


register_model(RunRecord)


def run_record_from_dict(d: dict[str, Any]) -> RunRecord:
    """Build a `RunRecord` from a decoded JSON object; a non-dict raises `ProtocolError`."""
    return structure_fn(RunRecord)(d)


@attrs.frozen(kw_only=True, slots=False)
class InvokeResult:
    """The answer to starting a run: its id, and with ``?wait=result`` the workflow's result."""

    run_id: str
    result: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


register_model(InvokeResult)


def invoke_result_from_dict(d: dict[str, Any]) -> InvokeResult:
    """Build an `InvokeResult` from ``{"runId", "result"?}``.

    Raises `ProtocolError` for a non-dict or when ``runId`` is missing or not a string.
    """
    return structure_fn(InvokeResult)(d)
