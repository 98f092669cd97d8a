"""Retry policy as pure code, shared by both flavours.

`RetryPolicy` is the user-facing settings value (defined, with `Timeout`, in `flue._settings`).
`RetryState` tracks one stream's consecutive failures: `failed()` returns how long to wait
before the next attempt (or None when the limits are spent) and `succeeded()` resets it. Delays
come from `backoff.expo` with full jitter drawn from an injectable `random.Random`; a server's
``Retry-After`` is a floor. A failure the caller marks ``immediate`` (the stream reader's fast
reconnect after a working connection was cut) waits nothing and leaves the backoff sequence
where it was, so the next consecutive failure still starts at ``initial_delay``; it counts
towards ``max_attempts`` like any other. The clock is injected too, so tests control time.
A caller may tighten the limits for one failure (``max_attempts``, ``max_wait``: `decide()` does
so when nothing at the address ever answered), and no wait is longer than an hour (`MAX_WAIT`),
the longest the standard library's timers accept being far above it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Generator
from typing import TypeVar

from flue._settings import RetryPolicy

__all__ = ["MAX_WAIT", "RetryPolicy", "RetryState", "gave_up"]

MAX_WAIT = 3600.0  # the longest computed wait (a `Retry-After` is capped the same)

E = TypeVar("E", bound=BaseException)


class RetryState:
    """Consecutive-failure bookkeeping for one stream or call."""

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self.failures = 0
        self.uncounted = 0  # failures of the run not counted towards max_attempts
        self.total_retries = 0
        self._first_failure: float | None = None
        self._waits: Generator[float, None, None] | None = None

    def succeeded(self) -> None:
        """A response arrived: the next failure starts a fresh backoff sequence."""
        self.failures = 0
        self.uncounted = 0
        self._first_failure = None
        self._waits = None

    @property
    def elapsed(self) -> float:
        """Seconds since the first failure of the current run of failures."""
        if self._first_failure is None:
            return 0.0
        return self._clock() - self._first_failure

    def failed(
        self,
        retry_after: float | None = None,
        *,
        immediate: bool = False,
        max_attempts: int | None = None,
        max_wait: float | None = None,
        counted: bool = True,
    ) -> float | None:
        """Record a failure; return the delay before the next attempt, or None to give up.

        ``immediate``: retry at once (still counted); ``Retry-After`` remains a floor.
        ``max_attempts``, ``max_wait``: tighter limits for this failure than the policy's (the
        attempt limit counts every failure of the run, earlier ones included). ``counted=False``:
        an attempt that still brought something (the reader's cut at a new place inside an
        answer): it backs off like any failure but does not count towards ``max_attempts``;
        ``max_elapsed`` still applies.
        """
        policy = self.policy
        now = self._clock()
        if self._first_failure is None:
            self._first_failure = now
        if not counted:
            self.uncounted += 1
        else:
            self.failures += 1
            limit = self.limit(max_attempts)
            if limit is not None and self.failures >= limit:
                return None
        delay = 0.0 if immediate else self._next_wait()
        if max_wait is not None:
            delay = min(delay, max_wait)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if policy.max_elapsed is not None and (now - self._first_failure) + delay > (
            policy.max_elapsed
        ):
            return None
        self.total_retries += 1
        return delay

    def limit(self, max_attempts: int | None = None) -> int | None:
        """The attempts a run of failures gets (None: no limit), ``max_attempts`` applied."""
        limits = [n for n in (self.policy.max_attempts, max_attempts) if n is not None]
        return min(limits) if limits else None

    def _next_wait(self) -> float:
        policy = self.policy
        if self._waits is None:
            # imported on the first failure: `backoff` pulls in asyncio, which a blocking
            # program (or `import flue`) should not pay for
            import backoff

            waits = backoff.expo(
                base=policy.multiplier, factor=policy.initial_delay, max_value=policy.max_delay
            )
            next(waits)  # backoff's generators are primed with one bare next()
            self._waits = waits
        delay = min(float(next(self._waits)), MAX_WAIT)
        if policy.jitter:
            delay = self._rng.uniform(0.0, delay)
        return delay


def gave_up(error: E, attempts: int) -> E:
    """`error`, its message saying that retries are spent (raise it next)."""
    if error.args:
        noun = "attempt" if attempts == 1 else "attempts"
        text = f"{error.args[0]} (gave up after {attempts} {noun})"
        error.args = (text,)
        if isinstance(getattr(error, "message", None), str):
            error.message = text  # type: ignore[attr-defined]  # APIError keeps its own copy
    return error
