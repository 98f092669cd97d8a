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

Fail fast where nothing ever answered (``RetryPolicy.fail_fast``, docs/retries.md): a refused
connection or an unknown host name, at an address (scheme, host, port) that has never answered
this client, is most likely a wrong URL or a server that is not running, and waiting will not
fix it. The client marks such an error (`mark_first_contact`), and it gets at most
`FIRST_CONTACT_ATTEMPTS` attempts with waits of at most `FIRST_CONTACT_MAX_WAIT`: about two
seconds in all. Once the address has answered, the same failures get the policy's full
patience (a server restarting, a connection that worked and dropped).

Each retry is logged at INFO on the ``flue`` logger (what failed, attempt k of n, the wait), so
``logging.basicConfig(level=logging.INFO)`` shows why a call is slow; that record is this
module's one side effect. The ``flue`` logger's filter (`flue.errors`) redacts credentials.
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs

from flue._protocol.responses import is_retryable_status
from flue._protocol.retry import RetryState, gave_up
from flue.errors import APIError, FlueError, TransportError

__all__ = [
    "FIRST_CONTACT_ATTEMPTS",
    "FIRST_CONTACT_MAX_WAIT",
    "RETRY_INFO",
    "Raise",
    "Retry",
    "Unreachable",
    "decide",
    "first_contact",
    "is_retryable",
    "mark_first_contact",
]

logger = logging.getLogger("flue")  # this logger exactly: it carries the redaction filter

Unreachable = Literal["refused", "unknown host"]

# attempts, in all, of a request whose address never answered (a DNS failure: one retry)
FIRST_CONTACT_ATTEMPTS: dict[Unreachable, int] = {"refused": 3, "unknown host": 2}
FIRST_CONTACT_MAX_WAIT = 1.0  # seconds, the longest wait between two of those attempts

#: the INFO record of a retry; its arguments are (attempt, limit, note, seconds, error)
RETRY_INFO = "flue: attempt %d of %s failed%s; retrying in %.2f s: %s"

_MARK = "_flue_first_contact"  # the attribute `mark_first_contact` sets on an error


@attrs.frozen(kw_only=True)
class Retry:
    """Wait `seconds`, then send the request again (attempt number `attempt` failed, of
    `limit` attempts in all; None: no limit)."""

    seconds: float
    attempt: int
    error: FlueError
    limit: int | None = None


@attrs.frozen(kw_only=True)
class Raise:
    """Give up: raise `error`."""

    error: FlueError


def mark_first_contact(error: TransportError, why: Unreachable) -> None:
    """Record that `error` (refused, or an unknown host) came from an address that has never
    answered this client."""
    setattr(error, _MARK, why)


def first_contact(error: BaseException) -> Unreachable | None:
    """What `mark_first_contact` recorded on `error`, if anything."""
    why = getattr(error, _MARK, None)
    return why if why in FIRST_CONTACT_ATTEMPTS else None


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
    counted: bool = True,
) -> Retry | Raise:
    """Record the failure in `state` and say whether to retry it, and after how long.

    ``immediate``: retry at once if the limits allow (the reader's fast reconnect after a
    working response); ``Retry-After`` stays a floor. ``retryable``: the caller has classified
    the failure itself (the reader retries a malformed answer that may be a cut one); None
    classifies it with `is_retryable`. ``counted=False``: not counted towards ``max_attempts``
    (see `RetryState.failed`).
    """
    if retryable is None:
        retryable = is_retryable(error, idempotent=idempotent)
    if not retryable:
        return Raise(error=error)
    retry_after = error.retry_after if isinstance(error, APIError) else None
    why = first_contact(error) if state.policy.fail_fast else None
    max_attempts = FIRST_CONTACT_ATTEMPTS[why] if why is not None else None
    max_wait = FIRST_CONTACT_MAX_WAIT if why is not None else None
    delay = state.failed(
        retry_after,
        immediate=immediate,
        max_attempts=max_attempts,
        max_wait=max_wait,
        counted=counted,
    )
    if delay is None:
        return Raise(error=gave_up(error, state.failures + state.uncounted))
    limit = state.limit(max_attempts)
    note = " (nothing at this address has answered yet)" if why is not None else ""
    logger.info(RETRY_INFO, state.failures, limit or "unlimited", note, delay, error)
    return Retry(seconds=delay, attempt=state.failures, error=error, limit=limit)
