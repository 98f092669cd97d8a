# One agent conversation addressed by its URL (``client.conversation(url)``), on Flue 1.0
# (beta.9) and Flue 2.x servers alike: send, wait, read, prompt, abort, history, observe.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.
#
# The line a server speaks is learnt from its answers (flue._protocol.lines) and remembered by
# the client per origin; the bodies per line are built by flue._protocol.agents_v2, the follow
# of a submission by flue._protocol.follow, the reply by flue._protocol.replies. This module
# only drives them: it sends, reads, and hands out.

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from flue._async._callbacks import call_user
from flue._async._history import call_conversation, read_history, updates_stream
from flue._async._host import ClientHost
from flue._async._observe import AsyncConversationObserver, IfMissing
from flue._models.conversation import (
    AgentAbortResult,
    AgentSendResult,
    ConversationSnapshot,
    Settlement,
)
from flue._models.replies import Reply
from flue._protocol.agents import build_abort_request
from flue._protocol.agents_v2 import build_send_request, send_body
from flue._protocol.conversation import attachment_url as _attachment_url
from flue._protocol.follow import RESTART, Deliver, SettlementFollow
from flue._protocol.lines import (
    LINE_1,
    LINE_2,
    line_of_admission,
    rejected_beta9_body,
)
from flue._protocol.params import LiveMode, check_offset, normalize_live
from flue._protocol.replies import select_reply
from flue._protocol.secrets import redact
from flue.errors import (
    APIError,
    BadRequestError,
    FlueExecutionError,
    InvalidArgumentError,
    ProtocolError,
    ServerError,
    TransportError,
)

__all__ = ["AsyncConversation"]

OnChunk = Callable[[Any], Any]
Target = AgentSendResult | str

_NOT_RESENT = (
    " The message was not sent again: it may have reached the server, and a second send "
    "could deliver it twice. Pass idempotency_key= to make retries safe (the server then "
    "answers a repeated key with the original submission)."
)


