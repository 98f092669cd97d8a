"""Live fan-in: many live runs followed at once by one process, each receiving an event every
second; CPU per event, append-to-delivery latency, memory per idle stream and open sockets,
each against the same client following one live run, measured in the same run.

``bench(quick, log)`` (called by ``benchmarks/run.py``, section ``livefanin``; alone:
``python -m benchmarks.livefanin [--quick] [--fake]``) starts its own real Flue server (the
interop app's ``emit`` workflow; ``--fake``: flue.testing's ``tick`` in another process) and
measures, each case in a fresh process (``benchmarks/livefanin_child.py``, which describes the
figures):

* ``single``: one stream per process (async SSE, async long-poll, sync SSE, sync long-poll;
  ``SINGLES`` processes of each kind at once: a handful of events per second in all, so they do
  not disturb each other, and more latency samples than one stream gives);
* ``fan``: 1,000 streams in one asyncio process (one `AsyncFlueClient`, one task per run), SSE
  then long-poll; 100 threads sharing one `FlueClient` (one thread per run), SSE then
  long-poll;
* ``idle``: the same 1,000 async streams (and the 100 threads) with tracemalloc on, against
  runs that stay quiet, to count the Python memory each idle stream holds.

The runs' first events are spread evenly over one second (``startDelayMs``), so the load is
a steady N events per second, not one burst per second. Only the client process's CPU is
counted; the server runs in its own process on the same machine (2 cores here), so its work
shows in latency, not in CPU per event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from benchmarks.common import REPO, fake_server, percentile

ASYNC_STREAMS = 1000
THREADS = 100
WARMUP = 3  # first events of every stream: out of latency and CPU figures
# processes following one run each, at once (quick: 2 of each): latency samples for the p99
SINGLES = {"async sse": 6, "async long-poll": 3, "sync sse": 3, "sync long-poll": 3}
TARGET_CPU_RATIO = 1.3
TARGET_P99_DELTA_MS = 10.0
TARGET_IDLE_BYTES = 50_000
CASES = (  # (flavour, mode)
    ("async", "sse"),
    ("async", "long-poll"),
    ("sync", "sse"),
    ("sync", "long-poll"),
)


class _Server:
    def __init__(self, url: str, token: str | None, source: str, pid: int | None) -> None:
        self.url, self.token, self.source, self.pid = url, token, source, pid

    def cpu_seconds(self) -> float | None:
        """The server process's CPU time so far (user + system), where known."""
        if self.pid is None:
            return None
        try:
            with open(f"/proc/{self.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "FLUE_TOKEN"}
        if self.token:
            env["FLUE_TOKEN"] = self.token
        return env


@contextmanager
def _server(fake: bool) -> Iterator[_Server]:
    if fake:
        with fake_server() as url:
            yield _Server(url, None, "fake", None)
        return
    from tools.flue_servers.server import RealFlueServer

    with RealFlueServer() as server:
        yield _Server(server.url, server.token, "real", server.pid)


def _create(server: _Server, n: int, count: int, t0: float, quiet: bool = False) -> list[str]:
    """``n`` runs whose first event comes at ``t0 + i / n`` (wall clock), then one a second
    (``quiet``: runs that only start, and stay silent for minutes)."""
    from flue import AsyncFlueClient

    async def go() -> list[str]:
        async with AsyncFlueClient(server.url, token=server.token) as client:
            sem = asyncio.Semaphore(50)

            async def one(i: int) -> str:
                async with sem:
                    delay = 600_000 if quiet else max(0, round((t0 + i / n - time.time()) * 1000))
                    if server.source == "real":
                        params = {"count": 0 if quiet else count, "delayMs": 1000}
                        params["startDelayMs"] = delay
                        result = await client.workflows.invoke("emit", params)
                    else:
                        params = {"count": 0 if quiet else count, "intervalMs": 1000}
                        params["startDelayMs"] = delay
                        result = await client.workflows.invoke("tick", params)
                    return result.run_id

            return list(await asyncio.gather(*(one(i) for i in range(n))))

    return asyncio.run(go())


class _Child:
    """A measuring process (``benchmarks/livefanin_child.py``): started, then told its runs."""

    def __init__(
        self, server: _Server, tmp: str, flavour: str, mode: str, count: int, idle: bool = False
    ) -> None:
        args = [flavour, mode, server.source, server.url, str(count), str(WARMUP)]
        self._out = tempfile.mkstemp(dir=tmp, suffix=".json")[1]
        self._stderr = tempfile.TemporaryFile(dir=tmp)  # noqa: SIM115 - closed in result()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.livefanin_child", *args, *(["idle"] * idle)],
            cwd=REPO,
            env=server.env(),
            stdout=subprocess.PIPE,  # "ready", nothing else
            stderr=self._stderr,
            stdin=subprocess.PIPE,
            text=True,
        )

    def ready(self) -> None:
        """Wait until the process has imported the client."""
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"live fan-in child did not start:\n{self._error()}")

    def start(self, ids: list[str], t0: float) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"ids": ids, "t0": t0, "out": self._out}) + "\n")
        self._proc.stdin.close()

    def result(self, timeout: float) -> dict[str, Any]:
        assert self._proc.stdout is not None
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
            raise RuntimeError(f"live fan-in child timed out:\n{self._error()}") from None
        if self._proc.returncode != 0:
            raise RuntimeError(
                f"live fan-in child failed ({self._proc.returncode}):\n{self._error()}"
            )
        self._proc.stdout.close()
        self._stderr.close()
        with open(self._out) as handle:
            result: dict[str, Any] = json.load(handle)
        return result

    def _error(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-3000:]

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()


