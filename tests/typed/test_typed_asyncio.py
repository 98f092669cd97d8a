"""The asyncio client as a user's strictly typed program (and pytest suite) uses it.

`nox -s lint` checks this file with ``mypy --strict`` and ``pyright`` in strict mode; every
`assert_type` states the type a user's checker must infer, so a change to flue's public typing
that breaks users fails lint. pytest also runs it (pytest-asyncio, ``asyncio_mode = "auto"``)
against the plugin's fake server, so the program is real, not only well typed.
"""

# pyright: strict

from __future__ import annotations

import asyncio
import ssl
import sys
from typing import Any

import aiohttp
import certifi
import pytest

from flue import (
    OFFSET_START,
    APIError,
    AsyncBatchStream,
    AsyncFlueClient,
    AsyncRunStream,
    Batch,
    FlueError,
    LiveMode,
    RetryPolicy,
    RunNotFoundError,
    Timeout,
    WorkflowNotFoundError,
)
from flue.models import Event, InvokeResult, LogEvent, RunEndEvent, RunRecord
from flue.testing import Fault, FaultRule, FlueTestServer, RunHandle

if sys.version_info >= (3, 11):
    from typing import assert_type
else:
    from typing_extensions import assert_type

TOKEN = "typed-user-token"


def make_client(
    base_url: str,
    *,
    session: aiohttp.ClientSession | None = None,
    verify: bool | str | ssl.SSLContext = True,
) -> AsyncFlueClient:
    """Every constructor option, as a user would pass them."""

    async def headers() -> dict[str, str]:  # the asyncio client also awaits async factories
        return {"X-Caller": "typed-snippet"}

    return AsyncFlueClient(
        base_url,
        token=TOKEN,
        headers=headers,
        timeout=Timeout(connect=5.0, read=10.0, long_poll=45.0, stall=45.0, invoke_wait=60.0),
        retry=RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False),
        session=session,
        verify=verify,
        catchup="get",
        max_event_size=1 << 20,
    )


def finished_run(server: FlueTestServer) -> RunHandle:
    run = server.create_run(workflow="typed")
    assert_type(run, RunHandle)
    run.append([{"type": "log", "level": "info", "message": "hello"}])
    run.end(result={"ok": True})
    return run


async def events_either_way(
    client: AsyncFlueClient, run_id: str, *, as_dict: bool
) -> list[Event] | list[dict[str, Any]]:
    """``as_dict`` known only at run time: the result is either list."""
    events = await client.runs.events(run_id, as_dict=as_dict)
    assert_type(events, list[Event] | list[dict[str, Any]])
    return events


async def stream_either_way(
    client: AsyncFlueClient, run_id: str, *, as_dict: bool
) -> list[Event | dict[str, Any]]:
    async with client.runs.stream(run_id, live=True, as_dict=as_dict) as stream:
        assert_type(stream, AsyncRunStream[Event] | AsyncRunStream[dict[str, Any]])
        items: list[Event | dict[str, Any]] = []
        async for item in stream:
            assert_type(item, Event | dict[str, Any])
            items.append(item)
        return items


@pytest.mark.flue_server(token=TOKEN)
async def test_client_options(flue_server: FlueTestServer) -> None:
    url = flue_server.url
    assert_type(url, str)
    run_id = str(finished_run(flue_server))
    async with (
        aiohttp.ClientSession() as session,
        make_client(url, session=session, verify=certifi.where()) as client,
    ):
        assert_type(client, AsyncFlueClient)
        assert_type(client.base_url, str)
        assert_type(client.retry, RetryPolicy)
        assert_type(client.timeout, Timeout)
        assert (await client.runs.get(run_id)).run_id == run_id
    async with AsyncFlueClient(url, token=TOKEN, headers={"X-Caller": "dict"}, timeout=5) as client:
        assert (await client.runs.get(run_id)).status == "completed"
    context = ssl.create_default_context(cafile=certifi.where())
    async with make_client(url, verify=context) as client:  # asyncio only: an SSLContext
        assert (await client.runs.get(run_id)).run_id == run_id
    client = AsyncFlueClient(url, token=TOKEN, retry=RetryPolicy.disabled(), verify=False)
    try:
        assert (await client.runs.get(run_id)).workflow_name == "typed"
    finally:
        await client.close()
    assert flue_server.requests[0].headers["X-Caller"] == "typed-snippet"


@pytest.mark.flue_server(token=TOKEN)
async def test_runs_get_and_events(flue_server: FlueTestServer) -> None:
    run_id = str(finished_run(flue_server))
    async with make_client(flue_server.url) as client:
        record = await client.runs.get(run_id)
        assert_type(record, RunRecord)
        assert_type(record.status, str | None)
        assert record.status == "completed" and record.result == {"ok": True}

        events = await client.runs.events(run_id)
        assert_type(events, list[Event])
        assert [e.type for e in events] == ["run_start", "log", "run_end"]
        messages = [e.message for e in events if isinstance(e, LogEvent)]
        assert_type(messages, list[str | None])
        assert messages == ["hello"]

        models = await client.runs.events(run_id, as_dict=False, tail=1)
        assert_type(models, list[Event])
        assert isinstance(models[0], RunEndEvent)

        dicts = await client.runs.events(run_id, as_dict=True, offset=OFFSET_START)
        assert_type(dicts, list[dict[str, Any]])
        assert dicts[1]["message"] == "hello"

        assert await events_either_way(client, run_id, as_dict=True) == dicts
        assert await events_either_way(client, run_id, as_dict=False) == events


