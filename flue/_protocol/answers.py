"""How the stream reader judges an answer, and the reconnect and backoff rules.

`Answers` is the half of `flue._protocol.reader.ReadMachine` that decides what a complete
answer means (a page, a 204/304, an error status, a malformed head) and what a failed attempt
leads to (a `Sleep` before the retry, or the final error); the reader's own module holds the
driver interface and the transition table. Progress and "works" are defined in
`flue._protocol.progress`.

1. Recycling is not failure: an SSE body that ends cleanly, without ``streamClosed``, after a
   valid control frame (servers and proxies recycle SSE connections) is followed at once by a
   request from the checkpoint, and no attempt is counted. Only a few such ends in a row may be
   *quick*; every further one counts as a failed attempt with backoff, so a server that ends
   each connection right after one idle control frame ends the stream through the retry
   limits, with a ProtocolError saying so. A body that ends before any valid control frame is a
   failed attempt.
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

from collections.abc import Callable

from flue._protocol.actions import ReaderState, Sleep
from flue._protocol.batches import Batch, Decode, SSEBatcher
from flue._protocol.decide import Raise, decide
from flue._protocol.delivery import Delivery
from flue._protocol.http import HttpRequest, RequestKind
from flue._protocol.params import LiveMode
from flue._protocol.progress import Progress
from flue._protocol.responses import (
    ReadHead,
    api_error,
    decode_json_batch,
    is_retryable_status,
)
from flue._protocol.retry import RetryState
from flue._protocol.sse import SSEDecoder
from flue.errors import FlueError, ProtocolError, redact

__all__ = ["Answers"]

# Statuses a proxy answers when its read timeout ends a long-poll before the server's window.
_PROXY_TIMEOUTS = (502, 504)


class Answers:
    """Judging complete answers and failed attempts; state is set up by `ReadMachine`."""

    stream_url: str
    live: LiveMode | None
    decode: Decode
    objects_only: bool
    run_id: str | None
    state: ReaderState
    retry: RetryState
    _delivery: Delivery
    _progress: Progress
    _secrets: Callable[[], frozenset[str]] | None
    _wall_clock: Callable[[], float]
    _probe: bool
    _request: HttpRequest | None
    _request_offset: str
    _status: int
    _head: ReadHead | None
    _headers: dict[str, str]
    _body: list[bytes]
    _body_size: int
    _sleep: Sleep | None
    _error: FlueError | None
    _sse: SSEDecoder | None
    _batcher: SSEBatcher | None

    def _is_long_poll(self) -> bool:
        return self._request is not None and self._request.kind is RequestKind.LONG_POLL

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
            cut=True,
        )

    def _scrub(self, error: FlueError) -> FlueError:
        return redact(error, self._secrets()) if self._secrets is not None else error

    def _fail(self, error: FlueError) -> None:
        self._drop_connection()
        self._error = self._scrub(error)
        self.state = ReaderState.ERROR

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

    def _retry_or_fail(self, error: FlueError, *, cut: bool = False) -> None:
        """A failed attempt the reader has judged retryable: sleep before the retry, or fail
        when the retry limits are spent. The decision is `decide()`'s, shared with the one-shot
        calls (an `APIError`'s ``Retry-After`` is a floor on the wait).

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
        self.state = ReaderState.SEND

    def _answer(self, batch: Batch, *, instant_long_poll: bool = False) -> None:
        """A complete JSON or 204/304 answer: queue its batch, or finish or poll on."""
        delivery = self._delivery
        self.state = ReaderState.SEND
        try:
            queued = delivery.offer(batch)
            self._progress.step(batch, queued=queued)
        except ProtocolError as exc:
            self._fail(exc)
            return
        if instant_long_poll and not batch.items and not batch.closed:
            # a long-poll must wait for data: instant empty answers would make us spin
            self._retry_or_fail(
                ProtocolError(
                    f"the server answered a long-poll at offset {self._request_offset!r} at "
                    "once with no events and no progress, without waiting for data; polling on "
                    "would spin"
                ),
            )
            return
        self._succeeded()
        if not queued:
            # nothing to deliver: a plain long-poll timeout; poll again (or finish a catch-up)
            delivery.up_to_date = batch.up_to_date
            if batch.up_to_date and self.live is None:
                self.state = ReaderState.DONE

    def _no_content(self, head: ReadHead, *, not_modified: bool) -> None:
        """204 (long-poll window passed, or closed at the tail) and 304 (nothing new)."""
        next_offset = head.next_offset or self._delivery.offset
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
        instant = not not_modified and self._is_long_poll() and self._progress.answered_at_once()
        batch = Batch(
            items=[], next_offset=next_offset, up_to_date=True, closed=closed, cursor=head.cursor
        )
        self._answer(batch, instant_long_poll=instant)

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
        if head.next_offset == self._request_offset and not head.closed and not head.up_to_date:
            self._fail(
                ProtocolError(
                    f"the server answered a read at offset {self._request_offset!r} with "
                    "Stream-Next-Offset unchanged and not up to date; reading on would loop "
                    "forever"
                )
            )
            return
        batch = Batch(
            items=items,
            next_offset=head.next_offset,
            up_to_date=head.up_to_date,
            closed=head.closed,
            cursor=head.cursor,
        )
        instant = self._is_long_poll() and self._progress.answered_at_once()
        self._answer(batch, instant_long_poll=instant)

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
            if self._status in _PROXY_TIMEOUTS and self._is_long_poll():
                self._probe = True  # rule 3: is the server there? a catch-up answers at once
            self._retry_or_fail(error)
        else:
            self._fail(error)
