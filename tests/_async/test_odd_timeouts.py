"""Odd timeout values (docs/retries.md): ``inf`` is no limit, ``nan`` is refused up front.

``inf`` (or a value above a year) reached urllib3, the socket module and the standard library's
timers as is, and a plain `OverflowError` escaped; ``nan`` passed the checks and failed later
with a `ValueError`. Every field of `Timeout`, and the plain number ``timeout=``, both flavours.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import pytest

from flue import AsyncFlueClient, InvalidArgumentError, RetryPolicy, Timeout
from flue.testing import FlueTestServer
from tests.conftest import TOKEN

FIELDS = [field.name for field in attrs.fields(Timeout)]
QUICK = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False)


def test_every_timeout_field_is_covered() -> None:
    assert FIELDS == ["connect", "read", "long_poll", "stall", "invoke_wait", "total"]


async def exercise(server: FlueTestServer, timeout: Any) -> None:
    """A one-shot call, a catch-up read, a live stream and an invoke that waits."""
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "level": "info", "message": "m", "attributes": {}}])
    server.end_run(run, result={"ok": True})
    async with AsyncFlueClient(server.url, token=TOKEN, retry=QUICK, timeout=timeout) as flue:
        record = await flue.runs.get(str(run))
        assert record.run_id == str(run)
        assert len(await flue.runs.events(str(run))) >= 2
        async with flue.runs.stream(str(run), live="long-poll") as stream:
            assert len([event async for event in stream]) >= 2
        async with flue.runs.stream(str(run), live="sse") as stream:
            assert len([event async for event in stream]) >= 2
        finished = await flue.workflows.invoke("emit", {"count": 1, "size": 1}, wait=True)
        assert finished.run_id


@pytest.mark.parametrize("value", [math.inf, 1e12, 1e300])
@pytest.mark.parametrize("field", FIELDS)
async def test_an_infinite_field_is_no_limit(
    server: FlueTestServer, field: str, value: float
) -> None:
    timeout = Timeout(**{field: value})
    assert getattr(timeout, field) is None
    await exercise(server, timeout)


@pytest.mark.parametrize("value", [math.inf, 1e12])
async def test_an_infinite_number_is_no_connect_or_read_limit(
    server: FlueTestServer, value: float
) -> None:
    async with AsyncFlueClient(server.url, timeout=value) as flue:
        assert flue.timeout.connect is None and flue.timeout.read is None
    await exercise(server, value)


@pytest.mark.parametrize("field", FIELDS)
async def test_nan_is_refused_at_construction(field: str) -> None:
    with pytest.raises(InvalidArgumentError, match=rf"Timeout\.{field} .*got nan"):
        Timeout(**{field: math.nan})
    with pytest.raises(InvalidArgumentError, match=rf"Timeout\.{field} .*got -inf"):
        Timeout(**{field: -math.inf})


async def test_a_nan_number_is_refused_by_the_client() -> None:
    with pytest.raises(InvalidArgumentError, match="got nan"):
        AsyncFlueClient("http://127.0.0.1:9", timeout=math.nan)
