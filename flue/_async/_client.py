# The client: configuration, unary calls (run record, workflow invocation) with
# retries, and the `runs`, `workflows` and `streams` resources. Its lifecycle (open, closed)
# and that of its streams is in docs/lifecycle.md.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import inspect
import logging
import os
import random
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast, overload
from urllib.parse import quote, urlsplit

from flue._async._stream import AsyncBatchStream, AsyncRunStream
from flue._models.convert import event_from_dict, events_from_dicts
from flue._models.runs import (
    InvokeResult,
    RunRecord,
    invoke_result_from_dict,
    run_record_from_dict,
)
from flue._protocol.batches import Decode
from flue._protocol.decide import Raise, decide
from flue._protocol.encoding import ACCEPT_ENCODING
from flue._protocol.hooks import (
    check_event_hooks,
    is_async_callable,
    request_info,
    response_info,
)
from flue._protocol.http import (
    HttpRequest,
    build_invoke_request,
    build_run_record_request,
    join_url,
    normalize_base_url,
    run_url,
    with_params,
)
from flue._protocol.params import (
    OFFSET_START,
    LiveArg,
    LiveMode,
    check_offset,
    check_run_id,
    check_tail,
    merge_params,
    normalize_live,
    query_pairs,
)
from flue._protocol.reader import ReadMachine
from flue._protocol.responses import api_error, load_json, snippet
from flue._protocol.retry import RetryPolicy, RetryState
from flue._transports._aiohttp import (
    AsyncCancelToken,
    AsyncResponse,
    AsyncTransport,
    Session,
    Verify,
    call_user,
    resolve_headers,
)
from flue._transports._common import Timeout
from flue.errors import (
    FlueError,
    FlueExecutionError,
    InvalidArgumentError,
    ProtocolError,
    Secrets,
    TransportError,
    credential_values,
    redact,
)

if TYPE_CHECKING:  # imported on first use: a run record needs neither events nor agents
    from flue._async._agents import AsyncAgents
    from flue._models.conversation import WorkflowRunResult
    from flue._models.events import Event

__all__ = ["AsyncFlueClient", "AsyncRuns", "AsyncStreams", "AsyncWorkflows"]

logger = logging.getLogger("flue")

T = TypeVar("T")

_MAX_JSON_BODY = 64 * 1024 * 1024

Params = Mapping[str, Any] | Callable[[], Any]
"""The ``params`` option: a dict of query parameters, or a callable returning one."""

# True in the asyncio client, whose callbacks may be `async`; False in the generated twin
_ASYNC_CALLBACKS = inspect.iscoroutinefunction(call_user)


def _identity(value: Any) -> Any:
    return value


