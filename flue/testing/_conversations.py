# Agent instances of the fake server: one conversation per (agent, instance id), its durable
# stream of batches and the submissions that write to it.
#
# A conversation stores what Flue's `view=updates` projection would send: a list of batches,
# each a list of chunk bodies; batch n has the offset "0000000000000000_<n>" and its chunks the
# positions {batch: n, index: i}. The materialized history (messages, settlements) is kept next
# to it, as Flue's reducer would have it, so `view=history` needs no replay. Reads from offset X
# return the batches after X; every append replaces the `changed` event so waiters wake.
#
# A submission is a task: it waits for the instance's lock (one prompt at a time, in order),
# writes the user message, then streams the scripted reply through a `_Writer` that coalesces
# chunks into batches like Flue's writer (a batch is flushed before every delay or pause and at
# every block boundary). An abort cancels the tasks; a cancelled submission keeps its partial
# reply, completes it, appends the notice message and settles `aborted`. Loop thread only.

from __future__ import annotations

import asyncio
import base64
import inspect
import uuid
from collections.abc import AsyncIterable, Coroutine, Iterable
from typing import Any

from ._agent_state import AgentDef, Conversation, Submission
from ._agents import (
    AgentFailure,
    AgentImage,
    AgentPrompt,
    Reasoning,
    ToolCall,
    words,
)
from ._transcript import Transcript, aborted_error, failed_error

__all__ = [
    "AgentDef",
    "AgentRegistry",
    "Conversation",
    "Submission",
    "abort_instance",
    "decode_images",
    "open_stream",
    "prompt_for",
    "start",
    "stream_reply",
    "submit",
]


async def _tokens(value: Any) -> AsyncIterable[Any]:
    if inspect.isawaitable(value):
        value = await value
    if isinstance(value, AgentFailure):
        raise value
    if isinstance(value, str):
        for token in words(value):
            yield token
    elif isinstance(value, AsyncIterable):
        async for token in value:
            yield token
    elif isinstance(value, Iterable):
        for token in value:
            yield token
    else:
        raise TypeError(f"a reply must be text or tokens, not {type(value).__name__}")


async def stream_reply(writer: Transcript, agent: AgentDef, prompt: AgentPrompt) -> Any:
    reply = agent.reply
    value = reply(prompt) if callable(reply) else reply
    async for token in _tokens(value):
        if isinstance(token, ToolCall):
            writer.conv.tool_calls += 1
            writer.tool(token, token.call_id or f"call_fake{writer.conv.tool_calls}")
            continue
        if isinstance(token, Reasoning):
            writer.delta("reasoning", token.text)
        else:
            writer.delta("text", str(token))
        writer.tokens += 1
        if writer.tokens == agent.pause_after and not agent.resumed.is_set():
            writer.flush()
            agent.handle._note_paused()
            await agent.resumed.wait()
        if agent.token_delay:
            writer.flush()
            await asyncio.sleep(agent.token_delay)
    writer.complete()
    return writer.result()


async def _run(conv: Conversation, agent: AgentDef, sub: Submission) -> None:
    writer = Transcript(conv, agent, sub)
    try:
        async with conv.lock:
            if sub.abort_requested:
                raise asyncio.CancelledError
            sub.running = True
            prompt = prompt_for(conv, agent, sub)
            writer.user_message()
            result = await stream_reply(writer, agent, prompt)
            writer.settle("completed", result)
            _finish(sub, ("completed", result))
    except asyncio.CancelledError:
        if not sub.abort_requested:
            raise
        writer.complete(zero_usage=True)
        writer.notice()
        writer.settle("aborted", aborted_error())
        _finish(sub, ("aborted", aborted_error()))
    except Exception as exc:
        writer.start_message()  # a failed model call still leaves its (empty) message
        writer.complete(zero_usage=True)
        error = failed_error(exc, sub.submission_id)
        writer.settle("failed", error)
        _finish(sub, ("failed", error))
    finally:
        if sub in conv.active:
            conv.active.remove(sub)


def _finish(sub: Submission, outcome: tuple[str, Any]) -> None:
    if not sub.outcome.done():
        sub.outcome.set_result(outcome)


