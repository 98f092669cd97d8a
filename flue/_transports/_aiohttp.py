"""The asyncio transport, over `aiohttp`. Exceptions are mapped into `flue.errors`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import aiohttp
import aiohttp.http_exceptions

from flue._protocol.http import HttpRequest
from flue._settings import Timeout
from flue._transports._aiohttp_errors import BAD_REDIRECTS, map_error
from flue._transports._common import (
    MAX_SLEEP,
    DecodedBody,
    body_too_large,
    bundle_key,
    check_ca_bundle,
    check_headers,
    client_network,
    deadline_error,
    deadline_for,
    proxy_auth_error,
    read_timeout_for,
    scrub,
)
from flue._transports._proxy import Proxy, ProxySettings
from flue.errors import (
    ConnectionLostError,
    FlueTimeoutError,
    InvalidArgumentError,
    ProtocolError,
    TransportError,
)

__all__ = [
    "AsyncCancelToken",
    "AsyncResponse",
    "AsyncTransport",
    "Session",
    "Verify",
]

# what the asyncio client's `session=` and `verify=` take (the blocking twins are in _requests)
Session: TypeAlias = aiohttp.ClientSession
Verify: TypeAlias = bool | str | ssl.SSLContext

_CHUNK = 65536


def _ssl_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext | bool:
    """The TLS setting handed to aiohttp: always an explicit, verifying context unless the user
    turned verification off or brought their own context.

    aiohttp 3.9.0/3.9.1 skipped certificate checks for ``ssl=True``; never rely on a library
    default for something that decides who receives the token.
    """
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        return False
    # Loading a CA store takes ~25 ms: one context per store and process, shared by clients.
    key: object
    if isinstance(verify, str):
        check_ca_bundle(verify)
        key = bundle_key(verify)
    else:
        key = ("default", os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    context = _CONTEXTS.get(key)
    if context is None:
        if not isinstance(verify, str):
            context = ssl.create_default_context()
        elif os.path.isdir(verify):
            context = ssl.create_default_context(capath=verify)
        else:
            context = ssl.create_default_context(cafile=verify)
        _CONTEXTS[key] = context
    return context


_CONTEXTS: dict[object, ssl.SSLContext] = {}


def _buffered(content: aiohttp.StreamReader) -> bytes:
    """Bytes already received by an aiohttp stream whose connection has failed."""
    buffer = getattr(content, "_buffer", None)
    read_nowait = getattr(content, "_read_nowait", None)
    if not buffer or read_nowait is None:
        return b""
    try:
        data = read_nowait(-1)
    except Exception:  # a private API that changed shape: fall back to losing the bytes
        return b""
    return data if isinstance(data, bytes) else b""


class AsyncCancelToken:
    """Set by `cancel()` (from any task, or any thread: the loop is woken thread-safely); wakes
    a stream waiting for a response head or sleeping between retries."""

    def __init__(self) -> None:
        self._set = False
        self._lock = threading.Lock()
        # what waits for the token (`on_set`: requests waiting for their head, `wait()`), each
        # with the loop it runs in
        self._callbacks: list[tuple[asyncio.AbstractEventLoop, Callable[[], None]]] = []

    def set(self) -> None:
        """Mark cancelled and wake the waiters; safe from any thread."""
        with self._lock:
            self._set = True
            callbacks, self._callbacks = self._callbacks, []
        running = _running_loop()
        for target, callback in callbacks:
            if running is target:
                callback()
            else:  # asyncio objects are not thread-safe: this would not wake the loop
                with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                    target.call_soon_threadsafe(callback)

    def on_set(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` in the running loop once the token is set (soon, if it already is);
        returns the function that forgets it."""
        loop = asyncio.get_running_loop()
        entry = (loop, callback)
        with self._lock:
            if not self._set:
                self._callbacks.append(entry)
                return lambda: self._forget(entry)
        loop.call_soon(callback)
        return lambda: None

    def _forget(self, entry: tuple[asyncio.AbstractEventLoop, Callable[[], None]]) -> None:
        with self._lock, contextlib.suppress(ValueError):  # set() took it already
            self._callbacks.remove(entry)

    def is_set(self) -> bool:
        """True once cancelled."""
        return self._set

    async def wait(self) -> None:
        """Return once the token is set."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        forget = self.on_set(lambda: _resolve(done))
        try:
            await done
        finally:
            forget()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # cancelled, or woken already
        future.set_result(None)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _reap(task: asyncio.Future[aiohttp.ClientResponse]) -> None:
    """Collect an abandoned request: its error is retrieved, its response closed."""
    if task.cancelled():
        return
    if task.exception() is None:
        task.result().close()


async def _unless_cancelled(
    pending: Awaitable[aiohttp.ClientResponse], token: AsyncCancelToken, url: str
) -> aiohttp.ClientResponse:
    """Await a request, giving up as soon as `token` is set (a long-poll may wait 30 s).

    One future is woken by whichever comes first, the response head or the token (through a
    callback: no second task per request; 1,000 idle long-polls hold
    ~2.5 KB less each, see BENCHMARKS.md)."""
    request_task = asyncio.ensure_future(pending)
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake(_: object = None) -> None:
        _resolve(woken)

    request_task.add_done_callback(wake)
    forget = token.on_set(wake)
    try:
        await woken
    except BaseException:
        # the caller's task was cancelled (asyncio.timeout(), wait_for(), shutdown): the
        # request must not live on in the background, holding one of the pool's connections
        if request_task.done():
            _reap(request_task)
        else:
            request_task.cancel()
            request_task.add_done_callback(_reap)
        raise
    finally:
        forget()
        request_task.remove_done_callback(wake)
    if request_task.done() and not token.is_set():
        return request_task.result()
    # cancelled: the request is discarded whatever its outcome (closing the session under it
    # makes some aiohttp versions fail it with an AssertionError)
    request_task.cancel()
    request_task.add_done_callback(_reap)
    await asyncio.wait({request_task})
    raise ConnectionLostError(f"request to {url.split('?', 1)[0]} cancelled")


def _past(deadline: float | None, started: float) -> bool:
    """True when the total deadline of an exchange that began at `started` has passed."""
    return deadline is not None and time.monotonic() - started >= deadline * 0.98


class AsyncResponse:
    """One response being read."""

    def __init__(
        self,
        response: aiohttp.ClientResponse,
        url: str,
        *,
        deadline: float | None = None,
        started: float = 0.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._response = response
        self._url = url
        self._deadline = deadline
        self._started = started
        self._sent_headers = headers or {}
        self._loop = _running_loop()
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers
        # aiohttp's own decompression is off: aiohttp 3.10 inflates each network chunk whole
        # (a 255 KiB gzip bomb became one 125 MiB chunk). The body is decoded here, bounded,
        # as it arrives, by the same decoder as the blocking flavour
        encodings = response.headers.getall("Content-Encoding", [])
        self._body = DecodedBody.for_response(
            ", ".join(encodings) or None, status=self.status, url=url
        )

    async def _read_raw(self) -> bytes:
        content = self._response.content
        try:
            return await content.readany()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            # aiohttp raises a lost connection before handing out the bytes that arrived with
            # it (whole SSE frames may be among them): hand those out first, the error on the
            # next read. There is no public API for this; without the private buffer (another
            # aiohttp version) the bytes are lost and the reader resumes from its checkpoint.
            leftover = _buffered(content)
            if leftover:
                return leftover
            if _past(self._deadline, self._started):
                assert self._deadline is not None
                raise deadline_error(self._url, self._deadline) from None
            raise scrub(map_error(exc, self._url, reading=True), self._sent_headers) from exc

    async def read_chunk(self) -> bytes:
        """The next bytes of the (decoded) body as they arrive; ``b""`` at the end."""
        body = self._body
        if body is None:
            return await self._read_raw()
        while (out := body.pull()) is None:
            body.push(await self._read_raw())
        return out

    async def read_all(self, limit: int) -> bytes:
        """The whole (decoded) body; a `ProtocolError` once it exceeds `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read_chunk():
            size += len(chunk)
            if size > limit:
                raise body_too_large(self._url, limit)
            parts.append(chunk)
        return b"".join(parts)

    async def close(self) -> None:
        """Release the connection."""
        self._response.close()

    def abort(self) -> None:
        """Close the connection at once (safe from `cancel()` in another task or thread)."""
        loop = self._loop
        if loop is None or _running_loop() is loop:
            self._response.close()
        else:  # from another thread: aiohttp objects belong to their loop
            with contextlib.suppress(RuntimeError):  # the loop is closed
                loop.call_soon_threadsafe(self._response.close)

    def release(self) -> None:
        """Close from a finaliser (no reader can be active then)."""
        self._response.close()


_PROXY_AUTHORIZATION = "Proxy-Authorization"


class _ProxyAuthRequest(aiohttp.ClientRequest):
    """Sends the proxy's credentials, given as ``proxy_headers``, with plain-HTTP requests too.

    aiohttp sends ``proxy_headers`` with CONNECT only (HTTPS); for a plain-HTTP request through
    a proxy it takes credentials from ``proxy_auth`` alone, deprecated in recent aiohttp. The
    header is set on each request object, so a redirect to https:// never carries it into the
    tunnel, to the server.
    """

    def update_proxy(self, proxy: Any, proxy_auth: Any, proxy_headers: Any) -> None:
        super().update_proxy(proxy, proxy_auth, proxy_headers)
        if proxy is not None and self.proxy_headers and not self.is_ssl():
            value = self.proxy_headers.get(_PROXY_AUTHORIZATION)
            if value:
                self.headers[_PROXY_AUTHORIZATION] = value


class AsyncTransport:
    """Sends `HttpRequest`s with an `aiohttp.ClientSession` (ours, or the caller's)."""

    def __init__(
        self,
        *,
        timeout: Timeout,
        session: aiohttp.ClientSession | None = None,
        verify: bool | str | ssl.SSLContext = True,
        max_redirects: int = 10,
        proxy: str | None = None,
        trust_env: bool = True,
    ) -> None:
        self._timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._max_redirects = max_redirects
        verify, self._proxies = client_network(
            verify=verify,
            proxy=proxy,
            trust_env=trust_env,
            owns_session=self._owns_session,
            environ=os.environ,
        )
        self._ssl: ssl.SSLContext | bool = _ssl_context(verify)
        self._one_shot: aiohttp.ClientSession | None = None

    def _get_session(self, *, one_shot: bool = False) -> aiohttp.ClientSession:
        if one_shot:
            # plain HTTP through a proxy: many proxies (tinyproxy among them) close the
            # connection after each answer without saying so. urllib3 notices before reusing
            # one; recent aiohttp versions pool proxy connections (3.10 closed them) without
            # noticing, and then fail to send the next request (a POST is not resent). So
            # these connections are used once.
            if self._one_shot is None:
                self._one_shot = self._new_session(force_close=True)
            return self._one_shot
        if self._session is None:
            self._session = self._new_session(force_close=False)
        return self._session

    @staticmethod
    def _new_session(*, force_close: bool) -> aiohttp.ClientSession:
        # every live stream holds its connection for as long as it runs, so aiohttp's
        # default cap of 100 would make the 101st stream wait; pass your own session to cap.
        # The environment (proxies) is read by client_network(), alike for both flavours.
        return aiohttp.ClientSession(
            auto_decompress=False,
            trust_env=False,
            connector=aiohttp.TCPConnector(limit=0, force_close=force_close),
            request_class=_ProxyAuthRequest,
        )

    def _proxy_options(self, url: str) -> tuple[Proxy | None, dict[str, Any]]:
        """The proxy of a request and the options that say so to aiohttp."""
        settings: ProxySettings | None = self._proxies
        proxy = settings.for_url(url) if settings is not None else None
        if proxy is None:
            return None, {}
        options: dict[str, Any] = {"proxy": proxy.url}
        if proxy.username is not None:
            # sent with CONNECT (and, by _ProxyAuthRequest, with a plain-HTTP request); the
            # connection key keeps only a hash of them
            user = f"{proxy.username}:{proxy.password or ''}".encode()
            basic = base64.b64encode(user).decode("ascii")
            options["proxy_headers"] = {_PROXY_AUTHORIZATION: f"Basic {basic}"}
        return proxy, options

    async def open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool = False,
        token: AsyncCancelToken | None = None,
    ) -> AsyncResponse:
        """Send a request and return once the response head has arrived.

        Setting `token` while waiting for the head aborts the request. Headers that cannot be
        sent are refused first (`check_headers`); the whole exchange, body included, is bounded
        by ``Timeout.total`` where it applies (`deadline_for`). Errors never carry the
        request's credentials.
        """
        check_headers(headers)
        deadline = deadline_for(self._timeout, request.kind, wait=wait)
        proxy = self._proxy_options(request.url)[0]
        started = time.monotonic()
        try:
            return await self._open(request, headers, wait=wait, token=token, deadline=deadline)
        except (TransportError, ProtocolError) as exc:
            if _past(deadline, started) and isinstance(exc, FlueTimeoutError):
                assert deadline is not None
                raise scrub(deadline_error(request.url, deadline), headers) from None
            raise scrub(exc, headers, proxy) from exc.__cause__

    async def _open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool,
        token: AsyncCancelToken | None,
        deadline: float | None,
    ) -> AsyncResponse:
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(
            total=deadline,
            sock_connect=self._timeout.connect,
            sock_read=read_timeout_for(self._timeout, request.kind, wait=wait),
        )
        proxy, options = self._proxy_options(request.url)
        one_shot = proxy is not None and urlsplit(request.url).scheme == "http"
        failure: TransportError | ProtocolError | None = None
        try:
            pending = self._get_session(one_shot=one_shot).request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                timeout=timeout,
                ssl=self._ssl,
                max_redirects=self._max_redirects + 1,  # aiohttp counts the last one too
                allow_redirects=True,
                auto_decompress=False,  # on a caller's session too: see AsyncResponse
                **options,
            )
            if token is None:
                response = await pending
            else:
                response = await _unless_cancelled(pending, token, request.url)
        except BAD_REDIRECTS as exc:
            failure = map_error(exc, request.url, reading=False, proxy=proxy)
        except aiohttp.InvalidURL as exc:
            raise InvalidArgumentError(f"invalid URL {request.url!r}: {exc}") from exc
        except aiohttp.ClientResponseError as exc:
            # (CONNECT refused, too many redirects) its request_info holds the request's headers:
            # the bearer token, the proxy's credentials. Our error says what happened and is
            # raised below, outside this block, so that it neither chains nor carries it
            failure = map_error(exc, request.url, reading=False, proxy=proxy)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise map_error(exc, request.url, reading=False, proxy=proxy) from exc
        if failure is not None:
            raise failure
        if response.status == 407:  # from a proxy: ours, or one the network imposes
            response.close()
            raise proxy_auth_error(proxy, request.url.split("?", 1)[0])
        try:
            return AsyncResponse(
                response, request.url, deadline=deadline, started=started, headers=headers
            )
        except ProtocolError:  # a Content-Encoding we cannot decode
            response.close()
            raise

    def cancel_token(self) -> AsyncCancelToken:
        """A fresh token for one stream."""
        return AsyncCancelToken()

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        """Wait `seconds`, returning early if `token` is set."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(token.wait(), timeout=min(seconds, MAX_SLEEP))

    async def close(self) -> None:
        """Close the session if we created it."""
        if self._owns_session:
            for session in (self._session, self._one_shot):
                if session is not None:
                    await session.close()
            self._session = self._one_shot = None