class AsyncFlueClient:
    """Client for a Flue application's API: workflow runs and agent conversations.

    Use it as a context manager (or call `close()`) to release its connections. Runs are read
    through `runs` (run records and events) and started through `workflows`; `agents` talks to
    the application's agents (conversations); `streams` reads any other Durable Streams stream.

    Args:
        base_url: the application's URL, path included (default: ``FLUE_BASE_URL``).
        token: bearer token (default: ``FLUE_TOKEN``); never logged or shown in ``repr``.
        headers: extra headers: a dict, or a callable returning one (an ``async`` one too, in
            the asyncio client), called for every request and reconnect (use it to refresh
            credentials).
        params: extra query parameters for every request: a dict, or a callable returning one
            (an ``async`` one too, in the asyncio client) called for every request, retry and
            reconnect. Values are str, int, float, bool (``true``/``false``), None (left out)
            or a list of those (the name repeated); they are sent after the protocol's own
            parameters, whose names (offset, live, cursor, tail, meta, wait) are refused.
        event_hooks: ``{"request": [...], "response": [...]}``: functions (``async`` ones too,
            in the asyncio client) called with a `RequestInfo` before every HTTP request the
            client sends (reads, retries, reconnects, one-shot calls) and with a
            `ResponseInfo` once its response head arrived; credentials are redacted. A hook
            that raises stops the call with a `FlueError` (its ``__cause__`` is the hook's
            exception), which is never retried.
        timeout: a `Timeout`, or one number for connect and read timeouts.
        retry: a `RetryPolicy` for transient failures (429, 5xx, dropped connections).
        session: an existing HTTP session to send requests with (`aiohttp.ClientSession` for
            the asyncio client, `requests.Session` for the blocking one); never closed by the
            client.
        verify: TLS verification: True (default, the system's trusted CAs), False (no
            verification), the path of a CA bundle file or directory, or (asyncio client
            only) an `ssl.SSLContext`. With True and `trust_env`, ``REQUESTS_CA_BUNDLE`` (or
            ``CURL_CA_BUNDLE``) names the CA bundle when set.
        proxy: an HTTP proxy for every request, ``"http://[user:password@]host:port"``
            (HTTPS goes through it with ``CONNECT``); not with `session`, which keeps its
            own proxy settings.
        trust_env: read proxies from ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
            ``NO_PROXY`` (lower or upper case; read once, here) and the CA bundle from
            ``REQUESTS_CA_BUNDLE`` (default True). ``.netrc`` is never read.
        catchup: how `runs.events()` reads: ``"sse"`` (default), every page over one
            ``live=sse`` connection that is closed once up to date (2-3x faster on long runs:
            no round trip per 100 events); or ``"get"``, one GET per page of at most 100.
        max_event_size: the most bytes buffered for one SSE event (a catch-up or long-poll
            body may be 8 times that), counted after decompression; a server sending more,
            such as a line that never ends or a decompression bomb, gets a `ProtocolError`
            instead of exhausting memory.
    """

    base_url: str
    """The normalized base URL (no trailing ``/``)."""
    timeout: Timeout
    """The timeouts in use."""
    retry: RetryPolicy
    """The retry policy in use."""
    catchup: Literal["get", "sse"]
    """How `runs.events()` reads: ``"sse"`` or ``"get"``."""
    max_event_size: int
    """The most bytes buffered for one SSE event."""
    runs: AsyncRuns
    """Run records and events: `get()`, `events()`, `stream()`."""
    workflows: AsyncWorkflows
    """Starting runs: `invoke()`, and `run()` to follow one to its result."""
    streams: AsyncStreams
    """A generic reader for any Durable Streams stream: `read()`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | Callable[[], Any] | None = None,
        params: Params | None = None,
        event_hooks: Mapping[str, Sequence[Callable[..., Any]]] | None = None,
        timeout: Timeout | float | None = None,
        retry: RetryPolicy | None = None,
        session: Session | None = None,
        verify: Verify = True,
        catchup: Literal["get", "sse"] = "sse",
        max_event_size: int = 64 * 1024 * 1024,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        if base_url is None:
            base_url = os.environ.get("FLUE_BASE_URL")
        self.base_url = normalize_base_url(base_url)
        if token is None:
            token = os.environ.get("FLUE_TOKEN") or None
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise InvalidArgumentError("token must be a non-empty string (or None)")
        self._token = token
        if headers is not None and not callable(headers) and not isinstance(headers, Mapping):
            raise InvalidArgumentError("headers must be a dict or a callable returning a dict")
        self._headers = headers
        self._params = _check_params(params, "params")
        self._request_hooks, self._response_hooks = check_event_hooks(
            event_hooks, allow_async=_ASYNC_CALLBACKS
        )
        self.timeout = Timeout.coerce(timeout)
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidArgumentError("retry must be a flue.RetryPolicy")
        self.retry = retry or RetryPolicy()
        if catchup not in ("get", "sse"):
            raise InvalidArgumentError(f"catchup must be 'get' or 'sse', got {catchup!r}")
        self.catchup = catchup
        if isinstance(max_event_size, bool) or not isinstance(max_event_size, int):
            raise InvalidArgumentError("max_event_size must be an int (bytes)")
        if max_event_size < 1:
            raise InvalidArgumentError(f"max_event_size must be >= 1, got {max_event_size}")
        self.max_event_size = max_event_size
        self._transport = AsyncTransport(
            timeout=self.timeout,
            session=session,
            verify=verify,
            proxy=proxy,
            trust_env=trust_env,
        )
        if token is not None and urlsplit(self.base_url).scheme == "http":
            host = urlsplit(self.base_url).hostname or ""
            if host not in ("127.0.0.1", "localhost", "::1"):
                logger.warning(
                    "flue: sending a bearer token over plain http:// to %s; use https://",
                    host,
                )
        self._secrets = Secrets(token)  # redacted from server-derived error text and logs
        self._closed = False
        self._streams: weakref.WeakSet[AsyncBatchStream] = weakref.WeakSet()
        self._calls: set[AsyncCancelToken] = set()  # tokens of the one-shot calls under way
        self._host = _Host(self)
        self.runs = AsyncRuns(self)
        self.workflows = AsyncWorkflows(self)
        self.streams = AsyncStreams(self)
        self._agents: AsyncAgents | None = None

    @property
    def agents(self) -> AsyncAgents:
        """Agent conversations: `send()`, `wait()`, `prompt()`, `history()`, `observe()`,
        `abort()` (loaded on first use: a program that never talks to agents does not import
        their models)."""
        if self._agents is None:
            from flue._async._agents import AsyncAgents

            self._agents = AsyncAgents(self)
        return self._agents

    def __repr__(self) -> str:
        auth = ", token=<set>" if self._token is not None else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{auth})"

    @property
    def closed(self) -> bool:
        """True once `close()` was called; the client cannot be used afterwards."""
        return self._closed

    async def close(self) -> None:
        """Release connections (a session passed in by the caller stays open) and stop this
        client's streams. Calling it again does nothing; any other use afterwards raises."""
        self._closed = True
        for stream in list(self._streams):
            stream.cancel()
        for token in list(self._calls):
            token.set()
        await self._transport.close()

    def _check_open(self) -> None:
        if self._closed:
            raise _client_closed()

    def _batch_stream(
        self, reader: ReadMachine, *, params: Params | None = None
    ) -> AsyncBatchStream:
        self._check_open()
        host = self._host if params is None else _Host(self, params=params)
        stream = AsyncBatchStream(host, reader)
        self._streams.add(stream)
        return stream

    async def __aenter__(self) -> AsyncFlueClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _headers_for(self, request: HttpRequest) -> dict[str, str]:
        headers = dict(request.headers)
        # the protocol's own headers (Accept, Content-Type) win over the caller's: an SSE read
        # must ask for text/event-stream whatever the caller's defaults say
        protocol = {name.lower() for name in headers}
        for name, value in (await resolve_headers(self._headers)).items():
            if name.lower() not in protocol:
                headers[name] = value
        # what both flavours can decode (a caller's own Accept-Encoding header wins)
        if not any(name.lower() == "accept-encoding" for name in headers):
            headers["Accept-Encoding"] = ACCEPT_ENCODING
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        self._secrets.add_headers(headers)
        return headers

    async def _call_json(
        self,
        request: HttpRequest,
        *,
        run_id: str | None = None,
        workflow: str | None = None,
        idempotent: bool = True,
        wait: bool = False,
    ) -> Any:
        """Send a one-shot request with retries and return its decoded JSON body."""
        self._check_open()
        state = RetryState(self.retry)
        token = self._transport.cancel_token()  # set by close(), from any task or thread
        self._calls.add(token)
        try:
            while True:
                body, error = await self._attempt(
                    request, token, wait=wait, run_id=run_id, workflow=workflow
                )
                if error is None:
                    return _decode_json(body, request.url, self._secrets())
                if self._closed:
                    raise _client_closed() from error
                decision = decide(state, error, idempotent=idempotent)
                if isinstance(decision, Raise):
                    raise decision.error
                logger.debug(
                    "flue: retry %d in %.2fs after: %s", decision.attempt, decision.seconds, error
                )
                await self._transport.sleep(decision.seconds, token)
                self._check_open()
        finally:
            self._calls.discard(token)

    async def _attempt(
        self,
        request: HttpRequest,
        token: AsyncCancelToken,
        *,
        wait: bool,
        run_id: str | None = None,
        workflow: str | None = None,
    ) -> tuple[bytes, FlueError | None]:
        """One attempt of a one-shot call: its body, or the error that ended it."""
        try:
            response = await self._send(request, token, wait=wait)
            try:
                body = await response.read_all(_MAX_JSON_BODY)
            finally:
                await response.close()
        except TransportError as exc:
            return b"", exc
        status = response.status
        if status < 300:
            return body, None
        lowered = {k.lower(): v for k, v in response.headers.items()}
        error = api_error(
            status,
            lowered,
            body,
            url=request.url,
            now=time.time(),
            run_id=run_id,
            workflow=workflow,
        )
        return b"", redact(error, self._secrets())

    async def _send(
        self,
        request: HttpRequest,
        token: AsyncCancelToken,
        *,
        wait: bool = False,
        params: Params | None = None,
    ) -> AsyncResponse:
        """Send one HTTP request (every request of the client goes through here): add the
        headers and query parameters, run the event hooks, return once the head arrived.
        ``params``: a call's own query parameters, merged over the client's."""
        self._check_open()
        headers = await self._headers_for(request)
        if self._params is not None or params is not None:
            pairs = merge_params(
                await self._resolve_params(self._params, "params"),
                await self._resolve_params(params, "params of this call"),
            )
            request = with_params(request, pairs)
        info = None
        if self._request_hooks or self._response_hooks:
            info = request_info(
                request.method, request.url, headers, request.kind.value, self._secrets()
            )
            for hook in self._request_hooks:
                await self._run_hook(hook, info, "request")
        logger.debug("flue: %s %s", request.method, request.url)
        started = time.monotonic()
        response = await self._transport.open(request, headers, wait=wait, token=token)
        if info is not None and self._response_hooks:
            elapsed = time.monotonic() - started
            answer = response_info(
                response.status, response.headers, elapsed, info, self._secrets()
            )
            try:
                for hook in self._response_hooks:
                    await self._run_hook(hook, answer, "response")
            except BaseException:
                await response.close()
                raise
        return response

    async def _resolve_params(
        self, params: Params | None, source: str
    ) -> dict[str, list[str]] | None:
        if params is None:
            return None
        if callable(params):
            params = await call_user(params)
        pairs = query_pairs(params, source=source)
        secrets = self._secrets()
        for name, values in pairs.items():
            for value in values:
                if credential_values({name: value}) or any(s in value for s in secrets):
                    # a credential in the query (a credential-like name, or the token):
                    # redacted from hooks, errors and logs, also as sent (percent-encoded)
                    self._secrets.add(value)
                    self._secrets.add(quote(value, safe=""))
        return pairs

    async def _run_hook(self, hook: Callable[..., Any], info: Any, event: str) -> None:
        try:
            await call_user(hook, info)
        except Exception as exc:
            name = getattr(hook, "__qualname__", None) or repr(hook)
            raise FlueError(
                f"the {event} event hook {name} raised {type(exc).__name__}: {exc}; the call "
                f"was stopped (not retried): fix the hook, or let it catch its own errors"
            ) from exc

    def _reader(
        self,
        url: str,
        *,
        offset: str,
        tail: int | None,
        live: LiveArg,
        decode: Decode = "json",
        objects_only: bool = True,
        run_id: str | None = None,
    ) -> ReadMachine:
        return ReadMachine(
            url,
            offset=check_offset(offset),
            tail=check_tail(tail),
            live=normalize_live(live),
            decode=decode,
            objects_only=objects_only,
            run_id=run_id,
            retry=self.retry,
            max_event_size=self.max_event_size,
            max_body_size=8 * self.max_event_size,
            stall=self.timeout.stall,
            secrets=self._secrets,
            rng=random.Random(),
        )


