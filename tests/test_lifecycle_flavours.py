"""Cells of docs/lifecycle.md that exist in one flavour only: the cancellation or timeout of the
awaiting asyncio task, and a blocking cancel() that lands while the TCP connection is being set
up. The rest of the contract is in tests/_async/test_lifecycle.py (both flavours).

Races are forced: the test waits until the server has the request in hand, or holds the
transport inside connect() until cancel() has been called.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import urllib3.connection

from flue import AsyncFlueClient, FlueClient, FlueError, RetryPolicy
from flue.testing import FlueTestServer
from tests.concurrency import AsyncElsewhere
from tests.conftest import TOKEN
from tests.reliability.rawserver import Exchange, RawServer

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False)
BOUND = 5.0


def release_long_polls(server: FlueTestServer) -> None:
    """End every run, so that the server answers the long-polls it still holds (their clients
    are gone) before it stops: a held one would leave its socket to the garbage collector."""
    for run_id in {r.run_id for r in server.requests if r.run_id}:
        with contextlib.suppress(Exception):  # already ended
            server.end_run(run_id)


@pytest.fixture
def holding() -> Iterator[FlueTestServer]:
    """Long-polls wait 10 s: a request waiting on one is "in flight"."""
    with FlueTestServer.running_in_thread(token=TOKEN, long_poll_timeout=10.0) as srv:
        yield srv
        release_long_polls(srv)


def waiting_run(server: FlueTestServer) -> str:
    run = server.create_run(workflow="emit")
    return str(run)


def long_polls(server: FlueTestServer, run_id: str) -> int:
    return sum(1 for r in server.requests if r.run_id == run_id and r.mode == "long-poll")


class LoopErrors:
    """Collects what the loop's exception handler would log ("Task exception was never
    retrieved" among them)."""

    def __init__(self) -> None:
        self.contexts: list[dict[str, Any]] = []

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.contexts.append(context)


async def test_cancelling_the_awaiting_task_aborts_the_request_in_flight(
    holding: FlueTestServer,
) -> None:
    # defect 1: the long-poll went on in the background, holding the session's only
    # connection, so the next call waited for the server's long-poll window
    run_id = waiting_run(holding)
    errors = LoopErrors()
    asyncio.get_running_loop().set_exception_handler(errors)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))
    try:
        client = AsyncFlueClient(holding.url, token=TOKEN, retry=FAST, session=session)
        stream = client.runs.stream(run_id)
        assert (await stream.__anext__()).type == "run_start"
        task = asyncio.ensure_future(stream.__anext__())
        await AsyncElsewhere.until(lambda: long_polls(holding, run_id) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        record = await asyncio.wait_for(client.runs.get(run_id), BOUND)
        assert record.run_id == run_id
        assert time.monotonic() - started < BOUND
        # the interrupted stream says so instead of ending silently (defect 5)
        with pytest.raises(FlueError, match="interrupted"):
            await stream.__anext__()
        await client.close()
    finally:
        await session.close()
    for _ in range(3):  # let any abandoned task finish and be collected
        await asyncio.sleep(0)
    gc.collect()
    assert [c.get("message") for c in errors.contexts] == []


async def test_a_timeout_around_anext_never_ends_the_stream_silently(
    holding: FlueTestServer,
) -> None:
    # defect 5: the next anext() raised StopAsyncIteration while `closed` was False
    run_id = waiting_run(holding)
    async with AsyncFlueClient(holding.url, token=TOKEN, retry=FAST) as client:
        stream = client.runs.stream(run_id)
        await stream.__anext__()
        # the long-poll is held 10 s and nothing is appended: the timeout always expires first
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(stream.__anext__(), 0.5)
        assert not stream.closed
        with pytest.raises(FlueError, match="interrupted"):
            await stream.__anext__()


class HeldConnect:
    """Holds urllib3's connect() until released, and says when one is under way."""

    def __init__(self) -> None:
        self.connecting = threading.Event()
        self.release = threading.Event()
        original = urllib3.connection.HTTPConnection.connect

        def connect(conn: Any) -> None:
            self.connecting.set()
            self.release.wait(BOUND)
            original(conn)

        self.connect = connect


def test_blocking_cancel_during_the_tcp_connect_is_not_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # defect 2: a cancel() while the connection was being set up found no socket to shut
    # down; the request was then sent and the iteration waited for its answer
    arrived = threading.Event()

    def hold(exchange: Exchange) -> None:
        arrived.set()
        exchange.hold()

    held = HeldConnect()
    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", held.connect)
    with RawServer(hold) as raw, FlueClient(raw.url, token=TOKEN, retry=FAST) as client:
        stream = client.runs.stream("run_1")
        outcome: list[Any] = []
        reader = threading.Thread(target=lambda: outcome.append(list(stream)), daemon=True)
        reader.start()
        assert held.connecting.wait(BOUND)
        stream.cancel()
        held.release.set()
        reader.join(BOUND)
        assert not reader.is_alive(), "the cancelled iteration is still waiting"
        assert outcome == [[]]
        assert stream.state == "cancelled"
