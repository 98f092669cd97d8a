"""The one retry decision (flue/_protocol/decide.py): pure, with an injected clock."""

from __future__ import annotations

import random

import pytest

from flue._protocol.decide import Raise, Retry, decide, is_retryable
from flue._protocol.retry import RetryPolicy, RetryState
from flue.errors import (
    APIError,
    BadRequestError,
    ConnectError,
    ConnectionLostError,
    FlueError,
    ProtocolError,
    RateLimitError,
    ServerError,
    TLSError,
)

POLICY = RetryPolicy(initial_delay=1.0, max_delay=8.0, max_attempts=4, max_elapsed=60, jitter=False)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(clock: Clock | None = None, policy: RetryPolicy = POLICY) -> RetryState:
    return RetryState(policy, clock=clock or Clock(), rng=random.Random(0))


def test_transient_failures_back_off_then_give_up() -> None:
    s = state()
    error = ConnectionLostError("cut")
    waits = [decide(s, error) for _ in range(3)]
    assert waits == [
        Retry(seconds=1.0, attempt=1, error=error, limit=4),
        Retry(seconds=2.0, attempt=2, error=error, limit=4),
        Retry(seconds=4.0, attempt=3, error=error, limit=4),
    ]
    final = decide(s, error)
    assert isinstance(final, Raise)
    assert str(final.error) == "cut (gave up after 4 attempts)"


def test_retry_after_is_a_floor() -> None:
    error = ServerError("busy", status=503, retry_after=5.0)
    assert decide(state(), error) == Retry(seconds=5.0, attempt=1, error=error, limit=4)


def test_the_clock_limits_the_elapsed_time() -> None:
    clock = Clock()
    s = state(
        clock, RetryPolicy(initial_delay=1.0, max_attempts=None, max_elapsed=10, jitter=False)
    )
    assert isinstance(decide(s, ConnectionLostError("cut")), Retry)
    clock.now += 9.5
    final = decide(s, ConnectionLostError("cut"))
    assert isinstance(final, Raise)
    assert "gave up after 2 attempts" in str(final.error)


@pytest.mark.parametrize(
    ("error", "idempotent", "retryable"),
    [
        (ConnectionLostError("cut"), True, True),
        (ConnectionLostError("cut"), False, False),  # may have reached the server
        (ConnectError("refused"), False, True),  # certainly did not
        (TLSError("bad cert"), True, False),
        (ServerError("oops", status=500), True, True),
        (ServerError("oops", status=500), False, False),
        (RateLimitError("slow down", status=429), False, True),
        (APIError("not implemented", status=501), True, False),
        (BadRequestError("bad", status=400), True, False),
        (FlueError("other"), True, False),
    ],
)
def test_what_is_retried(error: FlueError, idempotent: bool, retryable: bool) -> None:
    assert is_retryable(error, idempotent=idempotent) is retryable
    decision = decide(state(), error, idempotent=idempotent)
    if retryable:
        assert isinstance(decision, Retry)
    else:
        # raised as it is: no "gave up" wording for a failure that was never retried
        assert decision == Raise(error=error)
        assert "gave up" not in str(error)


def test_api_error_message_says_it_gave_up() -> None:
    s = state(policy=RetryPolicy(max_attempts=1))
    final = decide(s, ServerError("oops", status=500))
    assert isinstance(final, Raise) and isinstance(final.error, APIError)
    assert final.error.message == "oops (gave up after 1 attempt)"


def test_immediate_retries_at_once_and_keeps_counting() -> None:
    s = state()
    error = ConnectionLostError("cut")
    assert decide(s, error, immediate=True) == Retry(seconds=0.0, attempt=1, error=error, limit=4)
    assert decide(s, error) == Retry(seconds=1.0, attempt=2, error=error, limit=4)


def test_a_caller_may_classify_the_failure_itself() -> None:
    error = ProtocolError("no Stream-Next-Offset (cut?)")
    assert decide(state(), error) == Raise(error=error)
    assert decide(state(), error, retryable=True) == Retry(
        seconds=1.0, attempt=1, error=error, limit=4
    )
    server = ServerError("oops", status=500)
    assert decide(state(), server, retryable=False) == Raise(error=server)
