"""`on_event` callbacks: the asyncio client awaits an ``async def`` one; the blocking client
refuses one (it cannot run it) before anything is lost. Not generated: the flavours differ."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from flue import AsyncFlueClient, FlueClient, InvalidArgumentError
from flue.models import Event
from flue.testing import FlueTestServer
from tests.agent_helpers import emit
from tests.conftest import TOKEN


async def test_async_client_awaits_async_callbacks(server: FlueTestServer) -> None:
    server.add_workflow("emit", emit)
    chunks: list[str] = []
    events: list[str] = []

    async def on_chunk(chunk: Any) -> None:
        await asyncio.sleep(0)
        chunks.append(chunk.type)

    async def on_event(event: Event) -> None:
        await asyncio.sleep(0)
        events.append(event.type)

    async with AsyncFlueClient(server.url, token=TOKEN) as client:
        sent = await client.agents.send("assistant", "cb", "hi")
        result = await client.agents.wait(sent, on_event=on_chunk)
        run = await client.workflows.run("emit", {"count": 1}, on_event=on_event)
    assert result.text == "echo: hi" and chunks[-1] == "submission-settled"
    assert run.result == {"emitted": 1} and events == ["run_start", "log", "run_end"]


def test_blocking_client_refuses_async_callbacks(server: FlueTestServer) -> None:
    async def on_chunk(chunk: Any) -> None:
        raise AssertionError("never called")

    with FlueClient(server.url, token=TOKEN) as client:
        sent = client.agents.send("assistant", "cb", "hi")
        with pytest.raises(InvalidArgumentError, match="async function"):
            client.agents.wait(sent, on_event=on_chunk)
