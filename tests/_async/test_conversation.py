"""`client.conversation(url)` against the fake server's beta.9 agents (`flue.testing`), written
once against the async client (tests/_sync holds the generated twin).

What is checked here is what the client decides on its own: URLs, which body goes out before
and after the server's line is known (counted with request hooks), what is refused before
anything is sent, retries of a send, the follow of a submission, the observer's phases. The
same calls against real beta.9 and 2.x servers are in tests/interop/_async/
test_agents_conv_real.py (collected where the app has agents).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    ConnectionLostError,
    FlueExecutionError,
    InvalidArgumentError,
    RequestInfo,
    RetryPolicy,
    ServerError,
    Signal,
    Timeout,
    UserMessage,
)
from flue.models import AgentSendResult, MessageDeltaChunk
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=6, jitter=False)


class Recorder:
    """The requests a client sent: (method, path and query, JSON body or None)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []

    def __call__(self, request: RequestInfo) -> None:
        self.sent.append((request.method, request.url.split("/", 3)[3], None))


def client_for(server: FlueTestServer, recorder: Recorder | None = None) -> AsyncFlueClient:
    hooks = {"request": [recorder]} if recorder is not None else None
    return AsyncFlueClient(server.url, token=TOKEN, retry=FAST, event_hooks=hooks)


def bodies(server: FlueTestServer) -> list[Any]:
    return [json.loads(r.body) for r in server.requests if r.method == "POST" and r.body]


