# The drive loop: performs what the protocol core's reader asks for, over a transport, and
# hands batches (or events) to the caller.
# codegen: written once, async; flue/_sync is generated from this file (`nox -s codegen`).
#
# A stream depends on two interfaces (flue._async._host), not on the client: `ClientHost` (send
# a request with resolved headers, sleep, cancel tokens) and `Reader` (the protocol core's
# state machine). Its lifecycle follows docs/lifecycle.md:
#
#   new -> reading -> finished | cancelled | closed | failed
#
# * cancel() (any task or thread): the iteration ends (the current anext() too); nothing more
#   is handed out, buffered events included, and the checkpoint stays where it is.
# * close()/aclose(): cancel() and release the connection; a later anext() raises FlueError.
#   Called while another task/thread is inside anext(), the release is left to that one.
# * an error, or an interrupted anext() (task cancelled, timeout, KeyboardInterrupt): the
#   stream is failed; every later anext() raises a FlueError saying so (never a silent end).
# * two iterations at once: the second anext() raises FlueError; the first is unaffected.

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, Literal, TypeVar

from flue._async._callbacks import Params
from flue._async._closing import AsyncClosing
from flue._async._host import AsyncResponseProtocol, ClientHost, Reader
from flue._protocol.batches import Batch
from flue._protocol.reader import NEED_DATA, Deliver, Done, SendRequest, Sleep
from flue.errors import FlueError, TransportError

__all__ = ["AsyncBatchStream", "AsyncRunStream"]

logger = logging.getLogger("flue")

T = TypeVar("T")

StreamState = Literal["new", "reading", "finished", "cancelled", "closed", "failed"]


def _closed_error() -> FlueError:
    return FlueError(
        "this stream is closed; open a new one (pass position=<its .position> to resume)"
    )


def _client_closed_error() -> FlueError:
    return FlueError(
        "the client of this stream is closed; create a new client and open a new stream "
        "(pass position=<its .position> to resume)"
    )


