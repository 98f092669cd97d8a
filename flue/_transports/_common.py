"""What both transports share: timeouts and the per-request timeout choice, the CA bundle and
proxy settings taken from the environment, the decoding of compressed bodies, and the words of
the errors that both must report alike."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TypeVar

from flue._protocol.encoding import BodyDecoder, decoder_for
from flue._protocol.http import RequestKind
from flue._protocol.secrets import credential_values, redact
from flue._settings import Timeout
from flue._transports._proxy import Proxy, ProxySettings, proxy_settings
from flue.errors import (
    ConnectError,
    ConnectionLostError,
    FlueTimeoutError,
    InvalidArgumentError,
    ProtocolError,
    ProxyAuthenticationError,
    ProxyError,
    RedirectError,
    TLSError,
    TooManyRedirectsError,
    TransportError,
)

__all__ = [
    "MAX_REDIRECTS",
    "DecodedBody",
    "body_too_large",
    "bundle_key",
    "check_ca_bundle",
    "check_headers",
    "connect_error",
    "cut_short",
    "deadline_error",
    "deadline_for",
    "malformed_head",
    "redirect_error",
    "timed_out",
    "tls_error",
    "too_many_redirects",
    "scrub",
    "client_network",
    "proxy_auth_error",
    "proxy_connect_error",
    "read_timeout_for",
    "tunnel_error",
]

E = TypeVar("E", bound=TransportError | ProtocolError)

# decoded bytes handed out per read; a decompression bomb never holds more than this at once
DECODE_CHUNK = 65536


# redirects followed in a row by both flavours; the next one is a TooManyRedirectsError
MAX_REDIRECTS = 10
# the longest one wait may last: a timer given more overflows (OverflowError) in both flavours
MAX_SLEEP = 86400.0


def deadline_for(timeout: Timeout, kind: RequestKind, *, wait: bool = False) -> float | None:
    """The total deadline of one exchange: one-shot calls, catch-up pages and long-polls; not
    SSE bodies (the stall watchdog guards them) nor ``invoke(wait=True)``, which lasts as long
    as the run."""
    if kind is RequestKind.SSE or (kind is RequestKind.INVOKE and wait):
        return None
    return timeout.total


def deadline_error(url: str, seconds: float) -> FlueTimeoutError:
    return FlueTimeoutError(
        f"the answer from {url.split('?', 1)[0]} took longer than the total deadline of "
        f"{seconds:g} s (Timeout.total): the server is too slow, or sends its answer a trickle "
        "at a time"
    )


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse, before anything is sent, a header that cannot be sent as it is: a name or value
    with CR, LF or NUL (it would end the header early, or smuggle another one) or a character
    outside latin-1. The value is never echoed: it may be a credential."""
    for name, value in headers.items():
        for what, text in (("name", name), ("value", value)):
            if not isinstance(text, str):
                raise InvalidArgumentError(f"header {name!r}: the {what} must be a string")
            bad = any(c in text for c in "\r\n\x00")
            if not bad:
                try:
                    text.encode("latin-1")
                except UnicodeEncodeError:
                    bad = True
            if bad:
                shown = f"{name!r}" if what == "value" and _printable(name) else "a header"
                raise InvalidArgumentError(
                    f"the {what} of {shown} (from token=, headers= or the headers factory) holds "
                    "a line break, a NUL or a character outside latin-1, so it cannot be sent; "
                    "the value is not shown, as it may be a credential"
                )


def _printable(name: str) -> bool:
    return name.isascii() and name.isprintable()


def redirect_error(url: str, scheme: str) -> RedirectError:
    """A redirect to a scheme that is not http(s): not followed, not retried."""
    what = f"a {scheme}: URL" if scheme and scheme.isalnum() else "a URL that is not http(s)"
    return RedirectError(
        f"{url.split('?', 1)[0]} redirected to {what}; only http:// and https:// redirects are "
        "followed (check the base URL, or what answers at it)"
    )


def too_many_redirects(url: str) -> TooManyRedirectsError:
    return TooManyRedirectsError(
        f"too many redirects following {url.split('?', 1)[0]} (more than {MAX_REDIRECTS} in a row)"
    )


def tls_error(url: str, verification: bool, detail: str, *, context: bool) -> TLSError:
    """A failed TLS verification or handshake; `context`: ``verify=`` takes an SSLContext."""
    where = url.split("?", 1)[0]
    if verification:
        ca = "verify=<path to your CA bundle>" + (" (or an ssl.SSLContext)" if context else "")
        return TLSError(
            f"TLS certificate verification failed for {where} ({detail}). Pass {ca} if the "
            "server uses a private CA."
        )
    return TLSError(
        f"TLS handshake with {where} failed ({detail}): the server may not speak TLS on "
        "that port; if it serves plain HTTP, use an http:// URL."
    )