def _client_closed() -> FlueError:
    return FlueError("this client is closed; create a new one")


class _Host:
    """What a client's streams depend on (`flue._async._stream.StreamHost`)."""

    def __init__(self, client: AsyncFlueClient, *, params: Params | None = None) -> None:
        self._client = client
        self._params = params  # the stream's own query parameters (streams.read(params=))

    @property
    def closed(self) -> bool:
        return self._client._closed

    def cancel_token(self) -> AsyncCancelToken:
        return self._client._transport.cancel_token()

    async def send(self, request: HttpRequest, token: AsyncCancelToken) -> AsyncResponse:
        return await self._client._send(request, token, params=self._params)

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        await self._client._transport.sleep(seconds, token)


def _check_params(params: object, source: str) -> Params | None:
    """Validate a ``params`` option now when it is a dict (a callable is checked per call)."""
    if params is not None and not callable(params):
        query_pairs(params, source=source)
    elif not _ASYNC_CALLBACKS and is_async_callable(params):
        raise InvalidArgumentError(
            f"{source} is an async function; the blocking FlueClient calls plain functions "
            "only (use AsyncFlueClient, or a plain function)"
        )
    return cast("Params | None", params)


def _decode_json(body: bytes, url: str, secrets: frozenset[str]) -> Any:
    try:
        return load_json(body)  # nested too deeply is a ValueError too
    except (ValueError, UnicodeDecodeError) as exc:
        error = ProtocolError(
            f"expected a JSON body from {url.split('?', 1)[0]}, got: {snippet(body)!r}"
        )
        raise redact(error, secrets) from exc


