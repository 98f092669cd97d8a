"""``python -m benchmarks.memory URL RUN_ID MODE``: stream one long run with typed models and
report RSS (run in a fresh process; the server lives in another one).

Prints one JSON line: events read, RSS before streaming, peak RSS (a thread samples
``/proc/self/statm`` every 2 ms; ``ru_maxrss`` is not used: on Linux it can carry the parent's
high-water mark over fork+exec), RSS samples every 50,000 events, seconds.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchmarks.common import Log


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def main() -> int:
    url, run_id, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    from flue import FlueClient

    live: object = {"sse": "sse", "long-poll": True}[mode]
    client = FlueClient(url)
    client.runs.get(run_id)  # warm the connection pool and imports
    gc.collect()
    before = rss_mb()
    peak = before
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.002):
            peak = max(peak, rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    samples: list[tuple[int, float]] = []
    count = 0
    started = time.perf_counter()
    for _event in client.runs.stream(run_id, live=live):  # type: ignore[call-overload]
        count += 1
        if count % 50_000 == 0:
            samples.append((count, round(rss_mb(), 1)))
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    peak = max(peak, rss_mb())
    client.close()
    print(
        json.dumps(
            {
                "events": count,
                "mode": mode,
                "rss_before_mb": round(before, 1),
                "peak_rss_mb": round(peak, 1),
                "growth_mb": round(peak - before, 1),
                "samples": samples,
                "seconds": round(seconds, 2),
            }
        )
    )
    return 0


# -- the section (run by benchmarks/run.py; the child above runs in a fresh process) -------


def bench(quick: bool, log: Log) -> dict[str, Any]:
    """Section 4: one long run in flue.testing (200,000 events when ``quick``, else 1,000,000),
    read by the child above once per mode (``sse``; and ``long-poll`` unless ``quick``)."""
    # imported here, not at the top: the child's baseline RSS stays what it was
    from benchmarks.catchup import LOG_SIZE
    from benchmarks.common import fake_server, run_child
    from flue import FlueClient

    events = 200_000 if quick else 1_000_000
    modes = ["sse"] if quick else ["sse", "long-poll"]
    out: dict[str, Any] = {}
    with fake_server() as url:
        with FlueClient(url) as client:
            run = client.workflows.invoke(
                "bulk", {"count": events - 2, "size": LOG_SIZE, "chunk": 5000}, wait=True
            )
        for mode in modes:
            out[mode] = run_child("benchmarks.memory", url, run.run_id, mode, timeout=900)
            log(f"memory {mode}: {out[mode]}")
    return out


if __name__ == "__main__":
    sys.exit(main())