def timed_out(url: str, phase: str) -> FlueTimeoutError:
    """Timed out `phase` ("connecting to", "reading the response from"...) the server."""
    return FlueTimeoutError(f"timed out {phase} {url.split('?', 1)[0]}")


def connect_error(url: str, reason: str | None) -> ConnectError:
    return ConnectError(
        f"could not connect to {url.split('?', 1)[0]}: {reason or 'connection failed'}"
    )


def cut_short(url: str, reason: str | None = None) -> ConnectionLostError:
    """The connection broke mid-response: the body was cut short, or `reason`."""
    how = f": {reason}" if reason is not None else " (the body was cut short)"
    return ConnectionLostError(f"the connection to {url.split('?', 1)[0]} broke mid-response{how}")


def malformed_head(url: str, detail: str) -> ProtocolError:
    """A status line or header block that is not HTTP: not retried (the same server sends the
    same bytes again)."""
    return ProtocolError(
        f"the server at {url.split('?', 1)[0]} sent a malformed HTTP response head ({detail}); "
        "is something other than an HTTP server listening there?"
    )


def scrub(error: E, headers: Mapping[str, str], proxy: Proxy | None = None) -> E:
    """`error` with the credentials of the request (and of its proxy) redacted."""
    secrets = credential_values(headers)
    if proxy is not None:
        for value in (proxy.username, proxy.password):
            if value and len(value) >= 3:
                secrets.add(value)
    return redact(error, secrets)


def read_timeout_for(timeout: Timeout, kind: RequestKind, *, wait: bool = False) -> float | None:
    """The per-read timeout that fits a request kind."""
    if kind is RequestKind.LONG_POLL:
        return timeout.long_poll
    if kind is RequestKind.SSE:
        return timeout.stall
    if kind is RequestKind.INVOKE and wait:
        return timeout.invoke_wait
    return timeout.read


def check_ca_bundle(verify: object, *, source: str = "verify") -> None:
    """Refuse a ``verify=`` path that names no readable file or folder, before any request."""
    if isinstance(verify, str) and not os.path.exists(verify):
        raise InvalidArgumentError(
            f"{source}={verify!r}: no CA bundle at that path; pass the path of a PEM file "
            "(or folder of certificates) that exists, True for the system CAs, or an ssl.SSLContext"
        )
    if isinstance(verify, str) and os.path.isfile(verify):
        import ssl  # loaded already by either HTTP library

        key = bundle_key(verify)
        if key in _READABLE_BUNDLES:
            return  # loading a system bundle takes ~25 ms: once per process, not per client
        try:  # the same check in both flavours (requests would only read it when connecting)
            ssl.create_default_context(cafile=verify)
        except (ssl.SSLError, OSError, ValueError):
            raise InvalidArgumentError(
                f"{source}={verify!r}: that file holds no readable PEM certificate; pass the "
                "path of your CA bundle (PEM), True for the system CAs, or an ssl.SSLContext"
            ) from None
        _READABLE_BUNDLES.add(key)


def bundle_key(path: str) -> tuple[str, int, int]:
    """What identifies a CA bundle's contents cheaply: its path, size and modification time
    (a bundle replaced on disk is read again)."""
    try:
        stat = os.stat(path)
    except OSError:
        return (path, -1, -1)
    return (path, stat.st_size, stat.st_mtime_ns)


_READABLE_BUNDLES: set[tuple[str, int, int]] = set()


_CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def client_network(
    *,
    verify: Any,
    proxy: str | None,
    trust_env: bool,
    owns_session: bool,
    environ: Mapping[str, str],
) -> tuple[Any, ProxySettings | None]:
    """The TLS verification setting and the proxy settings of a client, the same for both
    flavours (`environ` is read here, once).

    With ``trust_env`` and ``verify=True``, ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names
    the CA bundle, as `requests` has always done, in the asyncio client too. ``.netrc`` is never
    read: its credentials would replace the bearer token. A session passed in by the caller
    keeps its own proxy configuration (None is returned for it).
    """
    if not isinstance(trust_env, bool):
        raise InvalidArgumentError(f"trust_env must be True or False, got {trust_env!r}")
    if proxy is not None and not owns_session:
        raise InvalidArgumentError(
            "proxy= cannot be combined with session=: configure the proxy on your session"
        )
    if verify is True and trust_env:
        for name in _CA_BUNDLE_VARIABLES:
            path = environ.get(name, "").strip()
            if path:
                check_ca_bundle(path, source=name)
                verify = path
                break
    check_ca_bundle(verify)
    proxies = proxy_settings(proxy=proxy, trust_env=trust_env, environ=environ)
    return verify, proxies if owns_session else None


