# The client: configuration, and the one path every request takes (`_send`: headers, query
# parameters, event hooks) with the retries of one-shot calls (`_call_json`). The resources
# (`runs`, `workflows`, `streams` in _resources.py, `agents` in _agents.py) build requests and
# readers and hand them here. Its lifecycle (open, closed) and that of its streams is in
# docs/lifecycle.md.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import logging
import os
import random
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote, urlsplit

from flue._async._host import ASYNC_CALLBACKS, Params, check_params
from flue._async._resources import AsyncRuns, AsyncStreams, AsyncWorkflows
from flue._protocol.decide import Raise, decide, mark_first_contact
from flue._protocol.encoding import ACCEPT_ENCODING
from flue._protocol.hooks import (
    check_event_hooks,
    request_info,
    response_info,
)
from flue._protocol.http import (
    HttpRequest,
    normalize_base_url,
    with_params,
)
from flue._protocol.lines import ServerLines
from flue._protocol.params import (
    LiveArg,
    check_offset,
    check_tail,
    merge_params,
    normalize_live,
    query_pairs,
)
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
from flue._transports._reasons import unreachable
from flue.errors import (
    FlueError,
    InvalidArgumentError,
    ProtocolError,
    Secrets,
    TransportError,
    credential_values,
    redact,
)

if TYPE_CHECKING:  # imported on first use: a run record needs no event, agent or stream
    from flue._async._agents import AsyncAgents
    from flue._async._conversation import AsyncConversation
    from flue._async._stream import AsyncBatchStream
    from flue._protocol.batches import Decode
    from flue._protocol.reader import ReadMachine

__all__ = ["AsyncFlueClient", "AsyncRuns", "AsyncStreams", "AsyncWorkflows"]

logger = logging.getLogger("flue")

T = TypeVar("T")

_MAX_JSON_BODY = 64 * 1024 * 1024


