"""`client.conversation(url)` against `flue.testing`'s Flue 2.x fake (`FlueTestServer(line="2")`),
written once against the async client (tests/_sync holds the generated twin).

The client is done and checked against real 2.x servers (tests/interop); here it is the
witness for the fake: every call of a conversation works against the fake as against a real
2.x server, the 2.x options (signals, uid conditions, idempotency keys, initial data) reach
the fake's agent, and the fake's faults and pause hooks drive the client as they do on 1.0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    ConflictError,
    FlueExecutionError,
    NotFoundError,
    RetryPolicy,
    ServerError,
    Signal,
    UserMessage,
)
from flue.testing import AgentPrompt, Fault, FlueTestServer
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=6, jitter=False)


@pytest.fixture
def v2() -> Iterator[FlueTestServer]:
    """A 2.x fake in its own thread (so both flavours share it), with a short long-poll."""
    with FlueTestServer.running_in_thread(
        line="2", token=TOKEN, long_poll_timeout=1.0, sse_heartbeat=0.5
    ) as server:
        server.add_agent("assistant", attachments=True, mount="/api/chat")
        yield server


def client_for(server: FlueTestServer) -> AsyncFlueClient:
    return AsyncFlueClient(server.url, token=TOKEN, retry=FAST)


async def test_prompt_read_and_history_at_two_mounts(v2: FlueTestServer) -> None:
    async with client_for(v2) as client:
        conv = client.conversation("/api/chat/c1")
        sent = await conv.send("hello")
        assert sent.uid is not None and sent.uid.startswith("inst_")
        assert sent.stream_url == f"{v2.url}/api/chat/c1"
        reply = await conv.read(sent)
        assert reply.text == "echo: hello" and reply.submission_id == sent.submission_id
        same = client.conversation("/agents/assistant/c1")  # the same conversation
        assert (await same.prompt("two")).text == "echo: two"
        snapshot = await conv.history()
        assert [m.role for m in snapshot.messages] == ["user", "assistant"] * 2
        assert v2.agent_handle("assistant").history("c1")["incarnation"].startswith("inc_")


@pytest.mark.parametrize("live", ["sse", "long-poll"])
async def test_wait_follows_in_both_live_modes(v2: FlueTestServer, live: str) -> None:
    async with client_for(v2) as client:
        conv = client.conversation(f"/api/chat/c-{live}")
        sent = await conv.send("words5: x")
        seen: list[Any] = []
        settlement = await conv.wait(sent, live=live, on_event=seen.append)  # type: ignore[arg-type]
        assert settlement.outcome == "completed"
        assert (await conv.read(sent, live=live)).text == "w0 w1 w2 w3 w4"  # type: ignore[arg-type]
        assert seen


async def test_signal_initial_data_and_conditions_reach_the_agent(v2: FlueTestServer) -> None:
    prompts: list[AgentPrompt] = []

    def reply(prompt: AgentPrompt) -> str:
        prompts.append(prompt)
        return f"seen {prompt.initial_data}"

    v2.add_agent("bot", reply)
    async with client_for(v2) as client:
        conv = client.conversation("/agents/bot/c2")
        created = await conv.send("hi", create_only=True, initial_data={"plan": "pro"})
        assert (await conv.read(created)).text == "seen {'plan': 'pro'}"
        with pytest.raises(ConflictError) as exists:
            await conv.send("again", create_only=True)
        assert exists.value.meta == {"uid": created.uid}
        with pytest.raises(NotFoundError):
            await conv.send("x", uid="inst_other")
        signal = await conv.send(Signal("webhook", "build passed", attributes={"repo": "flue"}))
        await conv.wait(signal)
        assert prompts[-1].signal == {
            "type": "webhook",
            "body": "build passed",
            "attributes": {"repo": "flue"},
        }
        assert prompts[-1].message == '<signal type="webhook" repo="flue">\nbuild passed\n</signal>'
        system = (await conv.history()).messages[2]
        assert system.role == "system" and system.text == "build passed"


async def test_idempotency_key_deduplicates(v2: FlueTestServer) -> None:
    async with client_for(v2) as client:
        conv = client.conversation("/api/chat/c3")
        first = await conv.send("once", idempotency_key="k-1")
        again = await conv.send("once", idempotency_key="k-1")
        assert again.deduplicated and again.submission_id == first.submission_id
        with pytest.raises(ConflictError):
            await conv.send("other", idempotency_key="k-1")
        await conv.wait(first)
        assert len((await conv.history()).settlements) == 1


async def test_abort_mid_reply_settles_running_and_joined(v2: FlueTestServer) -> None:
    agent = v2.add_agent("slow", pause_after=2)
    async with client_for(v2) as client:
        conv = client.conversation("/agents/slow/c4")
        running = await conv.send("a b c d e f")
        agent.wait_paused(5)  # the server runs in another thread
        joined = await conv.send("late")  # joins the reply being produced
        assert (await conv.abort()).aborted
        for sent in (running, joined):
            with pytest.raises(FlueExecutionError) as failed:
                await conv.read(sent)
            assert failed.value.failure == "aborted"
        snapshot = await conv.history()
        assert [m.role for m in snapshot.messages] == ["user", "assistant", "system", "system"]
        assert snapshot.messages[1].text == "echo: a"  # the partial reply is kept


async def test_failed_submission_and_attachment(v2: FlueTestServer) -> None:
    async with client_for(v2) as client:
        conv = client.conversation("/api/chat/c5")
        with pytest.raises(FlueExecutionError) as failed:
            await conv.prompt("fail: boom")
        assert failed.value.failure == "failed"
        image = {"type": "image", "data": "aGk=", "mimeType": "image/png"}
        await conv.prompt(UserMessage("pic", attachments=[image]))
        part = (await conv.history()).messages[-2].parts[-1]
        assert conv.attachment_url(part.id).startswith(f"{v2.url}/api/chat/c5/attachments/att_")


async def test_faults_apply_on_line_2(v2: FlueTestServer) -> None:
    async with client_for(v2) as client:
        conv = client.conversation("/api/chat/c6")
        v2.faults.add(Fault.status(503), times=2, mode="sse")
        v2.faults.add(Fault.drop_after(bytes=60), times=1, mode="sse")
        assert (await conv.prompt("ok")).text == "echo: ok"
        v2.faults.add(Fault.status(500), times=1, mode="invoke")
        with pytest.raises(ServerError) as error:
            await conv.send("x")  # no idempotency key: not sent again
        ref = error.value.ref
        assert ref is not None and any(line.startswith(ref) for line in v2.error_log)


async def test_observe_sees_the_reply(v2: FlueTestServer) -> None:
    async with client_for(v2) as client:
        conv = client.conversation("/api/chat/c7")
        sent = await conv.send("hi there")
        await conv.wait(sent)
        async with conv.observe(live="long-poll") as obs:
            async for state in obs:
                if state.messages and state.messages[-1].text == "echo: hi there":
                    break
        assert obs.phase in ("live", "closed")
