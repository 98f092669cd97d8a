"""`Timeout` and `RetryPolicy` values at the edges: ``inf`` is no limit, ``nan`` is refused."""

from __future__ import annotations

import math

import attrs
import pytest

from flue import InvalidArgumentError, RetryPolicy, Timeout


@pytest.mark.parametrize("field", [f.name for f in attrs.fields(Timeout)])
def test_timeout_fields(field: str) -> None:
    assert getattr(Timeout(**{field: math.inf}), field) is None
    assert getattr(Timeout(**{field: 366 * 24 * 3600.0}), field) is None  # over a year
    assert getattr(Timeout(**{field: 3600}), field) == 3600
    assert getattr(Timeout(**{field: None}), field) is None
    for bad in (math.nan, -math.inf, 0, -1, "1", True):
        with pytest.raises(InvalidArgumentError, match=rf"^Timeout\.{field} must be"):
            Timeout(**{field: bad})


def test_timeout_coerce() -> None:
    assert Timeout.coerce(math.inf) == Timeout(connect=None, read=None)
    assert Timeout.coerce(5) == Timeout(connect=5.0, read=5.0)
    with pytest.raises(InvalidArgumentError, match="got nan"):
        Timeout.coerce(math.nan)


@pytest.mark.parametrize("field", ["max_attempts", "max_elapsed"])
def test_retry_limits_accept_inf_as_no_limit(field: str) -> None:
    assert getattr(RetryPolicy(**{field: math.inf}), field) is None
    with pytest.raises(InvalidArgumentError, match=rf"RetryPolicy\.{field} .*got nan"):
        RetryPolicy(**{field: math.nan})


@pytest.mark.parametrize("field", ["initial_delay", "max_delay", "multiplier"])
def test_retry_delays_must_be_finite(field: str) -> None:
    for bad in (math.inf, math.nan, -1.0, 0):
        with pytest.raises(InvalidArgumentError, match=rf"RetryPolicy\.{field} must be"):
            RetryPolicy(**{field: bad})
