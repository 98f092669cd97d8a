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

It also serves Flue 1.0.0-beta.9's agents (conversations) with a scripted reply instead of a
model: the demo agent ``assistant`` echoes, :meth:`FlueTestServer.add_agent` registers more (see
:mod:`flue.testing._agents` for replies, failures and the pause hooks for mid-reply tests)::

    agent = server.add_agent("greeter", reply=lambda prompt: f"Hello, {prompt.message}!")
    requests.post(f"{server.url}/agents/greeter/conv-1?wait=result", json={"message": "Ada"})

``FlueTestServer(line="2")`` speaks Flue 2.x instead (no runs; agent conversations at the
mounts an app chooses: ``/agents/{name}/{id}`` and ``add_agent(..., mount="/api/chat")``); see
:class:`FlueTestServer` for what it serves and where it differs from a real 2.x server::

    with FlueTestServer.running_in_thread(line="2") as server:
        server.add_agent("assistant", mount="/api/chat")
        requests.post(f"{server.url}/api/chat/c1", json={"kind": "user", "body": "hi"})

The pytest plugin (:mod:`flue.testing.pytest_plugin`) provides ready-made fixtures (``_v2``
ones for Flue 2.x), and ``python -m flue.testing [--line 2]`` serves the demo workflows ``emit``
and ``fail`` (line 1.0) and the demo agent ``assistant`` from the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flue._lazy import lazy_attributes

if TYPE_CHECKING:
    from ._agents import AgentFailure, AgentHandle, AgentImage, AgentPrompt, Reasoning, ToolCall
    from ._app import AuthHook, bearer_auth
    from ._faults import Fault, FaultRule, FaultSet, RecordedRequest
    from ._server import FlueTestServer, RunHandle
    from ._store import MISSING, format_offset
    from ._workflows import InputValidationError, RunContext, WorkflowError

__all__ = [
    "MISSING",
    "AgentFailure",
    "AgentHandle",
    "AgentImage",
    "AgentPrompt",
    "AuthHook",
    "Fault",
    "FaultRule",
    "FaultSet",
    "FlueTestServer",
    "InputValidationError",
    "Reasoning",
    "RecordedRequest",
    "RunContext",
    "RunHandle",
    "ToolCall",
    "WorkflowError",
    "bearer_auth",
    "format_offset",
]

# Imported on first use: the pytest plugin lives in this package and is loaded by every pytest
# run of a project that installs flue, which should not pay for aiohttp until a fixture runs.
_LAZY = {
    "AgentFailure": "flue.testing._agents",
    "AgentHandle": "flue.testing._agents",
    "AgentImage": "flue.testing._agents",
    "AgentPrompt": "flue.testing._agents",
    "Reasoning": "flue.testing._agents",
    "ToolCall": "flue.testing._agents",
    "AuthHook": "flue.testing._app",
    "bearer_auth": "flue.testing._app",
    "Fault": "flue.testing._faults",
    "FaultRule": "flue.testing._faults",
    "FaultSet": "flue.testing._faults",
    "RecordedRequest": "flue.testing._faults",
    "FlueTestServer": "flue.testing._server",
    "RunHandle": "flue.testing._server",
    "MISSING": "flue.testing._store",
    "format_offset": "flue.testing._store",
    "InputValidationError": "flue.testing._workflows",
    "RunContext": "flue.testing._workflows",
    "WorkflowError": "flue.testing._workflows",
}


__getattr__, __dir__ = lazy_attributes(
    "flue.testing",
    _LAZY,
    globals(),
    "flue.testing needs aiohttp; check that flue's dependencies are installed.",
)
