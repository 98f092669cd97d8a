"""The lifecycle contract of docs/lifecycle.md, cell by cell, against real local servers.

Written once against the async client; tests/_sync holds the generated twin. "Elsewhere" is
another task here and another thread in the twin (tests/concurrency.py). Races are forced by
waiting for the server to have the request in hand (its request log, or a raw-socket handler
setting an event), never by sleeping.
"""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from flue import AsyncFlueClient, BadRequestError, FlueError, RetryPolicy
from flue.testing import Fault, FlueTestServer
from tests.concurrency import AsyncElsewhere, in_thread
from tests.conftest import TOKEN
from tests.reliability.rawserver import Exchange, RawServer, http_response

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False)
BOUND = 5.0  # seconds: what "at once" means here (the servers would hold for 30 s)


class Interrupt(BaseException):
    """Stands for an interruption of the waiting call (KeyboardInterrupt, a cancelled task)."""


def log(i: int) -> dict[str, Any]:
    return {"type": "log", "level": "info", "message": "m", "attributes": {"i": i}}


def make_run(server: FlueTestServer, n: int, *, end: bool = True) -> str:
    run = server.create_run(workflow="emit")
    if n:
        server.append(run, [log(i) for i in range(n)])
    if end:
        server.end_run(run, result={"emitted": n})
    return str(run)