def _lead(n: int) -> float:
    """Seconds from the runs' creation to their first event: open ``n`` streams, let them go
    idle, measure."""
    return 2.0 + n / 400


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = [x for row in rows for x in row.pop("latencies_ms")]
    cpu = sorted(row["cpu_us_per_event"] for row in rows if "cpu_us_per_event" in row)
    first = rows[0]
    return {
        "processes": len(rows),
        "streams": first["streams"],
        "events": sum(row["events"] for row in rows),
        "events_expected": sum(row["events_expected"] for row in rows),
        "failed_streams": sum(row["failed_streams"] for row in rows),
        "cpu_us_per_event": cpu[len(cpu) // 2] if cpu else None,
        "cpu_us_per_event_all": [round(x, 1) for x in cpu],
        "window_events": first.get("window_events"),
        "window_seconds": first.get("window_seconds"),
        "window_cpu_seconds": first.get("cpu_seconds"),
        "kernel_share": first.get("kernel_share"),
        "n_latency": len(latencies),
        "p50_ms": percentile(latencies, 50) if latencies else None,
        "p99_ms": percentile(latencies, 99) if latencies else None,
        "max_ms": max(latencies) if latencies else None,
        "idle_rss_bytes_per_stream": first["idle_rss_bytes_per_stream"],
        "idle_sockets": first["idle_sockets"],
        "sockets_busy": first.get("sockets_busy"),
        "idle_ok": all(row["idle_before_t0"] and row["all_idle"] for row in rows),
        "idle_slack_seconds": min(row["idle_slack_seconds"] for row in rows),
        "pool_discards": sum(row.get("pool_discards", 0) for row in rows),
    }


def bench(quick: bool, log: Callable[[str], None] = print, fake: bool = False) -> dict[str, Any]:
    count = 10 if quick else 20  # events per run, one a second
    out: dict[str, Any] = {"count": count, "warmup": WARMUP, "single": {}, "fan": {}, "idle": {}}
    started = time.perf_counter()
    with _server(fake) as server, tempfile.TemporaryDirectory() as tmp:
        out["server"] = server.source
        # 1. single streams, every kind at once
        children = [
            ((flavour, mode), _Child(server, tmp, flavour, mode, count))
            for flavour, mode in CASES
            for _ in range(SINGLES[f"{flavour} {mode}"] if not quick else 2)
        ]
        try:
            for _, child in children:
                child.ready()
            t0 = time.time() + 2.0 + _lead(len(children))
            ids = _create(server, len(children), count, t0)
            for (_, child), run_id in zip(children, ids, strict=True):
                child.start([run_id], t0)
            for flavour, mode in CASES:
                key = f"{flavour} {mode}"
                rows = [
                    child.result(t0 + count + 60 - time.time())
                    for k, child in children
                    if k == (flavour, mode)
                ]
                out["single"][key] = _summary(rows)
                log(f"live fan-in single {key}: {_short(out['single'][key])}")
        finally:
            for _, child in children:
                child.kill()
        # 2. many streams, one case at a time
        for flavour, mode in CASES:
            n = ASYNC_STREAMS if flavour == "async" else THREADS
            child = _Child(server, tmp, flavour, mode, count)
            try:
                child.ready()
                created = time.time()
                t0 = created + n / 200 + _lead(n)
                ids = _create(server, n, count, t0)
                log(f"live fan-in: {n} runs created in {time.time() - created:.1f} s")
                server_cpu = server.cpu_seconds()
                child.start(ids, t0)
                row = _summary([child.result(t0 + count + 60 - time.time())])
                row["load"] = [round(x, 2) for x in os.getloadavg()]
                if server_cpu is not None:
                    spent = (server.cpu_seconds() or server_cpu) - server_cpu
                    row["server_cpu_us_per_event"] = spent / row["events"] * 1e6
            finally:
                child.kill()
            out["fan"][f"{flavour} {mode}"] = row
            log(f"live fan-in {n} {flavour} {mode}: {_short(row)}")
        # 3. idle streams under tracemalloc
        quiet = _create(server, ASYNC_STREAMS, 0, 0.0, quiet=True)
        for flavour, mode in CASES:
            n = ASYNC_STREAMS if flavour == "async" else THREADS
            child = _Child(server, tmp, flavour, mode, 0, idle=True)
            try:
                child.ready()
                child.start(quiet[:n], time.time() + 600)
                row = child.result(120)
            finally:
                child.kill()
            out["idle"][f"{flavour} {mode}"] = row
            log(f"live fan-in idle {n} {flavour} {mode}: {row}")
    out["seconds"] = time.perf_counter() - started
    return out


def _short(row: dict[str, Any]) -> str:
    keys = ("streams", "events", "failed_streams", "cpu_us_per_event", "p50_ms", "p99_ms")
    more = (
        "idle_rss_bytes_per_stream",
        "idle_sockets",
        "sockets_busy",
        "pool_discards",
        "idle_slack_seconds",
    )
    return ", ".join(f"{k}={_fmt(row.get(k))}" for k in (*keys, *more))


def _fmt(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.livefanin")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--fake", action="store_true", help="flue.testing, not the real server")
    args = parser.parse_args(argv)
    result = bench(args.quick, lambda m: print(m, file=sys.stderr, flush=True), args.fake)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())


