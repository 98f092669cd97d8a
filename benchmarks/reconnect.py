"""Reconnect after a cut: from the moment a proxy cuts the connection to the moment the next
event reaches the caller, flue sync and async, live long-poll and SSE, on loopback.

``bench(quick)`` (called by ``benchmarks/run.py``) starts flue.testing in its own process
(``benchmarks/fake_server.py``, 3 events per page and per SSE frame) and runs each case in a
fresh process: ``python -m benchmarks.reconnect URL CASE FLAVOUR MODE EVENTS SEED``, which prints
one JSON line. A case:

* invokes the ``tick`` workflow on the server directly: ``EVENTS`` log events, one every 5 ms;
* reads the run with ``runs.stream(live=MODE)`` through ``tests/reliability/cutproxy.py``, a TCP
  proxy in the same process that cuts every connection after a seeded random 1-6 KB, noting the
  ``time.perf_counter()`` of every event handed over;
* for each cut, takes the first connection the proxy accepted after it and the first event
  handed over after that: the latency is event time - cut time (reconnect and fetch included;
  events still in the cut connection's buffers do not count).

Cases: ``fast`` is the client as it is. ``backoff`` is the baseline: the same client with the
fast-reconnect rule switched off (``RetryState.failed`` ignores ``immediate``), i.e. the
behaviour before it, a backoff of uniform(0, 0.5 s) after every cut. ``bare`` times a bare GET
(a new connection each, through the proxy; ``requests`` for sync, ``aiohttp`` for async): the
floor any reconnect pays.

Three events per page keep every answer under the proxy's smallest cut (1 KB), so each new
connection delivers something before it can be cut: a reader that falls behind can always
catch up. (With Flue's 100-event pages, ~20 KB, a backlog of 100 events could never get through
such a proxy, which is how the old behaviour fell behind and gave up.)
"""

from __future__ import annotations

import asyncio
import bisect
import json
import sys
import time
from typing import Any

from benchmarks.common import fake_server, percentile, run_child

TARGET_MS = 50.0
INTERVAL_MS = 5
FLAVOURS = ("sync", "async")
MODES = ("long-poll", "sse")


# -- parent ---------------------------------------------------------------------------------------


def bench(quick: bool, log: Any = print) -> dict[str, Any]:
    events = {"fast": 600 if quick else 3000, "backoff": 200 if quick else 800}
    bare_n = 50 if quick else 200
    out: dict[str, Any] = {
        "events": events,
        "interval_ms": INTERVAL_MS,
        "target_ms": TARGET_MS,
        "cases": {},
        "bare": {},
    }
    with fake_server("--page-size", "3", "--sse-batch", "3") as url:
        for flavour in FLAVOURS:
            out["bare"][flavour] = run_child(
                "benchmarks.reconnect", url, "bare", flavour, "-", str(bare_n), "1"
            )
            log(f"reconnect bare GET {flavour}: {_short(out['bare'][flavour])}")
            for mode in MODES:
                for case in ("fast", "backoff"):
                    row = run_child(
                        "benchmarks.reconnect", url, case, flavour, mode, str(events[case]), "7"
                    )
                    out["cases"][f"{case} {flavour} {mode}"] = row
                    log(f"reconnect {case} {flavour} {mode}: {_short(row)}")
    return out


def _short(row: dict[str, Any]) -> str:
    keys = ("n", "p50_ms", "p90_ms", "max_ms", "cuts", "events_ok")
    return ", ".join(f"{k}={row[k]}" for k in keys if k in row)


def summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p90_ms": round(percentile(values, 90), 3),
        "max_ms": round(max(values), 3),
    }


