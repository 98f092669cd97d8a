"""One exception tree for everything `flue` raises.

Nothing from ``requests``, ``aiohttp`` or ``json`` escapes the package: the transports and the
protocol core wrap them in these classes and keep the original as ``__cause__``.

Server-derived text (an error body, a reason phrase, a malformed status line) can echo the
request's credentials back: a proxy that prints the ``Authorization`` header it received. The
token and the values of the credential headers sent are replaced by ``<redacted>`` in every
error's message and attributes, in chained exceptions and in log records, by the rule written
down in the documentation's security page ("Redaction").
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
    "FlueExecutionError",
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
    "RedirectError",
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


class RedirectError(TransportError):
    """A redirect that cannot be followed: to a scheme other than http(s) (``file:``,
    ``ftp:``, ``data:``...), or one too many. Not retried: the next answer would be the same."""

    retryable = False


class TooManyRedirectsError(RedirectError):
    """The server redirected more than 10 times in a row (a redirect loop?)."""

    retryable = False


class ConnectionLostError(TransportError):
    """The connection broke while a response was being read."""


class FlueTimeoutError(TransportError):
    """A connect, read or stall timeout expired."""


class APIError(FlueError):
    """The server answered with an HTTP error status.

    ``error_type`` is the ``error.type`` of Flue's error envelope when the body carried one;
    branch on it, never on ``message``. ``meta`` is the envelope's ``error.meta`` (Flue 2.x:
    e.g. ``{"uid": ...}`` of ``agent_instance_exists``, ``{"submissionId": ...}`` of
    ``submission_conflict``, ``{"offset", "nextOffset"}`` of ``stream_offset_gone``), and
    ``ref`` the server's reference for this failure (``error.ref`` or the ``flue-error-ref``
    header, Flue 2.x; quote it to the application's operators), both None when absent.

    Attributes:
        message: The message (also ``str(error)``): the status, the URL, the server's own
            message, and a hint when one fits.
        status: The HTTP status.
        error_type: Flue's ``error.type`` (``"run_not_found"``, ``"agent_instance_exists"``,
            ...), or None when the body had no Flue error envelope.
        details: The envelope's ``error.details`` (any JSON value), or None.
        body: The response body as text (its first 4,096 bytes).
        retry_after: Seconds from the ``Retry-After`` header, or None.
        meta: The envelope's ``error.meta`` (Flue 2.x), or None.
        ref: The server's reference for this failure (Flue 2.x), or None.
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
        meta: Any = None,
        ref: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_type = error_type
        self.details = details
        self.body = body
        self.retry_after = retry_after
        self.meta = meta
        self.ref = ref

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


class FlueExecutionError(FlueError):
    """A workflow run or an agent submission ended without a result.

    ``target`` is ``"workflow_run"`` (``workflows.run()``) or ``"agent_submission"``
    (``agents.wait()``, ``agents.prompt()``); ``target_id`` the run or submission id (``""``
    when the server did not say); ``failure`` is ``"failed"``, ``"aborted"`` (an agent
    submission stopped by ``agents.abort()``) or ``"terminal_event_missing"`` (the stream
    ended without saying how the run ended, and its record is not finished); ``error`` is the
    error the server reported (its JSON value), or None.

    Attributes:
        target: ``"workflow_run"`` or ``"agent_submission"``.
        target_id: The run id or the submission id (``""`` when the server did not say).
        failure: ``"failed"``, ``"aborted"`` or ``"terminal_event_missing"``.
        error: The error the server reported (its JSON value), or None.
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        target: str,
        target_id: str,
        failure: str,
        error: Any = None,
    ) -> None:
        if message is None:
            what = "Agent submission" if target == "agent_submission" else "Workflow run"
            if target_id:
                what += f" {target_id!r}"
            if failure == "terminal_event_missing":
                message = (
                    f"{what} ended without a terminal event and its record is not finished; "
                    "check it later with runs.get()"
                    if target == "workflow_run"
                    else f"{what}: the stream ended before it settled; see agents.history()"
                )
            else:
                verb = "was aborted" if failure == "aborted" else "failed"
                detail = _error_text(error)
                message = f"{what} {verb}" + (f": {detail}" if detail else "")
        super().__init__(message)
        self.target = target
        self.target_id = target_id
        self.failure = failure
        self.error = error

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(target={self.target!r}, target_id={self.target_id!r}, "
            f"failure={self.failure!r})"
        )


def _error_text(error: Any) -> str:
    if isinstance(error, str):
        return error
    if isinstance(error, dict):
        message = error.get("message")
        kind = error.get("type") or error.get("name")
        if isinstance(message, str) and isinstance(kind, str):
            return f"{kind}: {message}"
        if isinstance(message, str):
            return message
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else ""
