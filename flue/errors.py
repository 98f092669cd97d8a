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

import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import re

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
# also here, for the transports and the protocol core (not public API): `Secrets`,
# `credential_values`, `redact`, `REDACTED`


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


# -- redaction ------------------------------------------------------------------------------

REDACTED = "<redacted>"
E = TypeVar("E", bound=BaseException)

# header names whose values are credentials (lower case; a name containing any of these words)
_CREDENTIAL_WORDS = ("auth", "token", "secret", "key", "cookie", "session", "password", "sig")
_MIN_SECRET = 3  # shorter values would mangle every message they appear in by chance


def credential_values(headers: Mapping[str, str]) -> set[str]:
    """The values to redact among request headers: each credential header's value, and its
    credentials alone when it has a scheme (``Bearer <token>`` -> ``<token>``)."""
    found: set[str] = set()
    for name, value in headers.items():
        if not isinstance(value, str) or not any(w in name.lower() for w in _CREDENTIAL_WORDS):
            continue
        for candidate in (value, value.partition(" ")[2]):
            candidate = candidate.strip()
            if len(candidate) >= _MIN_SECRET:
                found.add(candidate)
    return found


class Secrets:
    """The credentials a client has sent (token, credential headers), for `redact()`; the
    most recent `limit` values are kept (a header factory may rotate them).

    Every record of the ``flue`` logger is also scrubbed of the values of all live `Secrets`
    (a server-chosen cursor or offset, echoed in a logged URL, could carry a credential)."""

    def __init__(self, *values: str | None, limit: int = 64) -> None:
        self._values: dict[str, None] = {}
        self._limit = limit
        for value in values:
            if value is not None:
                self.add(value)
        _install_log_filter()
        _LIVE.add(self)

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < _MIN_SECRET or value in self._values:
            return
        self._values[value] = None
        while len(self._values) > self._limit:
            del self._values[next(iter(self._values))]

    def add_headers(self, headers: Mapping[str, str]) -> None:
        for value in credential_values(headers):
            self.add(value)

    def __call__(self) -> frozenset[str]:
        return frozenset(self._values)


# Where a secret is replaced (docs/security.md, "Redaction"):
# - a secret of _MIN_ANYWHERE characters or more, wherever it occurs (a string that long does not
#   turn up inside other text by chance: where it does, it is the credential, concatenated);
# - a shorter one (`wrong`, `run`) only where a credential stands: a whole value (the whole text,
#   a JSON string value, a header or query value) or a token of its own that follows `=`, `:`,
#   a quote or the start of the text and is not followed by a token character. Inside a word or
#   an identifier (`/runs/run_x`) and in prose ("a missing or wrong token") it is left alone.
_MIN_ANYWHERE = 8
_TOKEN_CHARS = r"\w.~+/=-"  # what a token, an identifier or a URL component is made of


def _short_pattern(secret: str) -> re.Pattern[str]:
    import re  # on first use (`import flue` stays light)

    return re.compile(rf"(?:(?<=[=:\"'])|^)(\s*){re.escape(secret)}(?![{_TOKEN_CHARS}])")


def _redacted_after_space(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


def _scrub_text(text: str, secrets: Iterable[str]) -> str:
    if not text:
        return text
    # longest first: a secret that contains another is replaced whole
    for secret in sorted(secrets, key=len, reverse=True):
        if secret not in text:
            continue
        if len(secret) >= _MIN_ANYWHERE or text.strip() == secret:
            text = text.replace(secret, REDACTED)
        else:
            text = _short_pattern(secret).sub(_redacted_after_space, text)
    return text


def _shows(text: str, secrets: frozenset[str]) -> bool:
    """Whether `text` shows one of `secrets` where `_scrub_text` would replace it."""
    return _scrub_text(text, secrets) != text


def _scrub_value(value: Any, secrets: frozenset[str], depth: int = 0) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, secrets)
    if depth > 100:  # deeper than any useful details: not walked further
        return REDACTED
    if isinstance(value, list):
        return [_scrub_value(v, secrets, depth + 1) for v in value]
    if isinstance(value, dict):
        return {
            _scrub_text(k, secrets) if isinstance(k, str) else k: _scrub_value(
                v, secrets, depth + 1
            )
            for k, v in value.items()
        }
    return value


def _mentions(exc: BaseException, secrets: frozenset[str]) -> bool:
    try:
        texts = (str(exc), repr(exc))
    except Exception:  # a str() that fails cannot be shown either: drop it
        return True
    return any(_shows(text, secrets) for text in texts)


def redact(error: E, secrets: Iterable[str]) -> E:
    """`error` with every secret replaced by ``<redacted>`` (where `_scrub_text` finds one) in
    its message and, for an `APIError`, its ``message``, ``body``, ``details``, ``meta``,
    ``error_type`` and ``ref`` (a `FlueExecutionError`: ``target_id`` and ``error``); a chained
    exception (``__cause__``, ``__context__``) whose text shows a secret is cut from the chain.
    Returns `error` itself."""
    found = frozenset(s for s in secrets if s)
    if not found:
        return error
    error.args = tuple(
        _scrub_text(arg, found) if isinstance(arg, str) else arg for arg in error.args
    )
    if isinstance(error, APIError):
        error.message = _scrub_text(error.message, found)
        error.body = _scrub_text(error.body, found)
        error.details = _scrub_value(error.details, found)
        error.meta = _scrub_value(error.meta, found)
        if error.error_type is not None:
            error.error_type = _scrub_text(error.error_type, found)
        if error.ref is not None:
            error.ref = _scrub_text(error.ref, found)
    elif isinstance(error, FlueExecutionError):
        error.target_id = _scrub_text(error.target_id, found)
        error.error = _scrub_value(error.error, found)
    link: BaseException = error
    seen = {id(error)}
    while True:
        nxt = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        if _mentions(nxt, found):
            link.__cause__ = None
            link.__suppress_context__ = True
            break
        link = nxt
    return error


_LIVE: weakref.WeakSet[Secrets] = weakref.WeakSet()
_FILTERED: set[str] = set()
# loggers that log server-derived text: ours (URLs with the server's cursor), urllib3's
# request lines and header-parsing warnings
_LOGGERS = ("flue", "urllib3.connectionpool", "urllib3.connection", "urllib3.response")


def _install_log_filter(names: Iterable[str] = _LOGGERS) -> None:
    """Scrub the records of these loggers (installed with the first client: `import flue`
    does not import `logging`)."""
    names = [name for name in names if name not in _FILTERED]
    if not names:
        return
    import logging

    class _Redacting(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            found = frozenset().union(*(secrets() for secrets in list(_LIVE)))
            if found:
                try:
                    text = record.getMessage()
                except Exception:  # a broken record is logging's to report
                    return True
                scrubbed = _scrub_text(text, found)
                if scrubbed != text:
                    record.msg, record.args = scrubbed, None
            return True

    for name in names:
        logging.getLogger(name).addFilter(_Redacting())
        _FILTERED.add(name)
