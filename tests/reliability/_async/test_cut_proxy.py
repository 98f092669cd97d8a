"""A live run read through a proxy that cuts every connection after 1-6 KB (seeded) delivers
every event once, in order, in both live modes, and every reconnect after a cut is immediate.

The server pages 3 events per answer (SSE frames too), so each answer fits under the proxy's
smallest cut (1 KB): each new connection delivers at least one complete batch before it is cut,
which makes every failure the first after a working connection. Nothing here sleeps: the
workflow paces the run on the server, the test only reads.
"""

from __future__ import annotations

import logging

import pytest

from flue import AsyncFlueClient, RetryPolicy
from flue.testing import FlueTestServer
from tests.reliability.cutproxy import CuttingProxy, tick

pytestmark = pytest.mark.timeout(120)

EVENTS = 400


def _retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(record.args[1])  # type: ignore[index]
        for record in caplog.records
        if record.name == "flue" and record.msg == "flue: retry %d in %.2fs after: %s"
    ]


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_a_live_run_through_a_cutting_proxy_delivers_every_event(
    live: str, seed: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flue")
    with FlueTestServer.running_in_thread(page_size=3, sse_batch=3, seed=seed) as server:
        server.add_workflow("tick", tick)
        with CuttingProxy(server.url, seed=seed) as proxy:
            async with AsyncFlueClient(server.url) as direct:
                run = await direct.workflows.invoke("tick", {"count": EVENTS})
            retry = RetryPolicy(max_attempts=3, initial_delay=1.0)
            async with AsyncFlueClient(proxy.url, retry=retry) as client:
                stream = client.runs.stream(run.run_id, live=live, as_dict=True)  # type: ignore[call-overload]
                got = [event["eventIndex"] async for event in stream]
            cuts = len(proxy.cuts)
    assert got == list(range(EVENTS + 2))
    assert cuts >= 10
    # Cuts the reader noticed were followed by an immediate reconnect. (Not every cut reaches
    # it: aiohttp itself retries a GET whose connection closed before a whole response head.)
    delays = _retry_delays(caplog)
    assert len(delays) >= 5
    assert set(delays) == {0.0}
