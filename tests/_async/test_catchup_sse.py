"""``catchup="sse"``: `runs.events()` reads every catch-up page over one SSE connection.

Written once against the async client; tests/_sync holds the generated twin.
"""

from __future__ import annotations

import pytest

from flue import AsyncFlueClient, InvalidArgumentError
from flue.testing import Fault, FlueTestServer
from tests._async.test_client import client_for, make_run, reads


@pytest.mark.parametrize("end", [True, False])
async def test_same_events_as_paged_gets_over_one_request(
    server: FlueTestServer, end: bool
) -> None:
    run_id = make_run(server, 450, end=end)
    async with client_for(server) as paged, client_for(server, catchup="sse") as sse:
        expected = await paged.runs.events(run_id, as_dict=True)
        server.clear_requests()
        got = await sse.runs.events(run_id, as_dict=True)
        models = await sse.runs.events(run_id)
    assert got == expected
    assert [e.event_index for e in models] == list(range(len(expected)))
    sent = reads(server, run_id)
    assert len(sent) == 2  # one connection per call, whatever the number of pages
    assert all(r.query_values("live") == ["sse"] for r in sent)


async def test_offset_tail_and_now(server: FlueTestServer) -> None:
    run_id = make_run(server, 250, end=False)
    async with client_for(server) as paged, client_for(server, catchup="sse") as sse:
        for kwargs in ({"tail": 120}, {"offset": "now"}, {"tail": 3}):
            expected = await paged.runs.events(run_id, as_dict=True, **kwargs)
            assert await sse.runs.events(run_id, as_dict=True, **kwargs) == expected
        assert len(await sse.runs.events(run_id)) == 251


async def test_resumes_after_a_dropped_connection(server: FlueTestServer) -> None:
    run_id = make_run(server, 300)
    server.faults.add(Fault.drop_after(bytes=700), times=2, skip=0, run_id=run_id, mode="sse")
    async with client_for(server, catchup="sse") as client:
        events = await client.runs.events(run_id)
    assert [e.event_index for e in events] == list(range(302))


def test_rejects_unknown_mode() -> None:
    with pytest.raises(InvalidArgumentError, match="catchup"):
        AsyncFlueClient("http://127.0.0.1:1", catchup="poll")  # type: ignore[arg-type]
