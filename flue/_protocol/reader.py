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
after it), retries with backoff, and the checkpoint. Its parts: `flue._protocol.transitions`
(the transition table, moved in one place), `flue._protocol.answers` (what a complete answer
means: pure functions returning a verdict that `_apply()` carries out), `flue._protocol.bodies`
(the body being read), `flue._protocol.delivery` (the checkpoint and the queue of batches not
yet handed over), `flue._protocol.salvage` (what a cut inside an answer brought, and what the
cut means for the retry limits), `flue._protocol.progress` (WHAT COUNTS AS PROGRESS, and every
guard against a server that makes none: read it first), `flue._protocol.retry` (the backoff).

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
    sse_ended,
    stalled,
)
from flue._protocol.batches import Decode
from flue._protocol.bodies import Body, SSEBody
from flue._protocol.decide import Raise, decide
from flue._protocol.delivery import Delivery
from flue._protocol.http import HttpRequest, RequestKind, build_read_request, read_mode
from flue._protocol.params import LiveMode
from flue._protocol.position import check_resume, exact_start, position_in
from flue._protocol.progress import Progress
from flue._protocol.responses import (
    ReadHead,
    lower_headers,
    read_head,
)
from flue._protocol.retry import RetryState
from flue._protocol.salvage import Cut, Cuts
from flue._protocol.secrets import redact
from flue._protocol.transitions import Input, ReaderStateError, Transitions
from flue._settings import RetryPolicy
from flue.errors import FlueError, ProtocolError, TransportError

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
        self._body: Body | None = None  # a page or an error being read
        self._sleep: Sleep | None = None
        self._error: FlueError | None = None
        self._sse: SSEBody | None = None
        self._cuts = Cuts()

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
            if state is ReaderState.SSE_BODY and self._sse is not None and self._sse.finished:
                return self._after_sse_end()
            return NEED_DATA
        raise ReaderStateError(f"next_action() called in state {state.value}")

    def receive_response(self, status: int, headers: Mapping[str, str]) -> None:
        """Report the status and headers of the response to the last `SendRequest`."""
        self._moves.expect(ReaderState.AWAIT_RESPONSE, "receive_response()")
        self._status = status
        self._headers = lower_headers(headers)
        if status >= 300 and status != 304:
            self._body = Body(_ERROR_BODY_CAP)
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
            self._sse = SSEBody(
                decode=self.decode,
                base64_data=head.sse_base64,
                objects_only=self.objects_only,
                max_event_size=self._max_event_size,
                max_pending=self._max_body_size,
            )
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
        self._body = Body(self._max_body_size)
        self._moves.move(Input.JSON_HEAD)

    def receive_data(self, data: bytes) -> None:
        """Report body bytes of the current response; ``b""`` means the body ended."""
        state = self.state
        body = self._body
        if state is ReaderState.SSE_BODY:
            self._receive_sse(data)
        elif state is ReaderState.JSON_BODY:
            assert body is not None and self._head is not None
            if data:
                body.add(data)
                if body.over:
                    error = ProtocolError(f"read body exceeded max_body_size={body.cap} bytes")
                    self._fail(error)
            else:
                verdict = judge_page(
                    self._head,
                    self._headers,
                    body.bytes(),
                    decode=self.decode,
                    objects_only=self.objects_only,
                    request_offset=self._request_offset,
                    instant_long_poll=self._instant_long_poll(),
                )
                self._apply(verdict)
        elif state is ReaderState.ERROR_BODY:
            assert body is not None
            if data and body.received < body.cap:
                body.add(data)
            if not data or body.received >= body.cap:
                verdict = judge_error(
                    self._status,
                    self._headers,
                    body.bytes(),
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
            items = self._cut_items() if verdict.cut else None
            connection = self._sse or self._body
            received = connection.received if connection is not None else 0
            self._drop_connection()
            self._probe = self._probe or verdict.probe
            counted = True
            if items is not None:
                judged = self._salvage(items, received, verdict.error)
                if judged is None:
                    return
                counted = judged
            self._retry_or_fail(verdict.error, cut=verdict.cut, counted=counted)
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

    def _cut_items(self) -> list[object] | None:
        """The complete items an answer cut short brought from the checkpoint (None where
        items have no fixed place to count from, and in byte streams)."""
        if self.decode != "json" or not exact_start(self._delivery.offset, self.tail):
            return None
        if self.state is ReaderState.JSON_BODY and self._body is not None:
            return self._body.cut_items(objects_only=self.objects_only)
        if self.state is ReaderState.SSE_BODY and self._sse is not None:
            return self._sse.cut_items()
        return None

    def _salvage(self, items: list[object], received: int, error: FlueError) -> bool | None:
        """Hand out what a cut answer brought; True when the cut counts towards the attempt
        limit, None when the stream failed (the rules: `flue._protocol.salvage.Cuts`)."""
        try:
            outcome = self._cuts.judge(self._delivery, items, received, error)
        except FlueError as exc:
            self._fail(exc)
            return None
        if outcome is Cut.MOVED:
            self._succeeded()
        return outcome is not Cut.UNCOUNTED

    def _fail(self, error: FlueError) -> None:
        self._drop_connection()
        self._error = self._scrub(error)
        self._moves.move(Input.FAIL)

    def _retry_or_fail(self, error: FlueError, *, cut: bool = False, counted: bool = True) -> None:
        """A failed attempt judged retryable: sleep before the retry, or fail when the retry
        limits are spent. The decision is `decide()`'s, shared with the one-shot calls (an
        `APIError`'s ``Retry-After`` is a floor on the wait).

        ``cut``: a transport failure, retried at once when the last response worked.
        ``counted``: False for a cut that brought bytes at a new place (see `_salvage`).
        """
        progress = self._progress
        # at once after a working response, or after a cut that still brought bytes (counted
        # False): waiting would not make the next connection go further
        immediate, progress.worked = cut and (progress.worked or not counted), False
        outcome = decide(self.retry, error, immediate=immediate, retryable=True, counted=counted)
        if isinstance(outcome, Raise):
            self._fail(outcome.error)
            return
        reason = str(self._scrub(error))
        self._sleep = Sleep(seconds=outcome.seconds, reason=reason, attempt=outcome.attempt)
        self._moves.move(Input.RETRY)

    def _scrub(self, error: FlueError) -> FlueError:
        return redact(error, self._secrets()) if self._secrets is not None else error

    def _drop_connection(self) -> None:
        self._body = None
        if self._sse is not None:
            self._sse.discard()
        self._sse = None
        self._delivery.clear()

    def _succeeded(self) -> None:
        """The response worked (see flue._protocol.progress): reset the backoff."""
        self.retry.succeeded()
        self._progress.worked = True
        self._cuts.reset()

    # -- internals -------------------------------------------------------------------------

    def _is_long_poll(self) -> bool:
        return self._request is not None and self._request.kind is RequestKind.LONG_POLL

    def _instant_long_poll(self) -> bool:
        return self._is_long_poll() and self._progress.answered_at_once()

    def _make_request(self) -> HttpRequest:
        delivery = self._delivery
        mode = read_mode(
            self.live, offset=delivery.offset, up_to_date=delivery.up_to_date, probe=self._probe
        )
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
        sse = self._sse
        assert sse is not None
        progress = self._progress
        try:
            for batch in sse.feed(data):
                queued = self._delivery.offer(batch)
                if progress.control_frame(batch, queued=queued):
                    self._succeeded()
                if batch.closed or (batch.up_to_date and self.live is None):
                    break  # nothing after this matters; the driver closes the body
        except ProtocolError as exc:
            self._fail(exc)
            return
        if not data:
            return
        waited = progress.control_overdue()
        if waited is not None:
            self._apply(stalled(waited))

    def _settle_sse_connection(self) -> None:
        """Account for an SSE connection that ended or was cut (module comment, rule 1)."""
        if self._progress.settle_sse():
            self._succeeded()

    def _after_sse_end(self) -> Action:
        """The SSE body ended (all its batches delivered) without ``streamClosed``."""
        self._settle_sse_connection()
        progress = self._progress
        self._drop_connection()
        if progress.recycle_is_free():
            self._moves.move(Input.RECYCLE)
            return self.next_action()  # recycled: reconnect at once from the checkpoint
        url = self._request.url if self._request is not None else self.stream_url
        self._retry_or_fail(sse_ended(progress, status=self._status, url=url))
        return self.next_action()
