"""Connection pooling with many live streams at once (both flavours: tasks here, threads in
the generated twin): a connection given back between long-polls is kept for reuse, never
discarded and replaced by a new one.

A never-cutting `CuttingProxy` in front of flue.testing counts the TCP connections the client
opens.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

import pytest

from flue import AsyncFlueClient
from flue.testing import FlueTestServer
from tests.concurrency import AsyncElsewhere
from tests.conftest import TOKEN
from tests.reliability.cutproxy import CuttingProxy

STREAMS = 15  # more than requests' default pool (10 idle connections per host)
NEVER = 1 << 40  # bytes: a budget the proxy never reaches
LOGS = 3


def log(i: int) -> dict[str, Any]:
    return {"type": "log", "level": "info", "message": "m", "attributes": {"i": i}}


async def follow(stream: Any, handed: list[int]) -> int:
    """Read every event; after each one, wait until every follower has had as many: then
    every follower's connection is back in the pool at the same time."""
    count = 0
    async with stream:
        async for _event in stream:
            count += 1
            handed.append(count)
            await AsyncElsewhere.until(partial(everyone_has, handed, count))
    return count


def everyone_has(handed: list[int], count: int) -> bool:
    return len(handed) >= STREAMS * count


def long_polls(server: FlueTestServer, run_ids: list[str], n: int) -> bool:
    """True once the server has received ``n`` long-polls for every run."""
    held = [r.run_id for r in server.requests if r.mode == "long-poll"]
    return all(held.count(run_id) >= n for run_id in run_ids)


async def test_many_long_polls_at_once_reuse_their_connections(
    server: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    run_ids = [str(server.create_run(workflow="emit")) for _ in range(STREAMS)]
    handed: list[int] = []
    with CuttingProxy(server.url, min_bytes=NEVER, max_bytes=NEVER) as proxy:
        async with AsyncFlueClient(proxy.url, token=TOKEN) as client:
            followers = [
                AsyncElsewhere(partial(follow, client.runs.stream(r, live=True), handed))
                for r in run_ids
            ]
            for i in range(LOGS):
                await AsyncElsewhere.until(partial(long_polls, server, run_ids, i + 1))
                for run_id in run_ids:
                    server.append(run_id, log(i))
            await AsyncElsewhere.until(lambda: long_polls(server, run_ids, LOGS + 1))
            for run_id in run_ids:
                server.end_run(run_id, result=None)
            assert [await f.result() for f in followers] == [LOGS + 2] * STREAMS
    # one connection per stream for its whole life: each went back to the pool after every
    # answer, all of them at once, and was taken again for the next long-poll
    assert len(proxy.accepts) == STREAMS
    assert not [r for r in caplog.records if "discarding connection" in r.getMessage()]


async def test_a_long_poll_answered_204_keeps_its_connection(server: FlueTestServer) -> None:
    # the fixture's long-poll window is 1 s: each wait with nothing new ends in a 204
    run_id = str(server.create_run(workflow="emit"))
    with CuttingProxy(server.url, min_bytes=NEVER, max_bytes=NEVER) as proxy:
        async with AsyncFlueClient(proxy.url, token=TOKEN) as client:
            follower = AsyncElsewhere(lambda: follow_one(client.runs.stream(run_id, live=True)))
            # a third long-poll: the first two ended in a 204 each
            await AsyncElsewhere.until(lambda: long_polls(server, [run_id], 3))
            server.end_run(run_id, result=None)
            assert await follower.result() == 2
    assert len(proxy.accepts) == 1


async def follow_one(stream: Any) -> int:
    count = 0
    async with stream:
        async for _event in stream:
            count += 1
    return count
