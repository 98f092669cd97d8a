"""An asyncio service following several runs at once, one task per run.

FLUE_BASE_URL=http://127.0.0.1:8787 FLUE_TOKEN=... python examples/async_service.py
"""

from __future__ import annotations

import asyncio
from collections import Counter

from flue import AsyncFlueClient
from flue.models import RunEndEvent


async def follow(client: AsyncFlueClient, run_id: str, counts: Counter[str]) -> None:
    async with client.runs.stream(run_id, live="long-poll") as stream:
        async for event in stream:
            counts[run_id] += 1
            if isinstance(event, RunEndEvent):
                status = "errored" if event.is_error else "completed"
                print(f"{run_id}: {status} after {counts[run_id]} events")


async def main() -> int:
    async with AsyncFlueClient() as client:
        started = await asyncio.gather(
            *(client.workflows.invoke("emit", {"count": n, "delayMs": 20}) for n in (3, 6, 9))
        )
        failing = await client.workflows.invoke("fail", {"message": "boom", "before": 2})
        run_ids = [s.run_id for s in started] + [failing.run_id]
        counts: Counter[str] = Counter()
        await asyncio.gather(*(follow(client, run_id, counts) for run_id in run_ids))
        print(f"followed {len(run_ids)} runs, {sum(counts.values())} events in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