@pytest.mark.flue_server(token=TOKEN, long_poll_timeout=0.2)
async def test_runs_stream_and_checkpoints(flue_server: FlueTestServer) -> None:
    run = flue_server.create_run(workflow="typed")
    run_id = str(run)
    async with make_client(flue_server.url) as client:
        checkpoint = OFFSET_START
        async with client.runs.stream(run_id, live=False) as stream:
            assert_type(stream, AsyncRunStream[Event])
            async for event in stream:
                assert_type(event, Event)
                assert_type(event.event_index, int | None)
                checkpoint = stream.offset  # save after handling, never before
                assert_type(checkpoint, str)
        assert checkpoint != OFFSET_START
        run.append({"type": "log", "level": "info", "message": "hello"})
        run.end(result={"ok": True})
        # resume from the checkpoint: only what came after it
        async with client.runs.stream(run_id, offset=checkpoint, live=LiveMode.SSE) as resumed:
            assert [e.type async for e in resumed] == ["log", "run_end"]
            assert_type(resumed.closed, bool)
            assert resumed.closed

        async with client.runs.stream(run_id, live="long-poll", as_dict=True) as raw:
            assert_type(raw, AsyncRunStream[dict[str, Any]])
            assert [item["type"] async for item in raw] == ["run_start", "log", "run_end"]

        assert await stream_either_way(client, run_id, as_dict=True) == flue_server.events(run_id)
        last = (await stream_either_way(client, run_id, as_dict=False))[-1]
        assert isinstance(last, RunEndEvent)

        stream = client.runs.stream(run_id, tail=1)
        stream.cancel()  # before iterating: no request at all
        assert [e async for e in stream] == []


@pytest.mark.flue_server(token=TOKEN)
async def test_streams_read(flue_server: FlueTestServer) -> None:
    run_id = str(finished_run(flue_server))
    async with make_client(flue_server.url) as client:
        async with client.streams.read(f"runs/{run_id}") as batches:
            assert_type(batches, AsyncBatchStream)
            async for batch in batches:
                assert_type(batch, Batch)
                assert_type(batch.items, list[Any])
                assert_type(batch.next_offset, str)
                assert_type(batch.up_to_date, bool)
            assert batches.up_to_date
        async with client.streams.read(f"runs/{run_id}", decode="bytes", live=False) as raw:
            data = b"".join([batch.data async for batch in raw])
            assert_type(data, bytes)
            assert b'"hello"' in data


@pytest.mark.flue_server(token=TOKEN)
async def test_workflows_invoke(flue_server: FlueTestServer) -> None:
    async with make_client(flue_server.url) as client:
        started = await client.workflows.invoke("emit", {"count": 2})
        assert_type(started, InvokeResult)
        assert_type(started.run_id, str)
        assert_type(started.result, Any)
        finished = await client.workflows.invoke("emit", {"count": 2}, wait=True)
        assert finished.result == {"emitted": 2, "size": 0}
        # several runs followed concurrently, as a service would
        runs = await asyncio.gather(*(client.runs.get(r.run_id) for r in (started, finished)))
        assert_type(runs, list[RunRecord])
        assert {r.run_id for r in runs} == {started.run_id, finished.run_id}


@pytest.mark.flue_server(token=TOKEN)
async def test_errors(flue_server: FlueTestServer) -> None:
    rule = flue_server.faults.add(Fault.status(503, retry_after=0.01), times=1)
    assert_type(rule, FaultRule)
    async with make_client(flue_server.url) as client:
        try:
            await client.runs.get("run_missing")
        except RunNotFoundError as exc:
            assert_type(exc.status, int)
            assert_type(exc.error_type, str | None)
            assert exc.status == 404
        else:
            raise AssertionError("expected RunNotFoundError")
        try:
            await client.workflows.invoke("no-such-workflow")
        except WorkflowNotFoundError as exc:
            assert isinstance(exc, APIError)
        else:
            raise AssertionError("expected WorkflowNotFoundError")
    assert rule.exhausted  # the 503 was retried
    async with AsyncFlueClient(flue_server.url, token="wrong") as client:
        try:
            await client.runs.events("run_missing")
        except FlueError as exc:
            assert_type(exc, FlueError)
            assert TOKEN not in str(exc)
        else:
            raise AssertionError("expected a FlueError")


async def test_server_on_the_test_loop() -> None:
    async with FlueTestServer(page_size=1) as server:
        assert_type(server, FlueTestServer)
        run_id = str(finished_run(server))
        async with AsyncFlueClient(server.url) as client:
            assert len(await client.runs.events(run_id)) == 3


@pytest.mark.flue_server(token=TOKEN)
async def test_agents_typed(flue_server: FlueTestServer) -> None:
    import flue.models as m
    from flue import AsyncConversationObserver, FlueExecutionError

    async def on_chunk(chunk: m.ConversationChunk) -> None:
        assert_type(chunk.raw, dict[str, Any])

    async with make_client(flue_server.url) as client:
        sent = await client.agents.send("assistant", "typed", "hi")
        assert_type(sent, m.AgentSendResult)
        reply = await client.agents.wait(sent, on_event=on_chunk)
        assert_type(reply, m.AgentResult)
        res = await client.agents.prompt("assistant", "typed", "again")
        assert_type(res.result.text, str | None)
        snap = await client.agents.history("assistant", "typed")
        assert_type(snap.settlements[0], m.Settlement)
        async with client.agents.observe("assistant", "typed", live="sse") as obs:
            assert_type(obs, AsyncConversationObserver)
            async for state in obs:
                assert_type(state, m.ConversationState)
                break
        assert_type(await client.agents.abort("assistant", "typed"), m.AgentAbortResult)
        try:
            await client.agents.prompt("assistant", "typed", "fail: now")
        except FlueExecutionError as exc:
            assert_type(exc.target, str)