class AsyncFlueClient:
    """Client for a Flue application's API: workflow runs and agent conversations.

    Use it as a context manager (or call `close()`) to release its connections. Runs are read
    through `runs` (run records and events) and started through `workflows`; `agents` talks to
    the application's agents (conversations); `streams` reads any other Durable Streams stream.

    The constructor's arguments are described under ``__init__`` below.
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
        """Create a client (no connection is opened before the first request).

        Args:
            base_url: the application's URL, path included (default: ``FLUE_BASE_URL``).
            token: bearer token (default: ``FLUE_TOKEN``); never logged or shown in
                ``repr``.
            headers: extra headers: a dict, or a callable returning one (an ``async`` one
                too, in the asyncio client), called for every request and reconnect (use it
                to refresh credentials).
            params: extra query parameters for every request: a dict, or a callable
                returning one (an ``async`` one too, in the asyncio client) called for every
                request, retry and reconnect. Values are str, int, float, bool
                (``true``/``false``), None (left out) or a list of those (the name
                repeated); they are sent after the protocol's own parameters, whose names
                (offset, live, cursor, tail, meta, wait) are refused.
            event_hooks: ``{"request": [...], "response": [...]}``: functions (``async``
                ones too, in the asyncio client) called with a `RequestInfo` before every
                HTTP request the client sends (reads, retries, reconnects, one-shot calls)
                and with a `ResponseInfo` once its response head arrived; credentials are
                redacted. A hook that raises stops the call with a `FlueError` (its
                ``__cause__`` is the hook's exception), which is never retried.
            timeout: a `Timeout` (connect, read, long_poll, stall, invoke_wait, total), or
                one number of seconds for the connect and read timeouts. None or
                ``float("inf")``: no limit; ``nan`` is refused.
            retry: a `RetryPolicy` for transient failures (429, 5xx, dropped or refused
                connections): backoff with jitter, at most 10 attempts in a row by default.
                A refused connection or unknown host name at an address that has never
                answered this client fails within about two seconds (``fail_fast``).
            session: an existing HTTP session to send requests with
                (`aiohttp.ClientSession` for the asyncio client, `requests.Session` for the
                blocking one); never closed by the client.
            verify: TLS verification: True (default, the system's trusted CAs), False (no
                verification), the path of a CA bundle file or directory, or (asyncio client
                only) an `ssl.SSLContext`. With True and `trust_env`,
                ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names the CA bundle when set.
            catchup: how `runs.events()` reads: ``"sse"`` (default), every page over one
                ``live=sse`` connection that is closed once up to date (2-3x faster on long
                runs: no round trip per 100 events); or ``"get"``, one GET per page of at
                most 100.
            max_event_size: the most bytes buffered for one SSE event (a catch-up or
                long-poll body may be 8 times that), counted after decompression; a server
                sending more, such as a line that never ends or a decompression bomb, gets a
                `ProtocolError` instead of exhausting memory.
            proxy: an HTTP proxy for every request, ``"http://[user:password@]host:port"``
                (HTTPS goes through it with ``CONNECT``); not with `session`, which keeps
                its own proxy settings.
            trust_env: read proxies from ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and
                ``NO_PROXY`` (lower or upper case; read once, here) and the CA bundle from
                ``REQUESTS_CA_BUNDLE`` (default True). ``.netrc`` is never read.

        Raises:
            InvalidArgumentError: an argument of the wrong type or out of range (such as an
                empty token, a ``nan`` timeout or an unknown ``catchup``).
        """
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
        self._params = check_params(params, "params")
        self._request_hooks, self._response_hooks = check_event_hooks(
            event_hooks, allow_async=ASYNC_CALLBACKS
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
        # retry jitter for every stream of the client (one generator: 2.5 KB less per stream)
        self._rng = random.Random()
        self.runs = AsyncRuns(self)
        self.workflows = AsyncWorkflows(self, self.runs)
        self.streams = AsyncStreams(self)
        self._agents: AsyncAgents | None = None
        self._lines = ServerLines()  # which Flue line each server speaks, once it said so
        self._answered: set[tuple[str, str, int | None]] = set()  # origins that ever answered

    @property
    def agents(self) -> AsyncAgents:
        """Agent conversations: `send()`, `wait()`, `prompt()`, `history()`, `observe()`,
        `abort()` (loaded on first use: a program that never talks to agents does not import
        their models)."""
        if self._agents is None:
            from flue._async._agents import AsyncAgents

            self._agents = AsyncAgents(self)
        return self._agents

    def conversation(self, url: str) -> AsyncConversation:
        """One agent conversation, addressed by its URL: an absolute ``http(s)`` URL, or a
        path resolved under `base_url` (``"agents/assistant/conv-1"``).

        On Flue 2.x an application mounts an agent's router wherever it likes: the URL is that
        mount plus the conversation id. On Flue 1.0 (beta.9) it is ``agents/{name}/{id}``
        (what `agents` uses). The same calls work against both; which line the server speaks
        is learnt from its answers.

        Raises:
            InvalidArgumentError: not a URL or path, or a URL with a query or fragment.
        """
        from flue._async._conversation import AsyncConversation
        from flue._protocol.agents import resolve_conversation_url

        self._check_open()
        return AsyncConversation(self, resolve_conversation_url(self.base_url, url))

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
        from flue._async._stream import AsyncBatchStream

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
        origin = _origin(request.url)
        try:
            response = await self._transport.open(request, headers, wait=wait, token=token)
        except TransportError as exc:
            why = unreachable(exc) if origin not in self._answered else None
            if why is not None:  # a wrong URL, or no server: fail fast (docs/retries.md)
                mark_first_contact(exc, why)
            raise
        self._answered.add(origin)
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
        from flue._protocol.reader import ReadMachine

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
            rng=self._rng,
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


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # refused by the transport anyway
        port = None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _decode_json(body: bytes, url: str, secrets: frozenset[str]) -> Any:
    try:
        return load_json(body)  # nested too deeply is a ValueError too
    except (ValueError, UnicodeDecodeError) as exc:
        error = ProtocolError(
            f"expected a JSON body from {url.split('?', 1)[0]}, got: {snippet(body)!r}"
        )
        raise redact(error, secrets) from exc
