"""Request building: plain values describing each HTTP request the client makes.

A `HttpRequest` says method, URL, protocol headers and body; the transports send it and the
client adds authentication and user headers. Routes resolve under the base URL's path, the run
id is always one percent-encoded path segment, and offsets are percent-encoded verbatim.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import attrs

from flue._protocol.params import OFFSET_NOW, OFFSET_START, LiveMode
from flue.errors import InvalidArgumentError

__all__ = [
    "HttpRequest",
    "RequestKind",
    "build_invoke_request",
    "build_read_request",
    "build_run_record_request",
    "join_url",
    "json_post",
    "normalize_base_url",
    "read_mode",
    "run_url",
    "with_params",
]


class RequestKind(str, enum.Enum):
    """What a request is for; the transport picks its timeouts from this."""

    META = "meta"
    CATCH_UP = "catch-up"
    LONG_POLL = "long-poll"
    SSE = "sse"
    INVOKE = "invoke"


@attrs.frozen(kw_only=True)
class HttpRequest:
    """One HTTP request, ready to send (minus auth and user headers)."""

    method: str
    url: str
    kind: RequestKind
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes | None = None


def normalize_base_url(base_url: object) -> str:
    """Validate a base URL and return it without a trailing slash."""
    if not isinstance(base_url, str) or not base_url:
        raise InvalidArgumentError(
            "base_url is required: pass base_url='https://your-app.example' or set FLUE_BASE_URL"
        )
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgumentError(
            f"base_url must be an absolute http:// or https:// URL, got {base_url!r}"
        )
    if parts.query or parts.fragment:
        raise InvalidArgumentError("base_url must not carry a query string or fragment")
    return base_url.rstrip("/")


def join_url(base: str, path_or_url: str) -> str:
    """Resolve `path_or_url` under `base` (absolute URLs are returned unchanged)."""
    if urlsplit(path_or_url).scheme in ("http", "https"):
        return path_or_url
    return f"{base}/{path_or_url.lstrip('/')}"


def run_url(base: str, run_id: str) -> str:
    """The URL of one run's stream; the id can never climb out of ``/runs/``."""
    return f"{base}/runs/{quote(run_id, safe='')}"


def build_run_record_request(base: str, run_id: str) -> HttpRequest:
    """``GET {base}/runs/{id}?meta``."""
    return HttpRequest(
        method="GET",
        url=f"{run_url(base, run_id)}?meta",
        kind=RequestKind.META,
        headers={"Accept": "application/json"},
    )


def read_mode(
    live: LiveMode | None, *, offset: str, up_to_date: bool, probe: bool
) -> LiveMode | None:
    """The live mode of the next read from `offset` (None: a plain catch-up read)."""
    if live is LiveMode.SSE:
        return LiveMode.SSE
    if live is LiveMode.LONG_POLL and (up_to_date or offset == OFFSET_NOW) and not probe:
        # from "now" there is nothing to catch up on: the server starts waiting at once (one
        # request instead of a catch-up then a long-poll); its 204 or 200 carries the concrete
        # offset that replaces "now" as the checkpoint
        return LiveMode.LONG_POLL
    return None  # catching up, or the probe after a proxy's 502/504 (answers.py, rule 3)


def build_read_request(
    stream_url: str,
    *,
    offset: str,
    tail: int | None = None,
    live: LiveMode | None = None,
    cursor: str | None = None,
) -> HttpRequest:
    """A read of a stream: catch-up (``live=None``), long-poll or SSE.

    ``tail`` is sent only with the ``-1`` start, which is the only offset it modifies; the
    cursor is echoed only on live reads.
    """
    query = [f"offset={quote(offset, safe='')}"]
    if tail is not None and offset == OFFSET_START:
        query.append(f"tail={tail}")
    if live is not None:
        query.append(f"live={live.value}")
        if cursor is not None:
            query.append(f"cursor={quote(cursor, safe='')}")
    sep = "&" if "?" in stream_url else "?"
    if live is LiveMode.SSE:
        kind, accept = RequestKind.SSE, "text/event-stream"
    else:
        kind = RequestKind.LONG_POLL if live is LiveMode.LONG_POLL else RequestKind.CATCH_UP
        accept = "application/json"
    return HttpRequest(
        method="GET",
        url=f"{stream_url}{sep}{'&'.join(query)}",
        kind=kind,
        headers={"Accept": accept},
    )


def with_params(request: HttpRequest, pairs: Sequence[tuple[str, str]]) -> HttpRequest:
    """`request` with the caller's query parameters appended after the protocol's own."""
    if not pairs:
        return request
    sep = "&" if "?" in request.url else "?"
    query = urlencode(list(pairs), quote_via=quote)
    return attrs.evolve(request, url=f"{request.url}{sep}{query}")


def build_invoke_request(base: str, name: str, input: Any = None, *, wait: bool) -> HttpRequest:
    """``POST {base}/workflows/{name}`` with the JSON input (``?wait=result`` to wait).

    ``input=None`` sends no body, so the run has no input.
    """
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"workflow name must be a non-empty string, got {name!r}")
    if name in (".", ".."):  # "/workflows/.." would resolve to the base URL itself
        raise InvalidArgumentError(f"{name!r} is not a valid workflow name")
    url = f"{base}/workflows/{quote(name, safe='')}"
    if wait:
        url += "?wait=result"
    if input is None:  # no input at all: Flue then records none (no `input` key)
        return HttpRequest(
            method="POST", url=url, kind=RequestKind.INVOKE, headers={"Accept": "application/json"}
        )
    try:
        body = json.dumps(input, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"workflow input is not JSON-serialisable: {exc}") from exc
    return json_post(url, body)


def json_post(url: str, body: bytes) -> HttpRequest:
    """``POST`` of a JSON `body` that starts work (a workflow run, an agent message)."""
    return HttpRequest(
        method="POST",
        url=url,
        kind=RequestKind.INVOKE,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
    )
