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

from flue._lazy import lazy_attributes, reexports

# Imported on first use: the pytest plugin lives in this package and is loaded by every pytest
# run of a project that installs flue, which should not pay for aiohttp until a fixture runs.
if TYPE_CHECKING:  # the public names, one per line: type checkers and `_LAZY` below read them
    from flue.testing._agents import AgentFailure as AgentFailure
    from flue.testing._agents import AgentHandle as AgentHandle
    from flue.testing._agents import AgentImage as AgentImage
    from flue.testing._agents import AgentPrompt as AgentPrompt
    from flue.testing._agents import Reasoning as Reasoning
    from flue.testing._agents import ToolCall as ToolCall
    from flue.testing._app import AuthHook as AuthHook
    from flue.testing._app import bearer_auth as bearer_auth
    from flue.testing._faults import Fault as Fault
    from flue.testing._faults import FaultRule as FaultRule
    from flue.testing._faults import FaultSet as FaultSet
    from flue.testing._faults import RecordedRequest as RecordedRequest
    from flue.testing._server import FlueTestServer as FlueTestServer
    from flue.testing._server import RunHandle as RunHandle
    from flue.testing._store import MISSING as MISSING
    from flue.testing._store import format_offset as format_offset
    from flue.testing._workflows import InputValidationError as InputValidationError
    from flue.testing._workflows import RunContext as RunContext
    from flue.testing._workflows import WorkflowError as WorkflowError

_LAZY = reexports(globals())  # name -> module, read from the lines above
__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(
    "flue.testing",
    _LAZY,
    globals(),
    "flue.testing needs aiohttp; check that flue's dependencies are installed.",
)
