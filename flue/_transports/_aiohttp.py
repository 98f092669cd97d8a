"""The asyncio transport, over `aiohttp`. Exceptions are mapped into `flue.errors`."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import ssl
from collections.abc import Awaitable, Mapping
from typing import Any, TypeAlias
from urllib.parse import urlsplit

import aiohttp

from flue._protocol.http import HttpRequest
from flue._transports._common import Timeout, check_ca_bundle, read_timeout_for
from flue._transports._reasons import causes, clean, os_reason, tls_reason
from flue.errors import (
    ConnectError,
    ConnectionLostError,
    FlueTimeoutError,
    InvalidArgumentError,
    TLSError,
    TooManyRedirectsError,
    TransportError,
)

__all__ = [
    "resolve_headers",
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


def _map_error(exc: BaseException, url: str, *, reading: bool) -> TransportError:
    # the text comes from the root cause (see _reasons): aiohttp's own messages carry
    # connection keys with object reprs
    where = url.split("?", 1)[0]
    if isinstance(exc, aiohttp.TooManyRedirects):
        return TooManyRedirectsError(f"too many redirects following {where}")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        verification, detail = tls_reason(exc) or (
            isinstance(exc, aiohttp.ClientConnectorCertificateError),
            "TLS error",
        )
        if verification:
            return TLSError(
                f"TLS certificate verification failed for {where} ({detail}). Pass "
                "verify=<path to your CA bundle> (or an ssl.SSLContext) if the server uses a "
                "private CA."
            )
        return TLSError(
            f"TLS handshake with {where} failed ({detail}): the server may not speak TLS on "
            "that port; if it serves plain HTTP, use an http:// URL."
        )
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        if reading:
            phase = "reading the response from"
        elif isinstance(exc, aiohttp.ConnectionTimeoutError):
            phase = "connecting to"
        elif isinstance(exc, aiohttp.SocketTimeoutError):
            phase = "waiting for the response from"  # connected, but no answer came
        else:
            phase = "connecting to or waiting for the response from"
        return FlueTimeoutError(f"timed out {phase} {where}")
    reason = os_reason(exc, urlsplit(url).hostname)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"could not connect to {where}: {reason or 'connection failed'}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return ConnectionLostError(
            f"the connection to {where} broke mid-response (the body was cut short)"
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if reading:
            return ConnectionLostError(f"the server at {where} closed the connection mid-response")
        return ConnectionLostError(f"the server at {where} closed the connection without answering")
    *_, innermost = causes(exc)
    reason = reason or clean(str(innermost) or "connection failed")
    if reading:
        return ConnectionLostError(f"the connection to {where} broke mid-response: {reason}")
    return ConnectionLostError(f"the HTTP exchange with {where} failed: {reason}")


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
    if isinstance(verify, str):
        check_ca_bundle(verify)
        if os.path.isdir(verify):
            return ssl.create_default_context(capath=verify)
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()


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
        self._ssl: ssl.SSLContext | bool = _ssl_context(verify)

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
