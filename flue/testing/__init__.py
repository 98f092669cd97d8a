"""An in-process fake Flue runs server for tests, demos and benchmarks.

:class:`FlueTestServer` speaks Flue 1.0.0-beta.5's workflow-run HTTP API (``POST
/workflows/{name}``, ``GET``/``HEAD /runs/{id}`` with ``?meta``, catch-up, long-poll and SSE)
as a real server does, and misbehaves on demand through :class:`Fault` rules::

    async with FlueTestServer(token="secret") as server:
        run = server.create_run(workflow="demo")
        server.append(run.run_id, {"type": "log", "level": "info", "message": "hi"})
        server.faults.add(Fault.status(503, retry_after=1), times=2, mode="long-poll")
        server.end_run(run.run_id, result={"ok": True})

    with FlueTestServer.running_in_thread(page_size=5) as server:
        requests.get(f"{server.url}/runs/{run_id}")

The pytest plugin (:mod:`flue.testing.pytest_plugin`) provides ready-made fixtures, and
``python -m flue.testing`` serves the demo workflows ``emit`` and ``fail`` from the command line.
"""

from __future__ import annotations

from ._app import AuthHook, bearer_auth
from ._faults import Fault, FaultRule, FaultSet, RecordedRequest
from ._server import FlueTestServer, RunHandle
from ._store import MISSING, format_offset
from ._workflows import InputValidationError, RunContext, WorkflowError

__all__ = [
    "MISSING",
    "AuthHook",
    "Fault",
    "FaultRule",
    "FaultSet",
    "FlueTestServer",
    "InputValidationError",
    "RecordedRequest",
    "RunContext",
    "RunHandle",
    "WorkflowError",
    "bearer_auth",
    "format_offset",
]