class AsyncBatchStream(AsyncClosing):
    """Batches of a Durable Streams stream, read from a checkpoint.

    Returned by ``client.streams.read()`` (not created directly). Iterate it to get `Batch`
    objects; `offset` is the checkpoint to save: it moves to a batch's ``next_offset`` as that
    batch is handed over (use `fetch()` and `commit()` to move it only after processing).
    `cancel()` stops the stream (from another task or thread too); leaving the `with` block,
    `close()` or garbage collection releases the connection. See docs/lifecycle.md.
    """

    def __init__(self, host: ClientHost, reader: Reader, *, params: Params | None = None) -> None:
        self._host = host
        self._reader = reader
        self._params = params  # the stream's own query parameters (streams.read(params=))
        self._token = host.cancel_token()
        self._response: AsyncResponseProtocol | None = None
        self._state: StreamState = "new"
        self._close_requested = False
        self._failure: BaseException | None = None
        self._uncommitted = False
        self._batch: Batch | None = None  # fetched, not committed (position_after())
        self._busy = threading.Lock()  # non-blocking acquire only: the same in both flavours
        host.track(self)  # refused once the client is closed; cancelled when it closes

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self._reader.stream_url!r} offset={self.offset!r}>"

    @property
    def offset(self) -> str:
        """The resume checkpoint: pass it as ``offset=`` to continue without a gap."""
        return self._reader.offset

    @property
    def position(self) -> str:
        """The exact resume position (``"<offset>+<n>"``, opaque): pass it as ``position=``
        to continue with the first item not handed out yet. Like `offset` it moves past a
        batch at `commit()`; `position_after()` names a place inside a fetched batch.
        See docs/resume.md."""
        return self._reader.position()

    def position_after(self, count: int) -> str:
        """The exact resume position after the first `count` items of the batch last
        returned by `fetch()` and not committed yet: resuming from it starts with item
        `count` of that batch. (Iterating commits each batch as it is handed out: use
        `fetch()` and `commit()` for places inside a batch.) Byte streams resume per batch.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {count!r}")
        batch = self._batch
        if batch is None:
            if count == 0:
                return self.position
            raise FlueError(
                "position_after() names a place inside the batch last returned by fetch() and "
                "not committed; there is none (iterating commits every batch it hands out)"
            )
        if count > len(batch.items):
            raise ValueError(f"count={count} but the batch has {len(batch.items)} item(s)")
        return self._reader.position(count)

    @property
    def closed(self) -> bool:
        """True once the server said the stream has ended (no more items will ever come)."""
        return self._reader.closed

    @property
    def up_to_date(self) -> bool:
        """True when the last delivered batch reached the stream's tail."""
        return self._reader.up_to_date

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` or `close()` was called."""
        return self._token.is_set()

    @property
    def state(self) -> StreamState:
        """``"new"``, ``"reading"``, ``"finished"``, ``"cancelled"``, ``"closed"`` or
        ``"failed"`` (see docs/lifecycle.md)."""
        if self._close_requested:
            return "closed"
        if self._state in ("new", "reading") and self._token.is_set():
            return "cancelled"
        return self._state

    def cancel(self) -> None:
        """Stop the stream (safe from another task or thread): the iteration ends, the
        connection is closed, and nothing more is handed out."""
        self._token.set()
        response = self._response
        if response is not None:
            response.abort()

    async def aclose(self) -> None:
        """Stop the stream and release its connection; iterating it afterwards raises."""
        self._close_requested = True
        self.cancel()
        if self._busy.acquire(blocking=False):
            # not being iterated: release here (else the iterating task does it)
            try:
                await self._release()
            finally:
                self._busy.release()

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None:
            response.abort()
            response.release()

    def __aiter__(self) -> AsyncBatchStream:
        return self

    async def __anext__(self) -> Batch:
        batch = await self.fetch()
        if batch is None:
            raise StopAsyncIteration
        self.commit()
        return batch

    def commit(self) -> bool:
        """Move `offset` past the batch last returned by `fetch()` (no-op if already done).

        Returns True when it moved (False: nothing to commit, or the stream has stopped and
        its checkpoint stays before that batch).
        """
        if self._uncommitted:
            self._uncommitted = False
            if self.state == "reading":
                self._reader.batch_delivered()
                self._batch = None
                return True
        return False

    async def fetch(self) -> Batch | None:
        """The next batch, or None once the stream has ended or was cancelled; `offset`
        moves past it only at `commit()` (the next `fetch()` commits the previous batch).

        Raises:
            FlueError: the stream is closed, failed earlier, or is being iterated elsewhere.
        """
        if not self._busy.acquire(blocking=False):
            raise FlueError(
                "this stream is already being iterated (by another task or thread); a stream "
                "has one reader at a time: open one stream per consumer"
            )
        try:
            self._check_usable()
            self.commit()
            if self.state != "reading":  # finished or cancelled
                await self._release()
                return None
            batch = await self._drive()
            if batch is not None:
                self._uncommitted = True
                self._batch = batch
            return batch
        finally:
            self._busy.release()

    def _check_usable(self) -> None:
        state = self.state
        if state == "closed":
            raise _closed_error()
        if self._host.closed and state != "finished":
            raise _client_closed_error()
        if state == "failed":
            failure = self._failure
            if isinstance(failure, FlueError):
                raise FlueError(
                    f"this stream failed earlier ({failure}); open a new one (pass "
                    "position=<its .position> to resume)"
                ) from failure
            raise FlueError(
                "this stream was interrupted inside a read (its task was cancelled or timed "
                "out, or code it called raised), so it cannot continue; open a new one (pass "
                "position=<its .position> to resume: nothing is lost)"
            ) from failure
        if state == "new":
            self._state = "reading"

    async def _release(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            await response.close()

    async def _drive(self) -> Batch | None:
        """Drive the reader until it has a batch for the caller; None when the stream ends."""
        reader = self._reader
        try:
            while True:
                if self._token.is_set():
                    await self._release()
                    if self._close_requested:
                        raise _closed_error()
                    if self._host.closed:
                        raise _client_closed_error()
                    return None
                action = reader.next_action()
                if action is NEED_DATA:
                    response = self._response
                    assert response is not None
                    try:
                        chunk = await response.read_chunk()
                    except TransportError as exc:
                        if self._token.is_set():
                            continue
                        logger.debug("flue: read failed: %s", exc)
                        reader.receive_transport_error(exc)
                        continue
                    reader.receive_data(chunk)
                elif isinstance(action, Deliver):
                    return action.batch
                elif isinstance(action, SendRequest):
                    await self._release()
                    await self._send(action)
                elif isinstance(action, Sleep):
                    await self._release()
                    logger.debug(
                        "flue: retry %d in %.2fs after: %s",
                        action.attempt,
                        action.seconds,
                        action.reason,
                    )
                    if action.seconds > 0:  # a fast reconnect (0 s) does not yield or wait
                        await self._host.sleep(action.seconds, self._token)
                else:
                    assert isinstance(action, Done)
                    await self._release()
                    self._state = "finished"
                    return None
        except BaseException as exc:
            if not self._close_requested:
                self._state = "failed"
                self._failure = exc
            with contextlib.suppress(BaseException):  # the first error is the one to report
                await self._release()
            raise

    async def _send(self, action: SendRequest) -> None:
        request = action.request
        reader = self._reader
        try:
            logger.debug("flue: %s %s", request.method, request.url)
            self._response = await self._host.send(request, self._token, params=self._params)
        except TransportError as exc:
            if not exc.retryable:
                raise
            if self._token.is_set():
                return  # cancelled while sending: the loop ends the stream
            logger.debug("flue: request failed: %s", exc)
            reader.receive_transport_error(exc)
            return
        response = self._response
        reader.receive_response(response.status, response.headers)
        if self._token.is_set():
            response.abort()


class AsyncRunStream(AsyncClosing, Generic[T]):
    """Events of one run, in order, with a resume checkpoint.

    Returned by ``client.runs.stream()`` (not created directly): iterate it, preferably in a
    ``with``/``async with`` block, for events (models, or dicts with ``as_dict=True``).

    ``position`` names the place after the last event handed to you: save it after processing
    each event and resume with ``position=`` to get the next event, none twice and none missed
    (docs/resume.md). ``offset`` starts at the requested offset and moves to a batch's next
    offset only when the last event of that batch has been handed to you, so resuming from it
    never skips an event (at worst the batch in flight is delivered again).
    `cancel()` and `close()` stop it at once: events already received but not handed out are
    dropped and the checkpoint stays before them. See docs/lifecycle.md.
    """

    def __init__(self, batches: AsyncBatchStream, convert: Callable[[Any], T]) -> None:
        self._batches = batches
        self._convert = convert
        self._items: list[Any] = []
        self._index = 0
        self._handed = 0  # events of the uncommitted batch handed out (kept when cancelled)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} offset={self.offset!r} closed={self.closed}>"

    @property
    def offset(self) -> str:
        """The resume checkpoint (pass it back as ``offset=``): it moves per batch, so
        resuming from it may deliver again the events of the batch in flight."""
        return self._batches.offset

    @property
    def position(self) -> str:
        """The exact resume position after the last event handed out: an opaque string
        (``"<offset>+<n>"``) to save after handling each event and pass back as
        ``position=``; the resumed stream starts with the next event, none twice and none
        missed. See docs/resume.md."""
        handed = self._handed
        return self._batches.position_after(handed) if handed else self._batches.position

    @property
    def closed(self) -> bool:
        """True once the run has ended and every event was read."""
        return self._batches.closed

    @property
    def up_to_date(self) -> bool:
        """True when the stream has caught up with the run's current tail."""
        return self._batches.up_to_date

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` or `close()` was called."""
        return self._batches.cancelled

    @property
    def state(self) -> StreamState:
        """The stream's state (see `BatchStream.state` and docs/lifecycle.md)."""
        return self._batches.state

    def cancel(self) -> None:
        """Stop the stream; safe to call from another task or thread, or before iterating."""
        self._batches.cancel()

    async def aclose(self) -> None:
        """Stop the stream and release its connection; iterating it afterwards raises."""
        await self._batches.aclose()

    def __aiter__(self) -> AsyncRunStream[T]:
        return self

    async def __anext__(self) -> T:
        batches = self._batches
        if self._index >= len(self._items) or batches.state != "reading":
            # (nothing buffered, or stopped: fetch() ends or raises, buffered events dropped)
            self._items, self._index = [], 0
            while not self._items:
                batch = await batches.fetch()
                if batch is None:
                    raise StopAsyncIteration
                self._items, self._handed = batch.items, 0
                if not self._items:
                    batches.commit()  # an empty batch (up to date, closed) moves the offset
        item = self._items[self._index]
        self._index = self._handed = self._index + 1
        if self._index == len(self._items) and batches.commit():
            # the last event of the batch is being handed over: the checkpoint moved past it
            self._handed = 0
        return self._convert(item)
