"""The asyncio transport, over `aiohttp`. Exceptions are mapped into `flue.errors`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ssl
from collections.abc import Awaitable, Mapping
from typing import Any

import aiohttp

from flue._protocol.http import HttpRequest
from flue._transports._common import Timeout, read_timeout_for
from flue.errors import (
    ConnectError,
    ConnectionLostError,
    FlueTimeoutError,
    InvalidArgumentError,
    TLSError,
    TooManyRedirectsError,
    TransportError,
)

__all__ = ["resolve_headers", "AsyncCancelToken", "AsyncResponse", "AsyncTransport"]

_CHUNK = 65536
# aiohttp >= 3.10 tells a connect timeout from a read timeout; older versions do not
_CONNECT_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    getattr(aiohttp, name) for name in ("ConnectionTimeoutError",) if hasattr(aiohttp, name)
)
_SOCKET_TIMEOUT: tuple[type[BaseException], ...] = tuple(
    getattr(aiohttp, name) for name in ("SocketTimeoutError",) if hasattr(aiohttp, name)
)


def _map_error(exc: BaseException, url: str, *, reading: bool) -> TransportError:
    where = url.split("?", 1)[0]
    if isinstance(exc, aiohttp.TooManyRedirects):
        return TooManyRedirectsError(f"too many redirects following {where}")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        return TLSError(
            f"TLS verification failed for {where}: {exc}. Pass verify=<path to your CA bundle> "
            "(or an ssl.SSLContext) if the server uses a private CA."
        )
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        if reading:
            phase = "reading the response"
        elif isinstance(exc, _CONNECT_TIMEOUT):
            phase = "connecting"
        elif isinstance(exc, _SOCKET_TIMEOUT):
            phase = "waiting for the response"  # connected, but no answer came
        else:
            phase = "connecting or waiting for the response"
        return FlueTimeoutError(f"timed out {phase} from {where}; the read will be retried")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"could not connect to {where}: {exc.os_error or exc}")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError)):
        return ConnectionLostError(f"the connection to {where} broke mid-response: {exc}")
    return ConnectionLostError(f"HTTP exchange with {where} failed: {type(exc).__name__}: {exc}")


class AsyncCancelToken:
    """Set by `cancel()`; wakes a stream sleeping between retries."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Mark cancelled (call from the stream's event loop)."""
        self._event.set()

    def is_set(self) -> bool:
        """True once cancelled."""
        return self._event.is_set()


async def _unless_cancelled(
    pending: Awaitable[aiohttp.ClientResponse], token: AsyncCancelToken, url: str
) -> aiohttp.ClientResponse:
    """Await a request, giving up as soon as `token` is set (a long-poll may wait 30 s)."""
    request_task = asyncio.ensure_future(pending)
    cancel_task = asyncio.ensure_future(token._event.wait())
    try:
        await asyncio.wait({request_task, cancel_task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        cancel_task.cancel()
    if request_task.done():
        return request_task.result()
    request_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, OSError):
        await request_task
    raise ConnectionLostError(f"request to {url.split('?', 1)[0]} cancelled")


class AsyncResponse:
    """One response being read."""

    def __init__(self, response: aiohttp.ClientResponse, url: str) -> None:
        self._response = response
        self._url = url
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    async def read_chunk(self) -> bytes:
        """The next bytes of the body as they arrive; ``b""`` at the end."""
        try:
            return await self._response.content.readany()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _map_error(exc, self._url, reading=True) from exc

    async def read_all(self, limit: int) -> bytes:
        """The whole body, or its first `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await self.read_chunk()
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)[:limit]

    async def close(self) -> None:
        """Release the connection."""
        self._response.close()

    def abort(self) -> None:
        """Close the connection at once (safe from `cancel()` in another task)."""
        self._response.close()

    def release(self) -> None:
        """Close from a finaliser (no reader can be active then)."""
        self._response.close()


class AsyncTransport:
    """Sends `HttpRequest`s with an `aiohttp.ClientSession` (ours, or the caller's)."""

    def __init__(
        self,
        *,
        timeout: Timeout,
        session: aiohttp.ClientSession | None = None,
        verify: bool | str | ssl.SSLContext = True,
        max_redirects: int = 10,
    ) -> None:
        self._timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._max_redirects = max_redirects
        self._ssl: bool | ssl.SSLContext
        if isinstance(verify, str):
            self._ssl = ssl.create_default_context(cafile=verify)
        else:
            self._ssl = verify

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # every live stream holds its connection for as long as it runs, so aiohttp's
            # default cap of 100 would make the 101st stream wait; pass your own session to cap
            self._session = aiohttp.ClientSession(
                auto_decompress=True, connector=aiohttp.TCPConnector(limit=0)
            )
        return self._session

    async def open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool = False,
        token: AsyncCancelToken | None = None,
    ) -> AsyncResponse:
        """Send a request and return once the response head has arrived.

        Setting `token` while waiting for the head aborts the request.
        """
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._timeout.connect,
            sock_read=read_timeout_for(self._timeout, request.kind, wait=wait),
        )
        try:
            pending = self._get_session().request(
                request.method,
                request.url,
                headers=headers,
                data=request.body,
                timeout=timeout,
                ssl=self._ssl,
                max_redirects=self._max_redirects,
                allow_redirects=True,
            )
            if token is None:
                response = await pending
            else:
                response = await _unless_cancelled(pending, token, request.url)
        except aiohttp.InvalidURL as exc:
            raise InvalidArgumentError(f"invalid URL {request.url!r}: {exc}") from exc
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _map_error(exc, request.url, reading=False) from exc
        return AsyncResponse(response, request.url)

    def cancel_token(self) -> AsyncCancelToken:
        """A fresh token for one stream."""
        return AsyncCancelToken()

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        """Wait `seconds`, returning early if `token` is set."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(token._event.wait(), timeout=seconds)

    async def close(self) -> None:
        """Close the session if we created it."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()


async def resolve_headers(factory: Any) -> dict[str, str]:
    """Evaluate the ``headers`` option: a dict, or a callable (maybe async) returning one."""
    if factory is None:
        return {}
    value = factory() if callable(factory) else factory
    if inspect.isawaitable(value):
        value = await value
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"headers must be a dict or a callable returning a dict, got {type(value).__name__}"
        )
    return {str(k): str(v) for k, v in value.items()}
