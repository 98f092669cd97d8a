# The drive loop: performs what the protocol core's StreamReader asks for, over a transport,
# and hands batches (or events) to the caller. Written once, async; flue/_sync is
# generated from it.

from __future__ import annotations

import logging
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from flue._protocol.batches import Batch
from flue._protocol.reader import NEED_DATA, Deliver, Done, SendRequest, Sleep, StreamReader
from flue._transports._aiohttp import AsyncResponse
from flue.errors import TransportError

if TYPE_CHECKING:
    from flue._async._client import AsyncFlueClient

__all__ = ["AsyncBatchStream", "AsyncRunStream"]

logger = logging.getLogger("flue")

T = TypeVar("T")


class AsyncBatchStream:
    """Batches of a Durable Streams stream, read from a checkpoint.

    Returned by ``client.streams.read()`` (not created directly). Iterate it to get `Batch`
    objects; `offset` is the checkpoint to save: it moves to a batch's ``next_offset`` once
    that batch has been handed over. `cancel()` stops the stream (from another task or thread
    too); leaving the `with` block or garbage collection closes the connection.
    """

    def __init__(self, client: AsyncFlueClient, reader: StreamReader) -> None:
        self._client = client
        self._reader = reader
        self._transport = client._transport
        self._token = self._transport.cancel_token()
        self._response: AsyncResponse | None = None
        self._finished = False
        self._pending_delivery = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} url={self._reader.stream_url!r} offset={self.offset!r}>"

    @property
    def offset(self) -> str:
        """The resume checkpoint: pass it as ``offset=`` to continue without a gap."""
        return self._reader.offset

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
        """True once `cancel()` was called."""
        return self._token.is_set()

    def cancel(self) -> None:
        """Stop the stream: the iteration ends and the connection is closed."""
        self._token.set()
        response = self._response
        if response is not None:
            response.abort()

    async def aclose(self) -> None:
        """Stop the stream and release its connection."""
        self._token.set()
        await self._close_response()
        self._finished = True

    async def __aenter__(self: _B) -> _B:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        response = getattr(self, "_response", None)
        if response is not None:
            response.abort()
            response.release()

    def __aiter__(self) -> AsyncBatchStream:
        return self

    def _confirm_delivery(self) -> None:
        """The caller has the whole last batch: let the checkpoint move."""
        if self._pending_delivery:
            self._pending_delivery = False
            self._reader.batch_delivered()

    async def __anext__(self) -> Batch:
        self._confirm_delivery()
        batch = await self._next_batch()
        if batch is None:
            raise StopAsyncIteration
        self._pending_delivery = True
        return batch

    async def _close_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            await response.close()

    async def _next_batch(self) -> Batch | None:
        """Drive the reader until it has a batch for the caller; None when the stream ends."""
        if self._finished:
            return None
        reader = self._reader
        try:
            while True:
                if self._token.is_set():
                    await self._close_response()
                    self._finished = True
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
                    await self._close_response()
                    await self._send(action)
                elif isinstance(action, Sleep):
                    await self._close_response()
                    logger.debug(
                        "flue: retry %d in %.2fs after: %s",
                        action.attempt,
                        action.seconds,
                        action.reason,
                    )
                    if action.seconds > 0:  # a fast reconnect (0 s) does not yield or wait
                        await self._transport.sleep(action.seconds, self._token)
                else:
                    assert isinstance(action, Done)
                    await self._close_response()
                    self._finished = True
                    return None
        except BaseException:
            await self._close_response()
            self._finished = True
            raise

    async def _send(self, action: SendRequest) -> None:
        request = action.request
        reader = self._reader
        try:
            headers = await self._client._headers_for(request)
            logger.debug("flue: %s %s", request.method, request.url)
            self._response = await self._transport.open(request, headers, token=self._token)
        except TransportError as exc:
            if not exc.retryable:
                raise
            logger.debug("flue: request failed: %s", exc)
            reader.receive_transport_error(exc)
            return
        response = self._response
        reader.receive_response(response.status, response.headers)
        if self._token.is_set():
            response.abort()


class AsyncRunStream(Generic[T]):
    """Events of one run, in order, with a resume checkpoint.

    Returned by ``client.runs.stream()`` (not created directly): iterate it, preferably in a
    ``with``/``async with`` block, for events (models, or dicts with ``as_dict=True``).

    ``offset`` starts at the requested offset and moves to a batch's next offset only when the
    last event of that batch has been handed to you, so saving it after processing each event
    and resuming from it never skips an event (at worst the batch in flight is delivered again).
    """

    def __init__(self, batches: AsyncBatchStream, convert: Callable[[Any], T]) -> None:
        self._batches = batches
        self._convert = convert
        self._items: list[Any] = []
        self._index = 0

    def __repr__(self) -> str:
        return f"<{type(self).__name__} offset={self.offset!r} closed={self.closed}>"

    @property
    def offset(self) -> str:
        """The resume checkpoint (pass it back as ``offset=``)."""
        return self._batches.offset

    @property
    def closed(self) -> bool:
        """True once the run has ended and every event was read."""
        return self._batches.closed

    @property
    def up_to_date(self) -> bool:
        """True when the stream has caught up with the run's current tail."""
        return self._batches.up_to_date

    def cancel(self) -> None:
        """Stop the stream; safe to call from another task, or before iterating."""
        self._batches.cancel()

    async def aclose(self) -> None:
        """Stop the stream and release its connection."""
        await self._batches.aclose()

    async def __aenter__(self: _R) -> _R:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncRunStream[T]:
        return self

    async def __anext__(self) -> T:
        batches = self._batches
        while self._index >= len(self._items):
            batches._confirm_delivery()
            batch = await batches._next_batch()
            if batch is None:
                raise StopAsyncIteration
            self._items = batch.items
            self._index = 0
            batches._pending_delivery = True
        item = self._items[self._index]
        self._index += 1
        if self._index == len(self._items):
            # the last event of the batch is being handed over: the checkpoint may move
            batches._confirm_delivery()
        return self._convert(item)


# the `with` targets keep their own class (bound TypeVars, defined once the classes exist)
_B = TypeVar("_B", bound=AsyncBatchStream)
_R = TypeVar("_R", bound=AsyncRunStream[Any])