async def test_send_and_read_by_url(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        conversation = client.conversation("agents/assistant/c-url")
        assert conversation.url == f"{server.url}/agents/assistant/c-url"
        assert conversation.conversation_id == "c-url"
        admission = await conversation.send("hello")
        assert admission.uid is None and admission.deduplicated is False  # beta.9
        assert admission.conversation_url == conversation.url
        reply = await conversation.read(admission)
        assert reply.text == "echo: hello" and reply.submission_id == admission.submission_id
        again = await client.conversation(conversation.url + "/").read(admission.submission_id)
        assert again.text == "echo: hello"
        assert (await conversation.prompt("two")).text == "echo: two"
        settlement = await conversation.wait(admission.submission_id)
        assert settlement.outcome == "completed" and settlement.submission_id


async def test_first_plain_send_works_on_either_line_in_one_request(
    server: FlueTestServer,
) -> None:
    recorder = Recorder()
    async with client_for(server, recorder) as client:
        await client.conversation("agents/assistant/c-one").send("hi")
    assert [m for m, _, _ in recorder.sent] == ["POST"]
    assert bodies(server) == [{"kind": "user", "body": "hi", "message": "hi"}]


async def test_beta9_options_refused_once_the_line_is_known(server: FlueTestServer) -> None:
    recorder = Recorder()
    async with client_for(server, recorder) as client:
        conversation = client.conversation("agents/assistant/c-opts")
        # unknown line: the 2.x form goes out once, beta.9 refuses it, nothing is re-sent
        with pytest.raises(InvalidArgumentError, match=r"idempotency_key="):
            await conversation.send("x", idempotency_key="k1")
        assert len(recorder.sent) == 1
        refused: list[tuple[Any, dict[str, Any]]] = [
            (Signal("webhook", "b"), {}),
            ("x", {"uid": "u"}),
            ("x", {"create_only": True}),
            ("x", {"initial_data": {"a": 1}}),
        ]
        for message, options in refused:
            with pytest.raises(InvalidArgumentError, match=r"beta\.9"):
                await conversation.send(message, **options)
        assert len(recorder.sent) == 1  # refused before sending
        # beta.9's own form, learnt from its refusal
        await conversation.send("plain again")
        assert bodies(server)[-1] == {"message": "plain again"}


async def test_attachments_go_out_in_the_learnt_form(server: FlueTestServer) -> None:
    server.add_agent("viewer", attachments=True)
    async with client_for(server) as client:
        conversation = client.conversation("agents/viewer/c-att")
        message = UserMessage(
            "pic", attachments=[{"type": "image", "data": "aGk=", "mimeType": "image/png"}]
        )
        reply = await conversation.prompt(message)  # 2.x form first, then beta.9's
        assert reply.text.startswith("echo: pic")
    sent = bodies(server)
    assert sent[0]["kind"] == "user" and "message" not in sent[0]
    assert sent[1] == {
        "message": "pic",
        "images": [{"data": "aGk=", "mimeType": "image/png", "type": "image"}],
    }


async def test_conversation_urls_checked(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        for bad in ("agents/a/b?x=1", "", "ftp://h/x", "/agents/a#f"):
            with pytest.raises(InvalidArgumentError):
                client.conversation(bad)
        conversation = client.conversation("agents/assistant/c-mine")
        other = AgentSendResult(
            submission_id="s",
            stream_url=f"{server.url}/agents/assistant/c-other",
            offset="-1",
        )
        with pytest.raises(InvalidArgumentError, match="another conversation"):
            await conversation.wait(other)
        for target in ("", "  ", 5):
            with pytest.raises(InvalidArgumentError):
                await conversation.read(target)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError):
            await conversation.send(5)


async def test_a_send_that_may_have_arrived_is_not_resent(server: FlueTestServer) -> None:
    server.faults.add(Fault.status(503), mode="invoke", times=1)
    async with client_for(server) as client:
        conversation = client.conversation("agents/assistant/c-lost")
        with pytest.raises(ServerError, match="idempotency_key"):
            await conversation.send("once")
        posts = [r for r in server.requests if r.method == "POST"]
        assert len(posts) == 1
        server.faults.add(Fault.disconnect(), mode="invoke", times=1)
        with pytest.raises(ConnectionLostError, match="not sent again"):
            await conversation.send("twice")
        assert len([r for r in server.requests if r.method == "POST"]) == 2


async def test_wait_failures_and_chunks(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        conversation = client.conversation("agents/assistant/c-fail")
        with pytest.raises(FlueExecutionError) as info:
            await conversation.prompt("fail: now")
        assert info.value.failure == "failed"
        seen: list[Any] = []
        await conversation.wait(await conversation.send("a b"), on_event=seen.append)
        deltas = [c.delta for c in seen if isinstance(c, MessageDeltaChunk)]
        assert "".join(deltas) == "echo: a b"


async def test_observer_phases(server: FlueTestServer) -> None:
    agent = server.add_agent("typist", pause_after=1)
    async with client_for(server) as client:
        conversation = client.conversation("agents/typist/c-obs")
        async with conversation.observe(if_missing="stop") as observer:
            assert observer.phase == "loading"
            states = [s async for s in observer]
        assert observer.phase == "closed" and observer.exists is False
        assert [s.messages for s in states] == [()]
        sent = await conversation.send("one two three")
        phases = []
        async with conversation.observe(live="long-poll") as observer:
            async for state in observer:
                phases.append(observer.phase)
                if len(phases) == 1:
                    agent.resume()
                if state.settlement(sent.submission_id) is not None:
                    break
        assert phases[0] in ("connecting", "live") and phases[-1] == "live"
        assert observer.phase == "closed"


async def test_a_silent_stream_is_dropped_and_reopened(server: FlueTestServer) -> None:
    agent = server.add_agent("quiet", pause_after=1)
    async with AsyncFlueClient(
        server.url, token=TOKEN, retry=FAST, timeout=Timeout(stall=0.3)
    ) as client:
        conversation = client.conversation("agents/quiet/c-stall")
        sent = await conversation.send("one two")
        # the first SSE read goes silent after its headers: the stall watchdog drops it
        rule = server.faults.add(Fault.stall(), mode="sse", times=1)
        agent.resume()
        settlement = await conversation.wait(sent)
    assert settlement.outcome == "completed" and rule.hits == 1
    sse_reads = [r for r in server.requests if ("live", "sse") in r.query]
    assert len(sse_reads) >= 2  # reopened after the stall
