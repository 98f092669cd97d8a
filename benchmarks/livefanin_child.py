"""One measuring process of the live fan-in benchmark (``benchmarks/livefanin.py`` starts it):

``python -m benchmarks.livefanin_child FLAVOUR MODE SOURCE URL COUNT WARMUP [idle]``

Once imported it prints ``ready`` and reads one JSON line from stdin, ``{"ids": [run ids],
"t0": T0, "out": path}``; then it follows every run with ``runs.stream(live=MODE)`` (typed
models, the default), from one `AsyncFlueClient` (``FLAVOUR`` ``async``: one task per run) or one
`FlueClient` shared by one thread per run (``sync``). The token comes from ``FLUE_TOKEN``. Each
run appends ``COUNT`` log events one second apart, the first at ``T0`` (wall clock), spread
over the second by the parent.

1. Before any stream opens: imports, one ``runs.get`` (first connection), one stream opened,
   read to its first event and closed (imports and caches a stream needs), a full GC, RSS.
2. Streams open; once every one has handed over its ``run_start`` (caught up, now waiting for
   the next event) and 0.5 s more have passed: a full GC, RSS, the sockets among the process's
   file descriptors and (``idle``) tracemalloc's traced bytes and its top allocation sites.
   ``idle`` stops there.
3. Every ``log`` event handed to the caller is noted (receive time, the append stamp, the
   event's index). Process CPU (``time.process_time()``: every thread, this process only) is
   read when the process has received ``n * WARMUP`` log events and again at ``n * (COUNT - 1)``:
   the steady state, without connection set-up and without the streams' ends (with
   ``getrusage``: the share of it spent in the kernel). Latency:
   ``SOURCE`` ``real`` (Flue): the event's ``timestamp`` (wall clock, ms precision, set by Node
   as the event is built) against ``time.time()``; ``fake`` (flue.testing):
   ``attributes.t`` (``time.monotonic_ns()`` just before the append, CLOCK_MONOTONIC is
   system-wide) against ``time.monotonic_ns()``. Events with index < WARMUP are left out.

Writes one JSON object to the file named by ``"out"`` in the line read from stdin.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import logging
import os
import resource
import sys
import threading
import time
import tracemalloc
from datetime import datetime
from typing import Any


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize()


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:  # closed meanwhile
            pass
    return count


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        soft = hard if hard != resource.RLIM_INFINITY else 65536
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


class _CountDiscards(logging.Handler):
    """urllib3's "Connection pool is full, discarding connection" warnings."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "discarding connection" in record.getMessage():
            self.count += 1


class Recorder:
    """What the streams hand over; safe from many threads (``next()`` on an
    ``itertools.count`` and ``list.append`` are atomic in CPython)."""

    def __init__(self, n: int, count: int, warmup: int, source: str) -> None:
        self.n = n
        self.k1 = n * warmup
        self.k2 = n * (count - 1)
        self.real = source == "real"
        self.logs = itertools.count(1)
        self.starts = itertools.count(1)
        self.started = 0
        self.samples: list[tuple[float, Any, int]] = []
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.usage: list[resource.struct_rusage] = []
        self.sockets_busy = 0

    def on_event(self, event: Any) -> None:
        if event.type != "log":
            if event.type == "run_start":
                self.started = next(self.starts)
            return
        attributes = event.attributes
        if self.real:
            self.samples.append((time.time(), event.timestamp, attributes["i"]))
        else:
            self.samples.append((time.monotonic_ns(), attributes["t"], attributes["i"]))
        seen = next(self.logs)
        if seen == self.k1 or seen == self.k2:
            self.cpu.append(time.process_time())
            self.wall.append(time.perf_counter())
            self.usage.append(resource.getrusage(resource.RUSAGE_SELF))
            if seen == self.k2:
                self.sockets_busy = open_sockets()

    def latencies(self, warmup: int) -> list[float]:
        out = []
        for received, stamp, index in self.samples:
            if index < warmup:
                continue
            if self.real:
                at = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
                out.append((received - at) * 1000)
            else:
                out.append((received - stamp) / 1e6)
        return out


TOP = 12  # allocation sites listed


def _site(filename: str, lineno: int) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{lineno}"


async def _wait_idle(rec: Recorder, limit: float) -> bool:
    deadline = time.monotonic() + limit
    while rec.started < rec.n and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    return rec.started >= rec.n


def _measure_idle(rec: Recorder, base: int, traced: bool, t0: float) -> dict[str, Any]:
    gc.collect()
    out: dict[str, Any] = {
        "idle_rss_bytes_per_stream": (rss_bytes() - base) / rec.n,
        "idle_sockets": open_sockets(),
        "idle_before_t0": time.time() < t0,
        "idle_slack_seconds": t0 - time.time(),
    }
    if traced:
        out["idle_traced_bytes_per_stream"] = tracemalloc.get_traced_memory()[0] / rec.n
        top = tracemalloc.take_snapshot().statistics("lineno")[:TOP]
        out["idle_traced_top"] = [
            (_site(stat.traceback[0].filename, stat.traceback[0].lineno), stat.size / rec.n)
            for stat in top
        ]
    return out


