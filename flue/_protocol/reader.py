"""The stream reader: one state machine per stream, fed by a driver that does the I/O.

How it works (after h11's ``Connection``): the driver asks `next_action()` what to do and gets
one of

* `SendRequest` -> send it, then call `receive_response(status, headers)`;
* `NEED_DATA`   -> read the next chunk of the body and `receive_data(chunk)` (``b""`` at end);
* `Deliver`     -> hand ``batch.items`` to the caller, then call `batch_delivered()`;
* `Sleep`       -> close the response, wait ``seconds``, ask again (a retry follows);
* `Done`        -> close the response; the stream is over.

A transport failure at any point is reported with `receive_transport_error()`. Fatal errors are
raised by `next_action()`. The reader owns paging until up to date, the switch to long-poll or
SSE, the cursor echo, reconnecting an SSE body that ended without ``streamClosed`` (and never
after it), retries with backoff, and the checkpoint `offset`, which moves only when the driver
confirms that a batch was delivered, so resuming from it never skips an item.
"""

from __future__ import annotations

import enum
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

import attrs

from flue._protocol.batches import Batch, Decode, SSEBatcher
from flue._protocol.http import HttpRequest, RequestKind, build_read_request
from flue._protocol.params import LiveMode
from flue._protocol.responses import (
    ReadHead,
    api_error,
    decode_json_batch,
    is_retryable_status,
    lower_headers,
    read_head,
)
from flue._protocol.retry import RetryPolicy, RetryState, gave_up
from flue._protocol.sse import SSEDecoder
from flue.errors import FlueError, ProtocolError, TransportError

__all__ = [
    "NEED_DATA",
    "Deliver",
    "Done",
    "ReaderState",
    "SendRequest",
    "Sleep",
    "StreamReader",
]


