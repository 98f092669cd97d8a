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


@attrs.frozen
class _Envelope:
    type: str | None = None
    message: str | None = None
    details: Any = None
    meta: Any = None
    ref: str | None = None
    json: bool = False  # the body was JSON (Flue's errors are; an app's plain 404 is not)


def _envelope(body: bytes) -> _Envelope:
    """What Flue's error envelope says (all None when the body carried none)."""
    try:
        doc = load_json(body)
    except (ValueError, UnicodeDecodeError):  # nested too deeply too: the body is shown raw
        return _Envelope()
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        etype, msg, ref = err.get("type"), err.get("message"), err.get("ref")
        return _Envelope(
            type=etype if isinstance(etype, str) else None,
            message=msg if isinstance(msg, str) else None,
            details=err.get("details"),
            meta=err.get("meta"),
            ref=ref if isinstance(ref, str) and ref else None,
            json=True,
        )
    if isinstance(err, str):  # some proxies / older servers: {"error": "text"}
        return _Envelope(message=err, json=True)
    return _Envelope(json=True)


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
    envelope = _envelope(body)
    etype, server_msg = envelope.type, envelope.message
    ref = envelope.ref or headers.get("flue-error-ref") or None
    plain_404 = status == 404 and not envelope.json  # not Flue's: nothing is mounted there
    retry_after = parse_retry_after(headers.get("retry-after"), now=now)
    cls: type[APIError]
    if status == 404:
        if etype == "route_not_found" or plain_404:  # no route there: the URL is wrong
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
        if isinstance(envelope.details, str) and envelope.details.strip():
            what += f" {snippet(envelope.details.encode(), 300)}"  # Flue says why here
    elif body.strip():
        what = f"non-JSON error body: {snippet(body)!r}"
    else:
        what = "empty body"
    message = f"HTTP {status} from {_strip_query(url)} ({what})."
    if ref is not None:
        message += f" Server reference: {ref}."
    if plain_404 and (run_id is not None or workflow is not None):
        message += (
            " This is not a Flue 1.0 answer (its errors are JSON): nothing is served at that"
            " path. Workflows and runs exist in Flue 1.0 only; Flue 2.x has no workflow runs"
            " (talk to its agents with client.conversation(url)). Otherwise check the base URL."
        )
    elif plain_404:
        message += (
            " Nothing is served at that path (a plain 404, not one of Flue's JSON errors):"
            " check the URL, including where the application mounts the agent"
            " (Flue 2.x: wherever app.ts routes createAgentRouter(...), plus the conversation id)."
        )
    elif etype == "agent_instance_not_found":
        message += (
            " No conversation of that uid exists at this URL: it was never created, or was"
            " deleted and created again (a new uid). Send without uid= to continue whatever"
            " conversation is there, or start a new one."
        )
    elif etype == "agent_instance_exists":
        message += (
            " create_only=True refused: a conversation already exists at this URL (its uid is"
            " in error.meta['uid'])."
        )
    elif etype == "submission_conflict":
        message += (
            " This idempotency_key was already used for a different message (the existing"
            " submission is error.meta['submissionId']); use a fresh key for a new message."
        )
    elif etype == "stream_offset_gone":
        message += " The offset is past the head of the conversation's stream (it was reset)."
    elif etype == "route_not_found":
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
        details=envelope.details,
        body=body[:4096].decode("utf-8", "replace"),
        retry_after=retry_after,
        meta=envelope.meta,
        ref=ref,
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
