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


if __name__ == "__main__":
    sys.exit(main())
