"""A TCP proxy on 127.0.0.1 that cuts every connection after a random 1-6 KB (or after the
budgets given for its first connections: ``budgets=[0]`` loses the first answer whole while its
request still reaches the server).

What a flaky middlebox does to long-lived HTTP: each accepted connection is forwarded to the
upstream server, and once the bytes sent back to the client reach that connection's budget
(drawn from a seeded ``random.Random`` when the connection is accepted, ``min_bytes`` to
``max_bytes`` inclusive) the proxy forwards exactly the budget, closes the client's side and
aborts the upstream one: the response is cut mid-body, wherever that falls (or, rarely, right
at its end, and then the next request on that connection fails). Requests flow unchanged.

It runs its own asyncio loop in a daemon thread (so sync and async clients can use it alike),
records the time of every accept and every cut on ``clock`` (``time.perf_counter`` by
default), and is stopped by ``stop()`` or by leaving the ``with`` block. Used by the
reliability tests and by ``benchmarks/reconnect.py``, with `tick`, a flue.testing workflow that
paces a live run.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from tools.flue_servers.lifecycle import LOOPBACK, LocalServer

__all__ = ["CuttingProxy", "tick"]

_CHUNK = 65536


async def tick(run: Any, params: Any) -> dict[str, int]:
    """flue.testing workflow: ``count`` log events, one every ``intervalMs`` (default 2)."""
    interval = float(params.get("intervalMs", 2)) / 1000
    for i in range(int(params["count"])):
        await run.sleep(interval)
        run.log("tick", {"i": i})
    return {"emitted": int(params["count"])}


class CuttingProxy(LocalServer):
    """Forward 127.0.0.1:<port> to ``upstream`` (``http://host:port``), cutting connections."""

    label = "cutting proxy"

    def __init__(
        self,
        upstream: str,
        *,
        seed: int = 0,
        min_bytes: int = 1024,
        max_bytes: int = 6144,
        clock: Callable[[], float] = time.perf_counter,
        budgets: Iterable[int] = (),
    ) -> None:
        parts = urlsplit(upstream)
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"upstream must be http://host:port, got {upstream!r}")
        self._upstream = (parts.hostname, parts.port)
        self._rng = random.Random(seed)
        self._min, self._max = min_bytes, max_bytes
        # scripted budgets of the first connections, in order (0: the answer is lost whole)
        self._budgets = list(budgets)
        self._clock = clock
        self._lock = threading.Lock()
        self._accepts: list[float] = []
        self._cuts: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        """The proxy's base URL, ``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def accepts(self) -> list[float]:
        """Clock readings of every connection accepted, in order."""
        with self._lock:
            return list(self._accepts)

    @property
    def cuts(self) -> list[float]:
        """Clock readings of every cut, in order."""
        with self._lock:
            return list(self._cuts)

    # -- lifecycle ---------------------------------------------------------------------------

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="cutting-proxy", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), loop).result(10)

    def _stop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        assert self._thread is not None
        self._thread.join(10)
        loop.close()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, LOOPBACK, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is None:  # a start that failed before listening
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- one connection ----------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        with self._lock:
            scripted = self._budgets.pop(0) if self._budgets else None
        budget = self._rng.randint(self._min, self._max) if scripted is None else scripted
        writer.transport.set_write_buffer_limits(0)  # drain() then means "handed to the kernel"
        with self._lock:
            self._accepts.append(self._clock())
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            writer.transport.abort()
            self._tasks.discard(task)
            return
        requests = asyncio.ensure_future(self._pump(reader, up_writer))
        try:
            await self._answers(up_reader, writer, up_writer, budget)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # stop() cancels the connections still open (a waiting long-poll); ending normally
            # keeps asyncio's start_server callback (3.11) from logging the cancelled task
            pass
        finally:
            requests.cancel()
            with contextlib.suppress(BaseException):
                await requests
            writer.close()
            up_writer.transport.abort()
            self._tasks.discard(task)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client -> upstream, unchanged."""
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

    async def _answers(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        budget: int,
    ) -> None:
        """Upstream -> client until the budget is spent, then cut both sides."""
        while data := await reader.read(_CHUNK):
            if len(data) < budget:
                budget -= len(data)
                writer.write(data)
                await writer.drain()
                continue
            writer.write(data[:budget])
            await writer.drain()
            writer.close()  # every byte of the budget reaches the client, then end of stream
            upstream.transport.abort()
            with self._lock:
                self._cuts.append(self._clock())
            return
