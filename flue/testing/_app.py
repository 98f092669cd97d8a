# The fake Flue application: run state plus the one aiohttp handler every request goes through.
#
# `handle` reads the request, records it, asks the fault set for a fault, applies the faults
# that act before handling, then routes like Flue's Hono app: `/workflows/{name}` (405 for
# non-POST, `?wait` validation, 404 unknown workflow, auth hook, body parsing, input validation,
# run start), `/runs/{id}` (404 unknown run, auth hook, 405, `?meta`, HEAD, query validation,
# reads) and `/agents/...` (`_agent_routes.AgentRoute`); anything else is `route_not_found`.
# Handlers return a `Reply`, which `send` writes with the response-rewriting fault applied. All
# methods run on the server's event loop.

from __future__ import annotations

import asyncio
import inspect
import secrets
import threading
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

import attrs
from aiohttp import web
from multidict import CIMultiDictProxy

from ._agent_routes import AgentRoute
from ._agent_routes_v2 import V2Route
from ._agent_state import ulid
from ._conversations import AgentRegistry
from ._faults import (
    PRE_HANDLER_KINDS,
    Fault,
    FaultSet,
    Mode,
    RecordedRequest,
    conversation_mode,
    read_mode,
)
from ._reads import ReadConfig, head, parse_read_query, read
from ._send import Compression, Reply, send
from ._store import MISSING, RunState, now_iso
from ._wire import (
    action_input_validation,
    dumps,
    error_reply,
    internal_error,
    json_body,
    json_reply,
    method_not_allowed,
    not_registered,
    route_not_found,
    run_not_found,
    wait_refused,
)
from ._wire_v2 import internal_error_with_ref
from ._workflows import InputValidationError, RunContext, Workflow, serialize_error

__all__ = ["AuthHook", "FakeFlueApp", "bearer_auth"]

AuthHook = Callable[
    [RecordedRequest], "web.StreamResponse | Awaitable[web.StreamResponse | None] | None"
]
"""An authorization hook: return a response to refuse the request, ``None`` to let it through.

It runs where Flue runs a workflow's ``route``/``runs`` middleware: after the 404 checks for an
unknown workflow or run, before everything else.
"""

_STATUS_TYPES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "route_not_found",
    408: "request_timeout",
    409: "conflict",
    429: "rate_limited",
    500: "internal_error",
    501: "not_implemented",
    502: "bad_gateway",
    503: "runtime_unavailable",
    504: "gateway_timeout",
}


def bearer_auth(token: str, *, status: int = 401) -> AuthHook:
    """An auth hook requiring ``Authorization: Bearer <token>``.

    Refusals answer 401 ``unauthorized`` (the body the interop Flue app sends), or with
    ``status=404`` the same ``run_not_found`` a missing run gets, as Flue recommends for runs.
    """
    expected = f"Bearer {token}"

    def check(req: RecordedRequest) -> web.StreamResponse | None:
        if secrets.compare_digest(req.headers.get("Authorization", ""), expected):
            return None
        if status == 404 and req.run_id is not None:
            reply = run_not_found(req.run_id)
            return web.Response(status=404, headers=reply.headers, body=reply.body)
        body = {
            "error": {
                "type": "unauthorized",
                "message": 'A valid "Authorization: Bearer <token>" header is required.',
                "details": "The test server checks the token it was started with.",
            }
        }
        return web.Response(
            status=status, headers={"Content-Type": "application/json"}, body=dumps(body)
        )

    return check


def _mode(method: str, kind: str, query: tuple[tuple[str, str], ...]) -> Mode:
    if kind == "agents":
        return conversation_mode(method, query)
    if kind == "workflows":
        return "invoke"
    if kind != "runs":
        return "other"
    if method == "HEAD":
        return "head"
    if method == "GET" and any(key == "meta" for key, _ in query):
        return "meta"
    return read_mode(query)


