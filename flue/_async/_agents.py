# The `agents` of a client: prompt an agent (send, wait, prompt), read a conversation (history,
# observe), abort its work, and the URLs of its attachments.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.
#
# Every call resolves (name, id) to the conversation's URL once (flue._protocol.agents) and
# works on that URL from then on; what the chunks mean is flue._protocol.conversation's job.

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs

from flue._async._host import ClientHost
from flue._async._observe import AsyncConversationObserver
from flue._models.chunks import ChunkPosition, ConversationChunk, chunk_from_dict
from flue._models.conversation import (
    AgentAbortResult,
    AgentPromptResult,
    AgentResult,
    AgentSendResult,
    ConversationSnapshot,
    agent_result_from_value,
    snapshot_from_dict,
)
from flue._protocol.agents import (
    build_abort_request,
    build_history_request,
    build_prompt_request,
    conversation_url,
    execution_error_from_api,
    settlement_result,
    updates_url,
)
from flue._protocol.conversation import attachment_url, settled_submission, state_from_snapshot
from flue._protocol.http import join_url
from flue._protocol.params import LiveMode, check_offset, normalize_live
from flue._transports._aiohttp import call_user
from flue.errors import (
    APIError,
    FlueExecutionError,
    InvalidArgumentError,
    NotFoundError,
    ProtocolError,
    redact,
)

__all__ = ["AsyncAgents"]

OnChunk = Callable[[ConversationChunk], Any]


