"""The blocking transport's failures, in `flue.errors` terms: what `requests`, urllib3 and
http.client raise (from the root cause of the chain: urllib3's own messages name its connection
classes and carry object reprs), and header blocks that http.client lets through."""

from __future__ import annotations

import http.client
import re
import socket
from typing import TypeVar
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
import urllib3.util.response

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
from flue._transports._reasons import causes, clean, find, os_reason, tls_reason
from flue.errors import ConnectError, ConnectionLostError, ProtocolError, TransportError

__all__ = ["check_header_block", "map_error"]

# how http.client reports a CONNECT answered with anything but 200
_TUNNEL_FAILED = re.compile(r"Tunnel connection failed: (\d{3})\s*([^'\")]*)")


def map_error(
    exc: BaseException, url: str, *, reading: bool, proxy: Proxy | None = None
) -> TransportError | ProtocolError:
    # the text comes from the root cause (see _reasons): urllib3's own messages name its
    # connection classes (ours among them) and carry object reprs
    where = url.split("?", 1)[0]
    if isinstance(exc, requests.TooManyRedirects):
        return too_many_redirects(url)
    if isinstance(exc, requests.exceptions.InvalidSchema):  # a redirect to file:, ftp:...
        found = re.search(r"for '([^']*)'", str(exc))
        return redirect_error(url, urlsplit(found[1] if found else "").scheme)
    if not reading and find(exc, urllib3.exceptions.ProxyError):
        return _proxy_error(exc, url, proxy)
    if isinstance(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        verification, detail = tls_reason(exc) or (False, "TLS error")
        return tls_error(url, verification, detail, context=False)
    if isinstance(exc, requests.ConnectTimeout):
        return timed_out(url, "connecting to")
    if isinstance(
        exc,
        (
            requests.ReadTimeout,
            urllib3.exceptions.ReadTimeoutError,
            socket.timeout,
            TimeoutError,
        ),
    ):
        phase = "reading the response" if reading else "waiting for the response"
        return timed_out(url, f"{phase} from")
    host = urlsplit(url).hostname
    reason = os_reason(exc, host)
    if not reading and find(exc, urllib3.exceptions.NewConnectionError):
        return connect_error(url, reason)
    if find(exc, (urllib3.exceptions.IncompleteRead, http.client.IncompleteRead)):
        return cut_short(url)
    if find(exc, http.client.RemoteDisconnected):
        return ConnectionLostError(f"the server at {where} closed the connection without answering")
    bad_line = _first(exc, http.client.BadStatusLine)
    if bad_line is not None:
        line = str(bad_line.args[0]) if bad_line.args else ""
        if not line.endswith("\n"):  # the connection ended inside the status line: a cut
            return ConnectionLostError(
                f"the connection to {where} broke inside the response's status line"
            )
        return malformed_head(url, "its status line is not HTTP/1.x <3-digit status>")
    bad_head = _first(exc, http.client.HTTPException)
    if bad_head is not None:  # a header line too long, too many headers
        return malformed_head(url, clean(str(bad_head)))
    reason = reason or _last_words(exc)
    if reading:
        return cut_short(url, reason)
    return ConnectionLostError(f"the connection to {where} failed: {reason}")


def _first(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of type `kind` in the chain of `exc`."""
    for cause in causes(exc):
        if isinstance(cause, kind):
            return cause
    return None


E = TypeVar("E", bound=BaseException)


def _proxy_error(exc: BaseException, url: str, proxy: Proxy | None) -> TransportError:
    """A failure on the way through the proxy: connecting to it, or its answer to CONNECT."""
    for cause in causes(exc):
        found = _TUNNEL_FAILED.search(str(cause))
        if found:
            parts = urlsplit(url)
            return tunnel_error(proxy, int(found[1]), found[2].strip(), parts.netloc)
    if proxy is None:  # a proxy of the caller's own session
        return ConnectError(f"could not connect through the proxy: {_last_words(exc)}")
    timed_out = any(
        isinstance(e, (urllib3.exceptions.ConnectTimeoutError, socket.timeout, TimeoutError))
        and not isinstance(e, urllib3.exceptions.NewConnectionError)  # a subclass, refused
        for e in causes(exc)
    )
    return proxy_connect_error(proxy, os_reason(exc, proxy.host), timed_out=timed_out)


def _last_words(exc: BaseException) -> str:
    """The innermost message in the chain, cleaned (no reason was recognised)."""
    *_, innermost = causes(exc)
    text = str(innermost) or type(innermost).__name__
    return clean(text)


def check_header_block(response: requests.Response, url: str) -> None:
    """http.client takes a header line that is not ``Name: value`` for the start of the body
    (aiohttp refuses it): refuse it here too, the same in both flavours."""
    original = getattr(response.raw, "_original_response", None)
    message = getattr(original, "msg", None)
    if message is None:
        return
    try:
        urllib3.util.response.assert_header_parsing(message)
    except urllib3.exceptions.HeaderParsingError:
        unparsed = None if message.is_multipart() else message.get_payload()
        if isinstance(unparsed, bytes):
            unparsed = unparsed.decode("latin-1")
        if isinstance(unparsed, str) and unparsed and not unparsed.endswith("\n"):
            # the connection ended inside a header line: a cut, retried like any other
            raise ConnectionLostError(
                f"the connection to {url.split('?', 1)[0]} broke inside the response's headers"
            ) from None
        raise malformed_head(url, "a header line is not 'Name: value'") from None
