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
SSE (a long-poll from ``offset="now"`` is the first request: nothing to catch up on), the
cursor echo, reconnecting an SSE body that ended without ``streamClosed`` (and never
after it), retries with backoff, and the checkpoint. Its parts:

* `flue._protocol.delivery`: the checkpoint and the queue of batches not yet handed over;
* `flue._protocol.progress`: WHAT COUNTS AS PROGRESS, and every guard against a server that
  makes none (read it first);
* `flue._protocol.retry`: the backoff.

The transitions are data: `flue._protocol.transitions.TRANSITIONS` (state, input -> next
state), moved in one place; what a complete answer means is decided by the pure functions of
`flue._protocol.answers`, which return a verdict (queue / retry / fail) that `_apply()` carries
out. DONE and ERROR are final (ERROR raises again; data and transport errors after them are
ignored).

Invariants: a pending `Sleep` is handed out before anything else, and the state is SEND while
it is; at most one `Deliver` is outstanding, and the checkpoint `offset` moves only in
`batch_delivered()` (so resuming from it never skips an item), and `position()` names the
place between two items exactly (`flue._protocol.position`); every `SendRequest` is answered
by exactly one `receive_response()` or `receive_transport_error()`; DONE and ERROR are final.

How each complete answer is judged, and the reconnect and backoff rules (numbered 1-5 in
the code), are in `flue._protocol.answers`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from flue._protocol.actions import (
    NEED_DATA,
    Action,
    Deliver,
    Done,
    ReaderState,
    SendRequest,
    Sleep,
)
from flue._protocol.answers import (
    Fail,
    Queue,
    Retry,
    Verdict,
    judge_error,
    judge_no_content,
    judge_page,
    malformed,
    spinning,
)
from flue._protocol.batches import Decode, SSEBatcher
from flue._protocol.decide import Raise, decide
from flue._protocol.delivery import Delivery
from flue._protocol.http import HttpRequest, RequestKind, build_read_request
from flue._protocol.params import OFFSET_NOW, LiveMode
from flue._protocol.position import check_resume, position_in
from flue._protocol.progress import Progress
from flue._protocol.responses import (
    ReadHead,
    lower_headers,
    read_head,
)
from flue._protocol.retry import RetryPolicy, RetryState
from flue._protocol.sse import SSEDecoder
from flue._protocol.transitions import Input, ReaderStateError, Transitions
from flue.errors import FlueError, ProtocolError, TransportError, redact

__all__ = [
    "NEED_DATA",
    "Action",
    "Deliver",
    "Done",
    "ReadMachine",
    "ReaderState",
    "SendRequest",
    "Sleep",
]

_ERROR_BODY_CAP = 64 * 1024
_BODY_STATES = (ReaderState.JSON_BODY, ReaderState.ERROR_BODY, ReaderState.SSE_BODY)


