"""Scripted checks of the reader's retry bookkeeping on SSE connections (no sockets)."""

from __future__ import annotations

import itertools
import json

from flue._protocol.http import HttpRequest
from flue._protocol.params import LiveMode
from flue._protocol.reader import ReadMachine
from flue._protocol.retry import RetryPolicy
from tests.protocol.scripted import Scripted, drive

SSE = {"content-type": "text/event-stream"}


def control(**fields: object) -> bytes:
    return b"event: control\ndata:" + json.dumps(fields).encode() + b"\n\n"


def test_an_idle_sse_connection_cut_again_and_again_never_runs_out_of_attempts() -> None:
    # Each connection works (a keep-alive control frame at the tail, then held open), then a
    # proxy cuts it. Those are not consecutive failures of one request: 20 cuts with 5 attempts
    # allowed. The clock moves a second per reading: each connection is held that long.
    calls = 0

    def respond(request: HttpRequest) -> Scripted:
        nonlocal calls
        calls += 1
        if calls <= 20:
            chunks = [control(streamNextOffset="0_1", upToDate=True)]
            return Scripted(status=200, headers=SSE, chunks=chunks, error_at=1)
        return Scripted(
            status=200, headers=SSE, chunks=[control(streamNextOffset="0_1", streamClosed=True)]
        )

    seconds = itertools.count()
    reader = ReadMachine(
        "http://h/runs/r",
        offset="0_1",
        live=LiveMode.SSE,
        retry=RetryPolicy(max_attempts=5),
        clock=lambda: float(next(seconds)),
    )
    trace = drive(reader, respond)
    assert trace.done is not None and trace.done.closed
    assert len(trace.requests) == 21
    assert trace.sleeps == [0.0] * 20  # each cut connection had worked: reconnect at once


def test_sse_connections_cut_before_any_control_frame_do_run_out() -> None:
    def respond(request: HttpRequest) -> Scripted:
        return Scripted(status=200, headers=SSE, chunks=[b"event: data\n"], error_at=1)

    reader = ReadMachine(
        "http://h/runs/r", offset="0_1", live=LiveMode.SSE, retry=RetryPolicy(max_attempts=5)
    )
    try:
        drive(reader, respond)
    except Exception as exc:
        assert "gave up after 5" in str(exc)
    else:
        raise AssertionError("no error")