class AsyncRuns:
    """The `runs` of a client (``client.runs``): read workflow runs.

    Not created directly: use ``client.runs``.
    """

    def __init__(self, client: AsyncFlueClient) -> None:
        self._client = client

    async def get(self, run_id: str) -> RunRecord:
        """The run record of a run: status, timing, result or error.

        Args:
            run_id: the run's id (as returned by `invoke()`).

        Returns:
            The run record, as it is when the server answers.

        Raises:
            RunNotFoundError: no such run (or a missing or wrong token: Flue answers both alike).
        """
        run_id = check_run_id(run_id)
        client = self._client
        doc = await client._call_json(
            build_run_record_request(client.base_url, run_id), run_id=run_id
        )
        if not isinstance(doc, dict):
            raise ProtocolError(f"run record of {run_id!r} is not a JSON object")
        return run_record_from_dict(doc)

    @overload
    async def events(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        as_dict: Literal[False] = ...,
    ) -> list[Event]: ...

    @overload
    async def events(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        as_dict: Literal[True],
    ) -> list[dict[str, Any]]: ...

    @overload
    async def events(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        as_dict: bool,
    ) -> list[Event] | list[dict[str, Any]]: ...

    async def events(
        self,
        run_id: str,
        *,
        offset: str = OFFSET_START,
        tail: int | None = None,
        as_dict: bool = False,
    ) -> list[Event] | list[dict[str, Any]]:
        """Every event of a run from `offset` until up to date (all pages), in order.

        It does not wait for new events: use `stream()` to follow a run live.

        Args:
            run_id: the run's id.
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default) for the first
                event, ``"now"`` for nothing already there, or a checkpoint saved from
                `RunStream.offset`.
            tail: keep only the last `tail` events (with ``offset="-1"`` only).
            as_dict: return each event as its decoded JSON object instead of a model
                (fastest).

        Returns:
            The events, as typed models (`flue.models.Event`, an `UnknownEvent` for a type
            this version does not know) or, with ``as_dict=True``, as dicts.
        """
        run_id = check_run_id(run_id)
        client = self._client
        sse = client.catchup == "sse"
        reader = client._reader(
            run_url(client.base_url, run_id),
            offset=offset,
            tail=tail,
            live="sse" if sse else False,
            run_id=run_id,
        )
        out: list[Any] = []
        async with client._batch_stream(reader) as batches:
            async for batch in batches:
                # models are built batch by batch, while the server keeps sending
                out.extend(batch.items if as_dict else events_from_dicts(batch.items))
                if sse and batch.up_to_date:
                    break  # caught up; a closed stream ends by itself
        return out

    @overload
    def stream(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: Literal[False] = ...,
    ) -> AsyncRunStream[Event]: ...

    @overload
    def stream(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: Literal[True],
    ) -> AsyncRunStream[dict[str, Any]]: ...

    @overload
    def stream(
        self,
        run_id: str,
        *,
        offset: str = ...,
        tail: int | None = ...,
        live: bool | Literal["long-poll", "sse"] | LiveMode = ...,
        as_dict: bool,
    ) -> AsyncRunStream[Event] | AsyncRunStream[dict[str, Any]]: ...

    def stream(
        self,
        run_id: str,
        *,
        offset: str = OFFSET_START,
        tail: int | None = None,
        live: bool | Literal["long-poll", "sse"] | LiveMode = True,
        as_dict: bool = False,
    ) -> AsyncRunStream[Event] | AsyncRunStream[dict[str, Any]]:
        """The events of a run: catch-up from `offset`, then live until the run ends.

        No request is made until you iterate. Save the stream's `offset` after handling an
        event to resume from there later without a gap.

        Args:
            run_id: the run's id.
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default) for the first
                event, ``"now"`` for new events only, or a checkpoint saved from
                `RunStream.offset`.
            tail: start with only the last `tail` events (with ``offset="-1"`` only).
            live: how to wait for new events once up to date: True or ``"long-poll"``,
                ``"sse"`` (one long-lived connection), or False to stop when up to date.
            as_dict: yield each event as its decoded JSON object instead of a model.

        Returns:
            A stream to iterate (in a ``with``/``async with`` block) for events, with its
            `offset` checkpoint; it ends when the run has ended and every event was read.
        """
        run_id = check_run_id(run_id)
        client = self._client
        reader = client._reader(
            run_url(client.base_url, run_id), offset=offset, tail=tail, live=live, run_id=run_id
        )
        batches = client._batch_stream(reader)
        if as_dict:
            return AsyncRunStream(batches, _identity)
        return AsyncRunStream(batches, event_from_dict)


