"""Reconnects that are not failures (both flavours, against flue.testing): SSE connection
recycling, proxy timeouts on long-polls, and the immediate reconnect after a cut.

Nothing sleeps and hopes: a helper thread waits for the server to have seen the requests a test
is about (polling the request log with a deadline), then appends; the server's timers do the
rest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flue import AsyncFlueClient, ProtocolError, RetryPolicy
from flue.testing import Fault, FlueTestServer, RecordedRequest
from tests.conftest import TOKEN

RETRY_LOG = "flue: retry %d in %.2fs after: %s"


def log(i: int, size: int = 0) -> dict[str, Any]:
    return {"type": "log", "level": "info", "message": "m", "attributes": {"i": i, "d": "x" * size}}


def retry_delays(caplog: pytest.LogCaptureFixture) -> list[float]:
    return [
        float(record.args[1])  # type: ignore[index]
        for record in caplog.records
        if record.name == "flue" and record.msg == RETRY_LOG
    ]


def when(
    server: FlueTestServer, ready: Callable[[list[RecordedRequest]], bool], then: Callable[[], Any]
) -> threading.Thread:
    """Run `then` in a thread as soon as the server's request log satisfies `ready`."""

    def wait() -> None:
        deadline = time.monotonic() + 30
        while not ready(server.requests):
            if time.monotonic() > deadline:
                return  # the reader's assertion reports what did not happen
            time.sleep(0.005)
        then()

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def finish(server: FlueTestServer, run_id: str, events: list[dict[str, Any]]) -> Callable[[], None]:
    def go() -> None:
        server.append(run_id, events)
        server.end_run(run_id, {"ok": True})

    return go


def sse_reads(requests: list[RecordedRequest], run_id: str) -> int:
    return sum(1 for r in requests if r.run_id == run_id and r.mode == "sse")


@pytest.fixture
def recycling() -> Iterator[FlueTestServer]:
    """A server that ends every SSE body cleanly after 0.15 s, right after a control frame."""
    with FlueTestServer.running_in_thread(
        token=TOKEN, sse_recycle=0.15, sse_heartbeat=None, seed=3
    ) as srv:
        yield srv


async def test_an_idle_sse_stream_outlives_many_recycles(
    recycling: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Eight recycles at an idle tail with two attempts allowed: none of them is a failure.
    caplog.set_level(logging.DEBUG, logger="flue")
    run_id = str(recycling.create_run(workflow="emit"))
    helper = when(
        recycling,
        lambda requests: sse_reads(requests, run_id) >= 8,
        finish(recycling, run_id, [log(0)]),
    )
    retry = RetryPolicy(max_attempts=2, initial_delay=0.01, jitter=False)
    async with AsyncFlueClient(recycling.url, token=TOKEN, retry=retry) as client:
        stream = client.runs.stream(run_id, live="sse", as_dict=True)
        types = [event["type"] async for event in stream]
    helper.join(5)
    assert types == ["run_start", "log", "run_end"]
    assert sse_reads(recycling.requests, run_id) >= 8
    assert retry_delays(caplog) == []


async def test_sse_bodies_ended_at_once_without_progress_end_the_stream() -> None:
    # A server that ends every body right after one idle control frame: a few reconnect at
    # once, then they count as failed attempts, and the retry limits end the stream.
    with FlueTestServer.running_in_thread(token=TOKEN, sse_recycle=1e-6, seed=3) as server:
        run_id = str(server.create_run(workflow="emit"))
        retry = RetryPolicy(max_attempts=3, initial_delay=0.01, jitter=False)
        async with AsyncFlueClient(server.url, token=TOKEN, retry=retry) as client:
            stream = client.runs.stream(run_id, live="sse")
            with pytest.raises(ProtocolError, match="in a row right after a control frame"):
                async for _ in stream:
                    pass
        # the first read makes progress, 3 quick ends are free, the 3rd counted one gives up
        assert sse_reads(server.requests, run_id) == 7


async def test_long_polls_answered_504_by_a_proxy_keep_the_stream_alive(
    server: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Six long-polls in a row get 504 (a proxy's read timeout); with two attempts allowed the
    # stream lives on, because the catch-up read after each one works.
    caplog.set_level(logging.DEBUG, logger="flue")
    run_id = str(server.create_run(workflow="emit"))
    rule = server.faults.add(Fault.status(504), mode="long-poll", run_id=run_id, times=6)
    helper = when(server, lambda _: rule.hits == 6, finish(server, run_id, [log(0)]))
    retry = RetryPolicy(max_attempts=2, initial_delay=0.01, jitter=False)
    async with AsyncFlueClient(server.url, token=TOKEN, retry=retry) as client:
        stream = client.runs.stream(run_id, live="long-poll", as_dict=True)
        types = [event["type"] async for event in stream]
    helper.join(5)
    assert types == ["run_start", "log", "run_end"]
    modes = [r.mode for r in server.requests if r.run_id == run_id]
    # the first read, then each 504'd long-poll followed by a catch-up read
    assert modes[:13] == ["catch-up"] + ["long-poll", "catch-up"] * 6
    assert retry_delays(caplog) == [0.01] * 6


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_a_cut_after_a_working_connection_reconnects_at_once(
    server: FlueTestServer, caplog: pytest.LogCaptureFixture, live: str
) -> None:
    # The live read that gets the 20 new events is cut mid-body; the connection (or the answer
    # before it) had worked, so the reconnect does not wait the 5 s backoff.
    caplog.set_level(logging.DEBUG, logger="flue")
    run_id = str(server.create_run(workflow="emit"))
    cut = 300 if live == "long-poll" else 1500  # SSE: after the first data + control frames
    server.faults.add(Fault.drop_after(bytes=cut), mode=live, run_id=run_id, times=1)  # type: ignore[arg-type]
    helper = when(
        server,
        lambda requests: any(r.run_id == run_id and r.mode == live for r in requests),
        finish(server, run_id, [log(i, size=200) for i in range(20)]),
    )
    retry = RetryPolicy(max_attempts=3, initial_delay=5.0, jitter=False)
    async with AsyncFlueClient(server.url, token=TOKEN, retry=retry) as client:
        stream = client.runs.stream(run_id, live=live, as_dict=True)  # type: ignore[call-overload]
        indexes = [event["eventIndex"] async for event in stream]
    helper.join(5)
    assert indexes == list(range(22))
    assert retry_delays(caplog) == [0.0]
