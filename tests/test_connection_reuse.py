"""An SSE read of an ended run gives its connection back for the next call (both flavours).

The server ends a closed stream's SSE body right after its last control frame. The blocking
client stops at that frame; when the body's end has already arrived (the usual case) it reads
it from the buffer and the connection goes back to the pool, so that the next call (a
``runs.get``, another read) does not open a new connection (a TLS handshake, remotely). When
the end has not arrived, nothing waits for it: the connection is closed as before.

A keep-alive server on raw sockets makes both cases deterministic: it sends the last frame and
the body's end in one write, or holds the end back until the client goes away. It counts the
connections it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from flue import AsyncFlueClient, FlueClient

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


class KeepAliveServer:
    """Answers any number of requests per connection: ``?meta`` with the run record, an SSE
    read with the ended run. ``hold_end``: the SSE body's end is sent only when the client
    closes the connection (never, in effect)."""

    def __init__(self, *, hold_end: bool) -> None:
        self.hold_end = hold_end
        self.accepted = 0
        self.closed_by_client = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> KeepAliveServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._listener.close()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self._threads:
            thread.join(10)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            self._conns.append(conn)
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        with self._lock:
                            self.closed_by_client += 1
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                target = head.split(b" ", 2)[1].decode()
                if "meta" in target:
                    body = json.dumps(RECORD).encode()
                    conn.sendall(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                        b"content-length: %d\r\n\r\n%s" % (len(body), body)
                    )
                    continue
                frames, end = _sse_body()
                head_out = (
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
                )
                if not self.hold_end:
                    conn.sendall(head_out + frames + end)  # one write: it arrives at once
                    continue
                conn.sendall(head_out + frames)
                # the end is held back: the client must not wait for it
                while conn.recv(65536):
                    pass
                with self._lock:
                    self.closed_by_client += 1
                return


@pytest.fixture
def prompt_end() -> Iterator[KeepAliveServer]:
    with KeepAliveServer(hold_end=False) as server:
        yield server


@pytest.fixture
def held_end() -> Iterator[KeepAliveServer]:
    with KeepAliveServer(hold_end=True) as server:
        yield server


def test_sse_reads_of_an_ended_run_share_one_connection_with_the_calls_after(
    prompt_end: KeepAliveServer,
) -> None:
    with FlueClient(prompt_end.url) as client:
        for _ in range(3):
            assert [e.event_index for e in client.runs.events(RUN)] == [0, 1, 2]
            assert client.runs.get(RUN).status == "completed"
            assert len(list(client.runs.stream(RUN, live="sse"))) == 3
    assert prompt_end.accepted == 1


async def test_the_same_in_asyncio_when_the_end_comes_with_the_last_frame(
    prompt_end: KeepAliveServer,
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
    held_end: KeepAliveServer, flavour: str
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