class ReadMachine:
    """Reads one Durable Streams stream from `offset`; see the module comment.

    ``stall``: the longest an SSE connection may go without a control frame (None: no limit).
    ``secrets``: values (the token, credential headers) redacted from every error and reason.
    """

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
        stall: float | None = None,
        secrets: Callable[[], frozenset[str]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.stream_url = stream_url
        self.tail = tail
        self.live = live
        self.decode: Decode = decode
        self.objects_only = objects_only
        self.run_id = run_id
        self._moves = Transitions()
        self.requests_sent = 0
        self.retry = RetryState(retry or RetryPolicy(), clock=clock, rng=rng)
        self._delivery = Delivery(offset)
        self._progress = Progress(clock, stall=stall)
        self._secrets = secrets
        self._max_event_size = max_event_size
        self._max_body_size = max_body_size
        self._wall_clock = wall_clock
        self._probe = False  # send a plain catch-up read next (module comment, rule 3)
        self._request: HttpRequest | None = None
        self._request_offset = offset
        self._status = 0
        self._head: ReadHead | None = None
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_size = 0
        self._sleep: Sleep | None = None
        self._error: FlueError | None = None
        self._sse: SSEDecoder | None = None
        self._batcher: SSEBatcher | None = None
        self._sse_finished = False

    @property
    def state(self) -> ReaderState:
        return self._moves.state

    # -- the checkpoint (see flue._protocol.delivery) --------------------------------------

    @property
    def offset(self) -> str:
        """The checkpoint: the offset after the last batch delivered."""
        return self._delivery.offset

    @property
    def up_to_date(self) -> bool:
        return self._delivery.up_to_date

    @up_to_date.setter
    def up_to_date(self, value: bool) -> None:  # a driver resuming at the tail; tests
        self._delivery.up_to_date = value

    @property
    def closed(self) -> bool:
        return self._delivery.closed

    def resume_after(self, skip: int) -> None:
        """Resume from a position: drop the first `skip` items read from `offset`.

        Called before the first action. A count needs a fixed start: it is refused from
        ``"now"``, from ``"-1"`` with `tail`, and on byte streams (whose chunks are not items).
        """
        if self.requests_sent or self.state is not ReaderState.SEND:
            raise ReaderStateError("resume_after() is called before the stream starts")
        check_resume(skip, offset=self.offset, tail=self.tail, decode=self.decode)
        self._delivery.resume_after(skip)

    def position(self, handed: int = 0) -> str:
        """The exact resume position after `handed` items of the batch being delivered (0:
        before it, or between batches); see `flue._protocol.position`.

        Where a count has no fixed start (``"now"`` or ``"-1"`` with `tail` until the first
        batch is whole, and inside a batch of a byte stream) it is the checkpoint with ``+0``,
        as good as `offset` and no better.
        """
        return position_in(self._delivery, handed, tail=self.tail, decode=self.decode)

    @property
    def cursor(self) -> str | None:
        return self._delivery.cursor

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
            raise ReaderStateError("batch_delivered() must be called before the next action")
        if self._delivery.pending:
            self._moves.move(Input.DELIVER)
            return Deliver(batch=self._delivery.take())
        if state is ReaderState.SEND:
            return SendRequest(request=self._make_request())
        if state in _BODY_STATES:
            if state is ReaderState.SSE_BODY and self._sse_finished:
                return self._after_sse_end()
            return NEED_DATA
        raise ReaderStateError(f"next_action() called in state {state.value}")

    def receive_response(self, status: int, headers: Mapping[str, str]) -> None:
        """Report the status and headers of the response to the last `SendRequest`."""
        self._moves.expect(ReaderState.AWAIT_RESPONSE, "receive_response()")
        self._status = status
        self._headers = lower_headers(headers)
        self._body = []
        self._body_size = 0
        if status >= 300 and status != 304:
            self._moves.move(Input.ERROR_HEAD)
            return
        head = self._head = read_head(self._headers)
        if head.cursor is not None:
            self._delivery.cursor = head.cursor
        if status == 200 and self._request is not None and self.live is LiveMode.SSE:
            if head.content_type != "text/event-stream":
                error = ProtocolError(
                    f"asked for an SSE stream but got content-type "
                    f"{head.content_type or '(none)'!r} from {self._request.url}"
                )
                self._apply(malformed(error, self._headers))
                return
            self._sse = SSEDecoder(max_event_size=self._max_event_size)
            self._batcher = SSEBatcher(
                decode=self.decode,
                base64_data=head.sse_base64,
                objects_only=self.objects_only,
                max_pending=self._max_body_size,
            )
            self._sse_finished = False
            self._progress.sse_opened()
            self._moves.move(Input.SSE_HEAD)
            return
        if status in (204, 304):
            verdict = judge_no_content(
                head,
                self._headers,
                not_modified=status == 304,
                request_offset=self._request_offset,
                checkpoint=self._delivery.offset,
                instant_long_poll=self._instant_long_poll(),
            )
            self._apply(verdict)
            return
        if status != 200:
            self._fail(ProtocolError(f"unexpected HTTP {status} answering a stream read"))
            return
        if head.next_offset is None:
            error = ProtocolError(
                "the server answered a read with 200 but no Stream-Next-Offset header, so "
                "there is no way to continue; is base_url pointing at a Flue application?"
            )
            self._apply(malformed(error, self._headers))
            return
        self._moves.move(Input.JSON_HEAD)

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
                head = self._head
                assert head is not None
                body, self._body = b"".join(self._body), []
                verdict = judge_page(
                    head,
                    self._headers,
                    body,
                    decode=self.decode,
                    objects_only=self.objects_only,
                    request_offset=self._request_offset,
                    instant_long_poll=self._instant_long_poll(),
                )
                self._apply(verdict)
        elif state is ReaderState.ERROR_BODY:
            if data and self._body_size < _ERROR_BODY_CAP:
                self._body.append(data)
                self._body_size += len(data)
            if not data or self._body_size >= _ERROR_BODY_CAP:
                body, self._body = b"".join(self._body), []
                verdict = judge_error(
                    self._status,
                    self._headers,
                    body,
                    url=self._request.url if self._request is not None else self.stream_url,
                    now=self._wall_clock(),
                    run_id=self.run_id,
                    long_poll=self._is_long_poll(),
                )
                self._apply(verdict)
        elif state in (ReaderState.DONE, ReaderState.ERROR):
            return
        else:
            raise ReaderStateError(f"receive_data() called in state {state.value}")

    def receive_transport_error(self, error: TransportError) -> None:
        """Report that sending the request or reading its body failed."""
        if self.state in (ReaderState.DONE, ReaderState.ERROR):
            return
        if self.state is not ReaderState.AWAIT_RESPONSE and self.state not in _BODY_STATES:
            raise ReaderStateError(
                f"receive_transport_error() called in state {self.state.value!r}"
            )
        if self.state is ReaderState.SSE_BODY:
            # An idle connection cut by a proxy now and then worked: its loss starts a fresh
            # backoff sequence, or the stream would run out of attempts while nothing happens.
            self._settle_sse_connection()
        self._apply(Retry(error=error, cut=True))

    def batch_delivered(self) -> None:
        """The caller has every item of the last `Deliver`: advance the checkpoint."""
        self._moves.expect(ReaderState.DELIVERING, "batch_delivered()")
        batch = self._delivery.confirm()
        if batch.closed or (batch.up_to_date and self.live is None):
            self._delivery.clear()
            self._moves.move(Input.FINISHED)
        else:
            self._moves.move(Input.DELIVERED)

    # -- carrying out verdicts -------------------------------------------------------------

    def _apply(self, verdict: Verdict) -> None:
        """Carry out what `flue._protocol.answers` judged of an answer or a failure."""
        if isinstance(verdict, Fail):
            self._fail(verdict.error)
        elif isinstance(verdict, Retry):
            self._drop_connection()
            self._probe = self._probe or verdict.probe
            self._retry_or_fail(verdict.error, cut=verdict.cut)
        else:
            self._queue(verdict)

    def _queue(self, verdict: Queue) -> None:
        """A complete good answer: queue its batch, then read on (or finish a catch-up)."""
        batch, delivery = verdict.batch, self._delivery
        try:
            queued = delivery.offer(batch)
            self._progress.step(batch, queued=queued)
        except ProtocolError as exc:
            self._fail(exc)
            return
        spin = spinning(
            batch,
            instant_long_poll=verdict.instant_long_poll,
            request_offset=self._request_offset,
        )
        if spin is not None:  # the batch stays queued: it is handed out after the Sleep
            self._retry_or_fail(spin.error)
            return
        self._succeeded()
        if not queued:
            # nothing to deliver: a plain long-poll timeout; poll again (or finish a catch-up)
            delivery.up_to_date = batch.up_to_date
            if batch.up_to_date and self.live is None:
                self._moves.move(Input.FINISHED)
                return
        self._moves.move(Input.ANSWERED)

    def _fail(self, error: FlueError) -> None:
        self._drop_connection()
        self._error = self._scrub(error)
        self._moves.move(Input.FAIL)

    def _retry_or_fail(self, error: FlueError, *, cut: bool = False) -> None:
        """A failed attempt judged retryable: sleep before the retry, or fail when the retry
        limits are spent. The decision is `decide()`'s, shared with the one-shot calls (an
        `APIError`'s ``Retry-After`` is a floor on the wait).

        ``cut``: a transport failure, retried at once when the last response worked.
        """
        progress = self._progress
        immediate, progress.worked = cut and progress.worked, False
        outcome = decide(self.retry, error, immediate=immediate, retryable=True)
        if isinstance(outcome, Raise):
            self._fail(outcome.error)
            return
        reason = str(self._scrub(error))
        self._sleep = Sleep(seconds=outcome.seconds, reason=reason, attempt=outcome.attempt)
        self._moves.move(Input.RETRY)

    def _scrub(self, error: FlueError) -> FlueError:
        return redact(error, self._secrets()) if self._secrets is not None else error

    def _drop_connection(self) -> None:
        self._body = []
        self._body_size = 0
        self._sse = None
        if self._batcher is not None:
            self._batcher.discard_pending()
        self._batcher = None
        self._delivery.clear()

    def _succeeded(self) -> None:
        """The response worked (see flue._protocol.progress): reset the backoff."""
        self.retry.succeeded()
        self._progress.worked = True

    # -- internals -------------------------------------------------------------------------

    def _is_long_poll(self) -> bool:
        return self._request is not None and self._request.kind is RequestKind.LONG_POLL

    def _instant_long_poll(self) -> bool:
        return self._is_long_poll() and self._progress.answered_at_once()

    def _make_request(self) -> HttpRequest:
        delivery = self._delivery
        if self.live is LiveMode.SSE:
            mode: LiveMode | None = LiveMode.SSE
        elif (
            self.live is LiveMode.LONG_POLL
            and (delivery.up_to_date or delivery.offset == OFFSET_NOW)
            and not self._probe
        ):
            # from "now" there is nothing to catch up on: the server starts waiting at once
            # (one request instead of a catch-up then a long-poll); its 204 or 200 carries the
            # concrete offset that replaces "now" as the checkpoint
            mode = LiveMode.LONG_POLL
        else:
            mode = None
        self._probe = False
        request = build_read_request(
            self.stream_url, offset=delivery.offset, tail=self.tail, live=mode, cursor=self.cursor
        )
        self._request = request
        self._request_offset = delivery.offset
        self._progress.request_sent()
        delivery.start_request()
        self.requests_sent += 1
        self._moves.move(Input.REQUEST)
        return request

    def _receive_sse(self, data: bytes) -> None:
        decoder, batcher = self._sse, self._batcher
        assert decoder is not None and batcher is not None
        progress = self._progress
        try:
            for event in decoder.feed(data):
                batch = batcher.push(event)
                if batch is None:
                    continue
                queued = self._delivery.offer(batch)
                if progress.control_frame(batch, queued=queued):
                    self._succeeded()
                if batch.closed or (batch.up_to_date and self.live is None):
                    break  # nothing after this matters; the driver closes the body
        except ProtocolError as exc:
            self._fail(exc)
            return
        if not data:
            self._sse_finished = True
            return
        waited = progress.control_overdue()
        if waited is not None:
            error = ProtocolError(
                f"the SSE connection sent no control frame for {waited:.1f} s (only comments "
                "or unfinished data), longer than the stall timeout; Flue sends one at least "
                "every 30 s, so the connection is taken for dead"
            )
            self._apply(Retry(error=error))

    def _settle_sse_connection(self) -> None:
        """Account for an SSE connection that ended or was cut (module comment, rule 1)."""
        if self._progress.settle_sse():
            self._succeeded()

    def _after_sse_end(self) -> Action:
        """The SSE body ended (all its batches delivered) without ``streamClosed``."""
        self._settle_sse_connection()
        progress = self._progress
        self._drop_connection()
        self._sse_finished = False
        if progress.recycle_is_free():
            self._moves.move(Input.RECYCLE)
            return self.next_action()  # recycled: reconnect at once from the checkpoint
        url = self._request.url if self._request is not None else self.stream_url
        if progress.sse_healthy:
            error = ProtocolError(
                f"the server ended {progress.quick_ends} SSE responses in a row right after a "
                "control frame, with no new data and without holding the connection open; "
                f"reconnecting at once would spin, so the reader backs off ({url})"
            )
        else:
            error = ProtocolError(
                f"the SSE response ended before any control frame; status {self._status} from {url}"
            )
        self._retry_or_fail(error)
        return self.next_action()
