# FlueTestServer: lifecycle and the thread-safe test-facing API around `FakeFlueApp`.
#
# The server binds its own socket (127.0.0.1, port 0 unless told otherwise) and serves it with an
# aiohttp AppRunner whose handlers are cancelled when the client hangs up. `async with` runs it
# on the caller's loop; `running_in_thread` runs it on a private loop in a daemon thread. Every
# run-control call is marshalled onto the server's loop (and waited for) when made from another
# thread, so tests can drive runs from sync code while clients read.

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar

from aiohttp import web

from ._agents import AgentHandle, Reply, ReplyFn, demo_reply
from ._app import AuthHook, FakeFlueApp, bearer_auth
from ._conversations import AgentDef
from ._demo import DEMO_WORKFLOWS
from ._faults import FaultSet, RecordedRequest
from ._reads import ReadConfig
from ._send import Compression
from ._store import MISSING
from ._workflows import Workflow, WorkflowFn

__all__ = ["LINES", "FlueTestServer", "RunHandle"]

#: The Flue lines a server can speak: "1.0" (1.0.0-beta.9: workflow runs and agents at
#: /agents/{name}/{id}) and "2" (2.x: agent conversations at the app's mounts, no runs).
LINES = ("1.0", "2")

_T = TypeVar("_T")
_CALL_TIMEOUT = 30.0


def _mount_path(path: str) -> str:
    if not path.startswith("/") or path.endswith("/") or "?" in path:
        raise ValueError(f"a mount is a path like '/api/chat' (no trailing slash), not {path!r}")
    return path


