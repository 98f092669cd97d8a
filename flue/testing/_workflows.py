"""Python workflows for the fake server.

A workflow is an ``async def fn(run: RunContext, input) -> result``. The server validates the
input with the workflow's optional ``validate`` callable (which returns the parsed input or
raises :class:`InputValidationError`), appends ``run_start``, runs ``fn`` as a task, and ends the
run with its return value, or errored with ``{"name", "message"}`` of the exception it raised
(``name`` is the exception's ``name`` attribute if it has one, else its class name; raise
:class:`WorkflowError` to get ``"Error"`` like a JavaScript ``throw new Error(...)``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import attrs

__all__ = [
    "InputValidationError",
    "RunContext",
    "Workflow",
    "WorkflowError",
    "WorkflowFn",
    "serialize_error",
]


class InputValidationError(Exception):
    """Raised by a workflow's ``validate``: the server answers 500 ``action_input_validation``.

    ``issues`` is a list of ``{"message": str, "path": [key, ...]}`` as Flue reports them.
    """

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(issue.get("message", "")) for issue in issues))
        self.issues = issues


class WorkflowError(Exception):
    """An error a workflow raises to end its run errored with ``{"name", "message"}``."""

    def __init__(self, message: str, *, name: str = "Error") -> None:
        super().__init__(message)
        self.name = name


def serialize_error(error: BaseException) -> dict[str, Any]:
    """``{"name", "message"}`` of an exception, as Flue stores a thrown ``Error``."""
    name = getattr(error, "name", None)
    return {
        "name": name if isinstance(name, str) else type(error).__name__,
        "message": str(error),
    }


class _Appender(Protocol):
    def __call__(self, run_id: str, events: list[dict[str, Any]]) -> object: ...


@attrs.define
class RunContext:
    """What a running workflow gets: its ids and input, and ways to emit events."""

    run_id: str
    workflow_name: str
    input: Any
    _append: _Appender

    def emit(self, event: dict[str, Any]) -> None:
        """Append one event (``v``, ``eventIndex``, ``timestamp``, ``runId`` are filled in)."""
        self._append(self.run_id, [event])

    def log(
        self, message: str, attributes: dict[str, Any] | None = None, *, level: str = "info"
    ) -> None:
        """Append a ``log`` event, like Flue's ``log.info(message, attributes)``."""
        event: dict[str, Any] = {"type": "log", "level": level, "message": message}
        if attributes is not None:
            event["attributes"] = attributes
        self.emit(event)

    async def sleep(self, seconds: float) -> None:
        """Pause the workflow (``seconds <= 0`` returns at once)."""
        if seconds > 0:
            await asyncio.sleep(seconds)


WorkflowFn = Callable[[RunContext, Any], Awaitable[Any]]
"""The signature of a workflow function."""


@attrs.frozen
class Workflow:
    """A registered workflow: its function and optional input validator."""

    fn: WorkflowFn
    validate: Callable[[Any], Any] | None = None