def render(r: dict[str, Any]) -> list[str]:
    lines = [
        f"### 7. Reconnect after a cut (live run, one event every {r['interval_ms']} ms, proxy "
        "cutting every connection after 1-6 KB)",
        "",
        "Time from the cut to the next event handed to the caller, on loopback. `fast`: the "
        "client as it is; `baseline`: the same client with the immediate first reconnect "
        "switched off (the previous behaviour: backoff after every cut). Bare GET: a new "
        "connection and one small GET through the same proxy, the floor of any reconnect.",
        "",
        "Cuts: those followed by a reconnect and an event (the last cuts of a run may come "
        "after its last event).",
        "",
        "| flavour | mode | cuts | fast p50 ms | p90 ms | max ms | baseline cuts | baseline "
        "p50 ms | p90 ms | target p50 <= 50 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for flavour in FLAVOURS:
        for mode in MODES:
            f = r["cases"][f"fast {flavour} {mode}"]
            b = r["cases"][f"backoff {flavour} {mode}"]
            met = f.get("n", 0) > 0 and f["p50_ms"] <= r["target_ms"] and f["events_ok"]
            lines.append(
                f"| {flavour} | {mode} | {f['n']} | {f['p50_ms']:.2f} | {f['p90_ms']:.2f} | "
                f"{f['max_ms']:.2f} | {b['n']} | {b['p50_ms']:.1f} | {b['p90_ms']:.1f} | "
                f"{'met' if met else 'NOT met'} |"
            )
    lines.append("")
    for flavour in FLAVOURS:
        bare = r["bare"][flavour]
        lines.append(
            f"- Bare GET on a new connection through the proxy, {flavour} "
            f"({'requests' if flavour == 'sync' else 'aiohttp'}): p50 {bare['p50_ms']:.2f} ms, "
            f"p90 {bare['p90_ms']:.2f} ms ({bare['n']} requests)."
        )
    for name, row in r["cases"].items():
        if not row.get("events_ok"):
            lines.append(f"- {name}: did not deliver every event ({row.get('error', '')})")
    lines.append(
        f"- Runs of {r['events']['fast']:,} events (baseline {r['events']['backoff']:,}); every "
        "run delivered every event once, in order, unless listed above."
    )
    lines.append("")
    return lines


# -- child ----------------------------------------------------------------------------------------


def _disable_fast_reconnect() -> None:
    from flue._protocol import retry

    original = retry.RetryState.failed

    def failed(
        self: retry.RetryState,
        retry_after: float | None = None,
        *,
        immediate: bool = False,
        **limits: Any,  # the other keywords (max_attempts, ...) go through unchanged
    ) -> float | None:
        return original(self, retry_after, **limits)

    retry.RetryState.failed = failed  # type: ignore[method-assign]


def _stream_sync(url: str, run_id: str, mode: str, stamps: list[float]) -> list[int]:
    from flue import FlueClient

    got: list[int] = []
    with FlueClient(url) as client:
        for event in client.runs.stream(run_id, live=mode, as_dict=True):  # type: ignore[call-overload]
            stamps.append(time.perf_counter())
            got.append(event["eventIndex"])
    return got


def _stream_async(url: str, run_id: str, mode: str, stamps: list[float]) -> list[int]:
    from flue import AsyncFlueClient

    async def go() -> list[int]:
        got: list[int] = []
        async with AsyncFlueClient(url) as client:
            stream = client.runs.stream(run_id, live=mode, as_dict=True)  # type: ignore[call-overload]
            async for event in stream:
                stamps.append(time.perf_counter())
                got.append(event["eventIndex"])
        return got

    return asyncio.run(go())


def _latencies(cuts: list[float], accepts: list[float], stamps: list[float]) -> list[float]:
    out: list[float] = []
    for cut in cuts:
        a = bisect.bisect_right(accepts, cut)
        if a == len(accepts):
            continue
        d = bisect.bisect_right(stamps, accepts[a])
        if d == len(stamps):
            continue  # the cut came after the last event (the end of the run)
        out.append((stamps[d] - cut) * 1000)
    return out


def _bare(url: str, flavour: str, run_id: str, n: int) -> dict[str, Any]:
    target = f"{url}/runs/{run_id}?offset=-1&tail=1"
    times: list[float] = []
    if flavour == "sync":
        import requests

        for _ in range(n):
            began = time.perf_counter()
            response = requests.get(target, timeout=10)  # no session: a new connection each
            response.content  # noqa: B018 - read the body
            times.append((time.perf_counter() - began) * 1000)
    else:
        import aiohttp

        async def go() -> None:
            connector = aiohttp.TCPConnector(force_close=True)
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(n):
                    began = time.perf_counter()
                    async with session.get(target) as response:
                        await response.read()
                    times.append((time.perf_counter() - began) * 1000)

        asyncio.run(go())
    return summary(times)


def child(url: str, case: str, flavour: str, mode: str, count: int, seed: int) -> dict[str, Any]:
    from flue import FlueClient
    from tests.reliability.cutproxy import CuttingProxy

    if case == "backoff":
        _disable_fast_reconnect()
    with FlueClient(url) as direct:
        started = direct.workflows.invoke(
            "tick", {"count": count, "intervalMs": INTERVAL_MS, "startDelayMs": 50}
        )
    with CuttingProxy(url, seed=seed) as proxy:
        if case == "bare":
            return _bare(proxy.url, flavour, started.run_id, count)
        stamps: list[float] = []
        began = time.perf_counter()
        reader = _stream_sync if flavour == "sync" else _stream_async
        error = ""
        try:
            got = reader(proxy.url, started.run_id, mode, stamps)
        except Exception as exc:  # reported in the table, not hidden
            got, error = [], f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - began
        cuts, accepts = proxy.cuts, proxy.accepts
    row = summary(_latencies(cuts, accepts, stamps))
    row.update(
        cuts=len(cuts),
        seconds=round(seconds, 2),
        events_ok=got == list(range(count + 2)),
        error=error[:300],
    )
    return row


def main() -> int:
    url, case, flavour, mode, count, seed = sys.argv[1:7]
    print(json.dumps(child(url, case, flavour, mode, int(count), int(seed))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