def prompt_for(conv: Conversation, agent: AgentDef, sub: Submission) -> AgentPrompt:
    """What the reply function is given for ``sub``: its input and the history before it."""
    return AgentPrompt(
        agent=agent.name,
        instance_id=conv.instance_id,
        submission_id=sub.submission_id,
        message=sub.message,
        images=sub.images,
        messages=tuple(conv.snapshot()["messages"]),
        signal=sub.signal,
        initial_data=conv.initial_data,
    )


def decode_images(images: Iterable[dict[str, Any]], submission_id: str) -> tuple[AgentImage, ...]:
    """A request's (validated) images as the submission's attachments, with Flue's ids."""
    return tuple(
        AgentImage(
            base64.b64decode(image["data"] + "===", validate=False),
            image["mimeType"],
            image.get("filename"),
            f"att_direct_{submission_id}_{index}",
        )
        for index, image in enumerate(images)
    )


def open_stream(conv: Conversation) -> None:
    """Create the conversation's stream (on its first submission): a `conversation-reset`
    chunk carrying the empty snapshot."""
    conv.append([{"type": "conversation-reset", "snapshot": conv.snapshot()}])
    conv.batches[0][0]["snapshot"]["offset"] = conv.offset


def start(sub: Submission, run: Coroutine[Any, Any, None], tasks: set[asyncio.Task[Any]]) -> None:
    """Run ``sub`` as a task of the app's (``tasks``: the server cancels them when it stops)."""
    sub.task = asyncio.ensure_future(run)
    tasks.add(sub.task)
    sub.task.add_done_callback(tasks.discard)


def submit(
    conv: Conversation,
    agent: AgentDef,
    message: str,
    images: list[dict[str, Any]],
    tasks: set[asyncio.Task[Any]],
) -> Submission:
    """Admit a prompt (``images`` as the request had them): create the stream on the first
    one, then start the submission's task."""
    if not conv.batches:
        open_stream(conv)
    submission_id = str(uuid.uuid4())
    sub = Submission(submission_id, message, decode_images(images, submission_id))
    conv.active.append(sub)
    start(sub, _run(conv, agent, sub), tasks)
    return sub


def abort_instance(conv: Conversation | None) -> bool:
    """Abort every queued or running submission of the instance; True if there was one."""
    if conv is None:
        return False
    pending = [sub for sub in conv.active if not sub.outcome.done()]
    for sub in pending:
        sub.abort_requested = True
        if sub.running and sub.task is not None:
            sub.task.cancel()  # a queued one sees the flag when its turn comes
    return bool(pending)


class AgentRegistry:
    """The agents and conversations of one fake server (loop thread only)."""

    def __init__(self, tasks: set[asyncio.Task[Any]]) -> None:
        self.agents: dict[str, AgentDef] = {}
        self.conversations: dict[tuple[str, str], Conversation] = {}
        self.tasks = tasks  # the app's: the server cancels them when it stops

    def add(self, agent: AgentDef) -> None:
        self.agents[agent.name] = agent

    def agent(self, name: str) -> AgentDef:
        try:
            return self.agents[name]
        except KeyError:
            raise KeyError(f"no agent {name!r}") from None

    def conversation(self, name: str, instance_id: str) -> Conversation:
        try:
            return self.conversations[(name, instance_id)]
        except KeyError:
            raise KeyError(f"agent {name!r} has no instance {instance_id!r} yet") from None

    def resume(self, name: str, resumed: bool) -> None:
        event = self.agent(name).resumed
        event.set() if resumed else event.clear()

    def instances(self, name: str) -> list[str]:
        return [instance for agent, instance in self.conversations if agent == name]

    def history(self, name: str, instance_id: str) -> dict[str, Any]:
        return self.conversation(name, instance_id).history()

    def chunks(self, name: str, instance_id: str) -> list[dict[str, Any]]:
        conv = self.conversation(name, instance_id)
        return [chunk for seq in range(len(conv.batches)) for chunk in conv.chunks(seq)]

    def abort(self, name: str, instance_id: str) -> bool:
        self.agent(name)
        return abort_instance(self.conversations.get((name, instance_id)))
