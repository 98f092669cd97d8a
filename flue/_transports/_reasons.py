"""Plain-words reasons for socket, DNS and TLS failures, found anywhere in an exception chain.

The HTTP libraries' own exception text carries their internal class names, object reprs
(``<... object at 0x...>``) and retry-pool jargon, none of which tells a user what happened. The
transports walk the chain down to the standard-library error (``ConnectionRefusedError``,
``socket.gaierror``, ``ssl.SSLError``...) and describe that instead.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl
from collections.abc import Iterator
from typing import Literal

__all__ = ["causes", "clean", "find", "os_reason", "tls_reason", "unreachable"]

_LINKS = ("reason", "os_error", "certificate_error", "__cause__", "__context__")
_OBJECT_REPR = re.compile(r"<[^<>]*? object at 0x[0-9a-fA-F]+>")
_PRIVATE_NAME = re.compile(r"\b_+[A-Z]\w*")
_SSL_PREFIX = re.compile(r"^\[[A-Z0-9_: ]+\]\s*")
_SSL_SUFFIX = re.compile(r"\s*\(_ssl\.c:\d+\)\s*$")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps, outermost first (each once)."""
    seen: set[int] = set()
    queue = [exc]
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for name in _LINKS:
            linked = getattr(current, name, None)
            if isinstance(linked, BaseException):
                queue.append(linked)
        queue.extend(arg for arg in current.args if isinstance(arg, BaseException))


def find(exc: BaseException, kind: type[BaseException] | tuple[type[BaseException], ...]) -> bool:
    """True if `exc` or anything it wraps is a `kind`."""
    return any(isinstance(e, kind) for e in causes(exc))


def clean(text: str) -> str:
    """Library text without object reprs or private class names, on one line."""
    text = _OBJECT_REPR.sub("", text)
    text = _PRIVATE_NAME.sub("", text)
    return " ".join(text.split()).strip(" :;,") or "unknown error"


def _ssl_text(exc: ssl.SSLError) -> str:
    text = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], str) else str(exc)
    return clean(_SSL_SUFFIX.sub("", _SSL_PREFIX.sub("", text)))


def tls_reason(exc: BaseException) -> tuple[bool, str] | None:
    """``(is_verification_failure, detail)`` for a TLS failure in the chain, else None."""
    # aiohttp's TLS errors subclass ssl.SSLError themselves: prefer the stdlib's own instance
    found = [e for e in causes(exc) if isinstance(e, ssl.SSLError)]
    found.sort(key=lambda e: type(e).__module__ != "ssl")
    for e in found:
        if isinstance(e, ssl.SSLCertVerificationError):
            message = getattr(e, "verify_message", None)
            return True, clean(message) if isinstance(message, str) else _ssl_text(e)
    if found:
        return False, _ssl_text(found[0])
    return None


def os_reason(exc: BaseException, host: str | None) -> str | None:
    """What a socket-level failure in the chain means, or None when there is none."""
    chain = list(causes(exc))
    for e in chain:
        if isinstance(e, socket.gaierror):
            why = e.strerror or clean(str(e))
            return f"the host name {host!r} could not be resolved ({why}); check the URL's host"
    for e in chain:
        if _refused(e):
            return "connection refused (is the server running, and is the port in the URL right?)"
        if isinstance(e, ConnectionResetError):
            return "the server reset the connection"
        if isinstance(e, ConnectionAbortedError):
            return "the connection was aborted"
        if isinstance(e, (TimeoutError, socket.timeout)):
            return "timed out"
    for e in reversed(chain):  # innermost first: the plain OSError, not a library wrapper
        if isinstance(e, OSError) and type(e).__module__ == "builtins":
            if e.strerror:
                return e.strerror[:1].lower() + e.strerror[1:]
            if e.args and isinstance(e.args[0], str):
                return clean(e.args[0])
    return None


def _refused(e: BaseException) -> bool:
    # asyncio reports a refusal on each of several addresses (localhost: ::1 and 127.0.0.1) as
    # one OSError without errno, its text listing each "[Errno 111] Connect call failed"
    return isinstance(e, ConnectionRefusedError) or (
        isinstance(e, OSError)
        and (e.errno == errno.ECONNREFUSED or f"[Errno {errno.ECONNREFUSED}]" in str(e))
    )


def unreachable(exc: BaseException) -> Literal["refused", "unknown host"] | None:
    """Whether `exc` says that the host name is unknown, or that it refused the connection."""
    chain = list(causes(exc))
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "unknown host"
    if any(_refused(e) for e in chain):
        return "refused"
    return None
