"""An SSE read of an ended run gives its connection back for the next call (both flavours).

The server ends a closed stream's SSE body right after its last control frame. The blocking
client stops at that frame; when the body's end has already arrived (the usual case) it reads
it from the buffer and the connection goes back to the pool, so that the next call (a
``runs.get``, another read) does not open a new connection (a TLS handshake, remotely). When
the end has not arrived, nothing waits for it: the connection is closed as before.

The raw-socket server, kept alive between requests, makes both cases deterministic: it sends
the last frame and the body's end in one write, or holds the end back until the client goes
away. It counts the connections it accepts.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from flue import AsyncFlueClient, FlueClient
from tests.reliability.rawserver import Exchange, RawServer

RUN = "run_01M8TQV3FWV4KHC5RB5VX65E1Y"
END = "0000000000000000_0000000000000002"
EVENTS = [
    {"type": "run_start", "runId": RUN, "workflowName": "emit", "v": 3, "eventIndex": 0},
    {"type": "log", "level": "info", "message": "m", "runId": RUN, "v": 3, "eventIndex": 1},
    {"type": "run_end", "runId": RUN, "result": None, "isError": False, "v": 3, "eventIndex": 2},
]
RECORD = {"runId": RUN, "workflowName": "emit", "status": "completed", "isError": False}


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _sse_body() -> tuple[bytes, bytes]:
    """The chunked SSE body of the ended run, and its end (the zero-size chunk)."""
    frames = "event: data\ndata:" + json.dumps(EVENTS, separators=(",", ":")) + "\n\n"
    control = {"streamNextOffset": END, "streamClosed": True}
    frames += "event: control\ndata:" + json.dumps(control, separators=(",", ":")) + "\n\n"
    return _chunk(frames.encode()), b"0\r\n\r\n"


def _answer(hold_end: bool) -> Callable[[Exchange], None]:
    """Keep-alive answers: ``?meta`` the run record, an SSE read the ended run; with
    `hold_end`, the SSE body's end is never sent (until the client hangs up)."""

    def answer(exchange: Exchange) -> None:
        if "meta" in exchange.target:
            body = json.dumps(RECORD).encode()
            exchange.send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )
            return
        frames, end = _sse_body()
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        if not hold_end:
            exchange.send(head + frames + end)  # one write: it arrives at once
            return
        exchange.send(head + frames)
        exchange.hold()  # the client must not wait for the end

    return answer


@pytest.fixture
def prompt_end() -> Iterator[RawServer]:
    with RawServer(_answer(hold_end=False), keep_alive=True) as server:
        yield server


@pytest.fixture
def held_end() -> Iterator[RawServer]:
    with RawServer(_answer(hold_end=True), keep_alive=True) as server:
        yield server


def test_sse_reads_of_an_ended_run_share_one_connection_with_the_calls_after(
    prompt_end: RawServer,
) -> None:
    with FlueClient(prompt_end.url) as client:
        for _ in range(3):
            assert [e.event_index for e in client.runs.events(RUN)] == [0, 1, 2]
            assert client.runs.get(RUN).status == "completed"
            assert len(list(client.runs.stream(RUN, live="sse"))) == 3
    assert prompt_end.accepted == 1


async def test_the_same_in_asyncio_when_the_end_comes_with_the_last_frame(
    prompt_end: RawServer,
) -> None:
    # aiohttp parses the body's end as it arrives and hands the connection back by itself
    # (when the end comes later than the last frame, whether it is kept depends on timing)
    async with AsyncFlueClient(prompt_end.url) as client:
        for _ in range(3):
            assert [e.event_index for e in await client.runs.events(RUN)] == [0, 1, 2]
            assert (await client.runs.get(RUN)).status == "completed"
            async with client.runs.stream(RUN, live="sse") as stream:
                assert len([e async for e in stream]) == 3
    assert prompt_end.accepted == 1


def _in_thread(fn: Any) -> Any:
    """Run `fn` in a thread; fail if it does not finish (a wait for the held body end)."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the read waited for a body end that the server held back"
    return result[0]


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_body_end_that_has_not_arrived_is_not_waited_for(
    held_end: RawServer, flavour: str
) -> None:
    def sync() -> list[int | None]:
        with FlueClient(held_end.url) as client:
            first = [e.event_index for e in client.runs.events(RUN)]
            assert client.runs.get(RUN).status == "completed"
            return first

    async def run_async() -> list[int | None]:
        async with AsyncFlueClient(held_end.url) as client:
            first = [e.event_index for e in await client.runs.events(RUN)]
            assert (await client.runs.get(RUN)).status == "completed"
            return first

    read = sync if flavour == "sync" else (lambda: asyncio.run(run_async()))
    assert _in_thread(read) == [0, 1, 2]
    # the SSE connection was closed by the client, and the get opened another
    assert held_end.accepted == 2
