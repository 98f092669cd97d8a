# The client: configuration, unary calls (run record, workflow invocation) with
# retries, and the `runs`, `workflows` and `streams` resources. Its lifecycle (open, closed)
# and that of its streams is in docs/lifecycle.md.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import logging
import os
import random
import time
import weakref
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, TypeVar, overload
from urllib.parse import urlsplit

from flue._async._stream import AsyncBatchStream, AsyncRunStream
from flue._protocol.batches import Decode
from flue._protocol.decide import Raise, decide
from flue._protocol.encoding import ACCEPT_ENCODING
from flue._protocol.http import (
    HttpRequest,
    build_invoke_request,
    build_run_record_request,
    join_url,
    normalize_base_url,
    run_url,
)
from flue._protocol.params import (
    OFFSET_START,
    LiveArg,
    LiveMode,
    check_offset,
    check_run_id,
    check_tail,
    normalize_live,
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
    resolve_headers,
)
from flue._transports._common import Timeout
from flue.errors import (
    FlueError,
    InvalidArgumentError,
    ProtocolError,
    Secrets,
    TransportError,
    redact,
)
from flue.models import (
    Event,
    InvokeResult,
    RunRecord,
    event_from_dict,
    events_from_dicts,
    invoke_result_from_dict,
    run_record_from_dict,
)

__all__ = ["AsyncFlueClient", "AsyncRuns", "AsyncStreams", "AsyncWorkflows"]

logger = logging.getLogger("flue")

T = TypeVar("T")

_MAX_JSON_BODY = 64 * 1024 * 1024


def _identity(value: Any) -> Any:
    return value


class AsyncFlueClient:
    """Client for a Flue application's workflow-run API.

    Use it as a context manager (or call `close()`) to release its connections. Runs are read
    through `runs` (run records and events) and started through `workflows`; `streams` reads
    any other Durable Streams stream.

    Args:
        base_url: the application's URL, path included (default: ``FLUE_BASE_URL``).
        token: bearer token (default: ``FLUE_TOKEN``); never logged or shown in ``repr``.
        headers: extra headers: a dict, or a callable returning one (an ``async`` one too, in
            the asyncio client), called for every request and reconnect (use it to refresh
            credentials).
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
    """Starting runs: `invoke()`."""
    streams: AsyncStreams
    """A generic reader for any Durable Streams stream: `read()`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        token: str | None = None,
        headers: Mapping[str, str] | Callable[[], Any] | None = None,
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

    def _batch_stream(self, reader: ReadMachine) -> AsyncBatchStream:
        self._check_open()
        stream = AsyncBatchStream(self._host, reader)
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
            headers = await self._headers_for(request)
            logger.debug("flue: %s %s", request.method, request.url)
            response = await self._transport.open(request, headers, wait=wait, token=token)
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

    def __init__(self, client: AsyncFlueClient) -> None:
        self._client = client

    @property
    def closed(self) -> bool:
        return self._client._closed

    def cancel_token(self) -> AsyncCancelToken:
        return self._client._transport.cancel_token()

    async def send(self, request: HttpRequest, token: AsyncCancelToken) -> AsyncResponse:
        client = self._client
        client._check_open()
        headers = await client._headers_for(request)
        return await client._transport.open(request, headers, token=token)

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        await self._client._transport.sleep(seconds, token)


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
        return client._batch_stream(reader)