class _NeedData:
    """Sentinel type: the reader needs more body bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


@attrs.frozen(kw_only=True)
class SendRequest:
    """Send this request and report its response head."""

    request: HttpRequest


@attrs.frozen(kw_only=True)
class Deliver:
    """Hand this batch to the caller, then call `batch_delivered()`."""

    batch: Batch


@attrs.frozen(kw_only=True)
class Sleep:
    """Wait, then ask for the next action (a retry). `reason` says what failed."""

    seconds: float
    reason: str
    attempt: int


@attrs.frozen(kw_only=True)
class Done:
    """The stream is over: `closed` says whether the server ended it for good."""

    closed: bool


Action = SendRequest | Deliver | Sleep | Done | _NeedData


class ReaderState(enum.Enum):
    """Where the reader stands; see the module comment for the transitions."""

    SEND = "send"
    AWAIT_RESPONSE = "await-response"
    JSON_BODY = "json-body"
    ERROR_BODY = "error-body"
    SSE_BODY = "sse-body"
    DELIVERING = "delivering"
    DONE = "done"
    ERROR = "error"


_ERROR_BODY_CAP = 64 * 1024
# A long-poll 204 without progress that comes back faster than this did not wait for data: a
# server that does so every time would make the reader spin, so it counts as a failed attempt.
# (Flue waits 30 s; even test servers wait 0.2 s or more.)
_INSTANT_204 = 0.1
# Consecutive SSE control frames that neither move the offset nor say "up to date" (so more
# data is waiting, yet none comes) before the server is declared stuck.
_MAX_STUCK_CONTROLS = 10


class StreamReader:
    """Reads one Durable Streams stream from `offset`; see the module comment."""

    def __init__(
        self,
        stream_url: str,
        *,
        offset: str,
        tail: int | None = None,
        live: LiveMode | None = None,
        decode: Decode = "json",
        objects_only: bool = True,
        run_id: str | None = None,
        retry: RetryPolicy | None = None,
        max_event_size: int = 64 * 1024 * 1024,
        max_body_size: int = 512 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.stream_url = stream_url
        self.offset = offset
        self.tail = tail
        self.live = live
        self.decode: Decode = decode
        self.objects_only = objects_only
        self.run_id = run_id
        self.cursor: str | None = None
        self.up_to_date = False
        self.closed = False
        self.state = ReaderState.SEND
        self.requests_sent = 0
        self.retry = RetryState(retry or RetryPolicy(), clock=clock, rng=rng)
        self._max_event_size = max_event_size
        self._max_body_size = max_body_size
        self._wall_clock = wall_clock
        self._clock = clock
        self._sent_at = 0.0
        self._stuck_controls = 0
        self._sse_healthy = False  # this SSE connection sent a valid control frame
        self._request: HttpRequest | None = None
        self._request_offset = offset
        self._status = 0
        self._head: ReadHead | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._queue: deque[Batch] = deque()
        self._frontier = offset  # offset after the last batch queued (delivered or not)
        self._frontier_up_to_date = False
        self._delivering: Batch | None = None
        self._sleep: Sleep | None = None
        self._error: FlueError | None = None
        self._sse: SSEDecoder | None = None
        self._batcher: SSEBatcher | None = None
        self._sse_progress = False
        self._sse_finished = False

    # -- driver interface ------------------------------------------------------------------

    def next_action(self) -> Action:
        """What the driver should do next (raises the stream's fatal error, if any)."""
        state = self.state
        if state is ReaderState.ERROR:
            assert self._error is not None
            raise self._error
        if state is ReaderState.DONE:
            return Done(closed=self.closed)
        if self._sleep is not None:
            action, self._sleep = self._sleep, None
            return action
        if state is ReaderState.DELIVERING:
            raise RuntimeError("batch_delivered() must be called before the next action")
        if self._queue:
            self._delivering = self._queue.popleft()
            self._resume_state = state
            self.state = ReaderState.DELIVERING
            return Deliver(batch=self._delivering)
        if state is ReaderState.SEND:
            return SendRequest(request=self._make_request())
        if state in (ReaderState.JSON_BODY, ReaderState.ERROR_BODY, ReaderState.SSE_BODY):
            if state is ReaderState.SSE_BODY and self._sse_finished:
                return self._after_sse_end()
            return NEED_DATA
        raise RuntimeError(f"next_action() called in state {state.value}")

    def receive_response(self, status: int, headers: Mapping[str, str]) -> None:
        """Report the status and headers of the response to the last `SendRequest`."""
        self._expect(ReaderState.AWAIT_RESPONSE)
        self._status = status
        self._headers = lower_headers(headers)
        self._body = []
        self._body_size = 0
        if status >= 300 and status != 304:
            self.state = ReaderState.ERROR_BODY
            return
        head = self._head = read_head(self._headers)
        if head.cursor is not None:
            self.cursor = head.cursor
        if status == 200 and self._request is not None and self._is_sse_request():
            if head.content_type != "text/event-stream":
                self._fail(
                    ProtocolError(
                        f"asked for an SSE stream but got content-type "
                        f"{head.content_type or '(none)'!r} from {self._request.url}"
                    )
                )
                return
            self._sse = SSEDecoder(max_event_size=self._max_event_size)
            self._batcher = SSEBatcher(
                decode=self.decode, base64_data=head.sse_base64, objects_only=self.objects_only
            )
            self._sse_progress = False
            self._sse_finished = False
            self._stuck_controls = 0
            self._sse_healthy = False
            self.state = ReaderState.SSE_BODY
            return
        if status in (204, 304):
            self._no_content(head, not_modified=status == 304)
            return
        if status != 200:
            self._fail(ProtocolError(f"unexpected HTTP {status} answering a stream read"))
            return
        if head.next_offset is None:
            self._fail(
                ProtocolError(
                    "the server answered a read with 200 but no Stream-Next-Offset header, so "
                    "there is no way to continue; is base_url pointing at a Flue application?"
                )
            )
            return
        self.state = ReaderState.JSON_BODY

    def receive_data(self, data: bytes) -> None:
        """Report body bytes of the current response; ``b""`` means the body ended."""
        state = self.state
        if state is ReaderState.SSE_BODY:
            self._receive_sse(data)
        elif state is ReaderState.JSON_BODY:
            if data:
                self._body.append(data)
                self._body_size += len(data)
                if self._body_size > self._max_body_size:
                    self._fail(
                        ProtocolError(
                            f"read body exceeded max_body_size={self._max_body_size} bytes"
                        )
                    )
            else:
                self._finish_json_body()
        elif state is ReaderState.ERROR_BODY:
            if data and self._body_size < _ERROR_BODY_CAP:
                self._body.append(data)
                self._body_size += len(data)
            if not data or self._body_size >= _ERROR_BODY_CAP:
                self._finish_error_body()
        elif state in (ReaderState.DONE, ReaderState.ERROR):
            return
        else:
            raise RuntimeError(f"receive_data() called in state {state.value}")

    def receive_transport_error(self, error: TransportError) -> None:
        """Report that sending the request or reading its body failed."""
        if self.state in (ReaderState.DONE, ReaderState.ERROR):
            return
        if self.state not in (
            ReaderState.AWAIT_RESPONSE,
            ReaderState.JSON_BODY,
            ReaderState.ERROR_BODY,
            ReaderState.SSE_BODY,
        ):
            raise RuntimeError(f"receive_transport_error() called in state {self.state.value}")
        if self.state is ReaderState.SSE_BODY and self._sse_healthy:
            # The connection worked (a valid control frame came, maybe only a keep-alive at
            # the tail): its loss starts a fresh backoff sequence, or an idle stream behind a
            # proxy that cuts connections now and then would run out of attempts.
            self.retry.succeeded()
        self._drop_connection()
        self._retry_or_fail(error, retry_after=None)

    def batch_delivered(self) -> None:
        """The caller has every item of the last `Deliver`: advance the checkpoint."""
        self._expect(ReaderState.DELIVERING)
        batch = self._delivering
        assert batch is not None
        self._delivering = None
        self.offset = batch.next_offset
        self.up_to_date = batch.up_to_date
        if batch.cursor is not None:
            self.cursor = batch.cursor
        if batch.closed:
            self.closed = True
            self._queue.clear()
            self.state = ReaderState.DONE
        elif batch.up_to_date and self.live is None:
            self._queue.clear()
            self.state = ReaderState.DONE
        else:
            self.state = self._resume_state

    # -- internals -------------------------------------------------------------------------

    _resume_state: ReaderState = ReaderState.SEND

    def _expect(self, state: ReaderState) -> None:
        if self.state is not state:
            raise RuntimeError(f"reader is in state {self.state.value}, expected {state.value}")

    def _is_sse_request(self) -> bool:
        return self.live is LiveMode.SSE

    def _make_request(self) -> HttpRequest:
        if self.live is LiveMode.SSE:
            mode: LiveMode | None = LiveMode.SSE
        elif self.live is LiveMode.LONG_POLL and self.up_to_date:
            mode = LiveMode.LONG_POLL
        else:
            mode = None
        request = build_read_request(
            self.stream_url, offset=self.offset, tail=self.tail, live=mode, cursor=self.cursor
        )
        self._request = request
        self._request_offset = self.offset
        self._sent_at = self._clock()
        self._frontier = self.offset
        self._frontier_up_to_date = self.up_to_date
        self.requests_sent += 1
        self.state = ReaderState.AWAIT_RESPONSE
        return request

    def _fail(self, error: FlueError) -> None:
        self._drop_connection()
        self._error = error
        self.state = ReaderState.ERROR

    def _drop_connection(self) -> None:
        self._body = []
        self._body_size = 0
        self._sse = None
        if self._batcher is not None:
            self._batcher.discard_pending()
        self._batcher = None
        self._queue.clear()

    def _retry_or_fail(self, error: FlueError, *, retry_after: float | None) -> None:
        delay = self.retry.failed(retry_after)
        if delay is None:
            self._fail(gave_up(error, self.retry.failures))
            return
        self._sleep = Sleep(seconds=delay, reason=str(error), attempt=self.retry.failures)
        self.state = ReaderState.SEND

    def _enqueue(self, batch: Batch) -> bool:
        """Queue a batch for delivery unless it brings nothing new; True when queued."""
        if (
            not batch.items
            and batch.next_offset == self._frontier
            and not batch.closed
            and batch.up_to_date == self._frontier_up_to_date
        ):
            if batch.cursor is not None:
                self.cursor = batch.cursor
            return False  # nothing new (e.g. Flue's repeated keep-alive control frames)
        self._frontier = batch.next_offset
        self._frontier_up_to_date = batch.up_to_date
        self._queue.append(batch)
        return True

    def _no_content(self, head: ReadHead, *, not_modified: bool) -> None:
        """204 (long-poll window passed, or closed at the tail) and 304 (nothing new)."""
        next_offset = head.next_offset or self.offset
        closed = head.closed
        if (
            not not_modified
            and not closed
            and next_offset == self._request_offset
            and self._request is not None
            and self._request.kind is RequestKind.LONG_POLL
            and self._clock() - self._sent_at < _INSTANT_204
        ):
            self.state = ReaderState.SEND
            self._retry_or_fail(
                ProtocolError(
                    f"the server answered a long-poll at offset {self._request_offset!r} at "
                    "once with 204 and no progress, without waiting for data; polling on "
                    "would spin"
                ),
                retry_after=None,
            )
            return
        self.retry.succeeded()
        self.state = ReaderState.SEND
        self._enqueue(
            Batch(
                items=[],
                next_offset=next_offset,
                up_to_date=True,
                closed=closed,
                cursor=head.cursor,
            )
        )
        if not self._queue:
            # nothing to deliver: a plain long-poll timeout; poll again (or finish a catch-up)
            self.up_to_date = True
            if self.live is None:
                self.state = ReaderState.DONE

    def _finish_json_body(self) -> None:
        head = self._head
        assert head is not None and head.next_offset is not None
        body = b"".join(self._body)
        self._body = []
        try:
            if self.decode == "bytes":
                items: list[object] = [body] if body else []
            else:
                items = decode_json_batch(body, objects_only=self.objects_only)
        except ProtocolError as exc:
            self._fail(exc)
            return
        no_progress = head.next_offset == self._request_offset and not head.closed
        if no_progress and not head.up_to_date:
            self._fail(
                ProtocolError(
                    f"the server answered a read at offset {self._request_offset!r} with "
                    "Stream-Next-Offset unchanged and not up to date; reading on would loop "
                    "forever"
                )
            )
            return
        self.state = ReaderState.SEND
        if (
            no_progress
            and not items
            and self._request is not None
            and self._request.kind is RequestKind.LONG_POLL
        ):
            # a long-poll must wait for data: an immediate empty answer would make us spin
            self._retry_or_fail(
                ProtocolError(
                    "the server answered a long-poll at once with no events and no progress"
                ),
                retry_after=None,
            )
            return
        self.retry.succeeded()
        self._enqueue(
            Batch(
                items=items,
                next_offset=head.next_offset,
                up_to_date=head.up_to_date,
                closed=head.closed,
                cursor=head.cursor,
            )
        )
        if not self._queue:
            self.up_to_date = head.up_to_date
            if head.up_to_date and self.live is None:
                self.state = ReaderState.DONE

    def _finish_error_body(self) -> None:
        body = b"".join(self._body)
        self._body = []
        url = self._request.url if self._request is not None else self.stream_url
        error = api_error(
            self._status,
            self._headers,
            body,
            url=url,
            now=self._wall_clock(),
            run_id=self.run_id,
        )
        if is_retryable_status(self._status):
            self._retry_or_fail(error, retry_after=error.retry_after)
        else:
            self._fail(error)

    def _receive_sse(self, data: bytes) -> None:
        decoder, batcher = self._sse, self._batcher
        assert decoder is not None and batcher is not None
        try:
            events = decoder.feed(data)
            for event in events:
                batch = batcher.push(event)
                if batch is None:
                    continue
                self._sse_healthy = True
                queued = self._enqueue(batch)
                if queued or batch.up_to_date:
                    self._stuck_controls = 0
                else:
                    self._stuck_controls += 1
                    if self._stuck_controls >= _MAX_STUCK_CONTROLS:
                        raise ProtocolError(
                            f"the SSE stream sent {self._stuck_controls} control frames in a "
                            f"row at offset {batch.next_offset!r} that say more data is "
                            "waiting, but the offset never advances"
                        )
                if queued and not self._sse_progress:
                    self._sse_progress = True
                    self.retry.succeeded()
                if batch.closed or (batch.up_to_date and self.live is None):
                    break  # nothing after this matters; the driver closes the body
        except ProtocolError as exc:
            self._fail(exc)
            return
        if not data:
            self._sse_finished = True

    def _after_sse_end(self) -> Action:
        """The SSE body ended (all its batches delivered) without ``streamClosed``."""
        progressed = self._sse_progress
        self._drop_connection()
        self._sse_finished = False
        if progressed:
            self.state = ReaderState.SEND  # a server may end SSE bodies; resume at once
            return self.next_action()
        self._retry_or_fail(
            ProtocolError(
                "the SSE response ended before any control frame; "
                f"status {self._status} from {self._request.url if self._request else ''}"
            ),
            retry_after=None,
        )
        return self.next_action()