def client_for(server: FlueTestServer | RawServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", TOKEN)
    kw.setdefault("retry", FAST)
    return AsyncFlueClient(server.url, **kw)


def long_polls(server: FlueTestServer, run_id: str) -> int:
    return sum(1 for r in server.requests if r.run_id == run_id and r.mode == "long-poll")


def release_long_polls(server: FlueTestServer) -> None:
    """End every run, so that the server answers the long-polls it still holds (their clients
    are gone) before it stops: a held one would leave its socket to the garbage collector."""
    for run_id in {r.run_id for r in server.requests if r.run_id}:
        with contextlib.suppress(Exception):  # already ended
            server.end_run(run_id)


@pytest.fixture
def holding() -> Iterator[FlueTestServer]:
    """A server whose long-polls wait 30 s: a call waiting on one is "in progress"."""
    with FlueTestServer.running_in_thread(token=TOKEN, long_poll_timeout=30.0) as srv:
        yield srv
        release_long_polls(srv)


class Holder:
    """A raw-socket handler that answers nothing (until the client hangs up), and says when a
    request arrived and when its connection was closed by the client."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.hung_up = threading.Event()

    def __call__(self, exchange: Exchange) -> None:
        self.arrived.set()
        exchange.hold()
        self.hung_up.set()


# -- a client ----------------------------------------------------------------------------------


async def test_closed_client_refuses_every_call_and_sends_nothing(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    client = client_for(server)
    await client.runs.get(run_id)
    await client.close()
    server.clear_requests()
    with pytest.raises(FlueError, match="client is closed"):
        await client.runs.get(run_id)
    with pytest.raises(FlueError, match="client is closed"):
        await client.runs.events(run_id)
    with pytest.raises(FlueError, match="client is closed"):
        await client.workflows.invoke("emit")
    with pytest.raises(FlueError, match="client is closed"):
        client.runs.stream(run_id)
    with pytest.raises(FlueError, match="client is closed"):
        client.streams.read(f"/runs/{run_id}")
    assert server.requests == []
    assert client.closed
    await client.close()  # a second close does nothing


async def test_stream_of_a_closed_client_raises_unless_finished(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    server.faults.add(Fault.status(400), times=1, run_id=run_id)
    async with client_for(server) as client:
        failed = client.runs.stream(run_id)
        with pytest.raises(BadRequestError):
            await failed.__anext__()
        fresh = client.runs.stream(run_id)
        done = client.runs.stream(run_id)
        assert len([e async for e in done]) == 5
        cancelled = client.runs.stream(run_id)
        await cancelled.__anext__()
        cancelled.cancel()
        closed = client.runs.stream(run_id)
        await closed.aclose()
    for stream in (fresh, cancelled, failed):
        with pytest.raises(FlueError, match="client of this stream is closed"):
            await stream.__anext__()
    with pytest.raises(FlueError, match="stream is closed"):
        await closed.__anext__()
    with pytest.raises(StopAsyncIteration):
        await done.__anext__()


async def test_a_stream_collected_before_iterating_sends_nothing(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        server.clear_requests()
        stream = client.runs.stream(run_id)
        del stream
        gc.collect()
        assert len(client._core.streams) == 0  # the client holds its streams weakly
    assert server.requests == []


async def test_closing_the_client_stops_a_waiting_stream(holding: FlueTestServer) -> None:
    run_id = make_run(holding, 2, end=False)
    client = client_for(holding)
    stream = client.runs.stream(run_id)
    assert len([await stream.__anext__() for _ in range(3)]) == 3
    waiting = AsyncElsewhere(stream.__anext__)
    await AsyncElsewhere.until(lambda: long_polls(holding, run_id) == 1)
    started = time.monotonic()
    await client.close()
    with pytest.raises(FlueError, match="client of this stream is closed"):
        await waiting.result()
    assert time.monotonic() - started < BOUND
    with pytest.raises(FlueError, match="client of this stream is closed"):
        await stream.__anext__()


async def test_closing_the_client_stops_a_waiting_one_shot_call() -> None:
    holder = Holder()
    with RawServer(holder) as raw:
        client = client_for(raw)
        waiting = AsyncElsewhere(lambda: client.runs.get("run_1"))
        await AsyncElsewhere.until(holder.arrived.is_set)
        started = time.monotonic()
        await client.close()
        with pytest.raises(FlueError, match="client is closed"):
            await waiting.result()
        assert time.monotonic() - started < BOUND


# -- a stream: new -------------------------------------------------------------------------------


async def test_new_stream_first_item_starts_reading(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        assert stream.state == "new"
        server.clear_requests()
        first = await stream.__anext__()
        assert first.event_index == 0
        assert stream.state == "reading"
        assert len(server.requests) == 1


async def test_new_stream_cancel_makes_no_request(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        server.clear_requests()
        stream = client.runs.stream(run_id)
        stream.cancel()
        assert stream.state == "cancelled"
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await stream.aclose()
        assert stream.state == "closed"
    assert server.requests == []


async def test_new_stream_close_then_iterate_raises(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        server.clear_requests()
        stream = client.runs.stream(run_id)
        await stream.aclose()
        assert stream.state == "closed"
        with pytest.raises(FlueError, match="stream is closed"):
            await stream.__anext__()
    assert server.requests == []


# -- a stream: reading ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["cancel", "close"])
async def test_stopping_in_the_loop_body_hands_out_nothing_more(
    server: FlueTestServer, how: str
) -> None:
    # defect 4: the rest of the batch in hand was still handed out, and the checkpoint moved
    run_id = make_run(server, 20, end=False)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        seen = []
        with pytest.raises(FlueError) if how == "close" else _no_error():
            async for event in stream:
                seen.append(event.event_index)
                if event.event_index == 5:
                    if how == "cancel":
                        stream.cancel()
                    else:
                        await stream.aclose()
        assert seen == list(range(6))
        assert stream.offset == "-1"  # the batch 0..20 was not handed over whole
        assert stream.state == ("cancelled" if how == "cancel" else "closed")
    # resuming from the checkpoint re-delivers that batch: nothing is lost
    async with client_for(server) as client:
        resumed = client.runs.stream(run_id, offset=stream.offset, live=False)
        assert [e.event_index async for e in resumed][:7] == list(range(7))


class _no_error:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


async def test_cancel_from_another_thread_ends_a_waiting_call_at_once() -> None:
    # defect 3 (asyncio): asyncio.Event.set from another thread did not wake the loop
    holder = Holder()
    with RawServer(holder) as raw:
        async with client_for(raw) as client:
            stream = client.runs.stream("run_1")

            def cancel_when_waiting() -> None:
                if holder.arrived.wait(BOUND):
                    stream.cancel()

            thread = in_thread(cancel_when_waiting)
            started = time.monotonic()
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            assert time.monotonic() - started < BOUND
            thread.join(BOUND)
            assert stream.state == "cancelled"
            await AsyncElsewhere.until(holder.hung_up.is_set)  # the request was aborted


def open_sse(holder: Holder) -> Any:
    """A raw-socket handler: one event over SSE, then the body stays open (nothing more)."""

    def handler(exchange: Exchange) -> None:
        exchange.send(
            http_response(200, {"Content-Type": "text/event-stream"}, length=False)
            + b'event: data\ndata: [{"type":"log","eventIndex":0}]\n\n'
            + b'event: control\ndata: {"streamNextOffset":"1","upToDate":true}\n\n'
        )
        holder.arrived.set()
        exchange.hold()
        holder.hung_up.set()

    return handler


async def test_cancel_from_another_thread_ends_a_waiting_sse_read() -> None:
    # the response being read is closed from the other thread (asyncio: on its own loop)
    holder = Holder()
    with RawServer(open_sse(holder)) as raw:
        async with client_for(raw) as client:
            stream = client.runs.stream("run_1", live="sse", as_dict=True)
            assert (await stream.__anext__())["eventIndex"] == 0
            thread = in_thread(stream.cancel)
            started = time.monotonic()
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            assert time.monotonic() - started < BOUND
            thread.join(BOUND)
            await AsyncElsewhere.until(holder.hung_up.is_set)


async def test_cancel_from_elsewhere_ends_a_waiting_long_poll(holding: FlueTestServer) -> None:
    run_id = make_run(holding, 2, end=False)
    async with client_for(holding) as client:
        stream = client.runs.stream(run_id)
        assert len([await stream.__anext__() for _ in range(3)]) == 3
        waiting = AsyncElsewhere(stream.__anext__)
        await AsyncElsewhere.until(lambda: long_polls(holding, run_id) == 1)
        started = time.monotonic()
        stream.cancel()
        with pytest.raises(StopAsyncIteration):
            await waiting.result()
        assert time.monotonic() - started < BOUND


async def test_close_from_elsewhere_makes_the_waiting_call_raise(holding: FlueTestServer) -> None:
    run_id = make_run(holding, 2, end=False)
    async with client_for(holding) as client:
        stream = client.runs.stream(run_id)
        assert len([await stream.__anext__() for _ in range(3)]) == 3
        waiting = AsyncElsewhere(stream.__anext__)
        await AsyncElsewhere.until(lambda: long_polls(holding, run_id) == 1)
        started = time.monotonic()
        await stream.aclose()
        with pytest.raises(FlueError, match="stream is closed"):
            await waiting.result()
        assert time.monotonic() - started < BOUND
        assert stream.state == "closed"


@pytest.mark.parametrize("how", ["break", "exception"])
async def test_leaving_the_loop_keeps_the_stream_reading(server: FlueTestServer, how: str) -> None:
    run_id = make_run(server, 300)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        with pytest.raises(ValueError) if how == "exception" else _no_error():
            async for event in stream:
                if event.event_index == 150:
                    if how == "exception":
                        raise ValueError("in the loop body")
                    break
        assert stream.state == "reading"
        rest = [e.event_index async for e in stream]
        assert rest == list(range(151, 302))
        assert stream.state == "finished"


async def test_garbage_collection_closes_the_connection() -> None:
    holder = Holder()
    with RawServer(open_sse(holder)) as raw:
        async with client_for(raw) as client:
            stream = client.runs.stream("run_1", live="sse", as_dict=True)
            assert (await stream.__anext__())["eventIndex"] == 0
            assert not holder.hung_up.is_set()
            del stream
            gc.collect()
            await AsyncElsewhere.until(holder.hung_up.is_set)


async def test_a_second_concurrent_iteration_raises_and_leaves_the_first_alone(
    holding: FlueTestServer,
) -> None:
    # defect 7: the second iteration got an internal RuntimeError from the reader
    run_id = make_run(holding, 2, end=False)
    async with client_for(holding) as client:
        stream = client.runs.stream(run_id)
        assert len([await stream.__anext__() for _ in range(3)]) == 3
        first = AsyncElsewhere(stream.__anext__)
        await AsyncElsewhere.until(lambda: long_polls(holding, run_id) == 1)
        with pytest.raises(FlueError, match="already being iterated"):
            await stream.__anext__()
        holding.append(run_id, [log(99)])
        event = await first.result()
        assert event.attributes == {"i": 99}
        assert stream.state == "reading"


async def test_an_error_fails_the_stream_and_later_calls_say_so(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    server.faults.add(Fault.status(400), times=1, run_id=run_id)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        with pytest.raises(BadRequestError) as first:
            await stream.__anext__()
        assert stream.state == "failed"
        with pytest.raises(FlueError, match="failed earlier") as later:
            await stream.__anext__()
        assert later.value.__cause__ is first.value
        stream.cancel()
        assert stream.state == "failed"
        await stream.aclose()
        assert stream.state == "closed"


async def test_an_interrupted_call_fails_the_stream_never_ends_it_silently(
    server: FlueTestServer,
) -> None:
    # defect 5: after an interrupted next item, the next one ended the iteration silently
    run_id = make_run(server, 300)
    calls = 0

    def headers() -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Interrupt()
        return {}

    async with client_for(server, headers=headers, catchup="get") as client:
        stream = client.runs.stream(run_id, live=False)
        seen = [(await stream.__anext__()).event_index for _ in range(100)]
        saved = stream.offset
        with pytest.raises(Interrupt):
            await stream.__anext__()
        assert not stream.closed
        with pytest.raises(FlueError, match="interrupted"):
            await stream.__anext__()
        assert stream.state == "failed"
        assert stream.offset == saved
        rest = [e.event_index async for e in client.runs.stream(run_id, offset=saved)]
    assert seen + rest == list(range(302))


# -- a stream: finished, cancelled -------------------------------------------------------------


async def test_finished_stream_keeps_ending_and_close_makes_it_raise(
    server: FlueTestServer,
) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        assert len([e async for e in stream]) == 5
        assert stream.state == "finished"
        assert stream.closed
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        stream.cancel()
        assert stream.state == "finished"
        await stream.aclose()
        assert stream.state == "closed"
        with pytest.raises(FlueError, match="stream is closed"):
            await stream.__anext__()


async def test_cancelled_stream_keeps_ending(server: FlueTestServer) -> None:
    run_id = make_run(server, 3, end=False)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        await stream.__anext__()
        stream.cancel()
        for _ in range(2):
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
        assert stream.state == "cancelled"
        assert stream.offset == "-1"


# -- BatchStream ---------------------------------------------------------------------------------


async def test_batch_stream_offset_moves_as_the_batch_is_handed_over(
    server: FlueTestServer,
) -> None:
    # defect 6: it moved only when the next batch was asked for
    run_id = make_run(server, 250)
    async with client_for(server, catchup="get") as client:
        batches = client.streams.read(f"/runs/{run_id}")
        saved = []
        async for batch in batches:
            assert batches.offset == batch.next_offset
            saved.append(batches.offset)
        assert batches.state == "finished"
        # resuming from the offset saved after the first batch starts after it
        resumed = client.streams.read(f"/runs/{run_id}", offset=saved[0])
        first = await resumed.__anext__()
        assert first.items[0]["eventIndex"] == 100
        await resumed.aclose()


async def test_batch_stream_fetch_and_commit(server: FlueTestServer) -> None:
    run_id = make_run(server, 250)
    async with (
        client_for(server, catchup="get") as client,
        client.streams.read(f"/runs/{run_id}") as batches,
    ):
        batch = await batches.fetch()
        assert batch is not None and len(batch.items) == 100
        assert batches.offset == "-1"
        batches.commit()
        assert batches.offset == batch.next_offset
        second = await batches.fetch()
        assert second is not None and second.items[0]["eventIndex"] == 100
        assert batches.offset == batch.next_offset  # not committed yet


# -- item 9: the protocol's own headers win --------------------------------------------------


async def test_user_headers_cannot_override_the_protocols_accept(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server, headers={"Accept": "text/html", "X-Mine": "1"}) as client:
        events = [e async for e in client.runs.stream(run_id, live="sse")]
    assert len(events) == 5
    sse = [r for r in server.requests if r.run_id == run_id and r.mode == "sse"]
    assert sse and all(r.headers["Accept"] == "text/event-stream" for r in sse)
    assert all(r.headers["X-Mine"] == "1" for r in sse)
