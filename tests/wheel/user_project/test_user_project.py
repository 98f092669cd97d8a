"""A user's own tests, written against the installed `flue-client` as the README shows: the
pytest plugin's fixtures (`flue_server_thread` for blocking code, `flue_server` for asyncio,
`flue_server_v2_thread` for a Flue 2.x conversation) and the client, with nothing from the flue
checkout."""

from __future__ import annotations

import pytest

from flue import AsyncFlueClient, FlueClient, RunNotFoundError
from flue.testing import Fault, FlueTestServer


def test_blocking_code_against_the_thread_fixture(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run(workflow="emit")
    flue_server_thread.append(run, [{"type": "log", "message": f"m{i}"} for i in range(3)])
    flue_server_thread.end_run(run, result={"ok": True})
    with FlueClient(flue_server_thread.url) as client:
        messages = [e.message for e in client.runs.events(str(run)) if e.type == "log"]
        assert messages == ["m0", "m1", "m2"]
        assert client.runs.get(str(run)).result == {"ok": True}
        with pytest.raises(RunNotFoundError):
            client.runs.get("run_missing")


@pytest.mark.flue_server(token="secret")
@pytest.mark.asyncio
async def test_asyncio_code_against_the_async_fixture(flue_server: FlueTestServer) -> None:
    run = flue_server.create_run(workflow="emit")
    flue_server.faults.add(Fault.status(503), times=1)
    async with AsyncFlueClient(flue_server.url, token="secret") as client:
        stream = client.runs.stream(str(run), live="sse")
        flue_server.append(run, {"type": "log", "message": "hello"})
        flue_server.end_run(run, result={"n": 1})
        seen = [event.type async for event in stream]
    assert seen[-1] == "run_end" and "log" in seen
    assert len(flue_server.requests) >= 2  # the injected 503 was retried


def test_a_2x_conversation_against_the_v2_fixture(flue_server_v2_thread: FlueTestServer) -> None:
    flue_server_v2_thread.add_agent("assistant", mount="/api/chat")
    with FlueClient(flue_server_v2_thread.url) as client:
        conv = client.conversation("/api/chat/support-1")
        first = conv.send("hello", idempotency_key="k-1")
        assert conv.send("hello", idempotency_key="k-1").deduplicated
        assert conv.read(first).text == "echo: hello"
        same = client.conversation("/agents/assistant/support-1")  # one agent, two mounts
        assert [m.role for m in same.history().messages] == ["user", "assistant"]
