# The `agents` of a client: the conversations at ``/agents/{name}/{id}`` by name and id (on
# Flue 1.0 beta.9 every agent is there; a Flue 2.x application mounts agents where it likes,
# often there too). Every call is the call of the `AsyncConversation` at that URL; only the
# result types of `wait()` and `prompt()` are this API's own (`AgentResult`), kept as they
# were before conversations were addressed by URL.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from flue._async._conversation import AsyncConversation
from flue._async._history import call_conversation
from flue._async._host import ClientHost
from flue._async._observe import AsyncConversationObserver, IfMissing
from flue._models.chunks import ConversationChunk
from flue._models.conversation import (
    AgentAbortResult,
    AgentPromptResult,
    AgentResult,
    AgentSendResult,
    ConversationSnapshot,
    Settlement,
    agent_result_from_value,
)
from flue._models.messages import UserMessage
from flue._protocol.agents import conversation_url
from flue._protocol.agents_beta9 import build_prompt_request, execution_error_from_api, image
from flue._protocol.lines import LINE_1, LINE_2, rejected_wait_result
from flue._protocol.params import LiveMode
from flue._protocol.replies import select_reply
from flue.errors import APIError, BadRequestError, InvalidArgumentError, ProtocolError

__all__ = ["AsyncAgents"]

OnChunk = Callable[[ConversationChunk], Any]


class AsyncAgents:
    """The `agents` of a client (``client.agents``): talk to a Flue agent's conversations by
    the agent's ``name`` and a conversation ``id`` you choose (``"conv-1"``, a user id...);
    a conversation exists from its first prompt on.

    Each call is the call of ``client.conversation(f"agents/{name}/{id}")`` (a Flue 2.x
    application that mounts its agents elsewhere is reached with `client.conversation()`
    directly). Not created directly: use ``client.agents``.
    """

    def __init__(self, client: ClientHost) -> None:
        self._client = client

    def conversation(self, name: str, id: str) -> AsyncConversation:
        """The conversation ``id`` of agent ``name``, at ``{base_url}/agents/{name}/{id}``."""
        return AsyncConversation(self._client, conversation_url(self._client.base_url, name, id))

    async def send(
        self,
        name: str,
        id: str,
        message: str,
        *,
        images: Sequence[dict[str, Any]] | None = None,
    ) -> AgentSendResult:
        """Send a prompt to a conversation without waiting for the reply.

        Not retried once the request may have reached the server (`AsyncConversation.send()`
        takes an ``idempotency_key`` on Flue 2.x for retries that are safe).

        Args:
            name: the agent's name.
            id: the conversation's id (created by its first prompt).
            message: the prompt.
            images: images sent with it: dicts ``{"data": <bytes or base64 str>,
                "mimeType": "image/png", "filename"?: str}``.

        Returns:
            The admission: ``submission_id``, ``stream_url``, ``offset`` (and ``uid`` on
            2.x); pass it to `wait()` for the reply.

        Raises:
            NotFoundError: the application has no agent of that name.
        """
        return await self.conversation(name, id).send(_user_message(message, images))

    async def wait(
        self,
        sent: AgentSendResult,
        *,
        on_event: OnChunk | None = None,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
    ) -> AgentResult:
        """Wait until a sent prompt has settled and return its result.

        Reads the conversation's updates from the admission's offset until the submission
        settles. On beta.9 the settlement carries the result; on 2.x (whose settlements carry
        none) the reply is then read from the history.

        Args:
            sent: what `send()` returned.
            on_event: called with each chunk read (``flue.models.MessageDeltaChunk``... an
                ``UnknownChunk`` for a type this version does not know), in order and once
                each, for progress display; use `observe()` to maintain a conversation's state.
            live: ``"sse"`` (the default: one connection) or ``"long-poll"``.

        Returns:
            The result: the reply's ``text`` (and on beta.9 its ``usage`` and ``model``).

        Raises:
            FlueExecutionError: the submission failed (``failure="failed"``) or was aborted
                (``failure="aborted"``); ``error`` holds what the server said.
        """
        if not isinstance(sent, AgentSendResult | AgentPromptResult):
            raise InvalidArgumentError("wait() takes the AgentSendResult returned by send()")
        url = getattr(sent, "conversation_url", None) or sent.stream_url
        if not url or sent.offset is None:
            raise InvalidArgumentError("this AgentSendResult has no stream_url or offset")
        conversation = AsyncConversation(self._client, url)
        target = sent if isinstance(sent, AgentSendResult) else _as_admission(sent, url)
        settlement = await conversation.wait(target, on_event=on_event, live=live)
        return await _result(conversation, settlement, target)

    async def prompt(
        self,
        name: str,
        id: str,
        message: str,
        *,
        images: Sequence[dict[str, Any]] | None = None,
    ) -> AgentPromptResult:
        """Send a prompt and wait for the reply.

        On beta.9 one request (``?wait=result``); on 2.x, which has no waiting prompt,
        `send()` then `wait()` (the first call to a server whose line is not known yet costs
        one refused request).

        Args: as `send()`.

        Returns:
            The admission fields and the ``result`` (the reply's ``text``; on beta.9 also
            ``usage``, ``model``).

        Raises:
            FlueExecutionError: the submission failed or was aborted.
            NotFoundError: the application has no agent of that name.
        """
        conversation = self.conversation(name, id)
        lines = self._client.lines
        if lines.get(conversation.url) != LINE_2:
            request = build_prompt_request(
                conversation.url, message, images=_images(images), wait=True
            )
            try:
                doc = await call_conversation(self._client, request, idempotent=False, wait=True)
            except BadRequestError as exc:
                if lines.get(conversation.url) == LINE_1 or not rejected_wait_result(
                    exc.status, exc.error_type
                ):
                    raise
                lines.learn(conversation.url, LINE_2)  # 2.x refused ?wait=result: nothing ran
            except APIError as exc:
                failed = execution_error_from_api(exc.error_type, exc.details, exc.body)
                if failed is None:
                    raise
                raise failed from exc
            else:
                lines.learn(conversation.url, LINE_1)
                return _prompt_result(doc, name)
        sent = await conversation.send(_user_message(message, images))
        settlement = await conversation.wait(sent)
        result = await _result(conversation, settlement, sent)
        return AgentPromptResult(
            submission_id=sent.submission_id,
            stream_url=sent.stream_url,
            offset=sent.offset,
            result=result,
            raw=sent.raw,
        )

    async def history(self, name: str, id: str) -> ConversationSnapshot:
        """The whole conversation as it is now: its messages (in order), the settlements of
        its submissions and the ``offset`` it was read at.

        Raises:
            NotFoundError: no such agent, or the conversation has never been prompted
                (``error_type`` ``"agent_not_found"`` or ``"stream_not_found"``).
        """
        return await self.conversation(name, id).history()

    def observe(
        self,
        name: str,
        id: str,
        *,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
        if_missing: IfMissing = "wait",
    ) -> AsyncConversationObserver:
        """Follow a conversation live: its history, then every change as it happens.

        Iterate the observer (in a ``with``/``async with`` block) for a `ConversationState`
        after each change: the first is the history, then one per change read (the text deltas
        of one message that arrive together are applied as one change, as are a new
        message, a tool call, a settlement...). Chunks redelivered after a reconnect are dropped; a
        chunk that cannot be applied makes it re-read the history. No request is made until
        you iterate.

        Args:
            name: the agent's name.
            id: the conversation's id.
            live: ``"sse"`` (the default: one connection, lowest latency) or ``"long-poll"``.
            if_missing: for a conversation never prompted: ``"wait"`` (the default) yields
                one empty state (``observer.exists`` is False, ``phase`` ``"absent"``) and
                reads the history again, backing off to every 5 s, until the first prompt
                creates it; ``"stop"`` ends the iteration after that empty state (as the
                TypeScript SDK does); ``"raise"`` raises `NotFoundError` instead.

        Returns:
            An observer with ``state``, ``offset``, ``exists``, ``phase``, ``cancel()`` and
            ``close()``.
        """
        return self.conversation(name, id).observe(live=live, if_missing=if_missing)

    async def abort(self, name: str, id: str) -> AgentAbortResult:
        """Stop the conversation's work: the reply under way and the prompts queued behind it.

        Returns once the server recorded it; the submissions then settle as aborted (`wait()`
        raises `FlueExecutionError` with ``failure="aborted"``). ``aborted`` is False when the
        conversation was idle. Not retried once the request may have reached the server.
        """
        return await self.conversation(name, id).abort()

    def attachment_url(self, name: str, id: str, attachment_id: str) -> str:
        """The absolute URL of an attachment's bytes (a `FilePart` ``id``), every segment
        percent-encoded. Agents serve it only when they opt in (else it answers 404); send
        the client's token with it."""
        return self.conversation(name, id).attachment_url(attachment_id)