def _fault_reply(fault: Fault, request: web.BaseRequest, ref_log: list[str] | None) -> Reply:
    """The answer of a fault acting before the request is handled; with ``ref_log`` (Flue
    2.x) a plain 500 carries an error ref, as a 2.x server's 500s do."""
    headers = list(fault.headers)
    if fault.kind == "redirect":
        location = fault.location + (request.raw_path if fault.append_path else "")
        return Reply(fault.status_code, [("Location", location), *headers], b"")
    if fault.retry_after is not None:
        value = fault.retry_after
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        headers.append(("Retry-After", str(value)))
    if fault.body is not None:
        return Reply(
            fault.status_code, [("content-type", "application/json"), *headers], fault.body
        )
    if fault.status_code == 500 and ref_log is not None:
        reply = internal_error_with_ref(ref_log, "injected fault: HTTP 500")
        reply.headers += headers
        return reply
    type_ = _STATUS_TYPES.get(fault.status_code, f"http_{fault.status_code}")
    return error_reply(
        fault.status_code,
        type_,
        f"Injected fault: HTTP {fault.status_code}.",
        "The flue.testing server was told to answer this request with this status.",
        headers=headers,
    )


class FakeFlueApp:
    """Runs, workflows and request handling of one fake server (event-loop thread only)."""

    def __init__(
        self,
        *,
        config: ReadConfig,
        faults: FaultSet,
        auth: AuthHook | None,
        workflows: dict[str, Workflow],
        compression: Compression | None = None,
        line: str = "1.0",
    ) -> None:
        self.line = line
        self.config = config
        self.compression = compression
        self.faults = faults
        self.auth = auth
        self.workflows = dict(workflows)
        self.runs: dict[str, RunState] = {}
        self.requests: list[RecordedRequest] = []
        self.requests_lock = threading.Lock()
        self.stopping = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.agents = AgentRegistry(self.tasks)
        self.agent_route = AgentRoute(self.agents, config, self.stopping, self._authorize)
        self.v2_route = V2Route(self.agents, config, self.stopping, self._authorize)

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, workflow: str, input: Any, run_id: str | None, start: bool) -> str:
        """Create a run (and its ``run_start`` event when ``start``)."""
        run_id = run_id or f"run_{ulid()}"
        if run_id in self.runs:
            raise ValueError(f"run {run_id!r} already exists")
        state = RunState(run_id=run_id, workflow_name=workflow, started_at=now_iso(), input=input)
        if start:
            event: dict[str, Any] = {
                "type": "run_start",
                "runId": run_id,
                "workflowName": workflow,
                "startedAt": state.started_at,
            }
            if input is not MISSING:
                event["input"] = input
            state.append([state.decorate(event)])
        self.runs[run_id] = state
        return run_id

    def run(self, run_id: str) -> RunState:
        """The run, or ``KeyError``."""
        try:
            return self.runs[run_id]
        except KeyError:
            raise KeyError(f"no run {run_id!r}") from None

    def append(self, run_id: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Decorate and append events; returns them as stored."""
        state = self.run(run_id)
        decorated = [state.decorate(event) for event in events]
        state.append(decorated)
        return decorated

    def end_run(self, run_id: str, result: Any, error: Any, close: bool) -> dict[str, Any]:
        """Append ``run_end``, close the stream and finish the record; returns the event."""
        state = self.run(run_id)
        if state.status != "active":
            raise RuntimeError(f"run {run_id!r} has already ended")
        is_error = error is not None
        if isinstance(error, BaseException):
            error = serialize_error(error)
        elif isinstance(error, str):
            error = {"name": "Error", "message": error}
        result = None if result is MISSING else result
        duration = state.finish(is_error=is_error, result=result, error=error)
        event: dict[str, Any] = {
            "type": "run_end",
            "runId": run_id,
            "result": None if is_error else result,
            "isError": is_error,
        }
        if is_error:
            event["error"] = error
        event["durationMs"] = duration
        [decorated] = self.append(run_id, [event])
        if close:
            state.close()
        return decorated

    async def _execute(self, state: RunState, workflow: Workflow, parsed: Any) -> Any:
        ctx = RunContext(state.run_id, state.workflow_name, parsed, self.append)
        try:
            result = await workflow.fn(ctx, parsed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if state.status == "active":
                self.end_run(state.run_id, MISSING, exc, True)
            raise
        if state.status == "active":
            self.end_run(state.run_id, result, None, True)
        return result

    # -- requests ----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler for every request."""
        body = await request.read()
        raw_path = request.raw_path.split("?", 1)[0]
        segments = raw_path.split("/")
        kind = segments[1] if len(segments) == 3 and segments[2] else ""
        if len(segments) > 2 and segments[1] == "agents":
            kind = "agents"
        if self.line == "2":
            kind = "v2"  # no runs, no workflows: every path goes to the agent mounts
        param = unquote(segments[2]) if kind in ("runs", "workflows") else None
        query = tuple(request.query.items())
        if kind == "v2":
            mode = self.v2_route.mode(request.method, raw_path, query)
        else:
            mode = _mode(
                request.method, "" if kind == "agents" and len(segments) != 4 else kind, query
            )
        rec = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=raw_path,
            query=query,
            headers=CIMultiDictProxy(request.headers.copy()),
            body=body,
            mode=mode,
            run_id=param if kind == "runs" else None,
            workflow=param if kind == "workflows" else None,
        )
        fault = self.faults.pick(rec)
        with self.requests_lock:
            self.requests.append(attrs.evolve(rec, fault=fault))
        if fault is not None and fault.kind in PRE_HANDLER_KINDS:
            if fault.kind == "disconnect":
                if request.transport is not None:
                    request.transport.abort()
                raise asyncio.CancelledError
            if fault.kind != "delay":
                ref_log = self.v2_route.error_log if self.line == "2" else None
                reply = _fault_reply(fault, request, ref_log)
                return await send(request, reply, None, self.stopping, self.compression)
            try:
                await asyncio.wait_for(self.stopping.wait(), fault.seconds)
            except asyncio.TimeoutError:
                pass
            fault = None
        if kind == "v2":
            answer = await self.v2_route.route(request, rec)
        elif kind == "runs":
            answer = await self._runs_route(request, rec)
        elif kind == "workflows":
            answer = await self._workflows_route(request, rec)
        elif kind == "agents":
            answer = await self.agent_route.route(request, rec)
        else:
            answer = route_not_found(request.method, raw_path)
        if isinstance(answer, web.StreamResponse):
            return answer
        return await send(request, answer, fault, self.stopping, self.compression)

    async def _authorize(self, rec: RecordedRequest) -> web.StreamResponse | None:
        if self.auth is None:
            return None
        verdict = self.auth(rec)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        return verdict

    async def _runs_route(
        self, request: web.Request, rec: RecordedRequest
    ) -> Reply | web.StreamResponse:
        assert rec.run_id is not None
        state = self.runs.get(rec.run_id)
        if state is None:
            return run_not_found(rec.run_id)
        refusal = await self._authorize(rec)
        if refusal is not None:
            return refusal
        if rec.method not in ("GET", "HEAD"):
            return method_not_allowed(rec.method, ["GET", "HEAD"])
        if rec.mode == "meta":
            return json_reply(200, state.record())
        if rec.method == "HEAD":
            return head(state)
        parsed = parse_read_query(rec.query)
        if isinstance(parsed, Reply):
            return parsed
        if_none_match = request.headers.get("If-None-Match")
        return await read(
            state, parsed, if_none_match, self.config, self.faults.random, self.stopping
        )

    async def _workflows_route(
        self, request: web.Request, rec: RecordedRequest
    ) -> Reply | web.StreamResponse:
        assert rec.workflow is not None
        if rec.method != "POST":
            return method_not_allowed(rec.method, ["POST"])
        waits = rec.query_values("wait")
        refused = wait_refused(waits)
        if refused is not None:
            return refused
        workflow = self.workflows.get(rec.workflow)
        if workflow is None:
            return not_registered("workflow", rec.workflow)
        refusal = await self._authorize(rec)
        if refusal is not None:
            return refusal
        input_ = json_body(request, rec.body)
        if isinstance(input_, Reply):
            return input_
        try:
            if workflow.validate is not None:
                parsed = workflow.validate(input_)
            else:
                parsed = None if input_ is MISSING else input_
        except InputValidationError as exc:
            return action_input_validation(exc.issues)
        run_id = self.create_run(rec.workflow, input_, None, True)
        task = asyncio.ensure_future(self._execute(self.runs[run_id], workflow, parsed))
        self.tasks.add(task)
        task.add_done_callback(self._forget)
        if not waits:
            return json_reply(202, {"runId": run_id})
        try:
            result = await asyncio.shield(task)
        except Exception:
            return internal_error()
        return json_reply(200, {"result": result, "runId": run_id})

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed workflow is not an unhandled error