async def run_async(
    mode: str, url: str, ids: list[str], rec: Recorder, t0: float, idle_only: bool, **kw: Any
) -> dict[str, Any]:
    from flue import AsyncFlueClient

    async with AsyncFlueClient(url) as client:
        await client.runs.get(ids[0])
        async with client.runs.stream(ids[0], live=mode) as warm:  # type: ignore[call-overload]
            await warm.__anext__()  # imports and first-use caches, out of the per-stream figures
        gc.collect()
        base = rss_bytes()
        if idle_only:
            tracemalloc.start()
        streams = [client.runs.stream(run_id, live=mode) for run_id in ids]  # type: ignore[call-overload]

        async def follow(stream: Any) -> None:
            async with stream:
                async for event in stream:
                    rec.on_event(event)

        tasks = [asyncio.ensure_future(follow(stream)) for stream in streams]
        all_idle = await _wait_idle(rec, max(5.0, t0 - time.time()))
        out = _measure_idle(rec, base, idle_only, t0)
        out["all_idle"] = all_idle
        if idle_only:
            tracemalloc.stop()
            for stream in streams:
                stream.cancel()
        done, pending = await asyncio.wait(tasks, timeout=max(1.0, kw["end"] - time.time()))
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out["failed_streams"] = sum(
            1 for task in done if not task.cancelled() and task.exception() is not None
        ) + len(pending)
    return out


def run_sync(
    mode: str, url: str, ids: list[str], rec: Recorder, t0: float, idle_only: bool, **kw: Any
) -> dict[str, Any]:
    from flue import FlueClient

    discards = _CountDiscards()
    logging.getLogger("urllib3.connectionpool").addHandler(discards)
    failures: list[BaseException] = []
    with FlueClient(url) as client:
        client.runs.get(ids[0])
        with client.runs.stream(ids[0], live=mode) as warm:  # type: ignore[call-overload]
            next(warm)  # imports and first-use caches, out of the per-stream figures
        gc.collect()
        base = rss_bytes()
        if idle_only:
            tracemalloc.start()
        streams = [client.runs.stream(run_id, live=mode) for run_id in ids]  # type: ignore[call-overload]

        def follow(stream: Any) -> None:
            try:
                with stream:
                    for event in stream:
                        rec.on_event(event)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=follow, args=(s,), daemon=True) for s in streams]
        for thread in threads:
            thread.start()
        all_idle = asyncio.run(_wait_idle(rec, max(5.0, t0 - time.time())))
        out = _measure_idle(rec, base, idle_only, t0)
        out["all_idle"] = all_idle
        if idle_only:
            tracemalloc.stop()
            for stream in streams:
                stream.cancel()
        for thread in threads:
            thread.join(timeout=max(0.1, kw["end"] - time.time()))
        out["failed_streams"] = len(failures) + sum(1 for t in threads if t.is_alive())
        for stream in streams:
            stream.cancel()
    out["pool_discards"] = discards.count
    return out


def main(argv: list[str]) -> int:
    flavour, mode, source, url, count_s, warmup_s, *rest = argv
    idle_only = rest == ["idle"]
    count, warmup = int(count_s), int(warmup_s)
    fd_limit = raise_fd_limit()
    import flue
    import flue.models  # imports done before the clock starts

    getattr(flue, "AsyncFlueClient" if flavour == "async" else "FlueClient")
    print("ready", flush=True)
    start = json.loads(sys.stdin.readline())
    ids: list[str] = start["ids"]
    t0: float = start["t0"]
    rec = Recorder(len(ids), count, warmup, source)
    end = t0 + count + 30
    if flavour == "async":
        out = asyncio.run(run_async(mode, url, ids, rec, t0, idle_only, end=end))
    else:
        out = run_sync(mode, url, ids, rec, t0, idle_only, end=end)
    out.update(flavour=flavour, mode=mode, streams=len(ids), fd_limit=fd_limit)
    if not idle_only:
        logs = len(rec.samples)
        out["events"] = logs
        out["events_expected"] = len(ids) * count
        if len(rec.cpu) == 2:
            window = rec.k2 - rec.k1
            out["window_events"] = window
            out["window_seconds"] = rec.wall[1] - rec.wall[0]
            out["cpu_seconds"] = rec.cpu[1] - rec.cpu[0]
            out["cpu_us_per_event"] = (rec.cpu[1] - rec.cpu[0]) / window * 1e6
            first, last = rec.usage
            out["kernel_share"] = (last.ru_stime - first.ru_stime) / max(
                1e-9, (last.ru_stime + last.ru_utime) - (first.ru_stime + first.ru_utime)
            )
            out["sockets_busy"] = rec.sockets_busy
        out["latencies_ms"] = [round(x, 3) for x in rec.latencies(warmup)]
    with open(start["out"], "w") as handle:
        json.dump(out, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
