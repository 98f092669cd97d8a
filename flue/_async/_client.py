# The client: its settings and its public face. What it serves its resources (`runs`,
# `workflows`, `streams` in _resources.py, `agents` in _agents.py), streams and observers is one
# `ClientCore` (_core.py: the request path, one-shot retries, readers), which they reach through
# the `ClientHost` protocol. Its lifecycle (open, closed) and that of its streams is in
# docs/lifecycle.md.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from flue._async._callbacks import ASYNC_CALLBACKS, Params, check_params
from flue._async._core import ClientCore
from flue._async._resources import AsyncRuns, AsyncStreams, AsyncWorkflows
from flue._protocol.hooks import check_event_hooks
from flue._protocol.http import normalize_base_url
from flue._settings import RetryPolicy, Timeout
from flue._transports._aiohttp import AsyncTransport, Session, Verify
from flue.errors import InvalidArgumentError

if TYPE_CHECKING:  # imported on first use: a run record needs no event, agent or stream
    from flue._async._agents import AsyncAgents
    from flue._async._conversation import AsyncConversation

__all__ = ["AsyncFlueClient", "AsyncRuns", "AsyncStreams", "AsyncWorkflows"]

logger = logging.getLogger("flue")


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
        params = check_params(params, "params")
        request_hooks, response_hooks = check_event_hooks(event_hooks, allow_async=ASYNC_CALLBACKS)
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
        transport = AsyncTransport(
            timeout=self.timeout, session=session, verify=verify, proxy=proxy, trust_env=trust_env
        )
        if token is not None and urlsplit(self.base_url).scheme == "http":
            host = urlsplit(self.base_url).hostname or ""
            if host not in ("127.0.0.1", "localhost", "::1"):
                logger.warning(
                    "flue: sending a bearer token over plain http:// to %s; use https://",
                    host,
                )
        self._core = ClientCore(
            self,
            transport,
            token=token,
            headers=headers,
            params=params,
            request_hooks=request_hooks,
            response_hooks=response_hooks,
        )
        self.runs = AsyncRuns(self._core)
        self.workflows = AsyncWorkflows(self._core, self.runs)
        self.streams = AsyncStreams(self._core)
        self._agents: AsyncAgents | None = None

    @property
    def agents(self) -> AsyncAgents:
        """Agent conversations: `send()`, `wait()`, `prompt()`, `history()`, `observe()`,
        `abort()` (loaded on first use: a program that never talks to agents does not import
        their models)."""
        if self._agents is None:
            from flue._async._agents import AsyncAgents

            self._agents = AsyncAgents(self._core)
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

        self._core.check_open()
        return AsyncConversation(self._core, resolve_conversation_url(self.base_url, url))

    def __repr__(self) -> str:
        auth = ", token=<set>" if self._token is not None else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{auth})"

    @property
    def closed(self) -> bool:
        """True once `close()` was called; the client cannot be used afterwards."""
        return self._core.closed

    async def close(self) -> None:
        """Release connections (a session passed in by the caller stays open) and stop this
        client's streams. Calling it again does nothing; any other use afterwards raises."""
        await self._core.close()

    async def __aenter__(self) -> AsyncFlueClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
