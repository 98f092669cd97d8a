"""The retry decision after a failed attempt, as one pure function.

`decide()` takes the failure (a transport error, or the `APIError` made from an error status),
whether the request may be repeated, and the call's `RetryState` (which holds the policy, the
injected clock and random source); it returns a `Retry` (wait this long, then send again) or a
`Raise` (the error to raise, marked "gave up after N attempts" when the limits are spent). It
does no I/O and never sleeps: both flavours' one-shot calls (`runs.get`, `workflows.invoke`)
use it, and so does the stream reader (`_retry_or_fail` in answers.py).

Which failures are retried:

* a `TransportError` whose ``retryable`` is set (refused or dropped connections, timeouts),
  unless the request is not idempotent and may have reached the server (``sent``);
* an `APIError` with a retryable status (429, 408, 5xx but 501 and 505: `is_retryable_status`),
  for a non-idempotent request only 429 (the server refused it before doing anything);
* nothing else. A ``Retry-After`` is a floor on the wait.
"""

from __future__ import annotations

import attrs

from flue._protocol.responses import is_retryable_status
from flue._protocol.retry import RetryState, gave_up
from flue.errors import APIError, FlueError, TransportError

__all__ = ["Raise", "Retry", "decide", "is_retryable"]


@attrs.frozen(kw_only=True)
class Retry:
    """Wait `seconds`, then send the request again (attempt number `attempt` failed)."""

    seconds: float
    attempt: int
    error: FlueError


@attrs.frozen(kw_only=True)
class Raise:
    """Give up: raise `error`."""

    error: FlueError


def is_retryable(error: FlueError, *, idempotent: bool = True) -> bool:
    """Whether a failure of this kind may be retried at all (limits aside)."""
    if isinstance(error, TransportError):
        return error.retryable and (idempotent or not error.sent)
    if isinstance(error, APIError):
        return is_retryable_status(error.status) and (idempotent or error.status == 429)
    return False


def decide(
    state: RetryState,
    error: FlueError,
    *,
    idempotent: bool = True,
    immediate: bool = False,
    retryable: bool | None = None,
) -> Retry | Raise:
    """Record the failure in `state` and say whether to retry it, and after how long.

    ``immediate``: retry at once if the limits allow (the reader's fast reconnect after a
    working response); ``Retry-After`` stays a floor. ``retryable``: the caller has classified
    the failure itself (the reader retries a malformed answer that may be a cut one); None
    classifies it with `is_retryable`.
    """
    if retryable is None:
        retryable = is_retryable(error, idempotent=idempotent)
    if not retryable:
        return Raise(error=error)
    retry_after = error.retry_after if isinstance(error, APIError) else None
    delay = state.failed(retry_after, immediate=immediate)
    if delay is None:
        return Raise(error=gave_up(error, state.failures))
    return Retry(seconds=delay, attempt=state.failures, error=error)
