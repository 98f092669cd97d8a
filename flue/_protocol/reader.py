"""The stream reader: one state machine per stream, fed by a driver that does the I/O.

How it works (after h11's ``Connection``): the driver asks `next_action()` what to do and gets
one of

* `SendRequest` -> send it, then call `receive_response(status, headers)`;
* `NEED_DATA`   -> read the next chunk of the body and `receive_data(chunk)` (``b""`` at end);
* `Deliver`     -> hand ``batch.items`` to the caller, then call `batch_delivered()`;
* `Sleep`       -> close the response, wait ``seconds`` (maybe 0), ask again (a retry follows);
* `Done`        -> close the response; the stream is over.

A transport failure at any point is reported with `receive_transport_error()`. Fatal errors are
raised by `next_action()`. The reader owns paging until up to date, the switch to long-poll or
SSE, the cursor echo, reconnecting an SSE body that ended without ``streamClosed`` (and never
after it), retries with backoff, and the checkpoint `offset`, which moves only when the driver
confirms that a batch was delivered, so resuming from it never skips an item.

Reconnects and backoff. What counts as progress is defined here and nowhere else:

* A response *makes progress* when it brings something new: items, a moved offset, the first
  "up to date", or the end of the stream (a batch `_enqueue` queues). Flue's repeated keep-alive
  control frames at the same offset are not progress.
* A response *works* when it makes progress or is a valid answer that did its job: a complete
  200/204/304 answer (the instant-204 and instant-empty long-poll guards aside), or an SSE
  connection that sent a valid control frame and stayed open at least `_MIN_WAIT` (an idle
  tail). A working response resets the backoff (`RetryState.succeeded`).

1. Recycling is not failure: an SSE body that ends cleanly, without ``streamClosed``, after a
   valid control frame (servers and proxies recycle SSE connections) is followed at once by a
   request from the checkpoint, and no attempt is counted. Only `_FREE_QUICK_ENDS` such ends in
   a row may be *quick* (no progress, open less than `_MIN_WAIT`); every further one counts as
   a failed attempt with backoff, so a server that ends each connection right after one idle
   control frame ends the stream through the retry limits, with a ProtocolError saying so. A
   body that ends before any valid control frame is a failed attempt.
2. Fast reconnect: the first transport failure (a cut, a reset, a refused connect) after a
   working response is retried at once; it counts as attempt 1, and only consecutive failures
   wait for backoff (from ``initial_delay``).
3. A long-poll answered 502 or 504 (a proxy whose read timeout is shorter than Flue's 30 s
   window) is a failed attempt whose retry is a plain catch-up read, which the server answers
   at once: its success resets the backoff, then long-polling resumes. An idle live stream
   behind such a proxy lives as long as the server answers; when every read gets 502/504, the
   stream ends after ``max_attempts``/``max_elapsed`` like any run of failures.
4. Any other retryable status backs off from the first failure (``Retry-After`` is a floor).
5. An answer without a valid Content-Length or chunked Transfer-Encoding ends where the
   connection ends, and a connection cut inside the header block looks like such an answer
   (``http.client`` takes the end of the stream for the end of the headers). So when one is
   malformed (no ``Stream-Next-Offset``, not ``text/event-stream``, a JSON body that does not
   parse or is empty, a 204 that moves the offset without closing the stream) it is taken for
   a cut and retried as one; a framed answer that is malformed is fatal.
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
# A long-poll 204 without progress that comes back faster than this did not wait for data, and
# an SSE connection without progress that ends sooner was not held open at an idle tail: a
# server that does so every time would make the reader spin. (Flue waits 30 s, Durable Streams
# servers recycle SSE after about 60 s, proxies time out after seconds; test servers 0.2 s.)
_MIN_WAIT = 0.1
# Quick SSE ends (see the module comment) in a row that still reconnect at once, uncounted.
_FREE_QUICK_ENDS = 3
# Statuses a proxy answers when its read timeout ends a long-poll before the server's window.
_PROXY_TIMEOUTS = (502, 504)
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
        self._quick_ends = 0  # quick SSE ends in a row (module comment, rule 1)
        self._worked = False  # the last response worked: a transport failure retries at once
        self._probe = False  # send a plain catch-up read next (module comment, rule 3)
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
                self._malformed(
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
            self._malformed(
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
        if self.state is ReaderState.SSE_BODY:
            # An idle connection cut by a proxy now and then worked: its loss starts a fresh
            # backoff sequence, or the stream would run out of attempts while nothing happens.
            self._settle_sse_connection()
        self._drop_connection()
        self._retry_or_fail(error, retry_after=None, cut=True)

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
        elif self.live is LiveMode.LONG_POLL and self.up_to_date and not self._probe:
            mode = LiveMode.LONG_POLL
        else:
            mode = None
        self._probe = False
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

    def _malformed(self, error: ProtocolError) -> None:
        """A malformed answer: fatal, unless it may be a cut one (module comment, rule 5)."""
        length = self._headers.get("content-length", "")
        coding = self._headers.get("transfer-encoding", "").lower()
        # a value cut short ("content-length: ", "chun") frames nothing either
        if (length.isdigit() and length.isascii()) or coding.endswith("chunked"):
            self._fail(error)
            return
        self._drop_connection()
        self.state = ReaderState.SEND
        self._retry_or_fail(
            ProtocolError(
                f"{error}; the answer had neither Content-Length nor Transfer-Encoding, so the "
                "connection was probably cut before its end"
            ),
            retry_after=None,
            cut=True,
        )

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

    def _succeeded(self) -> None:
        """The response worked (module comment): reset the backoff."""
        self.retry.succeeded()
        self._worked = True

    def _retry_or_fail(
        self, error: FlueError, *, retry_after: float | None, cut: bool = False
    ) -> None:
        """A failed attempt: sleep before the retry, or fail when the retry limits are spent.

        ``cut``: a transport failure, retried at once when the last response worked.
        """
        immediate, self._worked = cut and self._worked, False
        delay = self.retry.failed(retry_after, immediate=immediate)
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
        if not not_modified and not closed and next_offset != self._request_offset != "now":
            # "nothing new" that moves the checkpoint: a header block cut inside that value
            self._malformed(
                ProtocolError(
                    f"the server answered a read at offset {self._request_offset!r} with 204 "
                    f"(nothing new) but Stream-Next-Offset {next_offset!r}"
                )
            )
            return
        if (
            not not_modified
            and not closed
            and next_offset == self._request_offset
            and self._request is not None
            and self._request.kind is RequestKind.LONG_POLL
            and self._clock() - self._sent_at < _MIN_WAIT
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
        self._succeeded()
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
            self._malformed(exc)
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
        self._succeeded()
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
            if (
                self._status in _PROXY_TIMEOUTS
                and self._request is not None
                and self._request.kind is RequestKind.LONG_POLL
            ):
                self._probe = True  # rule 3: is the server there? a catch-up answers at once
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
                    self._succeeded()
                if batch.closed or (batch.up_to_date and self.live is None):
                    break  # nothing after this matters; the driver closes the body
        except ProtocolError as exc:
            self._fail(exc)
            return
        if not data:
            self._sse_finished = True

    def _settle_sse_connection(self) -> None:
        """Account for an SSE connection that ended or was cut (module comment, rule 1)."""
        if self._sse_progress:
            self._quick_ends = 0  # its first progress already reset the backoff
        elif self._sse_healthy and self._clock() - self._sent_at >= _MIN_WAIT:
            self._quick_ends = 0
            self._succeeded()
        elif self._sse_healthy:
            self._quick_ends += 1

    def _after_sse_end(self) -> Action:
        """The SSE body ended (all its batches delivered) without ``streamClosed``."""
        self._settle_sse_connection()
        healthy, quick_ends = self._sse_healthy, self._quick_ends
        self._drop_connection()
        self._sse_finished = False
        self.state = ReaderState.SEND
        if healthy and quick_ends <= _FREE_QUICK_ENDS:
            return self.next_action()  # recycled: reconnect at once from the checkpoint
        url = self._request.url if self._request is not None else self.stream_url
        if healthy:
            error = ProtocolError(
                f"the server ended {quick_ends} SSE responses in a row right after a control "
                "frame, with no new data and without holding the connection open; reconnecting "
                f"at once would spin, so the reader backs off ({url})"
            )
        else:
            error = ProtocolError(
                f"the SSE response ended before any control frame; status {self._status} from {url}"
            )
        self._retry_or_fail(error, retry_after=None)
        return self.next_action()