class RunHandle:
    """A run created with :meth:`FlueTestServer.create_run`; ``str(handle)`` is its id."""

    def __init__(self, server: FlueTestServer, run_id: str) -> None:
        self.server = server
        self.run_id = run_id

    def append(self, events: dict[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Same as ``server.append(run_id, events)``."""
        return self.server.append(self.run_id, events)

    def end(self, result: Any = None, *, error: Any = None, close: bool = True) -> dict[str, Any]:
        """Same as ``server.end_run(run_id, ...)``."""
        return self.server.end_run(self.run_id, result, error=error, close=close)

    def __str__(self) -> str:
        return self.run_id

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"


class FlueTestServer:
    """An in-process fake Flue server speaking the workflow-run HTTP API, with fault injection.

    Use ``async with FlueTestServer(...) as server`` in async code, or
    ``with FlueTestServer.running_in_thread(...) as server`` in sync code; ``server.url`` is the
    base URL (``http://127.0.0.1:PORT``, no trailing slash).

    Arguments: ``token`` (require ``Authorization: Bearer <token>`` on reads and invocations;
    refusals answer ``unauthorized_status``, 401 or 404), ``auth`` (a custom hook instead, see
    :data:`AuthHook`), ``demo_workflows`` (register ``emit`` and ``fail``), ``demo_agents``
    (register the echoing agent ``assistant``, see :meth:`add_agent`), ``seed`` (of the random
    source behind fault probabilities and cursor jitter), ``page_size`` (events per catch-up or
    long-poll answer), ``long_poll_timeout``, ``sse_heartbeat`` (``None`` disables),
    ``sse_keepalive``, ``sse_batch`` (Flue's values by default), ``sse_recycle`` (seconds after
    which an SSE body ends cleanly right after a control frame, as Durable Streams servers and
    proxies recycle SSE connections; ``None``, the default, never, like Flue), ``host``/``port``,
    ``compress`` (``True`` or ``"gzip"``, or ``"deflate"``: compress JSON bodies for requests
    whose Accept-Encoding allows it, as a compressing proxy does; off by default, like Flue) and
    ``compress_sse`` (compress SSE bodies too, with a sync flush after every frame) and ``line``.

    ``line`` is the Flue line spoken, chosen at creation: ``"1.0"`` (the default: 1.0.0-beta.9,
    workflow runs and agents at ``/agents/{name}/{id}``) or ``"2"`` (Flue 2.x, as @flue/runtime
    2.0.3 and 2.1.0 answer). On ``"2"`` there are no runs or workflows (``/runs/...``,
    ``/workflows/...`` and every path no mount serves answer the app's plain-text ``404 Not
    Found``); each agent's router is mounted at ``/agents/{name}`` and at the paths given to
    :meth:`add_agent` (``mount="/api/chat"``) or :meth:`add_mount`, every mount of an agent
    serving the same conversations; the token (or ``auth``) guards every route of a mount.
    It speaks 2.x bodies (``{kind: "user", body, attachments?}``, ``{kind: "signal", type,
    body, attributes?, tagName?}``, ``initialData``, ``uid`` conditions, ``idempotencyKey``
    deduplication and ``409 submission_conflict``), refuses beta.9's body and ``?wait=result``
    (400), admits with ``uid``, answers history with ``incarnation`` and 2.x messages
    (``purpose``, ``display``, ``turnId``, ``signal``, ``settlement``; signals and abort
    notices are ``system`` messages), starts every JSON updates answer and every SSE stream
    with the ``stream-checkpoint`` chunk (a long-poll timing out answers ``[checkpoint]``),
    answers ``416 stream_offset_gone`` past the head, writes 2.x chunks (``turnId``, no model,
    usage or result, ``answeredBySubmissionId``, timestamps, ``durationMs``), one assistant
    message per submission reopened for each turn, aborts the running, joined and queued
    submissions (each with its advisory notice; the partial reply kept), leaves an empty
    assistant message for a failed one, and gives its 500s an ``error.ref`` and a
    ``flue-error-ref`` header (logged in :attr:`error_log`). The shared raw-HTTP suite
    (``tests/testing/test_raw_http_v2.py``) passes against it and the real servers alike.

    Where the line-"2" fake differs from a real 2.x server (and the other way round):

    - Joining is deterministic here: a message admitted while a submission's reply is being
      produced (from its start until it settles) always joins it; on a real server that is a
      race (a message arriving once readers saw the reply's deltas ran as its own turn).
      Several joined messages are all appended, then answered by one turn prompted with the
      last; a real server's grouping was not observed. A joined submission that fails with
      the reply settles ``failed`` with the same error; one aborted after its message
      entered gets its notice and settles without ``answeredBySubmissionId`` (both not
      observed on a real server).
    - Deltas are written as soon as the reply lets the loop run (``pause_after``,
      ``token_delay`` make replies visible mid-way); a real server coalesces them for up to
      1 s, so short replies become visible only around their completion.
    - Any offset past the head is 416 here; real 2.0.3 answers ``500 internal_error`` (or an
      SSE body cut before any frame) when the offset's *first* component is past the head,
      and 416 only for the second.
    - The incarnation never changes (the fake has no store to reset); ``data-part`` and
      ``message-metadata`` chunks are never written (replies have no data parts or
      metadata); instance ids are not validated.
    - 500s come only from a mount over no agent (``add_mount(path, None)``), an exception
      inside the fake, or ``Fault.status(500)`` (which then carries a ref too); a reply
      raising another exception than ``AgentFailure`` settles ``failed`` with an
      ``internal_error`` error (a real server's was not observed).
    - The 401 body is the fake's own (a real app's auth middleware answers its own body);
      ``sub_ik_`` ids are a hash of agent, id and key (a real server's derivation differs,
      same shape); a deduplicated receipt names the URL posted to; a tool's ``durationMs``
      is the fake tool's (about 0); equal payloads for an idempotency key compare the
      message and ``initialData``.
    - Only here: ``pause_after``/``wait_paused``, ``AgentHandle.wait_for_readers`` (a
      long-poll of the conversation is waiting), :attr:`error_log`, fault injection, and
      configurable timers (``long_poll_timeout`` for the long-poll window and SSE idle
      re-read, ``sse_heartbeat``; Flue's 30 s and 15 s by default).
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        unauthorized_status: int = 401,
        auth: AuthHook | None = None,
        demo_workflows: bool = True,
        demo_agents: bool = True,
        seed: int | None = 0,
        page_size: int = 100,
        long_poll_timeout: float = 30.0,
        sse_heartbeat: float | None = 15.0,
        sse_keepalive: float = 30.0,
        sse_batch: int = 100,
        sse_recycle: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        compress: bool | Literal["gzip", "deflate"] = False,
        compress_sse: bool = False,
        line: Literal["1.0", "2"] = "1.0",
    ) -> None:
        if line not in LINES:
            raise ValueError(f"line must be one of {', '.join(map(repr, LINES))}, not {line!r}")
        if compress not in (True, False, "gzip", "deflate"):
            raise ValueError(f"compress must be True, False, 'gzip' or 'deflate', not {compress!r}")
        if compress_sse and not compress:
            raise ValueError("compress_sse=True needs compress=True (or 'gzip'/'deflate')")
        if auth is None and token is not None:
            auth = bearer_auth(token, status=unauthorized_status)
        self.token = token
        self.host = host
        self.line = line
        """The Flue line served: ``"1.0"`` (1.0.0-beta.9) or ``"2"`` (2.x conversations)."""
        self.faults = FaultSet(seed)
        """The fault rules: ``server.faults.add(Fault..., times=..., mode=...)``."""
        config = ReadConfig(
            page_size=page_size,
            long_poll_timeout=long_poll_timeout,
            sse_heartbeat=sse_heartbeat,
            sse_keepalive=sse_keepalive,
            sse_batch=sse_batch,
            sse_recycle=sse_recycle,
        )
        self._app = FakeFlueApp(
            config=config,
            faults=self.faults,
            auth=auth,
            workflows=DEMO_WORKFLOWS if demo_workflows and line == "1.0" else {},
            compression=Compression("gzip" if compress is True else compress, compress_sse)
            if compress
            else None,
            line=line,
        )
        if demo_agents:
            demo = AgentDef(
                "assistant", demo_reply, AgentHandle(self, "assistant"), attachments=True
            )
            self._app.agents.add(demo)
            if line == "2":
                self._app.v2_route.mounts["/agents/assistant"] = "assistant"
        self._port = port
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the running server, e.g. ``http://127.0.0.1:43117``."""
        if self._runner is None:
            raise RuntimeError("the server is not running")
        return f"http://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (0 before start when asked for an ephemeral one)."""
        return self._port

    async def start(self) -> None:
        """Bind and start serving on the running loop."""
        if self._runner is not None:
            raise RuntimeError("the server is already running")
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._app.handle)
        runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        site = web.SockSite(runner, sock)
        await site.start()
        self._runner = runner

    async def stop(self) -> None:
        """Stop serving: wake long-polls, end SSE bodies, cancel workflow tasks, close."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self._app.stopping.set()
        for task in list(self._app.tasks):
            task.cancel()
        await asyncio.gather(*self._app.tasks, return_exceptions=True)
        await runner.cleanup()

    async def __aenter__(self) -> FlueTestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def running_in_thread(cls, **kwargs: Any) -> Iterator[FlueTestServer]:
        """Run a server (built with ``kwargs``) on its own loop in a daemon thread."""
        server = cls(**kwargs)
        loop = asyncio.new_event_loop()

        def main() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        thread = threading.Thread(target=main, name="flue-test-server", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(server.start(), loop).result(_CALL_TIMEOUT)
            yield server
        finally:
            try:
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(_CALL_TIMEOUT)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(_CALL_TIMEOUT)

    def _call(self, fn: Callable[..., _T], *args: Any) -> _T:
        loop = self._loop
        if loop is None or not loop.is_running() or threading.get_ident() == self._loop_thread:
            return fn(*args)
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(_CALL_TIMEOUT)

    # -- workflows -----------------------------------------------------------------------------

    def add_workflow(
        self, name: str, fn: WorkflowFn, *, validate: Callable[[Any], Any] | None = None
    ) -> None:
        """Register ``async def fn(run: RunContext, input)`` as workflow ``name``."""
        self._call(self._app.workflows.__setitem__, name, Workflow(fn, validate))

    def workflow(
        self, name: str, *, validate: Callable[[Any], Any] | None = None
    ) -> Callable[[WorkflowFn], WorkflowFn]:
        """Decorator form of :meth:`add_workflow`."""

        def register(fn: WorkflowFn) -> WorkflowFn:
            self.add_workflow(name, fn, validate=validate)
            return fn

        return register

    # -- agents --------------------------------------------------------------------------------

    def add_agent(
        self,
        name: str,
        reply: Reply | None = None,
        *,
        token_delay: float = 0.0,
        pause_after: int | None = None,
        attachments: bool = False,
        model: tuple[str, str] = ("fake", "echo"),
        mount: str | Sequence[str] = (),
    ) -> AgentHandle:
        """Register (or replace) agent ``name`` answering with ``reply`` (the demo echo when
        ``None``); see :mod:`flue.testing._agents` for replies, timing and pause hooks.

        On line ``"2"`` the agent's router is mounted at ``/agents/{name}`` and at each path
        of ``mount`` (e.g. ``"/api/chat"``): a conversation is ``{mount}/{id}``, the same
        conversations at every mount of the agent. Attachments are always served there."""
        handle = AgentHandle(self, name)
        mounts = [mount] if isinstance(mount, str) else list(mount)
        if mounts and self.line != "2":
            raise ValueError("mount= needs line='2' (Flue 1.0 serves agents at /agents/{name})")
        paths = [_mount_path(path) for path in [f"/agents/{name}", *mounts]]

        def register() -> None:
            agent = AgentDef(
                name,
                demo_reply if reply is None else reply,
                handle,
                token_delay=token_delay,
                pause_after=pause_after,
                attachments=attachments,
                model=model,
            )
            self._app.agents.add(agent)
            if self.line == "2":
                self._app.v2_route.mounts.update(dict.fromkeys(paths, name))

        self._call(register)
        return handle

    def add_mount(self, path: str, agent: str | None) -> None:
        """Line ``"2"``: mount agent ``agent``'s router (already added) at ``path`` too, or
        with ``None`` a router over a function that is no registered agent, as a misconfigured
        2.x app has: a delivery there answers ``500 internal_error`` with an error ref (see
        :attr:`error_log`), a read ``404 stream_not_found``."""
        if self.line != "2":
            raise ValueError("add_mount() needs line='2'")

        def register() -> None:
            if agent is not None:
                self._app.agents.agent(agent)  # KeyError when not added
            self._app.v2_route.mounts[_mount_path(path)] = agent

        self._call(register)

    @property
    def error_log(self) -> list[str]:
        """Line ``"2"``: one line per 500 answered, ``"<error ref> <cause>"`` (the ref is the
        one in the answer's ``error.ref`` and ``flue-error-ref``), as a 2.x server logs it."""
        return self._call(lambda: list(self._app.v2_route.error_log))

    def agent(self, name: str, **options: Any) -> Callable[[ReplyFn], ReplyFn]:
        """Decorator form of :meth:`add_agent`: ``@server.agent("bot")`` over a reply."""

        def register(fn: ReplyFn) -> ReplyFn:
            self.add_agent(name, fn, **options)
            return fn

        return register

    def agent_handle(self, name: str) -> AgentHandle:
        """The handle of a registered agent (e.g. the demo ``assistant``)."""
        return self._call(lambda: self._app.agents.agent(name).handle)

    # -- run control ---------------------------------------------------------------------------

    def create_run(
        self,
        workflow: str = "test",
        input: Any = MISSING,
        *,
        run_id: str | None = None,
        start_event: bool = True,
    ) -> RunHandle:
        """Create an active run (with its ``run_start`` event unless ``start_event=False``)."""
        if self.line == "2":
            raise RuntimeError("Flue 2.x has no workflow runs (this server serves line '2')")
        run_id = self._call(self._app.create_run, workflow, input, run_id, start_event)
        return RunHandle(self, run_id)

    def append(
        self, run_id: str | RunHandle, events: dict[str, Any] | list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Append one event or a list; ``v``, ``eventIndex``, ``timestamp``, ``runId`` are
        filled in where missing. Waiting long-polls and SSE streams wake at once."""
        batch = [events] if isinstance(events, dict) else list(events)
        return self._call(self._app.append, str(run_id), batch)

    def end_run(
        self,
        run_id: str | RunHandle,
        result: Any = None,
        *,
        error: Any = None,
        close: bool = True,
    ) -> dict[str, Any]:
        """End a run: ``run_end`` with ``result``, or errored when ``error`` is given (an
        exception, a message or a JSON value). ``close=False`` leaves the stream open (see
        :meth:`close_stream`), as a real server briefly does. Returns the ``run_end`` event."""
        return self._call(self._app.end_run, str(run_id), result, error, close)

    def close_stream(self, run_id: str | RunHandle) -> None:
        """Close a run's event stream (readers then see ``Stream-Closed``)."""
        self._call(lambda: self._app.run(str(run_id)).close())

    def delete_run(self, run_id: str | RunHandle) -> None:
        """Forget a run, as if it expired: reads then answer 404."""
        self._call(self._app.runs.pop, str(run_id))

    def run_record(self, run_id: str | RunHandle) -> dict[str, Any]:
        """The run's RunRecord, as ``?meta`` answers it."""
        return self._call(lambda: self._app.run(str(run_id)).record())

    def events(self, run_id: str | RunHandle) -> list[dict[str, Any]]:
        """Every event of the run, as stored."""
        return self._call(lambda: list(self._app.run(str(run_id)).events))

    @property
    def run_ids(self) -> list[str]:
        """Ids of every run, oldest first."""
        return self._call(lambda: list(self._app.runs))

    def wait_for_readers(
        self, run_id: str | RunHandle, count: int = 1, *, timeout: float = 10.0
    ) -> None:
        """Block until ``count`` reads of the run wait for new events (long-polls, including
        ``offset=now`` ones, and SSE streams at the tail). An event appended afterwards is
        certainly what wakes them: use it to order "the reader waits, then the writer appends"
        without sleeping. For a server in another thread (``running_in_thread``), called from
        any other thread; raises ``TimeoutError`` after ``timeout`` seconds."""
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("wait_for_readers() would block the server's own event loop")
        run = self._call(self._app.run, str(run_id))
        with run.waiting_changed:
            if not run.waiting_changed.wait_for(lambda: run.waiting >= count, timeout):
                raise TimeoutError(
                    f"{count} read(s) of run {str(run_id)!r} were not waiting within {timeout} s "
                    f"({run.waiting} were)"
                )

    # -- request log ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (a snapshot), oldest first."""
        with self._app.requests_lock:
            return list(self._app.requests)

    def clear_requests(self) -> None:
        """Forget the requests received so far."""
        with self._app.requests_lock:
            self._app.requests.clear()