def _images(images: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if images is None:
        return None
    if isinstance(images, str | bytes) or not isinstance(images, Sequence):
        raise InvalidArgumentError("images must be a list of image dicts")
    return [image(item, i) for i, item in enumerate(images)]


def _user_message(message: object, images: Sequence[Any] | None) -> str | UserMessage:
    if not isinstance(message, str):
        raise InvalidArgumentError(f"message must be a string, got {type(message).__name__}")
    found = _images(images)
    if not found:
        return message
    return UserMessage(body=message, attachments=[{**i, "type": "image"} for i in found])


def _as_admission(sent: AgentPromptResult, url: str) -> AgentSendResult:
    return AgentSendResult(
        submission_id=sent.submission_id,
        stream_url=sent.stream_url,
        offset=sent.offset,
        conversation_url=url,
        raw=sent.raw,
    )


async def _result(
    conversation: AsyncConversation, settlement: Settlement, sent: AgentSendResult
) -> AgentResult:
    """The `AgentResult` of a completed submission: the settlement's ``result`` (beta.9), else
    the reply read from the history (2.x settlements carry no result)."""
    if "result" in settlement.raw:
        return agent_result_from_value(settlement.result)
    snapshot = await conversation.history()
    reply = select_reply(snapshot.messages, snapshot.settlements, sent.submission_id, uid=sent.uid)
    return AgentResult(text=reply.text, raw={"reply": reply.raw})


def _prompt_result(doc: Any, name: str) -> AgentPromptResult:
    if not isinstance(doc, dict) or not isinstance(doc.get("submissionId"), str):
        raise ProtocolError(f"prompting agent {name!r} answered without a submissionId")
    stream_url, offset = doc.get("streamUrl"), doc.get("offset")
    return AgentPromptResult(
        submission_id=doc["submissionId"],
        stream_url=stream_url if isinstance(stream_url, str) else None,
        offset=offset if isinstance(offset, str) else None,
        result=agent_result_from_value(doc.get("result")),
        raw=doc,
    )
