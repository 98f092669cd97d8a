"""Conversations by URL (``client.conversation()``) and ``client.agents`` against real Flue
servers of both lines: 1.0.0-beta.9 and 2.x (2.0.3, 2.1.0), each with the offline fake model.

Written once against the async client; tests/interop/_sync holds the generated twin. Each test
says which lines it is for (``flue_lines``); the conftest deselects the others. The agent
answers ``echo: <message>`` one word per token (``slow<ms>:`` waits before each token,
``fail:`` makes the model fail, ``tool:`` calls the ``echo`` tool;
tools/flue_servers/fakemodel.py). Every conversation id is new per test.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    ConflictError,
    FlueExecutionError,
    ImageAttachment,
    InvalidArgumentError,
    NotFoundError,
    RequestInfo,
    RetryPolicy,
    ServerError,
    Signal,
    TransportError,
    UserMessage,
)
from flue.models import (
    ConversationState,
    FilePart,
    MessageDeltaChunk,
    TextPart,
)
from tests.reliability.cutproxy import CuttingProxy
from tools.flue_servers.server import RealFlueServer

pytestmark = [pytest.mark.timeout(60)]
BOTH = pytest.mark.flue_lines("1.0", "2")
V2 = pytest.mark.flue_lines("2")
V1 = pytest.mark.flue_lines("1.0")

RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=3)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(target: RealFlueServer) -> AsyncIterator[AsyncFlueClient]:
    kw: dict[str, Any] = {"token": target.token, "retry": RETRY, **target.client_options}
    async with AsyncFlueClient(target.url, **kw) as c:
        yield c


def conversation_path(server: RealFlueServer, prefix: str, *, mount: str = "agents") -> str:
    """A new conversation's path under one of the app's mounts (``agents``:
    ``/agents/assistant``; ``conversation``: 2.x's other mount)."""
    return f"{server.mounts[mount]}/{new_id(prefix)}"


@BOTH
async def test_send_then_read_the_reply(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "read"))
    admission = await conversation.send("hello there")
    assert admission.submission_id and admission.offset is not None
    assert admission.deduplicated is False
    assert (admission.uid is not None) == (target.line == "2")
    reply = await conversation.read(admission)
    assert reply.text == "echo: hello there"
    assert reply.submission_id == admission.submission_id
    assert reply.uid == admission.uid
    # a bare submission id re-attaches from the stream's origin: any process, any time later
    again = await client.conversation(conversation.url).read(admission.submission_id)
    assert again.text == "echo: hello there" and again.uid is None