class AsyncConversation:
    """One conversation of a Flue agent, addressed by its URL (``client.conversation(url)``).

    The same calls work against Flue 1.0 (beta.9) and Flue 2.x servers; which line a server
    speaks is learnt from its answers (no extra request). ``url`` is the conversation's
    absolute URL: on 2.x wherever the application mounts the agent's router plus the
    conversation id, on beta.9 ``{base}/agents/{name}/{id}``.
    """

    def __init__(self, client: ClientHost, url: str) -> None:
        self._client = client
        self.url = url
        """The conversation's absolute URL."""
        last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
        self.conversation_id = unquote(last)
        """The last segment of the URL (the id the application gave the conversation)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self.url!r}>"

    async def send(
        self,
        message: Any,
        *,
        initial_data: Any = None,
        uid: str | None = None,
        create_only: bool = False,
        idempotency_key: str | None = None,
    ) -> AgentSendResult:
        """Deliver a message to the conversation without waiting for the reply (202).

        Args:
            message: a ``str`` (a user message), a `flue.UserMessage` (with attachments) or a
                `flue.Signal` (a structured event; Flue 2.x only).
            initial_data: seeds a conversation this send creates (the agent reads it with
                ``useInitialData()``); ignored when the conversation exists. Flue 2.x only.
            uid: continue only the conversation of this uid (an earlier admission's ``uid``);
                a conversation deleted and created again has another one, and the send fails
                with `NotFoundError` (``agent_instance_not_found``). Flue 2.x only.
            create_only: create the conversation, or fail with `ConflictError`
                (``agent_instance_exists``, its uid in ``meta["uid"]``) when it exists.
                Flue 2.x only.
            idempotency_key: your name for this delivery (at most 256 characters): a send
                repeated with the same key is answered with the original submission
                (``deduplicated=True``), so a send whose answer was lost is retried safely.
                Without one, a failure after the request may have reached the server is not
                retried. Flue 2.x only.

        Returns:
            The admission: ``submission_id``, ``stream_url``, ``offset``, ``uid`` (2.x) and
            ``deduplicated``; pass it to `wait()` or `read()`.

        Raises:
            InvalidArgumentError: a bad message or option, or an option the server's line
                cannot honour (a signal or a 2.x option sent to beta.9).
            ConflictError: ``agent_instance_exists`` or ``submission_conflict`` (the key was
                used with another message); see ``meta``.
        """
        lines = self._client.lines
        line = lines.get(self.url)
        options = {
            "initial_data": initial_data,
            "uid": uid,
            "create_only": create_only,
            "idempotency_key": idempotency_key,
        }
        body = send_body(message, line=line, **options)
        idempotent = idempotency_key is not None
        try:
            try:
                doc = await call_conversation(
                    self._client, build_send_request(self.url, body), idempotent=idempotent
                )
            except BadRequestError as exc:
                if line is not None or not rejected_beta9_body(exc.status, exc.details):
                    raise
                # a beta.9 server refused the 2.x form: nothing was admitted, send its own
                lines.learn(self.url, LINE_1)
                body = send_body(message, line=LINE_1, **options)
                doc = await call_conversation(
                    self._client, build_send_request(self.url, body), idempotent=idempotent
                )
        except (TransportError, ServerError) as exc:
            if not idempotent and _may_have_arrived(exc):
                _add_hint(exc, _NOT_RESENT)
            raise
        lines.learn(self.url, line_of_admission(doc))
        return _admission(doc, self.url)

    def _target(self, target: Target) -> tuple[str, str]:
        """(submission id, offset to follow from) of a `wait()`/`read()` target."""
        if isinstance(target, str):
            if not target.strip():
                raise InvalidArgumentError("a submission id must be a non-empty string")
            return target, "-1"  # re-attach: follow from the stream's origin
        if not isinstance(target, AgentSendResult) or not target.submission_id:
            raise InvalidArgumentError(
                "wait() and read() take the admission send() returned, or a submission id"
            )
        for url in (target.conversation_url, target.stream_url):
            if url and _path(url) != _path(self.url):
                raise InvalidArgumentError(
                    f"this admission belongs to another conversation ({_path(url)!r}, not "
                    f"{_path(self.url)!r}); use client.conversation() of that URL"
                )
        return target.submission_id, check_offset(target.offset or "-1")

    async def wait(
        self,
        target: Target,
        *,
        on_event: OnChunk | None = None,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
    ) -> Settlement:
        """Follow the conversation until a submission settles, and return its settlement.

        Reads the updates stream from the admission's offset (from the stream's origin for a
        bare submission id, which works from any process at any later time), catching up,
        then live. Redelivered chunks are skipped; a stream that was reset (``416
        stream_offset_gone``, or a new incarnation on 2.x) is followed again from its
        origin; a stream silent past the stall timeout is dropped and reopened.

        Args:
            target: what `send()` returned, or a submission id.
            on_event: called with each new chunk (``flue.models.MessageDeltaChunk``...), once
                each and in order, for progress display.
            live: ``"sse"`` (the default) or ``"long-poll"``.

        Returns:
            The `Settlement` (``outcome="completed"``). The reply is in the history:
            `read()` returns it.

        Raises:
            FlueExecutionError: the submission failed (``failure="failed"``), was aborted
                (``"aborted"``), or the stream ended before it settled
                (``"terminal_event_missing"``).
        """
        submission_id, offset = self._target(target)
        mode = normalize_live(live)
        if mode is None or isinstance(live, bool):
            raise InvalidArgumentError("live must be 'sse' or 'long-poll'")
        follow = SettlementFollow(submission_id, offset)
        client = self._client
        while True:
            restart = False
            try:
                updates = updates_stream(client, self.url, offset=follow.offset, live=mode)
                async with updates as batches:
                    async for batch in batches:
                        for item in batch.items:
                            step = follow.feed(item)
                            if step is RESTART:
                                restart = True
                                break
                            if not isinstance(step, Deliver):
                                continue  # SKIP: a checkpoint, or a chunk handed out before
                            if on_event is not None:
                                await call_user(on_event, step.chunk)
                            if step.settlement is not None:
                                self._learn_from_follow(follow)
                                return self._settled(step.settlement, submission_id)
                        if restart:
                            break
            except APIError as exc:
                if exc.status != 416:
                    raise
                follow.gone()  # the offset is past a regrown stream's head
                continue
            self._learn_from_follow(follow)
            if not restart:
                raise FlueExecutionError(
                    target="agent_submission",
                    target_id=submission_id,
                    failure="terminal_event_missing",
                )

    def _learn_from_follow(self, follow: SettlementFollow) -> None:
        if follow.incarnation is not None:
            self._client.lines.learn(self.url, LINE_2)

    def _settled(self, settlement: Settlement, submission_id: str) -> Settlement:
        if settlement.outcome == "completed":
            return settlement
        failure = "aborted" if settlement.outcome == "aborted" else "failed"
        error = FlueExecutionError(
            target="agent_submission",
            target_id=submission_id,
            failure=failure,
            error=settlement.error,
        )
        raise redact(error, self._client.secrets())

    async def read(
        self,
        target: Target,
        *,
        on_event: OnChunk | None = None,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
    ) -> Reply:
        """Wait for a submission to settle, then return its reply (from the history).

        The reply is the last assistant message of that submission, else the one its
        settlement names as answering it (a message sent while a reply was streaming joins
        that reply on 2.x), else the conversation's last assistant message; its text parts
        joined with a blank line, its ``data-*`` parts in ``data``.

        Args: as `wait()`.

        Raises:
            FlueExecutionError: as `wait()`.
        """
        submission_id, _ = self._target(target)
        await self.wait(target, on_event=on_event, live=live)
        snapshot = await self.history()
        uid = target.uid if isinstance(target, AgentSendResult) else None
        return select_reply(snapshot.messages, snapshot.settlements, submission_id, uid=uid)

    async def prompt(
        self,
        message: Any,
        *,
        initial_data: Any = None,
        uid: str | None = None,
        create_only: bool = False,
        idempotency_key: str | None = None,
        on_event: OnChunk | None = None,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
    ) -> Reply:
        """`send()` then `read()`: deliver a message and return the agent's reply.

        Args: as `send()`, plus `on_event` and `live` of `wait()`.

        Raises: as `send()` and `wait()`.
        """
        admission = await self.send(
            message,
            initial_data=initial_data,
            uid=uid,
            create_only=create_only,
            idempotency_key=idempotency_key,
        )
        return await self.read(admission, on_event=on_event, live=live)

    async def abort(self) -> AgentAbortResult:
        """Stop the conversation's work: the reply under way and the messages queued behind it.

        Returns once the server recorded it (``aborted`` is False when it was idle); the
        submissions then settle as aborted (`wait()` raises `FlueExecutionError` with
        ``failure="aborted"``). Not retried once the request may have reached the server.
        """
        doc = await call_conversation(self._client, build_abort_request(self.url), idempotent=False)
        if not isinstance(doc, dict):
            raise ProtocolError("the answer to an abort is not a JSON object")
        return AgentAbortResult(aborted=doc.get("aborted") is True, raw=doc)

    async def history(self) -> ConversationSnapshot:
        """The whole conversation as it is now: its messages in order, the settlements of its
        submissions, the ``offset`` it was read at (and its ``incarnation`` on 2.x).

        Raises:
            NotFoundError: the conversation does not exist yet, or nothing is served at this
                URL.
        """
        return await read_history(self._client, self.url)

    def observe(
        self,
        *,
        live: Literal["sse", "long-poll"] | LiveMode = "sse",
        if_missing: IfMissing = "wait",
    ) -> AsyncConversationObserver:
        """Follow the conversation live: its history, then every change as it happens.

        Iterate the observer (in a ``with``/``async with`` block) for a `ConversationState`
        after each change (the text deltas of one message that arrive together are one change:
        a fast reply the server wrote in one batch is one state, not one per token).
        ``observer.phase`` says where it is: ``"loading"`` (reading the
        history), ``"connecting"``, ``"live"``, ``"absent"`` (the conversation does not exist
        yet), ``"error"`` (the iteration raised), ``"closed"``. No request is made until you
        iterate.

        Args:
            live: ``"sse"`` (the default) or ``"long-poll"``.
            if_missing: for a conversation that does not exist yet: ``"wait"`` (the default:
                one empty state, phase ``"absent"``, then the history is read again, backing
                off to every 5 s, until the first message creates it), ``"stop"`` (the
                TypeScript SDK's behaviour: one empty state, phase ``"absent"``, then the
                iteration ends) or ``"raise"`` (`NotFoundError`).
        """
        return AsyncConversationObserver(
            self._client, self.url, self.conversation_id, live=live, if_missing=if_missing
        )

    def attachment_url(self, attachment_id: str) -> str:
        """The absolute URL of an attachment's bytes (a `FilePart` ``id``), percent-encoded.
        Send the client's credentials with it."""
        if not isinstance(attachment_id, str) or not attachment_id:
            raise InvalidArgumentError("attachment_id must be a non-empty string")
        return _attachment_url(self.url, attachment_id)


def _path(url: str) -> str:
    return urlsplit(url).path.rstrip("/")


def _may_have_arrived(exc: Exception) -> bool:
    if isinstance(exc, TransportError):
        return exc.sent
    return isinstance(exc, ServerError)


def _add_hint(exc: Exception, hint: str) -> None:
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (exc.args[0] + hint, *exc.args[1:])
    if isinstance(exc, APIError):
        exc.message += hint


def _admission(doc: Any, url: str) -> AgentSendResult:
    if not isinstance(doc, dict) or not isinstance(doc.get("submissionId"), str):
        raise ProtocolError(f"the server answered a message to {url} without a submissionId")
    stream_url, offset, uid = doc.get("streamUrl"), doc.get("offset"), doc.get("uid")
    return AgentSendResult(
        submission_id=doc["submissionId"],
        stream_url=stream_url if isinstance(stream_url, str) else None,
        offset=offset if isinstance(offset, str) else None,
        uid=uid if isinstance(uid, str) else None,
        deduplicated=doc.get("deduplicated") is True,
        conversation_url=url,
        raw=doc,
    )
