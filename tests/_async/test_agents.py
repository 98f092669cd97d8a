"""`workflows.run` and `agents`, written once against the async client (tests/_sync holds the
generated twin), against the fake server's agents (`flue.testing`) in a background thread.

Mid-reply moments are forced, never waited for: an agent with ``pause_after=1`` holds its reply
after the first token until ``resume()`` or an abort, and ``wait_paused()`` returns once it does.
"""

from __future__ import annotations

import base64
import urllib.request
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    FlueExecutionError,
    InvalidArgumentError,
    NotFoundError,
    RetryPolicy,
    WorkflowNotFoundError,
)
from flue.models import (
    AgentSendResult,
    ConversationState,
    Event,
    FilePart,
    MessageDeltaChunk,
    RunEndEvent,
    SubmissionSettledChunk,
    TextPart,
)
from flue.testing import Fault, FlueTestServer
from tests.agent_helpers import bytes_before_first_control, emit, explode, forever
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=6, jitter=False)
PNG = b"\x89PNG\r\n\x1a\nfake"


def client_for(server: FlueTestServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", TOKEN)
    kw.setdefault("retry", FAST)
    return AsyncFlueClient(server.url, **kw)


def all_done(state: ConversationState) -> bool:
    return all(
        p.state == "done" for m in state.messages for p in m.parts if isinstance(p, TextPart)
    )


# -- workflows.run ----------------------------------------------------------------------------


async def test_run_returns_the_result_after_every_event_in_order(server: FlueTestServer) -> None:
    server.add_workflow("emit", emit)
    seen: list[Event] = []
    async with client_for(server) as client:
        result = await client.workflows.run("emit", {"count": 3}, on_event=seen.append)
        events = await client.runs.events(result.run_id)
    assert result.result == {"emitted": 3}
    assert [e.type for e in seen] == ["run_start", "log", "log", "log", "run_end"]
    assert seen == events  # every event, in the stream's order
    assert isinstance(seen[-1], RunEndEvent) and seen[-1].run_id == result.run_id


async def test_run_that_fails_raises_execution_error(server: FlueTestServer) -> None:
    server.add_workflow("explode", explode)
    seen: list[str] = []
    async with client_for(server) as client:
        with pytest.raises(FlueExecutionError) as info:
            await client.workflows.run("explode", None, on_event=lambda e: seen.append(e.type))
    error = info.value
    assert error.target == "workflow_run" and error.failure == "failed"
    assert error.target_id and error.error == {"name": "Error", "message": "kaboom"}
    assert "kaboom" in str(error) and error.target_id in str(error)
    assert seen == ["run_start", "log", "run_end"]


async def test_run_whose_stream_ends_without_run_end(server: FlueTestServer) -> None:
    server.add_workflow("forever", forever)

    def close_after_start(event: Event) -> None:
        # the stream is closed while the run is still active: no run_end will ever come
        if event.type == "run_start":
            assert event.run_id is not None
            server.close_stream(event.run_id)

    async with client_for(server) as client:
        with pytest.raises(FlueExecutionError) as info:
            await client.workflows.run("forever", on_event=close_after_start)
        record = await client.runs.get(info.value.target_id)
    assert info.value.failure == "terminal_event_missing" and record.status == "active"


async def test_run_of_unknown_workflow(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(WorkflowNotFoundError):
            await client.workflows.run("nope", {})


# -- send, wait, prompt, history ----------------------------------------------------------------


async def test_send_then_wait(server: FlueTestServer) -> None:
    chunks: list[Any] = []
    async with client_for(server) as client:
        sent = await client.agents.send("assistant", "conv-1", "Hello there")
        result = await client.agents.wait(sent, on_event=chunks.append)
    assert sent.submission_id and sent.offset and sent.stream_url
    assert result.text == "echo: Hello there"
    assert result.model is not None and result.model.provider == "fake"
    deltas = [c.delta for c in chunks if isinstance(c, MessageDeltaChunk)]
    assert "".join(deltas) == "echo: Hello there" and len(deltas) == 3
    assert isinstance(chunks[-1], SubmissionSettledChunk)
    assert chunks[-1].submission_id == sent.submission_id


async def test_wait_through_a_cut_connection_hands_each_chunk_out_once(
    server: FlueTestServer,
) -> None:
    async with client_for(server) as client:
        sent = await client.agents.send("assistant", "cut", "one two three four")
        await client.agents.wait(sent)
        path = f"/agents/assistant/cut?view=updates&offset={sent.offset}&live=sse"
        cut_at = bytes_before_first_control(server.url, path, TOKEN)
        rule = server.faults.add(Fault.drop_after(bytes=cut_at), mode="sse", times=1)
        chunks: list[Any] = []
        result = await client.agents.wait(sent, on_event=chunks.append)
    assert rule.hits == 1 and result.text == "echo: one two three four"
    deltas = [c.delta for c in chunks if isinstance(c, MessageDeltaChunk)]
    assert "".join(deltas) == "echo: one two three four"
    positions = [c.position for c in chunks]
    assert positions == sorted(set(positions))  # each chunk once, in order


@pytest.mark.parametrize("live", ["sse", "long-poll"])
async def test_wait_from_a_saved_admission(server: FlueTestServer, live: Any) -> None:
    async with client_for(server) as client:
        sent = await client.agents.send("assistant", "conv-1", "first")
        # what a process that saved stream_url, offset and submission_id can rebuild
        saved = AgentSendResult(
            submission_id=sent.submission_id, stream_url=sent.stream_url, offset=sent.offset
        )
        result = await client.agents.wait(saved, live=live)
    assert result.text == "echo: first"


async def test_wait_on_a_failing_submission(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        sent = await client.agents.send("assistant", "conv-f", "fail: now")
        with pytest.raises(FlueExecutionError) as info:
            await client.agents.wait(sent)
    assert info.value.target == "agent_submission" and info.value.failure == "failed"
    assert info.value.target_id == sent.submission_id
    assert isinstance(info.value.error, dict)


async def test_prompt_returns_the_reply(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        res = await client.agents.prompt("assistant", "conv-2", "Hello")
        with pytest.raises(FlueExecutionError) as info:
            await client.agents.prompt("assistant", "conv-2", "fail: again")
    assert res.result.text == "echo: Hello" and res.submission_id and res.offset
    assert info.value.failure == "failed" and info.value.target == "agent_submission"


async def test_history_after_two_prompts(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        first = await client.agents.prompt("assistant", "conv-3", "one")
        second = await client.agents.prompt("assistant", "conv-3", "two")
        snap = await client.agents.history("assistant", "conv-3")
    assert [(m.role, m.text) for m in snap.messages] == [
        ("user", "one"),
        ("assistant", "echo: one"),
        ("user", "two"),
        ("assistant", "echo: two"),
    ]
    assert [s.submission_id for s in snap.settlements] == [
        first.submission_id,
        second.submission_id,
    ]
    assert all(s.outcome == "completed" for s in snap.settlements)
    assert snap.offset and snap.conversation_id


async def test_unknown_agent_and_missing_conversation(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(NotFoundError) as info:
            await client.agents.history("nope", "c")
        assert info.value.error_type == "agent_not_found"
        assert "no agent of that name" in str(info.value)
        with pytest.raises(NotFoundError) as info:
            await client.agents.history("assistant", "never")
        assert info.value.error_type == "stream_not_found"
        assert "first prompt" in str(info.value)
        with pytest.raises(NotFoundError):
            await client.agents.send("nope", "c", "hi")


async def test_bad_arguments_fail_before_any_request(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        with pytest.raises(InvalidArgumentError):
            await client.agents.send("assistant", "..", "hi")
        with pytest.raises(InvalidArgumentError):
            await client.agents.send("assistant", "c", "hi", images=[{"data": 1}])
        with pytest.raises(InvalidArgumentError):
            client.agents.observe("assistant", "c", live=False)  # type: ignore[arg-type]
    assert not [r for r in server.requests if "/agents/" in r.path]


# -- observe ------------------------------------------------------------------------------------


@pytest.mark.parametrize("live", ["sse", "long-poll"])
async def test_observe_follows_a_reply_live(server: FlueTestServer, live: Any) -> None:
    agent = server.add_agent("typist", pause_after=1)
    async with client_for(server) as client:
        sent: AgentSendResult | None = None
        states: list[ConversationState] = []
        saw_streaming = False
        async with client.agents.observe("typist", "c", live=live) as obs:
            async for state in obs:
                states.append(state)
                if sent is None:  # the conversation does not exist yet: start it
                    assert state.messages == () and obs.exists is False
                    sent = await client.agents.send("typist", "c", "watch me type")
                    continue
                last = state.messages[-1]
                if last.role == "assistant" and last.text == "echo:" and not saw_streaming:
                    # held after its first token until resumed: a live state mid-reply
                    assert last.parts[-1] == TextPart(text="echo:", state="streaming")
                    assert state.settlement(sent.submission_id) is None
                    saw_streaming = True
                    agent.resume()
                if state.settlement(sent.submission_id) is not None:
                    break
            final = obs.state
            assert obs.offset and obs.exists is True
        snap = await client.agents.history("typist", "c")
    assert saw_streaming and final is not None and final == states[-1]
    assert all_done(final)
    settled = final.settlement(sent.submission_id)
    assert settled is not None and settled.outcome == "completed"
    assert final.messages[-1].text == "echo: watch me type"
    assert [(m.role, m.text) for m in final.messages] == [(m.role, m.text) for m in snap.messages]


@pytest.mark.parametrize("live", ["sse", "long-poll"])
async def test_observe_rereads_the_history_after_a_chunk_it_cannot_apply(
    server: FlueTestServer, live: Any
) -> None:
    def inject(conversation_id: str, chunk: dict[str, Any]) -> None:
        # a chunk of a type this version does not know, straight into the fake's stream
        agents = server._app.agents
        server._call(lambda: agents.conversation("assistant", conversation_id).append([chunk]))

    async with client_for(server) as client:
        await client.agents.prompt("assistant", "rh", "first")
        sent: AgentSendResult | None = None
        async with client.agents.observe("assistant", "rh", live=live) as obs:
            async for state in obs:
                if sent is None:
                    inject("rh", {"type": "from-the-future", "payload": [1, 2]})
                    sent = await client.agents.send("assistant", "rh", "second")
                    continue
                if state.settlement(sent.submission_id) is not None:
                    break
            assert obs.rehydrations == 1
        snap = await client.agents.history("assistant", "rh")
    assert [m.text for m in state.messages] == ["first", "echo: first", "second", "echo: second"]
    assert [(m.role, m.text) for m in snap.messages] == [(m.role, m.text) for m in state.messages]


async def test_observe_waits_for_a_conversation_that_does_not_exist_yet(
    server: FlueTestServer,
) -> None:
    client = client_for(server)
    async with client, client.agents.observe("assistant", "later", live="long-poll") as obs:
        first = await obs.__anext__()
        assert first == ConversationState(conversation_id="later")
        assert obs.exists is False
        await client.agents.send("assistant", "later", "here now")
        async for state in obs:
            if state.settlements:
                break
        assert obs.exists is True
        assert [m.text for m in state.messages] == ["here now", "echo: here now"]


async def test_observe_can_refuse_a_missing_conversation(server: FlueTestServer) -> None:
    client = client_for(server)
    async with client, client.agents.observe("assistant", "nobody", if_missing="raise") as obs:
        with pytest.raises(NotFoundError):
            async for _ in obs:
                pass


async def test_observe_cancel_ends_the_iteration(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        await client.agents.prompt("assistant", "c-cancel", "hello")
        seen = 0
        async with client.agents.observe("assistant", "c-cancel") as obs:
            async for _ in obs:
                seen += 1
                obs.cancel()
        assert seen == 1
        closing = client.agents.observe("assistant", "c-cancel", live="long-poll")
        async for state in closing:
            assert state.messages[-1].text == "echo: hello"
            await closing.aclose()  # inside the loop: the iteration ends, nothing is raised
            seen += 1
        async for _ in closing:  # iterating a closed observer yields nothing
            seen += 1
        assert seen == 2
        assert not [s for s in client._core.streams if s.state == "reading"]  # released


# -- abort and attachments ----------------------------------------------------------------------


async def test_abort_during_a_slow_reply(server: FlueTestServer) -> None:
    agent = server.add_agent("slowpoke", pause_after=1)
    async with client_for(server) as client:
        idle = await client.agents.abort("slowpoke", "never-prompted")
        sent = await client.agents.send("slowpoke", "c", "take your time")
        agent.wait_paused(5)
        aborted = await client.agents.abort("slowpoke", "c")
        with pytest.raises(FlueExecutionError) as info:
            await client.agents.wait(sent)
        snap = await client.agents.history("slowpoke", "c")
    assert idle.aborted is False and aborted.aborted is True
    assert info.value.failure == "aborted" and info.value.target_id == sent.submission_id
    assert isinstance(info.value.error, dict)
    assert info.value.error.get("type") == "submission_aborted"
    settled = snap.settlements[-1]
    assert settled.submission_id == sent.submission_id and settled.outcome == "aborted"
    reply = snap.messages[1]
    assert reply.role == "assistant" and reply.text == "echo:"  # the partial reply stays
    assert all_done(snap.state)
    assert snap.messages[-1].role == "user"  # the notice of the abort


async def test_attachment_url(server: FlueTestServer) -> None:
    server.add_agent("viewer", attachments=True)
    image = {"data": PNG, "mimeType": "image/png", "filename": "a.png"}
    async with client_for(server) as client:
        await client.agents.prompt("viewer", "c/1", "look", images=[image])
        snap = await client.agents.history("viewer", "c/1")
        files = [p for p in snap.messages[0].parts if isinstance(p, FilePart)]
        assert len(files) == 1 and files[0].id is not None
        url = client.agents.attachment_url("viewer", "c/1", files[0].id)
    assert url.startswith(f"{server.url}/agents/viewer/c%2F1/attachments/")
    assert files[0].url == url and files[0].media_type == "image/png"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read() == PNG


async def test_images_may_be_sent_base64(server: FlueTestServer) -> None:
    image = {"data": base64.b64encode(PNG).decode(), "mimeType": "image/png"}
    async with client_for(server) as client:
        res = await client.agents.prompt("assistant", "c-img", "see", images=[image])
    assert res.result.text is not None and res.result.text.startswith("echo: see")
