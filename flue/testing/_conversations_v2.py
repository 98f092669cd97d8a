# Submissions of a Flue 2.x fake conversation: admission (send conditions, idempotency keys),
# joining and the submission task.
#
# `admit` is called by the 2.x route with a parsed input. It checks the idempotency key (a
# repeat of the same payload answers the original receipt, another payload is a conflict), the
# `uid` send condition, then creates the conversation on its first message and either lets the
# message join the reply being produced (a message sent while a submission's reply runs joins
# it, as on a real 2.x server) or starts a task for it. The task waits for the conversation's
# lock (one submission at a time, in order), writes the message and the reply, then answers
# the joined messages one turn after another in the same assistant message, and settles the
# joined submissions and then its own. An abort cancels the running task (the partial reply is
# kept and completed) and flags the queued and joined submissions: each gets its advisory
# notice and an `aborted` settlement, in submission order. Loop thread only.

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import attrs

from ._agent_state import AgentDef, Conversation, Submission, ulid
from ._agents import AgentFailure
from ._conversations import decode_images, open_stream, prompt_for, start, stream_reply
from ._transcript import aborted_error, failed_error
from ._transcript_v2 import TranscriptV2, failed_error_v2, new_conversation

__all__ = ["Admitted", "Refused", "admit", "render_signal"]


@attrs.frozen
class Refused:
    """A send refused before anything was admitted: ``kind`` is ``"not_found"`` (uid names no
    incarnation), ``"exists"`` (uid null on an existing conversation) or ``"conflict"``
    (the idempotency key names another payload); ``value`` the uid or submission id."""

    kind: str
    value: str | None = None


@attrs.frozen
class Admitted:
    """An admitted send: the receipt's values."""

    submission_id: str
    uid: str
    offset: str
    deduplicated: bool = False


def _escape(value: str, attribute: bool) -> str:
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value.replace('"', "&quot;") if attribute else value


def render_signal(signal: dict[str, Any]) -> str:
    """A signal as the model sees it: ``<signal type="t" k="v">\\nbody\\n</signal>``."""
    tag = signal.get("tagName") or "signal"
    pairs = [("type", signal["type"]), *(signal.get("attributes") or {}).items()]
    attributes = "".join(f' {_escape(k, True)}="{_escape(v, True)}"' for k, v in pairs)
    return f"<{tag}{attributes}>\n{_escape(signal['body'], False)}\n</{tag}>"


def _submission(message: dict[str, Any], submission_id: str) -> Submission:
    if message["kind"] == "signal":
        signal = {"type": message["type"], "body": message["body"]}
        for key in ("attributes", "tagName"):
            if key in message:
                signal[key] = message[key]
        return Submission(
            submission_id, render_signal(signal), (), signal=signal, body=message["body"]
        )
    images = decode_images(message.get("attachments") or (), submission_id)
    return Submission(submission_id, message["body"], images)


def admit(
    conversations: dict[tuple[str, str], Conversation],
    agent: AgentDef,
    instance_id: str,
    parsed: dict[str, Any],
    tasks: set[asyncio.Task[Any]],
) -> Admitted | Refused:
    """Admit a parsed 2.x input (``message``, and ``initialData``/``uid``/``idempotencyKey``
    when given); see the module comment."""
    key = (agent.name, instance_id)
    conv = conversations.get(key)
    fingerprint = (parsed["message"], parsed.get("initialData"))
    idempotency_key = parsed.get("idempotencyKey")
    if conv is not None and idempotency_key is not None and idempotency_key in conv.receipts:
        seen, submission_id = conv.receipts[idempotency_key]
        if seen != fingerprint:
            return Refused("conflict", submission_id)
        return Admitted(submission_id, conv.uid, "-1", deduplicated=True)
    if "uid" in parsed:
        uid = parsed["uid"]
        if uid is None and conv is not None:
            return Refused("exists", conv.uid)
        if uid is not None and (conv is None or conv.uid != uid):
            return Refused("not_found")
    if conv is None:
        conv = new_conversation(agent.name, instance_id, parsed.get("initialData"))
        conversations[key] = conv
        open_stream(conv)
    if idempotency_key is not None:
        digest = hashlib.sha256(f"{agent.name}/{instance_id}/{idempotency_key}".encode())
        submission_id = f"sub_ik_{digest.hexdigest()[:32]}"
        conv.receipts[idempotency_key] = (fingerprint, submission_id)
    else:
        submission_id = f"sub_{ulid()}"
    sub = _submission(parsed["message"], submission_id)
    offset = conv.offset
    conv.active.append(sub)
    running = conv.joinable
    if running is not None and not running.abort_requested:
        running.joined.append(sub)  # answered by the reply being produced
    else:
        start(sub, _run(conv, agent, sub), tasks)
    return Admitted(submission_id, conv.uid, offset)


async def _run(conv: Conversation, agent: AgentDef, sub: Submission) -> None:
    writer = TranscriptV2(conv, agent, sub)
    answered: list[Submission] = []  # joined submissions whose message entered the transcript
    try:
        async with conv.lock:
            if sub.abort_requested:
                raise asyncio.CancelledError
            sub.running = True
            conv.joinable = sub
            writer.input_message(sub)
            await stream_reply(writer, agent, prompt_for(conv, agent, sub))
            while sub.joined:
                batch, sub.joined = sub.joined, []
                for joined in batch:
                    writer.input_message(joined, joined=True)
                    answered.append(joined)
                await stream_reply(writer, agent, prompt_for(conv, agent, batch[-1]))
            conv.joinable = None
            for joined in answered:
                writer.settle_v2(joined, "completed", None, True)
                _finish(joined, "completed")
            writer.settle_v2(sub, "completed", None, True)
            _finish(sub, "completed")
    except asyncio.CancelledError:
        if not sub.abort_requested:
            raise
        conv.joinable = None
        writer.complete()
        for aborted in (sub, *answered, *sub.joined):
            writer.aborted_notice(aborted)
            writer.settle_v2(aborted, "aborted", aborted_error(), aborted is sub and sub.running)
            _finish(aborted, "aborted")
    except Exception as exc:
        conv.joinable = None
        writer.start_message()  # a failed model call still leaves its (empty) message
        writer.complete()
        if isinstance(exc, AgentFailure):
            error = failed_error_v2(exc.reason, sub.submission_id)
        else:
            error = failed_error(exc, sub.submission_id)
        for failed in (*answered, *sub.joined, sub):
            writer.settle_v2(failed, "failed", error, True)
            _finish(failed, "failed")
    finally:
        if conv.joinable is sub:
            conv.joinable = None
        for done in (sub, *answered):
            if done in conv.active:
                conv.active.remove(done)


def _finish(sub: Submission, outcome: str) -> None:
    if not sub.outcome.done():
        sub.outcome.set_result((outcome, None))
    sub.joined = []
