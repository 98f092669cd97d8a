"""The asyncio transport's failures, in `flue.errors` terms: what aiohttp raises, from the root
cause of the chain (aiohttp's own messages carry object reprs and request details)."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import aiohttp
import aiohttp.http_exceptions

from flue._transports._common import (
    connect_error,
    cut_short,
    malformed_head,
    proxy_connect_error,
    redirect_error,
    timed_out,
    tls_error,
    too_many_redirects,
    tunnel_error,
)
from flue._transports._proxy import Proxy
from flue._transports._reasons import causes, clean, os_reason, tls_reason
from flue.errors import ConnectError, ConnectionLostError, ProtocolError, TransportError

__all__ = ["BAD_REDIRECTS", "map_error"]

# a redirect to a URL aiohttp cannot follow (a file:, ftp: or malformed URL), aiohttp >= 3.10
BAD_REDIRECTS: tuple[type[BaseException], ...] = tuple(
    cls
    for cls in (
        getattr(aiohttp, "NonHttpUrlRedirectClientError", None),
        getattr(aiohttp, "InvalidUrlRedirectClientError", None),
    )
    if cls is not None
)


def map_error(
    exc: BaseException, url: str, *, reading: bool, proxy: Proxy | None = None
) -> TransportError | ProtocolError:
    # the text comes from the root cause (see _reasons): aiohttp's own messages carry
    # connection keys with object reprs
    where = url.split("?", 1)[0]
    if isinstance(exc, aiohttp.TooManyRedirects):
        return too_many_redirects(url)
    if isinstance(exc, BAD_REDIRECTS):
        location = str(getattr(exc, "url", "") or (exc.args[0] if exc.args else ""))
        return redirect_error(url, urlsplit(location).scheme)
    if isinstance(exc, aiohttp.ClientResponseError) and isinstance(
        exc.__cause__, aiohttp.http_exceptions.HttpProcessingError
    ):  # the status line or header block did not parse (its text is not echoed)
        cause = exc.__cause__
        if isinstance(cause, aiohttp.http_exceptions.BadStatusLine) or "status line" in str(
            cause.message if isinstance(cause.message, str) else ""
        ):
            return malformed_head(url, "its status line is not HTTP/1.x <3-digit status>")
        if isinstance(exc.__cause__, aiohttp.http_exceptions.LineTooLong):
            return malformed_head(url, "a header line is too long")
        return malformed_head(url, "a header line is not 'Name: value'")
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError)):
        verification, detail = tls_reason(exc) or (
            isinstance(exc, aiohttp.ClientConnectorCertificateError),
            "TLS error",
        )
        return tls_error(url, verification, detail, context=True)
    if isinstance(exc, aiohttp.ClientHttpProxyError):  # CONNECT answered with an error
        return tunnel_error(proxy, exc.status, exc.message or "", urlsplit(url).netloc)
    if not reading and proxy is not None:
        # every connection goes to the proxy: failing to connect is failing to reach it
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return proxy_connect_error(proxy, None, timed_out=True)
        if isinstance(exc, aiohttp.ClientConnectorError):
            return proxy_connect_error(proxy, os_reason(exc, proxy.host))
    if isinstance(exc, aiohttp.ClientProxyConnectionError):  # a proxy of the caller's session
        why = os_reason(exc, None) or "connection failed"
        return ConnectError(f"could not connect through the proxy: {why}")
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        if reading:
            phase = "reading the response from"
        elif isinstance(exc, aiohttp.ConnectionTimeoutError):
            phase = "connecting to"
        elif isinstance(exc, aiohttp.SocketTimeoutError):
            phase = "waiting for the response from"  # connected, but no answer came
        else:
            phase = "connecting to or waiting for the response from"
        return timed_out(url, phase)
    reason = os_reason(exc, urlsplit(url).hostname)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return connect_error(url, reason)
    if isinstance(exc, aiohttp.ClientPayloadError):
        return cut_short(url)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        if reading:
            return ConnectionLostError(f"the server at {where} closed the connection mid-response")
        return ConnectionLostError(f"the server at {where} closed the connection without answering")
    *_, innermost = causes(exc)
    reason = reason or clean(str(innermost) or "connection failed")
    if reading:
        return cut_short(url, reason)
    return ConnectionLostError(f"the HTTP exchange with {where} failed: {reason}")
