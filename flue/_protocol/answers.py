"""How the stream reader judges an answer, and the reconnect and backoff rules.

Pure functions: each takes what it needs of one complete answer (a page, a 204/304, an error
status, a malformed head) and returns a verdict: `Queue` its batch (the reader offers it to
the delivery queue, then reads on or finishes), `Retry` (a failed attempt, maybe with a probe),
or `Fail`. `flue._protocol.reader.ReadMachine` applies verdicts; what a failed attempt leads to
(a `Sleep` before the retry, or the final error) is `flue._protocol.decide.decide()`'s. Progress
and "works" are defined in `flue._protocol.progress`.

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

from collections.abc import Mapping

import attrs

from flue._protocol.batches import Batch, Decode
from flue._protocol.progress import Progress
from flue._protocol.responses import (
    ReadHead,
    api_error,
    decode_json_batch,
    is_retryable_status,
)
from flue.errors import FlueError, ProtocolError

__all__ = [
    "Fail",
    "Queue",
    "Retry",
    "Verdict",
    "judge_error",
    "judge_no_content",
    "judge_page",
    "malformed",
    "spinning",
    "sse_ended",
    "stalled",
]

# Statuses a proxy answers when its read timeout ends a long-poll before the server's window.
_PROXY_TIMEOUTS = (502, 504)


@attrs.frozen(kw_only=True)
class Queue:
    """A good answer: offer `batch` to the delivery queue, then read on or finish.

    ``instant_long_poll``: a long-poll answered at once (judged by `spinning()` once queued).
    """

    batch: Batch
    instant_long_poll: bool = False


@attrs.frozen(kw_only=True)
class Retry:
    """A failed attempt worth another one.

    ``cut``: a transport failure, or what looks like one (rule 5): retried at once when the
    last response worked (rule 2). ``probe``: send a plain catch-up read next (rule 3).
    """

    error: FlueError
    cut: bool = False
    probe: bool = False


@attrs.frozen(kw_only=True)
class Fail:
    """The stream ends with `error`."""

    error: FlueError


Verdict = Queue | Retry | Fail


def malformed(error: ProtocolError, headers: Mapping[str, str]) -> Retry | Fail:
    """A malformed answer: fatal, unless it may be a cut one (rule 5). `headers` lower-cased."""
    length = headers.get("content-length", "")
    coding = headers.get("transfer-encoding", "").lower()
    # a value cut short ("content-length: ", "chun") frames nothing either
    if (length.isdigit() and length.isascii()) or coding.endswith("chunked"):
        return Fail(error=error)
    return Retry(
        error=ProtocolError(
            f"{error}; the answer had neither Content-Length nor Transfer-Encoding, so the "
            "connection was probably cut before its end"
        ),
        cut=True,
    )


def spinning(batch: Batch, *, instant_long_poll: bool, request_offset: str) -> Retry | None:
    """A long-poll must wait for data: instant empty answers would make the reader spin."""
    if not instant_long_poll or batch.items or batch.closed:
        return None
    return Retry(
        error=ProtocolError(
            f"the server answered a long-poll at offset {request_offset!r} at once with no "
            "events and no progress, without waiting for data; polling on would spin"
        )
    )


def judge_no_content(
    head: ReadHead,
    headers: Mapping[str, str],
    *,
    not_modified: bool,
    request_offset: str,
    checkpoint: str,
    instant_long_poll: bool,
) -> Verdict:
    """204 (long-poll window passed, or closed at the tail) and 304 (nothing new)."""
    next_offset = head.next_offset or checkpoint
    closed = head.closed
    if not not_modified and not closed and next_offset != request_offset != "now":
        # "nothing new" that moves the checkpoint: a header block cut inside that value
        return malformed(
            ProtocolError(
                f"the server answered a read at offset {request_offset!r} with 204 (nothing "
                f"new) but Stream-Next-Offset {next_offset!r}"
            ),
            headers,
        )
    batch = Batch(
        items=[], next_offset=next_offset, up_to_date=True, closed=closed, cursor=head.cursor
    )
    return Queue(batch=batch, instant_long_poll=instant_long_poll and not not_modified)


def judge_page(
    head: ReadHead,
    headers: Mapping[str, str],
    body: bytes,
    *,
    decode: Decode,
    objects_only: bool,
    request_offset: str,
    instant_long_poll: bool,
) -> Verdict:
    """A complete 200 answer with a JSON (or byte) body."""
    assert head.next_offset is not None
    try:
        if decode == "bytes":
            items: list[object] = [body] if body else []
        else:
            items = decode_json_batch(body, objects_only=objects_only)
    except ProtocolError as exc:
        return malformed(exc, headers)
    if head.next_offset == request_offset and not head.closed and not head.up_to_date:
        return Fail(
            error=ProtocolError(
                f"the server answered a read at offset {request_offset!r} with "
                "Stream-Next-Offset unchanged and not up to date; reading on would loop forever"
            )
        )
    batch = Batch(
        items=items,
        next_offset=head.next_offset,
        up_to_date=head.up_to_date,
        closed=head.closed,
        cursor=head.cursor,
    )
    return Queue(batch=batch, instant_long_poll=instant_long_poll)


def judge_error(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    url: str,
    now: float,
    run_id: str | None,
    long_poll: bool,
) -> Retry | Fail:
    """An answer with an error status (its body read up to the cap)."""
    error = api_error(status, headers, body, url=url, now=now, run_id=run_id)
    if not is_retryable_status(status):
        return Fail(error=error)
    # rule 3: is the server there? a catch-up answers at once
    return Retry(error=error, probe=status in _PROXY_TIMEOUTS and long_poll)


def stalled(waited: float) -> Retry:
    """An SSE connection that sent no control frame for longer than the stall timeout."""
    return Retry(
        error=ProtocolError(
            f"the SSE connection sent no control frame for {waited:.1f} s (only comments or "
            "unfinished data), longer than the stall timeout; Flue sends one at least every "
            "30 s, so the connection is taken for dead"
        )
    )


def sse_ended(progress: Progress, *, status: int, url: str) -> ProtocolError:
    """Why an SSE body that ended without ``streamClosed`` is a failed attempt (rule 1)."""
    if progress.sse_healthy:
        return ProtocolError(
            f"the server ended {progress.quick_ends} SSE responses in a row right after a "
            "control frame, with no new data and without holding the connection open; "
            f"reconnecting at once would spin, so the reader backs off ({url})"
        )
    return ProtocolError(
        f"the SSE response ended before any control frame; status {status} from {url}"
    )