class AsyncWorkflows:
    """The `workflows` of a client (``client.workflows``): start runs.

    Not created directly: use ``client.workflows``.
    """

    def __init__(self, client: AsyncFlueClient) -> None:
        self._client = client

    async def invoke(self, name: str, input: Any = None, *, wait: bool = False) -> InvokeResult:
        """Start a run of a workflow, and optionally wait for its result.

        Invocations are not idempotent, so only failures that certainly did not reach the
        server (connection refused, 429) are retried.

        Args:
            name: the workflow's name.
            input: the run's input, any JSON value; None (the default) sends no body.
            wait: wait until the run has finished and return its result too.

        Returns:
            The new run's id (``run_id``) and, with ``wait=True``, its ``result``.

        Raises:
            WorkflowNotFoundError: the application has no workflow of that name.
        """
        client = self._client
        request = build_invoke_request(client.base_url, name, input, wait=wait)
        doc = await client._call_json(request, workflow=name, idempotent=False, wait=wait)
        if not isinstance(doc, dict) or not isinstance(doc.get("runId"), str):
            what = (
                "an object without" if isinstance(doc, dict) else f"a JSON {type(doc).__name__}, no"
            )
            raise ProtocolError(f"invoking workflow {name!r} answered with {what} runId")
        return invoke_result_from_dict(doc)

    async def run(
        self, name: str, input: Any = None, *, on_event: Callable[[Event], Any] | None = None
    ) -> WorkflowRunResult:
        """Start a run of a workflow and follow its events until it ends.

        Args:
            name: the workflow's name.
            input: the run's input, any JSON value; None (the default) sends no body.
            on_event: called with every event of the run, in order (in the asyncio client a
                plain or an ``async`` function).

        Returns:
            The run's id and its result.

        Raises:
            FlueExecutionError: the run ended in error (``failure="failed"``, the run's
                ``error``), or its stream ended without ``run_end`` and its record is not
                finished (``failure="terminal_event_missing"``).
            WorkflowNotFoundError: the application has no workflow of that name.
        """
        from flue._models.events import RunEndEvent

        client = self._client
        run_id = (await self.invoke(name, input)).run_id
        async with client.runs.stream(run_id) as events:
            async for event in events:
                if on_event is not None:
                    await call_user(on_event, event)
                if isinstance(event, RunEndEvent) and event.run_id in (None, run_id):
                    return _run_outcome(run_id, event.is_error, event.result, event.raw, client)
        record = await client.runs.get(run_id)
        if record.status in ("completed", "errored"):
            errored = record.status == "errored"
            return _run_outcome(run_id, errored, record.result, record.raw, client)
        raise FlueExecutionError(
            target="workflow_run", target_id=run_id, failure="terminal_event_missing"
        )


