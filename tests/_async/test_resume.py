"""Exact resume per event (`position`) and run references (anything with a ``run_id``), both
flavours against a real local server (tests/_sync holds the generated twin)."""

from __future__ import annotations

from typing import Any

import pytest

from flue import AsyncFlueClient, InvalidArgumentError, ProtocolError, RetryPolicy
from flue.testing import FlueTestServer
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False)


def client_for(server: FlueTestServer) -> AsyncFlueClient:
    return AsyncFlueClient(server.url, token=TOKEN, retry=FAST)


def make_run(server: FlueTestServer, n: int) -> str:
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "message": str(i)} for i in range(n)])
    server.end_run(run, result={"emitted": n})
    return str(run)


async def read_all(client: AsyncFlueClient, run_id: str, **kw: Any) -> list[int]:
    async with client.runs.stream(run_id, **kw) as stream:
        return [event.event_index async for event in stream]


@pytest.mark.parametrize("live", [True, "sse"])
async def test_break_at_third_event_then_resume_gets_exactly_the_rest(
    server: FlueTestServer, live: Any
) -> None:
    run_id = make_run(server, 6)  # run_start, 6 logs, run_end: 8 events in one batch
    async with client_for(server) as client:
        everything = await read_all(client, run_id, live=live)
        assert len(everything) == 8
        async with client.runs.stream(run_id, live=live) as stream:
            seen = []
            async for event in stream:
                seen.append(event.event_index)
                if len(seen) == 3:
                    break
            assert stream.offset == "-1"  # the checkpoint moves per batch
            position = stream.position
        assert isinstance(position, str)
        rest = await read_all(client, run_id, position=position, live=live)
    assert seen + rest == everything  # each event exactly once


async def test_position_across_pages_and_after_the_end(server: FlueTestServer) -> None:
    run_id = make_run(server, 248)  # 250 events: pages of 100
    async with client_for(server) as client:
        positions = []
        async with client.runs.stream(run_id, live=False) as stream:
            async for _ in stream:
                positions.append(stream.position)
        for stop in (0, 1, 99, 100, 101, 170, 249):
            rest = await read_all(client, run_id, position=positions[stop], live=False)
            assert rest == list(range(stop + 1, 250)), stop
        events = await client.runs.events(run_id, position=positions[120], as_dict=True)
        assert [e["eventIndex"] for e in events] == list(range(121, 250))


async def test_position_with_fewer_events_at_its_offset_fails(server: FlueTestServer) -> None:
    short, long_ = make_run(server, 1), make_run(server, 6)
    async with client_for(server) as client:
        async with client.runs.stream(long_, live=False) as stream:
            async for _ in stream:
                if stream.position.endswith("+5"):
                    break
            position = stream.position
        with pytest.raises(ProtocolError, match="only 3 item"):
            await read_all(client, short, position=position, live=False)


async def test_position_arguments_are_checked(server: FlueTestServer) -> None:
    run_id = make_run(server, 1)
    async with client_for(server) as client:
        with pytest.raises(InvalidArgumentError, match="not both"):
            client.runs.stream(run_id, offset="now", position="-1+2")
        with pytest.raises(InvalidArgumentError, match="position"):
            client.runs.stream(run_id, position="-1")
        with pytest.raises(InvalidArgumentError, match="cannot resume"):
            client.runs.stream(run_id, position="-1+2", tail=3)


async def test_streams_read_position_after_an_item(server: FlueTestServer) -> None:
    run_id = make_run(server, 6)
    async with client_for(server) as client:
        async with client.streams.read(f"runs/{run_id}") as batches:
            assert batches.position == "-1+0"
            batch = await batches.fetch()
            assert batch is not None and len(batch.items) == 8
            position = batches.position_after(2)
            assert batches.position_after(8) == batches.position_after(8)
        async with client.streams.read(f"runs/{run_id}", position=position) as batches:
            items = [item async for batch in batches for item in batch.items]
    assert [item["eventIndex"] for item in items] == list(range(2, 8))


async def test_a_run_reference_is_taken_wherever_a_run_id_is(server: FlueTestServer) -> None:
    handle = server.create_run(workflow="emit")
    server.append(handle, [{"type": "log", "message": "x"}])
    server.end_run(handle, result=1)
    async with client_for(server) as client:
        record = await client.runs.get(handle)
        assert record.run_id == handle.run_id
        assert len(await client.runs.events(handle)) == 3
        assert len(await read_all(client, handle)) == 3
        started = await client.workflows.invoke("emit", {"count": 1}, wait=True)
        assert (await client.runs.get(started)).run_id == started.run_id
        assert len(await client.runs.events(started)) == 3
        with pytest.raises(InvalidArgumentError, match="run_id"):
            await client.runs.get(object())  # type: ignore[arg-type]


async def test_position_stays_exact_when_cancelled_inside_a_batch(server: FlueTestServer) -> None:
    run_id = make_run(server, 6)
    async with client_for(server) as client:
        async with client.runs.stream(run_id, live=False) as stream:
            seen = [(await stream.__anext__()).event_index for _ in range(2)]
            stream.cancel()  # the rest of the batch is dropped, never handed out
            assert [event.event_index async for event in stream] == []
            assert stream.offset == "-1" and stream.position == "-1+2"
        rest = await read_all(client, run_id, position=stream.position, live=False)
    assert seen + rest == list(range(8))