class DecodedBody:
    """The decoding of one compressed response body, driven by a transport's read loop::

        while (out := body.pull()) is None:
            body.push(<next raw bytes, b"" at the end>)
        return out

    `pull()` gives decoded bytes (at most `DECODE_CHUNK`), ``b""`` at the end, or None when it
    needs more raw bytes. A cut-short compressed body is a `ConnectionLostError` (retried like
    any cut body); corrupt data is a `ProtocolError` (a retry would most likely get the same
    mangled bytes). An error response's body only feeds an error message, so it is decoded
    as far as it goes and never fails.
    """

    def __init__(self, decoder: BodyDecoder, *, lenient: bool, where: str) -> None:
        self._decoder = decoder
        self._lenient = lenient
        self._where = where
        self._eof = False
        self._done = False

    @classmethod
    def for_response(
        cls, content_encoding: str | None, *, status: int, url: str
    ) -> DecodedBody | None:
        """The decoding for a response (None: not encoded, read it as it comes)."""
        where = url.split("?", 1)[0]
        lenient = status >= 300
        try:
            decoder = decoder_for(content_encoding, where=where)
        except ProtocolError:
            if lenient:
                return None  # an error body in an unknown coding: shown raw, never decoded
            raise
        return None if decoder is None else cls(decoder, lenient=lenient, where=where)

    def pull(self) -> bytes | None:
        """Decoded bytes, ``b""`` once the body has ended, None to ask for raw bytes."""
        if self._done:
            return b""
        try:
            out = self._decoder.read(DECODE_CHUNK)
        except ProtocolError:
            if not self._lenient:
                raise
            out, self._done = b"", True
        if out or self._done:
            return out
        if not self._eof:
            return None
        self._done = True
        if not self._decoder.complete and not self._lenient:
            raise ConnectionLostError(
                f"the connection to {self._where} broke mid-response (the compressed body "
                "was cut short)"
            )
        return b""

    def push(self, raw: bytes) -> None:
        """Raw body bytes as they arrived; ``b""`` when the body has ended."""
        if raw:
            self._decoder.feed(raw)
        else:
            self._eof = True


def body_too_large(url: str, limit: int) -> ProtocolError:
    """A response body went past the cap (counted in decoded bytes)."""
    return ProtocolError(
        f"the response body from {url.split('?', 1)[0]} exceeded {limit} bytes (decoded); "
        "the server sent more than any valid answer holds"
    )


def proxy_connect_error(proxy: Proxy, reason: str | None, *, timed_out: bool = False) -> ProxyError:
    """Could not connect to the proxy itself (refused, unknown host, timed out): retried."""
    what = "timed out connecting to" if timed_out else "could not connect to"
    why = f": {reason}" if reason and not timed_out else ""
    return ProxyError(
        f"{what} {proxy.display}{why}; check that the proxy is running and that "
        f"{proxy.source} names it (or bypass it with NO_PROXY or trust_env=False)"
    )


_AUTH_REASONS = {401: "Unauthorized", 407: "Proxy Authentication Required"}


def proxy_auth_error(
    proxy: Proxy | None, where: str, *, status: int = 407
) -> ProxyAuthenticationError:
    """The proxy answered 407 (to a request or to CONNECT): not retried."""
    name = proxy.display if proxy is not None else "a proxy between you and the server"
    if proxy is not None and proxy.username is not None:
        hint = f"it refused the credentials given in {proxy.source}; check them"
    else:
        hint = "it wants credentials: give them in the proxy URL, http://user:password@host:port"
    return ProxyAuthenticationError(
        f"{name} answered {status} {_AUTH_REASONS[status]} for {where}: {hint}"
    )


def tunnel_error(proxy: Proxy | None, status: int, reason: str, host: str) -> ProxyError:
    """The proxy answered CONNECT with something other than 200."""
    if status in (401, 407):  # 401 to CONNECT: only the proxy can ask (tinyproxy does so)
        return proxy_auth_error(proxy, host, status=status)
    name = proxy.display if proxy is not None else "the proxy"
    error = ProxyError(
        f"{name} could not open a tunnel to {host}: it answered {status} {reason}".rstrip()
    )
    if 400 <= status < 500 and status not in (408, 429):
        error.retryable = False  # the proxy's policy (a port it forbids...): a retry cannot help
    return error