def _run_outcome(
    run_id: str, is_error: bool | None, result: Any, raw: dict[str, Any], client: AsyncFlueClient
) -> WorkflowRunResult:
    if is_error:
        error = FlueExecutionError(
            target="workflow_run", target_id=run_id, failure="failed", error=raw.get("error")
        )
        raise redact(error, client._secrets())
    from flue._models.conversation import WorkflowRunResult

    return WorkflowRunResult(run_id=run_id, result=result)


class AsyncStreams:
    """The `streams` of a client (``client.streams``): a generic Durable Streams reader, for
    any stream URL.

    Not created directly: use ``client.streams``.
    """

    def __init__(self, client: AsyncFlueClient) -> None:
        self._client = client

    def read(
        self,
        url_or_path: str,
        *,
        offset: str = OFFSET_START,
        live: bool | Literal["long-poll", "sse"] | LiveMode = False,
        tail: int | None = None,
        decode: Literal["json", "bytes"] = "json",
        params: Params | None = None,
    ) -> AsyncBatchStream:
        """The batches of any Durable Streams stream, from a checkpoint.

        No request is made until you iterate.

        Args:
            url_or_path: the stream's URL, absolute or relative to the client's base URL.
            offset: where to start: ``"-1"`` (`OFFSET_START`, the default), ``"now"``, or a
                checkpoint saved from `BatchStream.offset`.
            live: how to wait once up to date: False (the default: stop when up to date),
                True or ``"long-poll"``, or ``"sse"``.
            tail: start with only the last `tail` items (with ``offset="-1"`` only).
            decode: ``"json"`` for the decoded JSON values of a JSON stream, ``"bytes"`` for
                the raw bytes of any stream (base64 SSE data is decoded).
            params: query parameters for this stream's requests: a dict, or a callable
                returning one (``async`` too, in the asyncio client) called for every request
                and reconnect. They are merged over the client's ``params`` like httpx does:
                a name set here replaces the client's value, and None removes it.

        Returns:
            A stream to iterate (in a ``with``/``async with`` block) for `Batch` objects:
            items, the offset after them, and whether the stream is up to date or closed.
        """
        if decode not in ("json", "bytes"):
            raise InvalidArgumentError(f"decode must be 'json' or 'bytes', got {decode!r}")
        if not isinstance(url_or_path, str) or not url_or_path:
            raise InvalidArgumentError("url_or_path must be a non-empty string")
        client = self._client
        url = join_url(client.base_url, url_or_path)
        reader = client._reader(
            url, offset=offset, tail=tail, live=live, decode=decode, objects_only=False
        )
        return client._batch_stream(reader, params=_check_params(params, "params of this call"))
