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


if __name__ == "__main__":
    sys.exit(main())
