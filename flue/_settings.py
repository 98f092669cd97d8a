"""The user-facing settings of a client, in one place: `Timeout` and `RetryPolicy`.

Pure values (attrs and `flue.errors` only), importable without `requests` or `aiohttp`; both
flavours and the protocol core read them. ``flue.Timeout`` and ``flue.RetryPolicy`` are these.
"""

from __future__ import annotations

import math
from typing import Any, cast

import attrs

from flue.errors import InvalidArgumentError

__all__ = ["RetryPolicy", "Timeout"]


# A limit longer than this is no limit: the HTTP libraries and the standard library's timers
# overflow on ``inf``, and on finite values that large too (``1e12`` s, in socket timeouts).
NO_LIMIT_ABOVE = 365 * 24 * 3600.0


def _no_limit(value: float | None) -> float | None:
    """``inf`` (or more than a year) means no limit: None."""
    if (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value > NO_LIMIT_ABOVE  # False for nan, refused by the validator
    ):
        return None
    return value


def _no_attempt_limit(value: float | None) -> int | None:
    """`_no_limit` for a count (the validator refuses what is not a number)."""
    return cast("int | None", _no_limit(value))


def _opt_pos(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An optional limit (`Timeout`, `RetryPolicy`): None (no limit), or a number > 0."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or value <= 0
    ):
        raise InvalidArgumentError(
            f"{type(instance).__name__}.{attribute.name} must be None (or inf: no limit) or a "
            f"number > 0, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class Timeout:
    """Timeouts in seconds. None, ``float("inf")`` or more than a year: no limit; ``nan`` or a
    number <= 0 raises `InvalidArgumentError`.

    Attributes:
        connect: to establish a connection.
        read: between two reads of an ordinary response (run record, catch-up page).
        long_poll: between two reads of a long-poll response; exceeds Flue's 30 s window.
        stall: an SSE connection that delivers no byte for this long, or no control frame
            (Flue sends one every 30 s even when idle; comments do not count), is treated as
            dead and resumed from the checkpoint.
        invoke_wait: for ``workflows.invoke(..., wait=True)``, which lasts as long as the run.
        total: the whole of one exchange, from connecting to the last byte of the body: each
            ``runs.get()``, ``invoke()`` without ``wait``, catch-up page and long-poll request
            (each attempt of it). A server that trickles bytes, or sends ``100 Continue``
            forever, cannot hold a call longer. SSE bodies are not bounded by it (a live stream
            may run for hours): the `stall` watchdog guards them.
    """

    connect: float | None = attrs.field(default=10.0, converter=_no_limit, validator=_opt_pos)
    read: float | None = attrs.field(default=30.0, converter=_no_limit, validator=_opt_pos)
    long_poll: float | None = attrs.field(default=45.0, converter=_no_limit, validator=_opt_pos)
    stall: float | None = attrs.field(default=45.0, converter=_no_limit, validator=_opt_pos)
    invoke_wait: float | None = attrs.field(default=600.0, converter=_no_limit, validator=_opt_pos)
    total: float | None = attrs.field(default=120.0, converter=_no_limit, validator=_opt_pos)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """Accept a `Timeout`, a number (connect and read; ``inf``: no limit), or None
        (defaults)."""
        if value is None:
            return cls()
        if isinstance(value, Timeout):
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidArgumentError(f"timeout must be a Timeout or a number, got {value!r}")
        return cls(connect=float(value), read=float(value))


def _positive(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidArgumentError(
            f"RetryPolicy.{attribute.name} must be a finite number > 0, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried (docs/retries.md has the rules).

    Attributes:
        initial_delay: seconds before the first retry (before jitter).
        max_delay: cap on one computed delay (a longer ``Retry-After`` still wins); one wait
            is never longer than an hour.
        multiplier: growth factor between consecutive delays.
        max_attempts: consecutive attempts of one request before giving up (None or inf: no
            limit).
        max_elapsed: seconds since the first failure of a run of failures before giving up
            (None or inf: no limit).
        jitter: draw each delay uniformly from [0, computed delay] ("full jitter").
        fail_fast: give up within about two seconds when a connection is refused or the host
            name is unknown and nothing at that address (scheme, host and port) has ever
            answered this client: at most 3 attempts for a refused connection, 2 for an
            unknown host, waiting at most 1 s each time (both within ``max_attempts``). Once
            the address has answered, such failures get the full patience above (a server
            restarting). False: the full patience from the first request (a program started
            together with its server).
    """

    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    multiplier: float = attrs.field(default=2.0, validator=_positive)
    max_attempts: int | None = attrs.field(
        default=10, converter=_no_attempt_limit, validator=_opt_pos
    )
    max_elapsed: float | None = attrs.field(default=300.0, converter=_no_limit, validator=_opt_pos)
    jitter: bool = True
    fail_fast: bool = True

    @classmethod
    def disabled(cls) -> RetryPolicy:
        """A policy that never retries."""
        return cls(max_attempts=1)
