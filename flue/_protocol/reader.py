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

Transitions (state, event -> next state; "retry" = SEND with a pending `Sleep`, or ERROR once
the retry limits are spent; "queue" = batches wait in the delivery queue):

=============== ============================================= =================================
state           event                                         next state
=============== ============================================= =================================
SEND            next_action() -> SendRequest                  AWAIT_RESPONSE
AWAIT_RESPONSE  receive_response(200, JSON)                   JSON_BODY
AWAIT_RESPONSE  receive_response(200, SSE asked for)          SSE_BODY
AWAIT_RESPONSE  receive_response(204/304)                     SEND (+queue) | DONE | retry
AWAIT_RESPONSE  receive_response(>= 300 but 304)              ERROR_BODY
AWAIT_RESPONSE  malformed head (rule 5)                       ERROR | retry
JSON_BODY       receive_data(bytes)                           JSON_BODY | ERROR (over the cap)
JSON_BODY       receive_data(b"")                             SEND (+queue) | DONE | retry | ERROR
ERROR_BODY      receive_data(b"") or cap reached              retry (retryable status) | ERROR
SSE_BODY        receive_data(bytes)                           SSE_BODY (+queue) | retry | ERROR
SSE_BODY        receive_data(b""), then queue drained         SEND (recycled) | retry
any *_BODY, AWAIT_RESPONSE  receive_transport_error()         retry
any (queue not empty)  next_action() -> Deliver               DELIVERING
DELIVERING      batch_delivered()                             state before | DONE
DONE / ERROR    anything                                      the same (ERROR raises again)
=============== ============================================= =================================

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
from flue._protocol.answers import Answers
from flue._protocol.batches import Decode, SSEBatcher
from flue._protocol.delivery import Delivery
from flue._protocol.http import HttpRequest, build_read_request
from flue._protocol.params import OFFSET_NOW, OFFSET_START, LiveMode
from flue._protocol.position import format_position
from flue._protocol.progress import Progress
from flue._protocol.responses import (
    ReadHead,
    lower_headers,
    read_head,
)
from flue._protocol.retry import RetryPolicy, RetryState
from flue._protocol.sse import SSEDecoder
from flue.errors import FlueError, InvalidArgumentError, ProtocolError, TransportError

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


class ReadMachine(Answers):
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
        self.state = ReaderState.SEND
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
        self._resume_state = ReaderState.SEND
        self._sleep: Sleep | None = None
        self._error: FlueError | None = None
        self._sse: SSEDecoder | None = None
        self._batcher: SSEBatcher | None = None
        self._sse_finished = False

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
            raise RuntimeError("resume_after() is called before the stream starts")
        if skip and (not self._exact_start() or self.decode == "bytes"):
            if self.decode == "bytes":
                what = "a byte stream (they resume per batch)"
            elif self.tail is not None and self.offset == OFFSET_START:
                what = "a read with tail (the last events move as the run grows)"
            else:
                what = f"offset {self.offset!r}"
            raise InvalidArgumentError(
                f"a position counting {skip} item(s) cannot resume {what}; pass the position "
                "as the stream returned it, with the same options"
            )
        self._delivery.resume_after(skip)

    def position(self, handed: int = 0) -> str:
        """The exact resume position after `handed` items of the batch being delivered (0:
        before it, or between batches); see `flue._protocol.position`.

        Where a count has no fixed start (``"now"`` or ``"-1"`` with `tail` until the first
        batch is whole, and inside a batch of a byte stream) it is the checkpoint with ``+0``,
        as good as `offset` and no better.
        """
        delivery = self._delivery
        batch = delivery.delivering
        if batch is None:
            if handed:
                raise RuntimeError("position(handed) with no batch being delivered")
            return format_position(delivery.offset, delivery.skip)
        if not 0 <= handed <= len(batch.items):
            raise ValueError(f"handed={handed} is outside a batch of {len(batch.items)}")
        if handed == len(batch.items) and (batch.items or batch.skipped):
            return format_position(batch.next_offset, 0)  # the whole batch: exact everywhere
        if not self._exact_start() or (self.decode == "bytes" and handed):
            return format_position(delivery.offset, 0)
        return format_position(delivery.offset, batch.skipped + handed)

    def _exact_start(self) -> bool:
        """True when the checkpoint names a fixed place to count items from."""
        offset = self._delivery.offset
        return offset != OFFSET_NOW and not (offset == OFFSET_START and self.tail is not None)

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
            raise RuntimeError("batch_delivered() must be called before the next action")
        if self._delivery.pending:
            self._resume_state = state
            self.state = ReaderState.DELIVERING
            return Deliver(batch=self._delivery.take())
        if state is ReaderState.SEND:
            return SendRequest(request=self._make_request())
        if state in _BODY_STATES:
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
            self._delivery.cursor = head.cursor
        if status == 200 and self._request is not None and self.live is LiveMode.SSE:
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
                decode=self.decode,
                base64_data=head.sse_base64,
                objects_only=self.objects_only,
                max_pending=self._max_body_size,
            )
            self._sse_finished = False
            self._progress.sse_opened()
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
        if self.state is not ReaderState.AWAIT_RESPONSE and self.state not in _BODY_STATES:
            raise RuntimeError(f"receive_transport_error() called in state {self.state.value}")
        if self.state is ReaderState.SSE_BODY:
            # An idle connection cut by a proxy now and then worked: its loss starts a fresh
            # backoff sequence, or the stream would run out of attempts while nothing happens.
            self._settle_sse_connection()
        self._drop_connection()
        self._retry_or_fail(error, cut=True)

    def batch_delivered(self) -> None:
        """The caller has every item of the last `Deliver`: advance the checkpoint."""
        self._expect(ReaderState.DELIVERING)
        batch = self._delivery.confirm()
        if batch.closed or (batch.up_to_date and self.live is None):
            self._delivery.clear()
            self.state = ReaderState.DONE
        else:
            self.state = self._resume_state

    # -- internals -------------------------------------------------------------------------

    def _expect(self, state: ReaderState) -> None:
        if self.state is not state:
            raise RuntimeError(f"reader is in state {self.state.value}, expected {state.value}")

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
        self.state = ReaderState.AWAIT_RESPONSE
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
            self._drop_connection()
            self._retry_or_fail(
                ProtocolError(
                    f"the SSE connection sent no control frame for {waited:.1f} s (only "
                    "comments or unfinished data), longer than the stall timeout; Flue sends "
                    "one at least every 30 s, so the connection is taken for dead"
                ),
            )

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
        self.state = ReaderState.SEND
        if progress.recycle_is_free():
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