@V2
async def test_a_conversation_at_the_apps_own_mount(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    url = target.url + conversation_path(target, "mount", mount="conversation")
    conversation = client.conversation(url)
    assert conversation.url == url
    reply = await conversation.prompt("over here")
    assert reply.text == "echo: over here"
    history = await conversation.history()
    assert history.incarnation is not None
    assert [m.role for m in history.messages] == ["user", "assistant"]


@BOTH
async def test_wait_returns_the_settlement_and_streams_chunks(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    conversation = client.conversation(conversation_path(target, "wait"))
    seen: list[Any] = []
    settlement = await conversation.wait(
        await conversation.send("one two three"), on_event=seen.append
    )
    assert settlement.outcome == "completed"
    deltas = "".join(c.delta for c in seen if isinstance(c, MessageDeltaChunk))
    assert deltas == "echo: one two three"
    positions = [c.position for c in seen]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert all(c.type != "stream-checkpoint" for c in seen)


@BOTH
async def test_a_failed_submission(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "fail"))
    with pytest.raises(FlueExecutionError) as info:
        await conversation.prompt("fail: nope")
    assert info.value.failure == "failed" and info.value.target == "agent_submission"


@BOTH
async def test_abort_a_running_and_a_queued_submission(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    conversation = client.conversation(conversation_path(target, "abort"))
    running = await conversation.send("slow300: a b c d e f g h")

    def first_delta(chunk: Any) -> None:
        if isinstance(chunk, MessageDeltaChunk):  # the reply is being written: stop waiting
            raise _Started

    with pytest.raises(_Started):
        await conversation.wait(running, on_event=first_delta)
    queued = None
    if target.line == "2":
        queued = await conversation.send("queued behind", idempotency_key=new_id("k"))
    result = await conversation.abort()
    assert result.aborted is True
    with pytest.raises(FlueExecutionError) as info:
        await conversation.wait(running)
    assert info.value.failure == "aborted"
    if queued is not None:
        with pytest.raises(FlueExecutionError) as queued_info:
            await conversation.wait(queued)
        assert queued_info.value.failure in ("aborted",)
    assert (await conversation.abort()).aborted is False


class _Started(Exception):
    pass


@V2
async def test_signal_messages(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "signal"))
    admission = await conversation.send(
        Signal("webhook", "build passed", attributes={"repo": "flue"}, tag_name="ci")
    )
    await conversation.wait(admission)
    history = await conversation.history()
    signals = [m for m in history.messages if m.signal is not None]
    assert signals, history.messages


@V1
async def test_beta9_refuses_what_it_cannot_honour(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    conversation = client.conversation(conversation_path(target, "b9"))
    # the line is not known yet: the 2.x form goes out, beta.9 refuses it, nothing is admitted
    with pytest.raises(InvalidArgumentError, match=r"beta\.9"):
        await conversation.send("x", idempotency_key="k1")
    with pytest.raises(InvalidArgumentError, match="signal"):
        await conversation.send(Signal("t", "b"))  # known now: refused before sending
    with pytest.raises(NotFoundError):
        await conversation.history()  # nothing was admitted


@V2
async def test_idempotent_send_is_deduplicated(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    conversation = client.conversation(conversation_path(target, "idem"))
    key = new_id("key")
    first = await conversation.send("only once", idempotency_key=key)
    second = await conversation.send("only once", idempotency_key=key)
    assert second.deduplicated is True and second.submission_id == first.submission_id
    assert second.offset == "-1"
    assert (await conversation.read(second)).text == "echo: only once"
    history = await conversation.history()
    assert [m.role for m in history.messages] == ["user", "assistant"]
    with pytest.raises(ConflictError) as info:
        await conversation.send("another message", idempotency_key=key)
    assert info.value.error_type == "submission_conflict"
    assert info.value.meta == {"submissionId": first.submission_id}


@V2
async def test_create_only_and_uid(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "uid"))
    first = await conversation.send("hi", create_only=True, initial_data={"plan": "pro"})
    assert first.uid
    with pytest.raises(ConflictError) as exists:
        await conversation.send("again", create_only=True)
    assert exists.value.error_type == "agent_instance_exists"
    assert exists.value.meta == {"uid": first.uid}
    same = await conversation.send("continue", uid=first.uid)
    assert same.uid == first.uid
    with pytest.raises(NotFoundError) as gone:
        await conversation.send("wrong", uid="not-" + first.uid)
    assert gone.value.error_type == "agent_instance_not_found"


@BOTH
@pytest.mark.parametrize("live", ["sse", "long-poll"])
async def test_observe_a_reply_streamed_while_observing(
    client: AsyncFlueClient, target: RealFlueServer, live: str
) -> None:
    conversation = client.conversation(conversation_path(target, f"obs-{live}"))
    await conversation.prompt("first")
    states: list[ConversationState] = []
    phases: list[str] = []
    async with conversation.observe(live=live) as observer:  # type: ignore[arg-type]
        phases.append(observer.phase)
        sent = False
        async for state in observer:
            phases.append(observer.phase)
            states.append(state)
            if not sent:
                sent = True
                # paced so that the server writes the reply in several batches (2.x groups
                # the deltas of up to 1 s in one write; each arrival is one state)
                await conversation.send("slow400: streamed live now")
                continue
            last = state.messages[-1] if state.messages else None
            if (
                last is not None
                and last.role == "assistant"
                and any(
                    isinstance(p, TextPart) and p.text == "echo: streamed live now"
                    for p in last.parts
                )
                and len(state.settlements) == 2
            ):
                break
    assert phases[0] == "loading"
    assert "live" in phases
    assert observer.phase == "closed"
    replies = {
        p.text
        for s in states
        for m in s.messages[2:]
        if m.role == "assistant"
        for p in m.parts
        if isinstance(p, TextPart)
    }
    partial = {t for t in replies if t != "echo: streamed live now"}
    assert partial, replies  # the reply was seen growing, not only at the end
    assert all("echo: streamed live now".startswith(t) for t in partial)


@BOTH
async def test_observe_absent_conversation(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "absent"))
    async with conversation.observe(if_missing="stop") as observer:
        states = [state async for state in observer]
    assert [s.messages for s in states] == [()]
    assert observer.exists is False


@BOTH
async def test_attachments(client: AsyncFlueClient, target: RealFlueServer) -> None:
    conversation = client.conversation(conversation_path(target, "att"))
    message = UserMessage(
        "see picture", attachments=[ImageAttachment(PNG, "image/png", filename="dot.png")]
    )
    reply = await conversation.prompt(message)
    assert reply.text.startswith("echo: see picture")
    history = await conversation.history()
    files = [p for m in history.messages for p in m.parts if isinstance(p, FilePart)]
    assert len(files) == 1 and files[0].media_type == "image/png"
    assert files[0].url == conversation.attachment_url(files[0].id or "")


@V2
async def test_wait_restarts_from_the_origin_after_416(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    conversation = client.conversation(conversation_path(target, "gone"))
    admission = await conversation.send("hello")
    past_head = type(admission)(
        submission_id=admission.submission_id,
        stream_url=admission.stream_url,
        offset="0000000000000000_0000000000099999",  # past the head: 416
        conversation_url=conversation.url,
    )
    settlement = await conversation.wait(past_head)
    assert settlement.outcome == "completed"


@V2
async def test_errors_of_the_2x_line(client: AsyncFlueClient, target: RealFlueServer) -> None:
    with pytest.raises(NotFoundError, match="mounts the agent"):
        await client.conversation("/nowhere/at/all").send("x")
    with pytest.raises(NotFoundError, match=r"Flue 2\.x has no workflow runs"):
        await client.runs.get("some-run")
    with pytest.raises(NotFoundError, match=r"Flue 2\.x has no workflow runs"):
        await client.workflows.invoke("emit", {})


@BOTH
async def test_agents_by_name_keep_working(client: AsyncFlueClient, target: RealFlueServer) -> None:
    name, conversation_id = "assistant", new_id("agents")
    result = await client.agents.prompt(name, conversation_id, "by name")
    assert result.result.text == "echo: by name"
    sent = await client.agents.send(name, conversation_id, "and again")
    assert (await client.agents.wait(sent)).text == "echo: and again"
    history = await client.agents.history(name, conversation_id)
    assert len(history.messages) == 4


@V2
async def test_the_line_is_learnt_at_no_extra_round_trip(target: RealFlueServer) -> None:
    sent: list[tuple[str, str]] = []

    def log(request: RequestInfo) -> None:
        sent.append((request.method, request.url.split("?", 1)[1] if "?" in request.url else ""))

    kw: dict[str, Any] = {"token": target.token, "retry": RETRY, **target.client_options}
    async with AsyncFlueClient(target.url, event_hooks={"request": [log]}, **kw) as client:
        conversation = client.conversation(conversation_path(target, "rt"))
        await conversation.prompt("count my requests")
    assert sent[0] == ("POST", "")
    assert sent[-1] == ("GET", "view=history")
    assert all(m == "GET" for m, _ in sent[1:])


@V2
async def test_a_server_failure_carries_its_reference(
    client: AsyncFlueClient, target: RealFlueServer
) -> None:
    # the app's /api/unregistered mount routes to a function that is no agent: a 500 with a ref
    conversation = client.conversation(conversation_path(target, "ref", mount="unregistered"))
    with pytest.raises(ServerError) as info:
        await conversation.send("hello")
    assert info.value.ref is not None and info.value.ref.startswith("err_")
    assert info.value.ref in str(info.value)
    assert "not sent again" in str(info.value)  # a 500 to a POST without an idempotency key


@V2
async def test_a_lost_answer_is_retried_safely_with_an_idempotency_key(
    target: RealFlueServer,
) -> None:
    upstream = target.url
    path = conversation_path(target, "lost")
    kw: dict[str, Any] = {"token": target.token, "retry": RETRY}
    # the first answer is lost whole, after the server admitted the message
    with CuttingProxy(upstream, budgets=[0], min_bytes=10**9, max_bytes=10**9) as proxy:
        async with AsyncFlueClient(proxy.url, **kw) as client:
            conversation = client.conversation(path)
            admission = await conversation.send("exactly once", idempotency_key=new_id("key"))
            assert len(proxy.cuts) == 1
            assert admission.deduplicated is True  # the retry got the original receipt
            assert (await conversation.read(admission)).text == "echo: exactly once"
            history = await conversation.history()
    assert [m.role for m in history.messages] == ["user", "assistant"]


@V2
async def test_a_lost_answer_without_a_key_is_not_sent_twice(target: RealFlueServer) -> None:
    path = conversation_path(target, "lost1")
    kw: dict[str, Any] = {"token": target.token, "retry": RETRY}
    with CuttingProxy(target.url, budgets=[0], min_bytes=10**9, max_bytes=10**9) as proxy:
        async with AsyncFlueClient(proxy.url, **kw) as client:
            conversation = client.conversation(path)
            with pytest.raises(TransportError, match="not sent again"):
                await conversation.send("at most once")
            assert len(proxy.accepts) == 1
            history = await conversation.history()  # it did arrive: delivered once
    assert [m.text for m in history.messages if m.role == "user"] == ["at most once"]
