# The live observer of one agent conversation (``client.agents.observe()``).
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.
#
# The loop: read the history (a snapshot and its offset), hand its state out, then read the
# conversation's ``view=updates`` stream from that offset and apply each chunk with the pure
# reducer (flue._protocol.conversation.Conversation), handing out the state after each change.
# The reducer drops redelivered chunks; when it cannot apply one, the stream is dropped and the
# history read again (rehydrate). A conversation that does not exist yet (404
# stream_not_found) is waited for: one empty state is handed out (``exists`` is False), then
# the history is read again with a growing delay until the first prompt creates it
# (``if_missing="stop"`` ends the iteration there instead, as the TypeScript SDK does). Those
# delays, and those after chunks that could not be applied several times in a row, come from
# the one backoff computation of retries (`RetryState`, with the policies of
# flue._protocol.agents).
# ``phase`` names where the loop is with the TypeScript SDK's words. A 2.x stream that was
# reset (a new incarnation in its ``stream-checkpoint``, or ``416 stream_offset_gone``) makes
# the loop read the history again.

from __future__ import annotations

import logging
import random
from collections import deque
from typing import Literal

from flue._async._closing import AsyncClosing
from flue._async._history import read_history, updates_stream
from flue._async._host import ClientHost
from flue._async._stream import AsyncBatchStream
from flue._models.chunks import chunk_from_dict
from flue._models.conversation import ConversationState
from flue._protocol.agents import ABSENT_RETRY, LAGGING_RETRY
from flue._protocol.coalesce import coalesce_deltas
from flue._protocol.conversation import APPLIED, Conversation, Rehydrate
from flue._protocol.params import LiveMode, normalize_live
from flue._protocol.retry import RetryState
from flue.errors import APIError, InvalidArgumentError, NotFoundError

__all__ = ["AsyncConversationObserver", "IfMissing", "Phase"]

IfMissing = Literal["wait", "stop", "raise"]
Phase = Literal["loading", "connecting", "live", "absent", "error", "closed"]


logger = logging.getLogger("flue")

# what a server answers for a conversation that does not exist (yet): beta.9 and 2.x
_MISSING = ("stream_not_found", "agent_instance_not_found")

# a chunk that cannot be applied is rare; several in a row without one applied in between
# (a server whose history lags its updates) back off (LAGGING_RETRY) after the first ones
_FREE_REHYDRATES = 2

# the observers' policies draw no jitter: one generator, never used, spares one per observer
_NO_JITTER = random.Random(0)