class AsyncAgents:
    """The `agents` of a client (``client.agents``): talk to a Flue agent's conversations.

    A conversation is one instance of an agent, named by the agent's ``name`` and an ``id`` you
    choose (``"conv-1"``, a user id...); it exists from its first prompt on.

    Not created directly: use ``client.agents``.
    """

    def __init__(self, client: ClientHost) -> None:
        self._client = client

    def _url(self, name: str, conversation_id: str) -> str:
        return conversation_url(self._client.base_url, name, conversation_id)

    async def _call(self, request: Any, **kwargs: Any) -> Any:
        try:
            return await self._client._call_json(request, **kwargs)
        except NotFoundError as exc:
            better = _not_found(exc)
            if better is exc:
                raise
            raise better from exc

    async def send(
        self,
        name: str,
        id: str,
        message: str,
        *,
        images: Sequence[dict[str, Any]] | None = None,
    ) -> AgentSendResult:
        """Send a prompt to a conversation without waiting for the reply.

        Prompts are not idempotent, so only failures that certainly did not reach the server
        are retried.

        Args:
            name: the agent's name.
            id: the conversation's id (created by its first prompt).
            message: the prompt.
            images: images sent with it: dicts ``{"data": <bytes or base64 str>,
                "mimeType": "image/png", "filename"?: str}``.

        Returns:
            The admission: ``submission_id``, ``stream_url`` and ``offset``; pass it to
            `wait()` for the reply.

        Raises:
            NotFoundError: the application has no agent of that name.
        """
        url = self._url(name, id)
        request = build_prompt_request(url, message, images=images, wait=False)
        doc = await self._call(request, idempotent=False)
        return attrs.evolve(_admission(doc, name), conversation_url=url)

    async def wait(
        self,
        sent: AgentSendResult,
        *,
        on_event: OnChunk | None = None,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
    ) -> AgentResult:
        """Wait until a sent prompt has settled and return its result.

        Reads the conversation's updates from the admission's offset until the
        ``submission-settled`` chunk of this submission.

        Args:
            sent: what `send()` returned.
            on_event: called with each chunk read (``flue.models.MessageDeltaChunk``... an
                ``UnknownChunk`` for a type this version does not know), in order and once
                each (a batch redelivered after a reconnect is skipped), for progress
                display; use `observe()` to maintain a conversation's state.
            live: ``"sse"`` (the default: one connection) or ``"long-poll"``.

        Returns:
            The result: the reply's ``text``, ``usage`` and ``model``.

        Raises:
            FlueExecutionError: the submission failed (``failure="failed"``) or was aborted
                (``failure="aborted"``); ``error`` holds what the server said.
        """
        if not isinstance(sent, AgentSendResult | AgentPromptResult):
            raise InvalidArgumentError("wait() takes the AgentSendResult returned by send()")
        url = getattr(sent, "conversation_url", None) or sent.stream_url
        if not url or sent.offset is None:
            raise InvalidArgumentError("this AgentSendResult has no stream_url or offset")
        mode = normalize_live(live)
        if mode is None or isinstance(live, bool):
            raise InvalidArgumentError("live must be 'sse' or 'long-poll'")
        client = self._client
        reader = client._reader(
            updates_url(join_url(client.base_url, url)),
            offset=check_offset(sent.offset),
            tail=None,
            live=mode,
            objects_only=False,
        )
        last: ChunkPosition | None = None
        async with client._batch_stream(reader) as batches:
            async for batch in batches:
                for item in batch.items:
                    chunk = chunk_from_dict(item)
                    position = chunk.position
                    if position is not None:
                        # a batch replayed after a reconnect: its chunks were handed out already
                        if last is not None and position <= last:
                            continue
                        last = position
                    if on_event is not None:
                        await call_user(on_event, chunk)
                    settled = settled_submission(chunk, sent.submission_id)
                    if settled is not None:
                        try:
                            return settlement_result(settled)
                        except FlueExecutionError as exc:
                            raise redact(exc, client._secrets()) from None
        raise FlueExecutionError(
            target="agent_submission",
            target_id=sent.submission_id,
            failure="terminal_event_missing",
        )

    async def prompt(
        self,
        name: str,
        id: str,
        message: str,
        *,
        images: Sequence[dict[str, Any]] | None = None,
    ) -> AgentPromptResult:
        """Send a prompt and wait for the reply in one request (``?wait=result``).

        Args: as `send()`.

        Returns:
            The admission fields and the ``result`` (the reply's ``text``, ``usage``,
            ``model``).

        Raises:
            FlueExecutionError: the submission failed or was aborted.
            NotFoundError: the application has no agent of that name.
        """
        url = self._url(name, id)
        request = build_prompt_request(url, message, images=images, wait=True)
        try:
            doc = await self._call(request, idempotent=False, wait=True)
        except APIError as exc:
            failed = execution_error_from_api(exc.error_type, exc.details, exc.body)
            if failed is None:
                raise
            raise failed from exc
        sent = _admission(doc, name)
        return AgentPromptResult(
            submission_id=sent.submission_id,
            stream_url=sent.stream_url,
            offset=sent.offset,
            result=agent_result_from_value(doc.get("result")),
            raw=doc,
        )

    async def history(self, name: str, id: str) -> ConversationSnapshot:
        """The whole conversation as it is now: its messages (in order), the settlements of
        its submissions and the ``offset`` it was read at.

        Raises:
            NotFoundError: no such agent, or the conversation has never been prompted
                (``error_type`` ``"agent_not_found"`` or ``"stream_not_found"``).
        """
        return await self._history(self._url(name, id))

    async def _history(self, url: str) -> ConversationSnapshot:
        doc = await self._call(build_history_request(url))
        if not isinstance(doc, dict):
            raise ProtocolError(f"the history of {url} is not a JSON object")
        snapshot = snapshot_from_dict(doc)
        if snapshot.offset is None:
            raise ProtocolError(f"the history of {url} has no offset")
        messages = state_from_snapshot(snapshot, url).messages
        return attrs.evolve(snapshot, messages=messages)

    def observe(
        self,
        name: str,
        id: str,
        *,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
        if_missing: Literal["wait", "raise"] = "wait",
    ) -> AsyncConversationObserver:
        """Follow a conversation live: its history, then every change as it happens.

        Iterate the observer (in a ``with``/``async with`` block) for a `ConversationState`
        after each change: the first is the history, then one per applied chunk (a text delta,
        a new message, a settlement...). Chunks redelivered after a reconnect are dropped; a
        chunk that cannot be applied makes it re-read the history. No request is made until
        you iterate.

        Args:
            name: the agent's name.
            id: the conversation's id.
            live: ``"sse"`` (the default: one connection, lowest latency) or ``"long-poll"``.
            if_missing: for a conversation never prompted: ``"wait"`` (the default) yields
                one empty state (``observer.exists`` is False) and reads the history again,
                backing off to every 5 s, until the first prompt creates it; ``"raise"`` raises
                `NotFoundError` instead.

        Returns:
            An observer with ``state``, ``offset``, ``exists``, ``cancel()`` and ``close()``.
        """
        return AsyncConversationObserver(
            self, self._url(name, id), id, live=live, if_missing=if_missing
        )

    async def abort(self, name: str, id: str) -> AgentAbortResult:
        """Stop the conversation's work: the reply under way and the prompts queued behind it.

        Returns once the server recorded it; the submissions then settle as aborted (`wait()`
        raises `FlueExecutionError` with ``failure="aborted"``). ``aborted`` is False when the
        conversation was idle. Not retried once the request may have reached the server.
        """
        doc = await self._call(build_abort_request(self._url(name, id)), idempotent=False)
        if not isinstance(doc, dict):
            raise ProtocolError("the answer to an abort is not a JSON object")
        return AgentAbortResult(aborted=doc.get("aborted") is True, raw=doc)

    def attachment_url(self, name: str, id: str, attachment_id: str) -> str:
        """The absolute URL of an attachment's bytes (a `FilePart` ``id``), every segment
        percent-encoded. Agents serve it only when they opt in (else it answers 404); send
        the client's token with it."""
        if not isinstance(attachment_id, str) or not attachment_id:
            raise InvalidArgumentError("attachment_id must be a non-empty string")
        return attachment_url(self._url(name, id), attachment_id)


def _admission(doc: Any, name: str) -> AgentSendResult:
    if not isinstance(doc, dict) or not isinstance(doc.get("submissionId"), str):
        raise ProtocolError(f"prompting agent {name!r} answered without a submissionId")
    return AgentSendResult(
        submission_id=doc["submissionId"],
        stream_url=doc.get("streamUrl") if isinstance(doc.get("streamUrl"), str) else None,
        offset=doc.get("offset") if isinstance(doc.get("offset"), str) else None,
        raw=doc,
    )


def _not_found(exc: NotFoundError) -> NotFoundError:
    if exc.error_type == "agent_not_found":
        hint = " The application defines no agent of that name."
    elif exc.error_type == "stream_not_found":
        hint = " This conversation does not exist yet: it starts with its first prompt."
    else:
        return exc
    error = NotFoundError(
        exc.message + hint,
        status=exc.status,
        error_type=exc.error_type,
        details=exc.details,
        body=exc.body,
        retry_after=exc.retry_after,
    )
    return error
