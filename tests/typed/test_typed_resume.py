"""Resume positions and run references as a strictly typed user program uses them (both
flavours): `nox -s lint` checks this file with ``mypy --strict`` and pyright (strict), and
pytest runs it against the plugin's fake server."""

# pyright: strict

from __future__ import annotations

import sys

import pytest

from flue import AsyncFlueClient, FlueClient
from flue.models import Event, RunRecord
from flue.testing import FlueTestServer, RunHandle

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

TOKEN = "typed-user-token"


def five_events(server: FlueTestServer) -> RunHandle:
    run = server.create_run(workflow="typed")
    run.append([{"type": "log", "level": "info", "message": str(i)} for i in range(3)])
    run.end(result={"ok": True})
    return run


@pytest.mark.flue_server(token=TOKEN)
def test_blocking_positions_and_run_references(flue_server_thread: FlueTestServer) -> None:
    run = five_events(flue_server_thread)
    with FlueClient(flue_server_thread.url, token=TOKEN) as client:
        record = client.runs.get(run)  # a RunHandle stands for its run
        assert_type(record, RunRecord)
        started = client.workflows.invoke("emit", {"count": 1})
        assert client.runs.get(started).run_id == started.run_id  # so does invoke()'s result
        with client.runs.stream(run, live=False) as stream:
            first = next(iter(stream))
            assert_type(first, Event)
            position = stream.position
            assert_type(position, str)
        rest = client.runs.events(run, position=position)
        assert [e.event_index for e in rest] == [1, 2, 3, 4]
        with client.streams.read(f"runs/{run}", position=position) as batches:
            assert_type(batches.position, str)
            batch = batches.fetch()
            assert batch is not None
            assert_type(batches.position_after(1), str)


@pytest.mark.flue_server(token=TOKEN)
async def test_asyncio_positions_and_run_references(flue_server: FlueTestServer) -> None:
    run = five_events(flue_server)
    async with AsyncFlueClient(flue_server.url, token=TOKEN) as client:
        assert (await client.runs.get(run)).run_id == run.run_id
        async with client.runs.stream(run, live=False) as stream:
            async for _ in stream:
                break
            position = stream.position
            assert_type(position, str)
        rest = await client.runs.events(run, position=position)
        assert [e.event_index for e in rest] == [1, 2, 3, 4]
