"""``python -m benchmarks.fanin URL TOKEN RUN_IDS_JSON``: N concurrent async streams in one
process (one `AsyncFlueClient`), each reading its own finished run with ``runs.stream()``
(typed models). With one run id it is the single-stream reference.

Prints one JSON line: streams, events, wall seconds, process CPU seconds, events/s, CPU µs per
event. Run in a fresh process per measurement.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.common import Log


async def read(client: object, run_id: str) -> int:
    count = 0
    async for _event in client.runs.stream(run_id, live=True):  # type: ignore[attr-defined]
        count += 1
    return count


async def go(url: str, token: str, run_ids: list[str]) -> dict[str, object]:
    from flue import AsyncFlueClient

    async with AsyncFlueClient(url, token=token) as client:
        await client.runs.get(run_ids[0])  # imports, first connection
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        counts = await asyncio.gather(*(read(client, run_id) for run_id in run_ids))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    events = sum(counts)
    return {
        "streams": len(run_ids),
        "events": events,
        "seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "events_per_s": round(events / wall),
        "cpu_us_per_event": round(cpu / events * 1e6, 2),
    }


def main() -> int:
    url, token, ids_path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(ids_path) as handle:
        run_ids = json.load(handle)
    print(json.dumps(asyncio.run(go(url, token, run_ids))))
    return 0


# -- the section (run by benchmarks/run.py; the child above runs in a fresh process) -------


def bench(quick: bool, log: Log, *, server: Any) -> dict[str, Any]:
    """Section 5: 1,000 finished runs of 100 events on the real ``server`` read at once by the
    child above, against one run of CATCHUP_EVENTS read alone; the median of 1 (``quick``) or 3
    fresh processes each."""
    import tempfile
    from pathlib import Path

    from benchmarks.catchup import CATCHUP_EVENTS, LOG_SIZE
    from benchmarks.common import median, run_child
    from flue import AsyncFlueClient, FlueClient

    streams, repeats = 1000, 1 if quick else 3
    per_run = 100  # run_start + 98 logs + run_end: one page per stream, as in the single run

    async def create() -> list[str]:
        async with AsyncFlueClient(server.url, token=server.token) as client:
            sem = asyncio.Semaphore(50)

            async def one() -> str:
                async with sem:
                    result = await client.workflows.invoke(
                        "emit", {"count": per_run - 2, "size": LOG_SIZE}, wait=True
                    )
                    return result.run_id

            return list(await asyncio.gather(*(one() for _ in range(streams))))

    fan_ids = asyncio.run(create())
    with FlueClient(server.url, token=server.token) as client:
        catchup_run = client.workflows.invoke(
            "emit", {"count": CATCHUP_EVENTS - 2, "size": LOG_SIZE}, wait=True
        ).run_id
    results: dict[str, list[dict[str, Any]]] = {"single": [], "fan": []}
    with tempfile.TemporaryDirectory() as tmp:
        single_path, fan_path = Path(tmp, "single.json"), Path(tmp, "fan.json")
        single_path.write_text(json.dumps([catchup_run]))
        fan_path.write_text(json.dumps(fan_ids))
        for _ in range(repeats):
            for kind, path in (("single", single_path), ("fan", fan_path)):
                results[kind].append(
                    run_child("benchmarks.fanin", server.url, server.token, str(path))
                )
    summary: dict[str, Any] = {}
    for kind, rows in results.items():
        summary[kind] = {
            key: median([float(row[key]) for row in rows])
            for key in (
                "streams",
                "events",
                "seconds",
                "cpu_seconds",
                "events_per_s",
                "cpu_us_per_event",
            )
        }
    summary["cpu_ratio"] = (
        summary["fan"]["cpu_us_per_event"] / summary["single"]["cpu_us_per_event"]
    )
    log(f"fan-in: {summary}")
    return summary


if __name__ == "__main__":
    sys.exit(main())
