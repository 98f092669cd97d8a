"""One exception tree for everything `flue` raises.

Nothing from ``requests``, ``aiohttp`` or ``json`` escapes the package: the transports and the
protocol core wrap them in these classes and keep the original as ``__cause__``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectError",
    "ConnectionLostError",
    "FlueError",
    "FlueTimeoutError",
    "InvalidArgumentError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyAuthenticationError",
    "ProxyError",
    "RateLimitError",
    "RunNotFoundError",
    "ServerError",
    "TLSError",
    "TooManyRedirectsError",
    "TransportError",
    "WorkflowNotFoundError",
]


class FlueError(Exception):
    """Base class of every error raised by `flue`."""


class InvalidArgumentError(FlueError, ValueError):
    """The caller passed an invalid argument (raised before any request is made)."""


class ProtocolError(FlueError):
    """The server sent something that does not follow the protocol (malformed data)."""


class TransportError(FlueError):
    """The HTTP exchange failed below the protocol: connection refused, reset, cut, timed out.

    ``retryable`` is False for failures that a retry cannot fix (TLS verification, redirects).
    ``sent`` is False when the request certainly never reached the server.
    """

    retryable: bool = True
    sent: bool = True


class ConnectError(TransportError):
    """Could not connect to the server."""

    sent = False


class ProxyError(ConnectError):
    """The request could not get through the HTTP proxy: the proxy refused the connection, or
    could not open a tunnel to the server. Retried, unless the proxy's answer says a retry
    cannot help (such as 403 for a port it does not allow)."""


class ProxyAuthenticationError(ProxyError):
    """The proxy answered 407: it wants credentials it was not given, or refused them. Pass
    them in the proxy URL: ``proxy="http://user:password@host:port"`` or in ``HTTPS_PROXY``."""

    retryable = False


class TLSError(ConnectError):
    """TLS verification failed: pass your CA bundle (``verify=...``) or fix the certificate."""

    retryable = False


class TooManyRedirectsError(TransportError):
    """The server redirected too many times (a redirect loop?)."""

    retryable = False


class ConnectionLostError(TransportError):
    """The connection broke while a response was being read."""


class FlueTimeoutError(TransportError):
    """A connect, read or stall timeout expired."""


class APIError(FlueError):
    """The server answered with an HTTP error status.

    ``error_type`` is the ``error.type`` of Flue's error envelope when the body carried one;
    branch on it, never on ``message``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        details: Any = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.details = details
        self.body = body
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error_type={self.error_type!r}, "
            f"message={self.message!r})"
        )


class BadRequestError(APIError):
    """400: the server rejected the request as invalid."""


class AuthenticationError(APIError):
    """401: the request carried no valid credentials."""


class PermissionDeniedError(APIError):
    """403: the credentials are not allowed to do this."""


class NotFoundError(APIError):
    """404: the resource does not exist (or is not visible to these credentials)."""


class RunNotFoundError(NotFoundError):
    """404 for a run: unknown, expired, not exposed, or not authorized (Flue answers all alike)."""


class WorkflowNotFoundError(NotFoundError):
    """404 for a workflow name that the application does not define."""


class ConflictError(APIError):
    """409: the request conflicts with the resource's state."""


class RateLimitError(APIError):
    """429: too many requests; retried automatically, raised once retries are exhausted."""


class ServerError(APIError):
    """5xx: the server failed; retried automatically, raised once retries are exhausted."""
