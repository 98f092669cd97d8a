"""What differs between the flavours: threads vs tasks, sessions, GC, async header factories."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
from collections.abc import Iterator

import aiohttp
import pytest
import requests

from flue import AsyncFlueClient, FlueClient, RetryPolicy
from flue.testing import FlueTestServer
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=4, jitter=False)


@pytest.fixture
def slow_server() -> Iterator[FlueTestServer]:
    """Long windows, so a cancel that does not abort the blocked read would hang the test."""
    with FlueTestServer.running_in_thread(
        token=TOKEN, long_poll_timeout=60.0, sse_keepalive=60.0, sse_heartbeat=None
    ) as srv:
        yield srv


def _live_run(server: FlueTestServer) -> str:
    run = server.create_run(workflow="emit")
    return str(run)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("live", ["long-poll", "sse"])
def test_sync_cancel_from_another_thread_wakes_a_blocked_read(
    slow_server: FlueTestServer, live: str
) -> None:
    run_id = _live_run(slow_server)
    got_first = threading.Event()
    with FlueClient(slow_server.url, token=TOKEN, retry=FAST) as client:
        stream = client.runs.stream(run_id, live=live)  # type: ignore[arg-type]

        def canceller() -> None:
            got_first.wait(10)
            # the reader is now blocked waiting for events that never come
            stream.cancel()

        thread = threading.Thread(target=canceller)
        thread.start()
        seen = []
        for event in stream:
            seen.append(event.event_index)
            got_first.set()
        thread.join(10)
    assert seen == [0]
    assert stream.offset != "-1"


@pytest.mark.timeout(20)
@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_async_cancel_from_another_task(slow_server: FlueTestServer, live: str) -> None:
    run_id = _live_run(slow_server)
    got_first = asyncio.Event()
    async with AsyncFlueClient(slow_server.url, token=TOKEN, retry=FAST) as client:
        stream = client.runs.stream(run_id, live=live)  # type: ignore[arg-type]

        async def canceller() -> None:
            await got_first.wait()
            await asyncio.sleep(0)
            stream.cancel()

        task = asyncio.create_task(canceller())
        seen = []
        async for event in stream:
            seen.append(event.event_index)
            got_first.set()
        await task
    assert seen == [0]


async def test_async_header_factory_may_be_async(server: FlueTestServer) -> None:
    run = server.create_run()
    server.end_run(run)
    calls = 0

    async def headers() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"X-Async": "yes"}

    async with AsyncFlueClient(server.url, token=TOKEN, headers=headers) as client:
        await client.runs.events(str(run))
        await client.runs.get(str(run))
    assert calls == 2
    assert all(r.headers.get("X-Async") == "yes" for r in server.requests)


def test_sync_session_is_used_and_not_closed(server: FlueTestServer) -> None:
    run = server.create_run()
    server.end_run(run)
    session = requests.Session()
    session.headers["X-Mine"] = "1"
    with FlueClient(server.url, token=TOKEN, session=session) as client:
        client.runs.get(str(run))
    assert server.requests[-1].headers["X-Mine"] == "1"
    # still usable: the client did not close a session it does not own
    assert (
        session.get(
            f"{server.url}/runs/{run}?meta", headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )
    session.close()


async def test_async_session_is_used_and_not_closed(server: FlueTestServer) -> None:
    run = server.create_run()
    server.end_run(run)
    async with aiohttp.ClientSession(headers={"X-Mine": "1"}) as session:
        async with AsyncFlueClient(server.url, token=TOKEN, session=session) as client:
            await client.runs.get(str(run))
        assert not session.closed
        assert server.requests[-1].headers["X-Mine"] == "1"


def test_sync_garbage_collection_closes_the_connection(
    server: FlueTestServer,
) -> None:
    run = server.create_run()
    with FlueClient(server.url, token=TOKEN) as client:
        stream = client.runs.stream(str(run), live="sse")
        next(iter(stream))
        response = stream._batches._response
        assert response is not None
        raw = response._response.raw
        assert not raw.closed
        del stream, response
        gc.collect()
        assert raw.closed


async def test_async_garbage_collection_closes_the_connection(
    server: FlueTestServer,
) -> None:
    run = server.create_run()
    async with AsyncFlueClient(server.url, token=TOKEN) as client:
        stream = client.runs.stream(str(run), live="sse")
        await stream.__anext__()
        response = stream._batches._response
        assert response is not None
        inner = response._response
        assert not inner.closed
        del stream, response
        gc.collect()
        assert inner.closed


def test_env_defaults(monkeypatch: pytest.MonkeyPatch, server: FlueTestServer) -> None:
    monkeypatch.setenv("FLUE_BASE_URL", server.url + "/")
    monkeypatch.setenv("FLUE_TOKEN", TOKEN)
    run = server.create_run()
    with FlueClient() as client:
        assert client.base_url == server.url
        client.runs.get(str(run))
    assert server.requests[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_sync_only_program_does_not_import_aiohttp() -> None:
    import subprocess

    code = (
        "import sys, flue\n"
        "c = flue.FlueClient('http://127.0.0.1:9')\n"
        "assert 'aiohttp' not in sys.modules, 'aiohttp imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
