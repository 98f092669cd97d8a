"""`workflows.run` and `agents` against a real Flue 1.0.0-beta.9 server with the fake model.

Written once against the async client; tests/interop/_sync holds the generated twin. Collected
only for releases whose app has agents (beta9; see conftest.py): the name ``*agents*`` is what
the conftest matches. The agent is the app's ``assistant`` (model ``fake/echo``: the reply is
``echo: <message>``, one word per token; ``slow<ms>:`` waits before each token, ``fail:`` makes
the model fail; see tools/flue_servers/fakemodel.py). Every conversation id is new per test.
"""

from __future__ import annotations

import base64
import ssl
import urllib.request
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from flue import AsyncFlueClient, FlueExecutionError, RetryPolicy
from flue.models import (
    ConversationState,
    Event,
    FilePart,
    MessageDeltaChunk,
    SubmissionSettledChunk,
    TextPart,
)
from tools.flue_servers.server import RealFlueServer

pytestmark = pytest.mark.timeout(60)

RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=3)
LIVE_MODES = ["long-poll", "sse"]
# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def new_id(prefix: str) -> str:
    """A conversation id no other test (of either flavour, or an earlier run) used."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_client(server: RealFlueServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", server.token)
    kw.setdefault("retry", RETRY)
    for name, value in server.client_options.items():
        kw.setdefault(name, value)
    return AsyncFlueClient(server.url, **kw)


@pytest.fixture
async def client(target: RealFlueServer) -> AsyncIterator[AsyncFlueClient]:
    async with new_client(target) as c:
        yield c


def text_parts_done(state: ConversationState) -> bool:
    return all(
        p.state == "done" for m in state.messages for p in m.parts if isinstance(p, TextPart)
    )


# -- workflows.run ----------------------------------------------------------------------------


async def test_run_result_and_event_order(client: AsyncFlueClient) -> None:
    seen: list[Event] = []
    result = await client.workflows.run("emit", {"count": 3}, on_event=seen.append)
    assert result.result == {"emitted": 3, "size": 0}
    assert [e.type for e in seen] == ["run_start", "log", "log", "log", "run_end"]
    assert [e.event_index for e in seen] == list(range(5))
    assert all(e.run_id == result.run_id for e in seen)
    assert seen == await client.runs.events(result.run_id)


async def test_run_failure(client: AsyncFlueClient) -> None:
    seen: list[str] = []
    with pytest.raises(FlueExecutionError) as info:
        await client.workflows.run(
            "fail", {"message": "boom", "before": 2}, on_event=lambda e: seen.append(e.type)
        )
    error = info.value
    assert error.target == "workflow_run" and error.failure == "failed"
    assert error.target_id.startswith("run_")
    assert isinstance(error.error, dict) and error.error.get("message") == "boom"
    assert seen == ["run_start", "log", "log", "run_end"]
    record = await client.runs.get(error.target_id)
    assert record.status == "errored"


# -- send, wait, prompt, history ----------------------------------------------------------------


async def test_send_then_wait(client: AsyncFlueClient) -> None:
    conv = new_id("sw")
    chunks: list[Any] = []
    sent = await client.agents.send("assistant", conv, "hello there world")
    assert sent.stream_url is not None and sent.stream_url.endswith(f"/agents/assistant/{conv}")
    result = await client.agents.wait(sent, on_event=chunks.append)
    assert result.text == "echo: hello there world"
    assert result.model is not None and result.model.id == "echo"
    deltas = "".join(c.delta for c in chunks if isinstance(c, MessageDeltaChunk))
    assert deltas == "echo: hello there world"
    assert chunks[0].type == "message-appended"
    assert isinstance(chunks[-1], SubmissionSettledChunk)
    assert chunks[-1].submission_id == sent.submission_id


async def test_prompt_and_a_failing_prompt(client: AsyncFlueClient) -> None:
    conv = new_id("pr")
    res = await client.agents.prompt("assistant", conv, "Hello")
    assert res.result.text == "echo: Hello" and res.submission_id and res.offset
    with pytest.raises(FlueExecutionError) as info:
        await client.agents.prompt("assistant", conv, "fail: please")
    assert info.value.target == "agent_submission" and info.value.failure == "failed"
    assert isinstance(info.value.error, dict)
    assert info.value.error.get("type") == "operation_failed"


async def test_wait_on_a_failing_submission(client: AsyncFlueClient) -> None:
    sent = await client.agents.send("assistant", new_id("wf"), "fail: now")
    with pytest.raises(FlueExecutionError) as info:
        await client.agents.wait(sent)
    assert info.value.failure == "failed" and info.value.target_id == sent.submission_id
    assert isinstance(info.value.error, dict)
    assert info.value.error.get("type") == "operation_failed"


async def test_history_order_and_text_after_two_prompts(client: AsyncFlueClient) -> None:
    conv = new_id("hist")
    first = await client.agents.prompt("assistant", conv, "one")
    second = await client.agents.prompt("assistant", conv, "two")
    snap = await client.agents.history("assistant", conv)
    assert [(m.role, m.text) for m in snap.messages] == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
    ]
    assert [(s.submission_id, s.outcome) for s in snap.settlements] == [
        (first.submission_id, "completed"),
        (second.submission_id, "completed"),
    ]
    assert snap.offset and snap.conversation_id and snap.conversation_id.startswith("conv_")


# -- observe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_observe_a_live_reply(client: AsyncFlueClient, live: Any) -> None:
    conv = new_id(f"obs-{live}")
    await client.agents.prompt("assistant", conv, "warm up")
    sent = None
    texts: list[str] = []
    async with client.agents.observe("assistant", conv, live=live) as obs:
        async for state in obs:
            if sent is None:
                assert [m.text for m in state.messages] == ["warm up", "echo: warm up"]
                sent = await client.agents.send("assistant", conv, "slow50: watch me type now")
                continue
            last = state.messages[-1]
            if last.role == "assistant":
                texts.append(last.text)
            if state.settlement(sent.submission_id) is not None:
                break
        final = obs.state
        assert obs.rehydrations == 0  # every chunk the server sent could be applied
    snap = await client.agents.history("assistant", conv)
    assert final is not None and text_parts_done(final)
    settled = final.settlement(sent.submission_id)
    assert settled is not None and settled.outcome == "completed"
    assert final.messages[-1].text == "echo: watch me type now"
    assert [(m.role, m.text) for m in final.messages] == [(m.role, m.text) for m in snap.messages]
    assert texts[-1] == "echo: watch me type now"
    assert all("echo: watch me type now".startswith(t) for t in texts)  # it only ever grew


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_observe_from_the_middle_of_a_reply(client: AsyncFlueClient, live: Any) -> None:
    conv = new_id(f"mid-{live}")
    sent = await client.agents.send("assistant", conv, "slow100: a b c d e f g h")
    async with client.agents.observe("assistant", conv, live=live) as first:
        async for state in first:
            if state.messages and state.messages[-1].text.startswith("echo: a"):
                break
    # a second observer starts from a history that holds the reply so far
    async with client.agents.observe("assistant", conv, live=live) as obs:
        async for state in obs:
            if state.settlement(sent.submission_id) is not None:
                break
        assert obs.rehydrations == 0
    assert state.messages[-1].text == "echo: a b c d e f g h"
    assert text_parts_done(state)


async def test_observe_a_conversation_before_it_exists(client: AsyncFlueClient) -> None:
    conv = new_id("later")
    async with client.agents.observe("assistant", conv, live="sse") as obs:
        first = await obs.__anext__()
        assert first.messages == () and obs.exists is False
        sent = await client.agents.send("assistant", conv, "here now")
        async for state in obs:
            if state.settlement(sent.submission_id) is not None:
                break
        assert obs.exists is True
        assert [m.text for m in state.messages] == ["here now", "echo: here now"]


# -- abort and attachments ----------------------------------------------------------------------


async def test_abort_during_a_slow_reply(client: AsyncFlueClient) -> None:
    conv = new_id("abort")
    idle = await client.agents.abort("assistant", conv)
    assert idle.aborted is False
    words = " ".join(f"t{i}" for i in range(40))
    sent = await client.agents.send("assistant", conv, f"slow200: {words}")
    aborted = None
    async with client.agents.observe("assistant", conv, live="sse") as obs:
        async for state in obs:
            last = state.messages[-1] if state.messages else None
            if aborted is None and last is not None and last.text.startswith("echo:"):
                # the reply has begun (8 s of it left): stop it
                aborted = await client.agents.abort("assistant", conv)
            if state.settlement(sent.submission_id) is not None:
                break
    assert aborted is not None and aborted.aborted is True
    with pytest.raises(FlueExecutionError) as info:
        await client.agents.wait(sent)
    assert info.value.failure == "aborted" and info.value.target_id == sent.submission_id
    assert isinstance(info.value.error, dict)
    assert info.value.error.get("type") == "submission_aborted"
    snap = await client.agents.history("assistant", conv)
    assert [m.role for m in snap.messages] == ["user", "assistant", "user"]
    partial = snap.messages[1].text
    assert partial.startswith("echo:") and partial != f"echo: {words}"  # kept, unfinished
    assert text_parts_done(snap.state)
    assert snap.messages[2].text == "Submission was aborted."
    assert snap.settlements[-1].outcome == "aborted"


async def test_attachment_url(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conv = new_id("img")
    image = {"data": PNG, "mimeType": "image/png", "filename": "dot.png"}
    res = await client.agents.prompt("assistant", conv, "look", images=[image])
    assert res.result.text is not None and res.result.text.startswith("echo: look")
    snap = await client.agents.history("assistant", conv)
    files = [p for p in snap.messages[0].parts if isinstance(p, FilePart)]
    assert len(files) == 1 and files[0].id is not None and files[0].filename == "dot.png"
    url = client.agents.attachment_url("assistant", conv, files[0].id)
    assert files[0].url == url
    assert url == f"{target.url}/agents/assistant/{conv}/attachments/{files[0].id}"
    verify = target.client_options.get("verify")  # nginx topology: its private CA
    context = ssl.create_default_context(cafile=verify) if isinstance(verify, str) else None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {target.token}"})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        assert response.read() == PNG