class AsyncConversationObserver(AsyncClosing):
    """A conversation followed live: iterate it for a `ConversationState` after each change.

    Returned by ``client.agents.observe()`` (not created directly). ``state`` is the latest
    state (None before the first read), ``offset`` the stream offset it reflects, ``exists``
    whether the conversation exists (None before the first read). `cancel()` (from any task
    or thread) ends the iteration; leaving the ``with`` block or `close()` also releases the
    connection.
    """

    def __init__(
        self,
        client: ClientHost,
        url: str,
        conversation_id: str,
        *,
        live: Literal["sse", "long-poll"] | LiveMode,
        if_missing: IfMissing,
    ) -> None:
        mode = normalize_live(live)
        if mode is None:
            raise InvalidArgumentError("live must be 'sse' or 'long-poll'")
        if if_missing not in ("wait", "stop", "raise"):
            raise InvalidArgumentError(
                f"if_missing must be 'wait', 'stop' or 'raise', got {if_missing!r}"
            )
        self._client = client
        self.url = url
        """The conversation's URL."""
        self.conversation_id = conversation_id
        self._live = mode
        self._if_missing = if_missing
        self._conversation: Conversation | None = None
        self._batches: AsyncBatchStream | None = None
        self._offset: str | None = None
        self._pending: deque[ConversationState] = deque()
        self._token = client.cancel_token()
        self._rehydrate = True
        self._absent_backoff = RetryState(
            ABSENT_RETRY, rng=_NO_JITTER
        )  # waits for the first prompt
        self._lag_backoff = RetryState(LAGGING_RETRY, rng=_NO_JITTER)  # chunks it could not apply
        self._lag_wait = 0.0  # before each read of the history, until a chunk applies
        self.exists: bool | None = None
        """True once the history was read, False while the conversation does not exist yet."""
        self.rehydrations = 0
        """How many times the history was read again because a chunk could not be applied
        or the stream was reset."""
        self.phase: Phase = "loading"
        """Where the observer is: ``"loading"`` (reading the history), ``"connecting"``
        (opening the updates stream), ``"live"`` (its first answer arrived), ``"absent"``
        (the conversation does not exist yet), ``"error"`` (the iteration raised),
        ``"closed"`` (cancelled, closed, or ended after ``"absent"`` with
        ``if_missing="stop"``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self.url!r} offset={self.offset!r}>"

    @property
    def state(self) -> ConversationState | None:
        """The conversation's latest state (every change applied so far)."""
        if self._conversation is None:
            if self.exists is False:
                return ConversationState(conversation_id=self.conversation_id)
            return None
        return self._conversation.state

    @property
    def offset(self) -> str | None:
        """The stream offset the state reflects (None before the first read)."""
        if self._batches is not None:
            return self._batches.offset
        return self._offset

    def cancel(self) -> None:
        """End the iteration (safe from another task or thread)."""
        if self.phase != "error":
            self.phase = "closed"
        self._token.set()
        batches = self._batches
        if batches is not None:
            batches.cancel()

    async def aclose(self) -> None:
        """End the iteration and release the connection (iterating again yields nothing)."""
        self.cancel()
        await self._drop_stream()

    def __aiter__(self) -> AsyncConversationObserver:
        return self

    async def __anext__(self) -> ConversationState:
        try:
            return await self._next()
        except StopAsyncIteration:
            raise
        except BaseException:
            if not self._token.is_set():
                self.phase = "error"
            raise

    async def _next(self) -> ConversationState:
        while True:
            if self._token.is_set():  # cancel() or close(): the iteration ends
                await self._drop_stream()
                if self.phase != "error":
                    self.phase = "closed"
                raise StopAsyncIteration
            if self._pending:
                return self._pending.popleft()
            if self._rehydrate:
                state = await self._hydrate()
                if state is not None:
                    return state
                continue
            await self._read_batch()

    async def _drop_stream(self) -> None:
        batches, self._batches = self._batches, None
        if batches is not None:
            self._offset = batches.offset
            await batches.aclose()

    async def _hydrate(self) -> ConversationState | None:
        """Read the history and open the updates stream after it: the new state, or None
        when there is nothing to hand out (waiting for the conversation, or unchanged)."""
        await self._drop_stream()
        if self.phase != "absent":
            self.phase = "loading"
        if self._lag_wait:
            await self._client.sleep(self._lag_wait, self._token)
            if self._token.is_set():
                return None
        try:
            snapshot = await read_history(self._client, self.url)
        except NotFoundError as exc:
            if exc.error_type not in _MISSING or self._if_missing == "raise":
                raise
            return await self._absent()
        if self._token.is_set():
            return None
        before = self.state if self.exists else None
        self.exists = True
        self._absent_backoff.succeeded()
        self._rehydrate = False
        if self._conversation is None:
            self._conversation = Conversation(snapshot, conversation_url=self.url)
        else:
            self._conversation.reset(snapshot)
        self._offset = snapshot.offset
        assert snapshot.offset is not None  # checked by read_history()
        self._batches = updates_stream(
            self._client, self.url, offset=snapshot.offset, live=self._live
        )
        self.phase = "connecting"
        state = self._conversation.state
        return None if state == before else state

    async def _absent(self) -> ConversationState | None:
        first = self.exists is not False
        self.exists = False
        self.phase = "absent"
        if self._if_missing == "stop" and not first:
            self._token.set()  # the empty state was handed out: the iteration ends
            return None
        if first:
            logger.info(
                "flue: conversation %s does not exist yet; waiting for its first prompt",
                self.url,
            )
            return ConversationState(conversation_id=self.conversation_id)
        await self._client.sleep(_next_wait(self._absent_backoff), self._token)
        return None

    async def _read_batch(self) -> None:
        batches, conversation = self._batches, self._conversation
        assert batches is not None and conversation is not None
        try:
            batch = await batches.fetch()
        except NotFoundError as exc:
            if exc.error_type not in _MISSING:
                raise
            self._conversation = None  # gone: wait for it again
            self.exists = None
            self._rehydrate = True
            return
        except APIError as exc:
            if exc.status != 416:  # 2.x: the offset is past the head of a regrown stream
                raise
            logger.debug("flue: re-reading the history of %s: %s", self.url, exc.error_type)
            self.rehydrations += 1
            self._rehydrate = True
            return
        if self.phase == "connecting":
            self.phase = "live"
        if batch is None:
            if not self._token.is_set():  # a live stream ended by itself: start again
                self._rehydrate = True
            return
        # a run of deltas read together is applied at once: one state for what arrived at once
        for item in coalesce_deltas(batch.items, conversation.position):
            outcome = conversation.apply(chunk_from_dict(item))
            if outcome is APPLIED:
                self._lag_backoff.succeeded()
                self._lag_wait = 0.0
                self._pending.append(conversation.state)
            elif isinstance(outcome, Rehydrate):
                logger.debug("flue: re-reading the history of %s: %s", self.url, outcome.reason)
                self.rehydrations += 1
                free = self._lag_backoff.failures < _FREE_REHYDRATES
                self._lag_wait = _next_wait(self._lag_backoff, immediate=free)
                self._rehydrate = True
                return


def _next_wait(state: RetryState, *, immediate: bool = False) -> float:
    """The wait after one more failure of `state` (its policy sets no limit)."""
    delay = state.failed(immediate=immediate)
    assert delay is not None  # no attempt or time limit: never given up
    return delay
