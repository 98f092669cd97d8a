"""Fail fast where nothing ever answered (docs/retries.md): pure decisions, scripted failures.

A refused connection or an unknown host at an address that never answered this client is
marked by the client (`mark_first_contact`); `decide()` then allows a few quick attempts only.
The same failure unmarked (the address answered before) keeps the policy's full patience.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

from flue._protocol.decide import (
    FIRST_CONTACT_ATTEMPTS,
    FIRST_CONTACT_MAX_WAIT,
    Raise,
    Retry,
    Unreachable,
    decide,
    first_contact,
    mark_first_contact,
)
from flue._protocol.http import HttpRequest
from flue._protocol.reader import ReadMachine
from flue._protocol.retry import MAX_WAIT, RetryPolicy, RetryState
from flue.errors import ConnectError, FlueError, FlueTimeoutError, ServerError
from tests.protocol.scripted import Scripted, drive

DEFAULT = RetryPolicy()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused(why: Unreachable | None = "refused") -> ConnectError:
    error = ConnectError("could not connect to http://127.0.0.1:9/runs/r: connection refused")
    if why is not None:
        mark_first_contact(error, why)
    return error


def run_of_failures(
    policy: RetryPolicy, make_error: Callable[[], FlueError], *, seed: int = 0
) -> tuple[list[Retry], Raise]:
    """Feed the same kind of failure to `decide()` until it gives up, advancing an injected
    clock by each wait (the attempts themselves take no time here)."""
    clock = Clock()
    state = RetryState(policy, clock=clock, rng=random.Random(seed))
    retries: list[Retry] = []
    for _ in range(1000):
        decision = decide(state, make_error())
        if isinstance(decision, Raise):
            return retries, decision
        retries.append(decision)
        clock.now += decision.seconds
    raise AssertionError("never gave up")


@pytest.mark.parametrize("seed", range(20))
def test_refused_on_first_contact_gives_up_after_three_quick_attempts(seed: int) -> None:
    retries, final = run_of_failures(DEFAULT, refused, seed=seed)
    assert len(retries) == 2  # attempts 1 and 2 are retried, attempt 3 is the last
    assert [r.attempt for r in retries] == [1, 2]
    assert all(r.limit == 3 for r in retries)
    # the default policy's waits: at most 0.5 then 1.0 s (full jitter below that)
    assert sum(r.seconds for r in retries) <= 1.5
    assert str(final.error).endswith("connection refused (gave up after 3 attempts)")


def test_an_unknown_host_on_first_contact_is_retried_once() -> None:
    retries, final = run_of_failures(DEFAULT, lambda: refused("unknown host"))
    assert len(retries) == 1 and retries[0].limit == 2
    assert retries[0].seconds <= DEFAULT.initial_delay
    assert str(final.error).endswith("(gave up after 2 attempts)")


@pytest.mark.parametrize("why", ["refused", "unknown host"])
def test_first_contact_waits_are_capped_whatever_the_policy(why: Unreachable) -> None:
    # a patient policy: long waits, many attempts; first contact still ends within ~2 s
    patient = RetryPolicy(initial_delay=5.0, max_delay=60.0, max_attempts=50, jitter=False)
    retries, final = run_of_failures(patient, lambda: refused(why))
    assert len(retries) == FIRST_CONTACT_ATTEMPTS[why] - 1
    assert all(r.seconds == FIRST_CONTACT_MAX_WAIT for r in retries)
    assert sum(r.seconds for r in retries) <= 2.0
    assert isinstance(final.error, ConnectError)


def test_refused_after_an_answer_keeps_the_full_patience() -> None:
    # the client marks nothing once the address has answered: a restarting server
    policy = RetryPolicy(jitter=False)
    retries, final = run_of_failures(policy, lambda: refused(None))
    assert len(retries) == 9 and all(r.limit == 10 for r in retries)
    assert [r.seconds for r in retries] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert str(final.error).endswith("(gave up after 10 attempts)")


def test_fail_fast_false_keeps_the_full_patience_on_first_contact() -> None:
    policy = RetryPolicy(jitter=False, fail_fast=False)
    retries, final = run_of_failures(policy, refused)
    assert len(retries) == 9
    assert str(final.error).endswith("(gave up after 10 attempts)")


def test_a_stricter_policy_still_wins() -> None:
    retries, final = run_of_failures(RetryPolicy.disabled(), refused)
    assert retries == [] and str(final.error).endswith("(gave up after 1 attempt)")
    retries, _ = run_of_failures(RetryPolicy(max_attempts=2), refused)
    assert len(retries) == 1 and retries[0].limit == 2


def test_a_run_that_turns_into_first_contact_counts_earlier_failures() -> None:
    # a 503 then refusals: the first-contact limit counts the whole run of failures
    state = RetryState(RetryPolicy(jitter=False), clock=Clock(), rng=random.Random(0))
    assert isinstance(decide(state, ServerError("busy", status=503)), Retry)
    assert isinstance(decide(state, refused()), Retry)
    final = decide(state, refused())
    assert isinstance(final, Raise) and "gave up after 3 attempts" in str(final.error)


def test_only_marked_errors_count_as_first_contact() -> None:
    assert first_contact(refused()) == "refused"
    assert first_contact(refused(None)) is None
    assert first_contact(FlueTimeoutError("timed out connecting")) is None
    retries, _ = run_of_failures(
        RetryPolicy(jitter=False), lambda: FlueTimeoutError("timed out connecting")
    )
    assert len(retries) == 9  # a timeout is not a refusal: full patience


def test_one_computed_wait_is_at_most_an_hour() -> None:
    policy = RetryPolicy(
        initial_delay=1e9, max_delay=1e12, max_attempts=None, max_elapsed=None, jitter=False
    )
    state = RetryState(policy, clock=Clock())
    assert state.failed() == MAX_WAIT


def test_each_retry_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    retries, _ = run_of_failures(DEFAULT, refused)
    records = [r for r in caplog.records if r.name == "flue" and r.levelno == logging.INFO]
    assert len(records) == len(retries) == 2
    first = records[0].getMessage()
    assert first.startswith("flue: attempt 1 of 3 failed (nothing at this address has answered")
    assert f"retrying in {retries[0].seconds:.2f} s" in first
    assert first.endswith("connection refused")
    caplog.clear()
    run_of_failures(RetryPolicy(max_attempts=None, max_elapsed=5.0), lambda: refused(None))
    assert "attempt 1 of unlimited failed; retrying in" in caplog.records[0].getMessage()


def reader(policy: RetryPolicy, clock: Clock) -> ReadMachine:
    return ReadMachine(
        "http://127.0.0.1:9/runs/r", offset="-1", retry=policy, clock=clock, rng=random.Random(1)
    )


def test_a_stream_refused_on_first_contact_gives_up_after_three_attempts() -> None:
    requests: list[HttpRequest] = []

    def respond(request: HttpRequest) -> Scripted:
        requests.append(request)
        return Scripted(open_error=refused())

    with pytest.raises(ConnectError, match=r"gave up after 3 attempts"):
        drive(reader(DEFAULT, Clock()), respond)
    assert len(requests) == 3


def test_a_stream_whose_server_answered_keeps_the_full_patience() -> None:
    requests: list[HttpRequest] = []

    def respond(request: HttpRequest) -> Scripted:
        requests.append(request)
        if len(requests) == 1:  # a catch-up page that worked, then the server goes away
            return Scripted(headers={"Stream-Next-Offset": "1"}, chunks=[b'[{"a": 1}]'])
        return Scripted(open_error=refused(None))

    with pytest.raises(ConnectError, match=r"gave up after 10 attempts"):
        drive(reader(RetryPolicy(jitter=False, max_elapsed=None), Clock()), respond)
    assert len(requests) == 11
