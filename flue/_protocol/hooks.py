"""Event hooks: what a client's ``event_hooks`` see of each request and response.

How it works: the client builds one `RequestInfo` per HTTP request it sends (every read,
reconnect, retry and one-shot call), after its headers and query parameters are final, and
hands it to each ``"request"`` hook before sending; once the response head has arrived it
builds a `ResponseInfo` holding that same `RequestInfo` and hands it to each ``"response"``
hook. Both are frozen, built here from plain values (no I/O), with credentials redacted:
every header whose name looks like a credential (``Authorization``, ``Cookie``, ``X-Api-Key``,
``*-Token``, ...) shows ``<redacted>``, and the client's known secrets (its token, credential
header values, credential-named query parameters) are replaced wherever else they appear, the
URL's query included. `check_event_hooks` validates the option.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from flue._protocol.secrets import REDACTED, is_credential_name, scrub_text
from flue.errors import InvalidArgumentError

__all__ = [
    "HOOK_EVENTS",
    "RequestInfo",
    "ResponseInfo",
    "check_event_hooks",
    "is_async_callable",
    "redact_headers",
]

HOOK_EVENTS = ("request", "response")


@attrs.frozen(kw_only=True, eq=False)
class RequestInfo:
    """An HTTP request the client is about to send, as an event hook sees it.

    Compared and hashed by identity: the `ResponseInfo.request` of its response is this very
    object, so it can key a dict (a span per request, for instance).
    """

    method: str
    """``"GET"``, ``"POST"`` or ``"HEAD"``."""
    url: str
    """The full URL, query included (credentials redacted)."""
    headers: Mapping[str, str]
    """The headers sent, names in lower case (credentials redacted)."""
    kind: str
    """What the request is for: ``"catch-up"``, ``"long-poll"``, ``"sse"``, ``"meta"`` (a
    run record) or ``"invoke"`` (starting a run)."""


@attrs.frozen(kw_only=True, eq=False)
class ResponseInfo:
    """The head of a response, as an event hook sees it (the body is not read yet)."""

    status: int
    """The HTTP status."""
    headers: Mapping[str, str]
    """The response headers, names in lower case (credentials redacted)."""
    elapsed: float
    """Seconds from sending the request until the response head arrived."""
    request: RequestInfo
    """The request this answers (the object the request hooks got)."""


def redact_headers(headers: Mapping[str, str], secrets: Iterable[str]) -> dict[str, str]:
    """Headers with lower-case names, credential-named ones replaced, secrets scrubbed."""
    found = frozenset(secrets)
    out: dict[str, str] = {}
    for name, value in headers.items():
        lowered = str(name).lower()
        text = REDACTED if is_credential_name(lowered) else scrub_text(str(value), found)
        out[lowered] = f"{out[lowered]}, {text}" if lowered in out else text
    return out


def request_info(
    method: str, url: str, headers: Mapping[str, str], kind: str, secrets: Iterable[str]
) -> RequestInfo:
    """The `RequestInfo` of a request about to be sent."""
    found = frozenset(secrets)
    return RequestInfo(
        method=method,
        url=scrub_text(url, found),
        headers=redact_headers(headers, found),
        kind=kind,
    )


def response_info(
    status: int,
    headers: Mapping[str, str],
    elapsed: float,
    request: RequestInfo,
    secrets: Iterable[str],
) -> ResponseInfo:
    """The `ResponseInfo` of a response head."""
    return ResponseInfo(
        status=status, headers=redact_headers(headers, secrets), elapsed=elapsed, request=request
    )


def is_async_callable(function: object) -> bool:
    """True for an ``async def`` function, or an object whose ``__call__`` is one."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        getattr(function, "__call__", None)  # noqa: B004 - the method itself is inspected
    )


def check_event_hooks(
    event_hooks: object, *, allow_async: bool = True
) -> tuple[tuple[Callable[..., Any], ...], tuple[Callable[..., Any], ...]]:
    """Validate ``event_hooks``; return the request hooks and the response hooks.

    ``allow_async=False`` (the blocking client) refuses ``async`` functions."""
    if event_hooks is None:
        return (), ()
    if not isinstance(event_hooks, Mapping):
        raise InvalidArgumentError(
            'event_hooks must be a dict such as {"request": [log_request], "response": '
            f"[log_response]}}, got {type(event_hooks).__name__}"
        )
    found: dict[str, tuple[Callable[..., Any], ...]] = {}
    for event, hooks in event_hooks.items():
        if event not in HOOK_EVENTS:
            raise InvalidArgumentError(
                f"event_hooks has the key {event!r}; the events are 'request' and 'response'"
            )
        if not isinstance(hooks, (list, tuple)):
            raise InvalidArgumentError(
                f"event_hooks[{event!r}] must be a list of callables, got {type(hooks).__name__}"
            )
        for hook in hooks:
            if not callable(hook):
                raise InvalidArgumentError(
                    f"event_hooks[{event!r}] holds {hook!r}, which is not callable"
                )
            if not allow_async and is_async_callable(hook):
                raise InvalidArgumentError(
                    f"event_hooks[{event!r}] holds the async function {hook!r}; the blocking "
                    "FlueClient calls plain functions only (use AsyncFlueClient, or a plain "
                    "function)"
                )
        found[event] = tuple(hooks)
    return found.get("request", ()), found.get("response", ())
