"""Agent conversations on the wire, what both server lines share: the conversation URL and the
requests that are the same on Flue 1.0 (beta.9) and 2.x.

How it works: a conversation is addressed by its URL: on beta.9 ``{base}/agents/{name}/{id}``
(each segment percent-encoded, so neither can climb out of ``/agents/``), on 2.x wherever the
application mounts the agent's router, plus the id. Every request below takes that URL. The
history is ``GET ?view=history``, the live chunks are the Durable Streams stream
``?view=updates``, an abort is ``POST /abort``, an attachment ``/attachments/{id}``. What
differs between the lines (the message body, waiting prompts, results) is in
`flue._protocol.agents_beta9` and `flue._protocol.agents_v2`; `flue._protocol.lines` learns
which line a server speaks.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import attrs

from flue._protocol.http import HttpRequest, RequestKind, join_url
from flue._settings import RetryPolicy
from flue.errors import InvalidArgumentError

__all__ = [
    "ABSENT_RETRY",
    "LAGGING_RETRY",
    "build_abort_request",
    "build_history_request",
    "conversation_url",
    "resolve_conversation_url",
    "updates_url",
]

_JSON = {"Accept": "application/json"}


def _segment(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {value!r}")
    if value in (".", ".."):  # percent-encoding leaves dots alone; URL libraries resolve them
        raise InvalidArgumentError(f"{value!r} is not a valid {what}")
    return quote(value, safe="")


def conversation_url(base: str, name: str, conversation_id: str) -> str:
    """``{base}/agents/{name}/{id}``, both segments percent-encoded."""
    agent = _segment("agent name", name)
    return f"{base}/agents/{agent}/{_segment('conversation id', conversation_id)}"


def resolve_conversation_url(base: str, url_or_path: object) -> str:
    """A conversation's absolute URL: `url_or_path` as is when absolute (``http``/``https``),
    else resolved under `base`; trailing slashes dropped. A query or fragment is refused: the
    calls append their own (``?view=history``, ``/abort``)."""
    if not isinstance(url_or_path, str) or not url_or_path.strip("/ "):
        raise InvalidArgumentError(
            f"a conversation URL must be a non-empty URL or path, got {url_or_path!r}"
        )
    parts = urlsplit(url_or_path)
    if parts.query or parts.fragment or "?" in url_or_path or "#" in url_or_path:
        raise InvalidArgumentError(
            "a conversation URL must not carry a query or fragment (the calls add their own "
            "paths and queries after it); pass credentials with token= or headers="
        )
    if parts.scheme and parts.scheme not in ("http", "https"):
        raise InvalidArgumentError(
            f"a conversation URL must be http(s) or a path, got scheme {parts.scheme!r}"
        )
    if parts.scheme and not parts.netloc:
        raise InvalidArgumentError(f"{url_or_path!r} has no host")
    return join_url(base, url_or_path).rstrip("/")


def updates_url(url: str) -> str:
    """The stream of a conversation's chunks (``?view=updates``; a ``view`` already in the URL
    is replaced)."""
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("view=")]
    return f"{base}?{'&'.join([*kept, 'view=updates'])}"


def build_history_request(url: str) -> HttpRequest:
    """``GET {conversation}?view=history``: the whole conversation and its offset."""
    return HttpRequest(
        method="GET", url=f"{url}?view=history", kind=RequestKind.META, headers=_JSON
    )


def build_abort_request(url: str) -> HttpRequest:
    """``POST {conversation}/abort``: stop the work under way and queued."""
    return HttpRequest(method="POST", url=f"{url}/abort", kind=RequestKind.META, headers=_JSON)


# How long an observer waits before it reads a conversation's history again, as policies of the
# one backoff computation (`flue._protocol.retry.RetryState`; no jitter, no limit): while the
# conversation does not exist yet, 0.25 s doubling to 5 s; after chunks it could not apply,
# several times in a row (a history that lags its updates), the same from 0.5 s.
ABSENT_RETRY = RetryPolicy(
    initial_delay=0.25,
    max_delay=5.0,
    multiplier=2.0,
    max_attempts=None,
    max_elapsed=None,
    jitter=False,
    fail_fast=False,
)
LAGGING_RETRY = attrs.evolve(ABSENT_RETRY, initial_delay=0.5)