# -- report ----------------------------------------------------------------------------------------

MARKERS = (
    "<!-- livefanin:begin (generated by benchmarks/run.py) -->",
    "<!-- livefanin:end -->",
)
LABELS = {
    "async sse": "async SSE",
    "async long-poll": "async long-poll",
    "sync sse": "sync SSE",
    "sync long-poll": "sync long-poll",
}


def _verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def verdicts(r: dict[str, Any], key: str) -> dict[str, Any]:
    """CPU ratio, p99 delta and idle memory of one fan case against its single stream."""
    fan, one = r["fan"][key], r["single"][key]
    ratio = fan["cpu_us_per_event"] / one["cpu_us_per_event"]
    delta = fan["p99_ms"] - one["p99_ms"]
    memory = fan["idle_rss_bytes_per_stream"]
    return {
        "cpu_ratio": ratio,
        "p99_delta_ms": delta,
        "cpu_ok": ratio <= TARGET_CPU_RATIO,
        "p99_ok": delta <= TARGET_P99_DELTA_MS,
        "memory_ok": memory < TARGET_IDLE_BYTES,
        "complete": fan["events"] == fan["events_expected"] and not fan["failed_streams"],
    }


def render(r: dict[str, Any]) -> list[str]:
    server = (
        "the real Flue server (the interop app's `emit {delayMs: 1000}`, Node, same machine)"
        if r["server"] == "real"
        else "flue.testing in another process (`tick {intervalMs: 1000}`)"
    )
    lines = [
        "### 8. Live fan-in: many live runs at once, one event per second each",
        "",
        f"Server: {server}.",
        "",
        f"Each run appends {r['count']} log events one second apart; the runs' first events "
        "are spread evenly over one second. CPU: client process only (`time.process_time()`, "
        f"all threads), from the {WARMUP}rd to the last-but-one second of events. Latency: "
        "append (event `timestamp`) to the event being handed to the caller (typed models), "
        f"first {WARMUP} events of each stream left out. Memory per idle stream: RSS growth "
        "from before the streams opened to when all of them were caught up and waiting (full "
        "GC first), divided by the number of streams; `tracemalloc`: Python allocations held "
        "by the idle streams, in a separate process. Sockets: socket file descriptors of the "
        "client process (idle / at the end of the busy window; asyncio's self-pipe is 2). "
        "`x one`: against the same client following one live run (own process, same run).",
        "",
        "| case | streams | events | CPU µs/event | one stream | x one | p50 ms | p99 ms | "
        "one stream p99 | p99 - one | idle RSS/stream | tracemalloc/stream | sockets idle / "
        "busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, label in LABELS.items():
        fan, one = r["fan"][key], r["single"][key]
        v = verdicts(r, key)
        idle = r["idle"].get(key, {}).get("idle_traced_bytes_per_stream")
        traced = f"{idle / 1000:.1f} KB" if idle is not None else "-"
        lines.append(
            f"| {label} | {fan['streams']:,} | {fan['events']:,} | "
            f"{fan['cpu_us_per_event']:.0f} | {one['cpu_us_per_event']:.0f} | "
            f"{v['cpu_ratio']:.2f} | {fan['p50_ms']:.2f} | {fan['p99_ms']:.2f} | "
            f"{one['p99_ms']:.2f} | {v['p99_delta_ms']:+.2f} | "
            f"{fan['idle_rss_bytes_per_stream'] / 1000:.1f} KB | {traced} | "
            f"{fan['idle_sockets']} / {fan['sockets_busy']} |"
        )
    lines.append("")
    v = verdicts(r, "async sse")
    fan = r["fan"]["async sse"]
    lines += [
        f"Targets, {fan['streams']:,} async SSE streams: CPU per event <= "
        f"{TARGET_CPU_RATIO}x one stream's: {v['cpu_ratio']:.2f}x, {_verdict(v['cpu_ok'])}; p99 "
        f"within {TARGET_P99_DELTA_MS:.0f} ms of one stream's: {v['p99_delta_ms']:+.2f} ms, "
        f"{_verdict(v['p99_ok'])}; idle memory < {TARGET_IDLE_BYTES // 1000} KB per stream: "
        f"{fan['idle_rss_bytes_per_stream'] / 1000:.1f} KB RSS, {_verdict(v['memory_ok'])}.",
        "",
    ]
    for key, label in LABELS.items():
        v, fan, one = verdicts(r, key), r["fan"][key], r["single"][key]
        busy = fan["window_cpu_seconds"] / fan["window_seconds"] * 100
        notes = [
            f"against the same targets: CPU {_verdict(v['cpu_ok'])}, p99 "
            f"{_verdict(v['p99_ok'])}, memory {_verdict(v['memory_ok'])}",
            f"{fan['events']:,} of {fan['events_expected']:,} events, "
            f"{fan['failed_streams']} failed streams",
            f"{fan['window_events']:,} events in the CPU window of {fan['window_seconds']:.1f} s "
            f"(the client busy {busy:.0f}% of one core, {fan['kernel_share']:.0%} of it in the "
            "kernel)",
        ]
        if fan.get("server_cpu_us_per_event") is not None:
            notes.append(
                f"server CPU {fan['server_cpu_us_per_event']:.0f} µs/event (whole case), "
                f"load average after: {fan['load']}"
            )
        if key.startswith("sync"):
            notes.append(f"urllib3 pool discards: {fan['pool_discards']}")
        notes.append(
            f"one stream: {one['processes']} processes at once, CPU µs/event each "
            f"{', '.join(f'{x:.0f}' for x in one['cpu_us_per_event_all'])}, "
            f"{one['n_latency']} latency samples"
        )
        lines.append(f"- {label}: " + "; ".join(notes) + ".")
    lines += ["", f"{r['seconds']:.0f} s in all."]
    return lines


def render_section(results: dict[str, Any]) -> str:
    """The BENCHMARKS.md section between `MARKERS` (``results`` as built by run.py)."""
    meta = results["meta"]
    m = meta["machine"]
    return "\n".join(
        [
            f"Run of {meta['date']} ({'quick' if meta['quick'] else 'full'}), command "
            f"`{meta['command']}`; {m.get('cpu', '?')}, {m['cpus']} CPUs, Python "
            f"{m['python']}; load average before: {meta['load_before']}, after: "
            f"{meta.get('load_after')}.",
            "",
            *render(results["livefanin"]),
        ]
    )
