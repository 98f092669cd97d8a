"""Cuts below one page, against the real Flue server (issue: progress per item, not per page).

A finished run of 5,000 events read through the project's cutting proxy, which ends every
connection after a random 1.5-40 KB (uniform, seeded): a catch-up page or an SSE data frame of
the real server holds 100 events (~20 KB here), so about half of the connections end inside
one. Every read (`runs.events`, `runs.stream` in the three modes, `streams.read`) gets every
event once, in order, and never gives up, for 8 seeds. A proxy that always cuts at the same
byte inside the first event ends the read with an error naming the repeated cut.

The proxy forwards plain HTTP, so these tests run in the direct topology only, on beta.9.
"""

from __future__ import annotations

from typing import Any

import pytest

from flue import AsyncFlueClient, ConnectionLostError, RetryPolicy
from tests.reliability.cutproxy import CuttingProxy
from tools.flue_servers.server import RealFlueServer

# the runs wire protocol is byte-identical from beta.5 to beta.9: one release is enough
pytestmark = [pytest.mark.timeout(120), pytest.mark.direct, pytest.mark.flue_releases("beta9")]

EVENTS = 5000
SIZE = 150  # bytes of padding per event: ~200 bytes on the wire, ~20 KB per page of 100
SEEDS = range(8)
MODES = ["events", False, "long-poll", "sse", "streams.read"]
# the cuts bring new events nearly every time; the limit is the one users get by default
RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5)


@pytest.fixture(scope="module")
def cut_run(real_flue_server: RealFlueServer) -> str:
    """A finished run of EVENTS log events (EVENTS + 2 in all), made once per module."""
    from flue import FlueClient

    with FlueClient(real_flue_server.url, token=real_flue_server.token) as client:
        run = client.workflows.invoke("emit", {"count": EVENTS, "size": SIZE}, wait=True)
    assert run.result == {"emitted": EVENTS, "size": SIZE}
    return run.run_id


async def read_all(client: AsyncFlueClient, run_id: str, mode: Any) -> list[int]:
    """The eventIndex of every event read in `mode` (a finished run: every mode ends)."""
    if mode == "events":
        events = await client.runs.events(run_id, as_dict=True)
        return [e["eventIndex"] for e in events]
    if mode == "streams.read":
        out: list[int] = []
        async with client.streams.read(f"runs/{run_id}") as batches:
            async for batch in batches:
                out += [e["eventIndex"] for e in batch.items]
        return out
    async with client.runs.stream(run_id, live=mode, as_dict=True) as stream:  # type: ignore[call-overload]
        return [e["eventIndex"] async for e in stream]


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("seed", SEEDS)
async def test_cuts_below_one_page_lose_nothing_and_never_give_up(
    real_flue_server: RealFlueServer, cut_run: str, seed: int, mode: Any
) -> None:
    with CuttingProxy(
        real_flue_server.url, seed=seed, min_bytes=1536, max_bytes=40 * 1024
    ) as proxy:
        async with AsyncFlueClient(proxy.url, token=real_flue_server.token, retry=RETRY) as client:
            got = await read_all(client, cut_run, mode)
        cuts = len(proxy.cuts)
    assert got == list(range(EVENTS + 2))  # 0 lost, 0 duplicates, in order
    assert cuts >= 20  # ~1 MB through cuts of at most 40 KB


@pytest.mark.parametrize("mode", MODES, ids=str)
async def test_the_same_cut_every_time_ends_the_read_naming_it(
    real_flue_server: RealFlueServer, cut_run: str, mode: Any
) -> None:
    # every connection ends after the same bytes, inside the response's head or first event
    with CuttingProxy(real_flue_server.url, min_bytes=700, max_bytes=700) as proxy:
        async with AsyncFlueClient(
            proxy.url, token=real_flue_server.token, retry=RetryPolicy(max_attempts=10)
        ) as client:
            with pytest.raises(ConnectionLostError, match="cut 3 times in a row after the same"):
                await read_all(client, cut_run, mode)
        # 3 at the same place; one more when the first cut came after a whole event
        assert len(proxy.cuts) in (3, 4)
