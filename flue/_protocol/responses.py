"""Response interpretation: status, headers and body bytes in, typed outcomes out.

`read_head()` extracts the Durable Streams coordination headers of a successful read;
`api_error()` turns an error status and its body into the right `APIError` subclass, parsing
Flue's ``{"error": {...}}`` envelope when present and still saying something useful when the
body is empty, HTML or cut short. `decode_json_batch()` checks that a read body is a JSON array
of objects. Header lookups are case-insensitive: headers are lower-cased once per response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flue._protocol.jsondecode import load_json
from flue.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RunNotFoundError,
    ServerError,
    WorkflowNotFoundError,
)

__all__ = [
    "ReadHead",
    "api_error",
    "decode_json_batch",
    "is_retryable_status",
    "load_json",
    "lower_headers",
    "parse_retry_after",
    "read_head",
    "snippet",
]

_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
# the longest Retry-After honoured: a server asking for more (1e308 seconds, the year 9999) is
# waited for this long, which the retry limits then decide about, instead of overflowing a timer
MAX_RETRY_AFTER = 3600.0


def lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-case header names once, so that later look-ups are plain dict gets."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k.lower(): v for k, v in items}


@attrs.frozen(kw_only=True)
class ReadHead:
    """The coordination headers of a successful read response."""

    next_offset: str | None
    up_to_date: bool
    closed: bool
    cursor: str | None
    etag: str | None
    content_type: str
    sse_base64: bool


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def read_head(headers: Mapping[str, str]) -> ReadHead:
    """Extract the Stream-* headers (`headers` must already be lower-cased)."""
    return ReadHead(
        next_offset=headers.get("stream-next-offset") or None,
        up_to_date=_flag(headers.get("stream-up-to-date")),
        closed=_flag(headers.get("stream-closed")),
        cursor=headers.get("stream-cursor") or None,
        etag=headers.get("etag"),
        content_type=headers.get("content-type", "").split(";", 1)[0].strip().lower(),
        sse_base64=headers.get("stream-sse-data-encoding", "").strip().lower() == "base64",
    )


def is_retryable_status(status: int) -> bool:
    """429, 408 and the transient 5xx statuses are worth retrying; other errors are final."""
    return status in _RETRYABLE or (status >= 500 and status not in (501, 505))


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None.

    `now` is the current wall-clock time (epoch seconds), passed in to keep this pure.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime  # rare: keep `socket` out of import flue

        try:
            when = parsedate_to_datetime(value)
            if when.tzinfo is None:
                return None
            seconds = when.timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        return min(max(0.0, seconds), MAX_RETRY_AFTER)
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        return None
    return min(seconds, MAX_RETRY_AFTER)


def snippet(body: bytes, limit: int = 200) -> str:
    """The first bytes of a body as readable text, for error messages."""
    text = body[:limit].decode("utf-8", "replace")
    text = " ".join(text.split())
    if len(body) > limit:
        text += "…"
    return text


def _envelope(body: bytes) -> tuple[str | None, str | None, Any]:
    """(type, message, details) from Flue's error envelope, or Nones."""
    try:
        doc = load_json(body)
    except (ValueError, UnicodeDecodeError):  # nested too deeply too: the body is shown raw
        return None, None, None
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        etype = err.get("type")
        msg = err.get("message")
        return (
            etype if isinstance(etype, str) else None,
            msg if isinstance(msg, str) else None,
            err.get("details"),
        )
    if isinstance(err, str):  # some proxies / older servers: {"error": "text"}
        return None, err, None
    return None, None, None


_HINTS = {
    400: "The server rejected the request as invalid; check the arguments.",
    401: "The server wants credentials: pass token=... (or set FLUE_TOKEN) or check it is valid.",
    403: "The credentials were accepted but are not allowed to do this.",
    409: "The request conflicts with the resource's current state.",
    429: "The server is rate limiting; slow down or raise the retry limits.",
}


def api_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str,
    now: float,
    run_id: str | None = None,
    workflow: str | None = None,
) -> APIError:
    """Build the `APIError` subclass for an error response (`headers` lower-cased)."""
    etype, server_msg, details = _envelope(body)
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    cls: type[APIError]
    if status == 404:
        if etype == "route_not_found":  # the path matched no route: the base URL is wrong
            cls = NotFoundError
        elif etype == "workflow_not_found" or (workflow is not None and etype != "run_not_found"):
            cls = WorkflowNotFoundError
        elif run_id is not None or etype == "run_not_found":
            cls = RunNotFoundError
        else:
            cls = NotFoundError
    else:
        cls = {
            400: BadRequestError,
            401: AuthenticationError,
            403: PermissionDeniedError,
            409: ConflictError,
            429: RateLimitError,
        }.get(status, ServerError if status >= 500 else APIError)

    if server_msg is not None:
        what = f"{etype}: {server_msg}" if etype else server_msg
    elif body.strip():
        what = f"non-JSON error body: {snippet(body)!r}"
    else:
        what = "empty body"
    message = f"HTTP {status} from {_strip_query(url)} ({what})."
    if etype == "route_not_found":
        message += (
            " Nothing is served at that path: check the base URL, including its path prefix"
            " (it must be the URL under which the app serves /runs and /workflows)."
        )
    elif cls is RunNotFoundError:
        message += (
            f" Run {run_id!r} is unknown or expired, or is not readable with these credentials:"
            " Flue answers a missing or wrong token with the same 404, so check both the run id"
            " and the token."
        )
    elif cls is WorkflowNotFoundError:
        message += f" The application defines no workflow named {workflow!r}."
    elif status in _HINTS:
        message += " " + _HINTS[status]
    elif status >= 500 and workflow is not None:
        if etype == "action_input_validation":
            message += f" The input does not match what workflow {workflow!r} accepts."
        else:
            message += f" Workflow {workflow!r} failed or could not be started (not retried)."
    elif status >= 500:
        message += " The server failed; flue retries such answers with backoff."
    return cls(
        message,
        status=status,
        error_type=etype,
        details=details,
        body=body[:4096].decode("utf-8", "replace"),
        retry_after=retry_after,
    )


def _strip_query(url: str) -> str:
    return url.split("?", 1)[0]


def decode_json_batch(body: bytes, *, objects_only: bool = True) -> list[Any]:
    """A read body -> its list of items: anything but a JSON array is a protocol error.

    With `objects_only` (run streams) every item must also be a JSON object (an event).
    """
    try:
        doc = load_json(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"read body is not valid UTF-8: {snippet(body)!r}") from exc
    except ValueError as exc:
        if not body.strip():
            raise ProtocolError("read response had an empty body; expected a JSON array") from exc
        raise ProtocolError(
            f"read body is not valid JSON ({exc}); first bytes: {snippet(body)!r}"
        ) from exc
    if type(doc) is not list:
        raise ProtocolError(
            f"read body is JSON but not an array of events; first bytes: {snippet(body)!r}"
        )
    if not objects_only:
        return doc
    for item in doc:
        if type(item) is not dict:
            raise ProtocolError(
                f"read body holds a {type(item).__name__} where an event object was expected"
            )
    return doc
