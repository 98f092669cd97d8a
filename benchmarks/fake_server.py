"""``python -m benchmarks.fake_server [--page-size N] [--sse-batch N]``: flue.testing's server
in its own process for benchmarks (Flue's 100-event pages and SSE frames unless told otherwise).

Prints its base URL on the first line of stdout and serves until SIGTERM. Besides the demo
workflows it registers:

* ``tick {count, intervalMs, startDelayMs, size}``: appends ``log`` events on a fixed schedule
  (``startDelayMs + i * intervalMs`` after the start); ``attributes.t`` is
  ``time.monotonic_ns()`` read just before the append (CLOCK_MONOTONIC is system-wide on Linux,
  so a client process can subtract it from its own clock: append-to-delivery latency);
* ``bulk {count, size, chunk}``: appends ``count`` log events in chunks, as fast as it can.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

from flue.testing import FlueTestServer, RunContext


async def _tick(run: RunContext, params: Any) -> dict[str, int]:
    count = int(params.get("count", 100))
    interval = float(params.get("intervalMs", 20)) / 1000
    data = "x" * int(params.get("size", 0))
    loop = asyncio.get_running_loop()
    start = loop.time() + float(params.get("startDelayMs", 0)) / 1000
    for i in range(count):
        delay = start + i * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        run.emit(
            {
                "type": "log",
                "level": "info",
                "message": "tick",
                "attributes": {"i": i, "t": time.monotonic_ns(), "data": data},
            }
        )
    return {"emitted": count}


async def _bulk(run: RunContext, params: Any) -> dict[str, int]:
    count = int(params.get("count", 1000))
    chunk = int(params.get("chunk", 1000))
    data = "x" * int(params.get("size", 0))
    append = run._append
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        append(
            run.run_id,
            [
                {
                    "type": "log",
                    "level": "info",
                    "message": "bulk",
                    "attributes": {"i": start + i, "data": data},
                }
                for i in range(n)
            ],
        )
        await asyncio.sleep(0)
    return {"emitted": count}


async def _serve(sse_heartbeat: float | None, page_size: int, sse_batch: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with FlueTestServer(
        host="127.0.0.1", sse_heartbeat=sse_heartbeat, page_size=page_size, sse_batch=sse_batch
    ) as server:
        server._app.workflows["tick"] = _workflow(_tick)
        server._app.workflows["bulk"] = _workflow(_bulk)
        print(server.url, flush=True)
        await stop.wait()


def _workflow(fn: Any) -> Any:
    from flue.testing._workflows import Workflow

    return Workflow(fn, lambda value: value if isinstance(value, dict) else {})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fake_server")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--sse-batch", type=int, default=100)
    args = parser.parse_args(argv)
    # a client hanging up mid-answer (the reconnect benchmark cuts connections) is no news
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    asyncio.run(_serve(15.0, args.page_size, args.sse_batch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
