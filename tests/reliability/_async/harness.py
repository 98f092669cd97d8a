"""Chaos consumers, written once against the async client (``_sync/harness.py`` is generated).

`run_chaos` streams one run through random faults with one client; `run_crash_resume` reads it
in segments, each by a new client that is given nothing but the offset the previous one saved;
`run_cuts` reads it through a proxy that cuts every connection, often inside a page.
All three return the figures (`Tally`) instead of asserting, so the report script can use them.
"""

from __future__ import annotations

import random

from flue import AsyncFlueClient, FlueError
from tests.reliability import badinput
from tests.reliability.badinput import Case
from tests.reliability.chaos import (
    CUT_MAX,
    CUT_MIN,
    CUT_PADDING,
    CUT_RETRY,
    EVENTS,
    MAX_GIVE_UPS,
    RETRY,
    TIMEOUT,
    TOKEN,
    Mode,
    Segment,
    Tally,
    Writer,
    chaos_server,
    injected,
    install_faults,
    last_covered,
    now,
    tally,
)
from tests.reliability.cutproxy import CuttingProxy

#: the fake server's page / SSE batch size: the most a resume may re-deliver
BATCH = 100


def new_client(url: str) -> AsyncFlueClient:
    return AsyncFlueClient(url, token=TOKEN, timeout=TIMEOUT, retry=RETRY)


async def read_stream(
    client: AsyncFlueClient,
    run_id: str,
    live: Mode,
    *,
    offset: str = "-1",
    stop_after: int | None = None,
) -> Segment:
    """Read events until the run ends, or stop ("crash") after `stop_after` of them."""
    segment = Segment(start_offset=offset)
    async with client.runs.stream(run_id, offset=offset, live=live) as stream:  # type: ignore[arg-type]
        async for event in stream:
            segment.indexes.append(event.event_index)
            segment.offsets.append(stream.offset)
            if stop_after is not None and len(segment.indexes) >= stop_after:
                break
        segment.saved = stream.offset
        segment.closed = stream.closed
    return segment


async def _events_until_the_end(
    client: AsyncFlueClient, run_id: str, result: Tally, writer: Writer
) -> None:
    """Call ``runs.events()`` until the run's end is in it; each answer must be a prefix.

    Each call gives the (paced) writer its turn to append a chunk while the call is under
    way, so there is at least one call per chunk however fast either side runs.
    """
    while True:
        writer.turn()
        events = await client.runs.events(run_id)
        indexes = [event.event_index for event in events]
        top = max(indexes, default=-1)
        part = tally(top + 1, indexes)
        result.expected += part.expected
        result.delivered += part.delivered
        result.duplicates += part.duplicates
        result.lost += part.lost
        result.out_of_order += part.out_of_order
        result.resumes += 1
        if events and events[-1].type == "run_end":
            if top + 1 != EVENTS + 2 and result.expected:
                result.violations.append(f"the last events() answer ended at {top}")
            return


async def run_chaos(mode: Mode, seed: int, *, n: int = EVENTS, scale: float = 1.0) -> Tally:
    """Stream a run of `n` events, appended while it is read, through random faults."""
    with chaos_server(seed) as server:
        run_id = str(server.create_run(workflow="chaos"))
        rules = install_faults(server, run_id, mode, seed, scale=scale)
        writer = Writer(server, run_id, n, seed, paced=mode == "events").start()
        started = now()
        try:
            async with new_client(server.url) as client:
                if mode == "events":
                    result = Tally(expected=0, delivered=0, duplicates=0, lost=0, out_of_order=0)
                    await _events_until_the_end(client, run_id, result, writer)
                else:
                    segment = await read_stream(client, run_id, mode)
                    result = tally(n + 2, segment.indexes)
                    if not segment.closed:
                        result.violations.append("the stream ended without being closed")
        finally:
            writer.stop()
        result.seconds = now() - started
        result.faults = injected(rules)
        result.requests = len(server.requests)
    return result


async def run_crash_resume(
    mode: Mode, seed: int, *, n: int = EVENTS, crashes: int = 6, scale: float = 0.5
) -> Tally:
    """Read a run in segments: each reader stops at a random point, the next one resumes
    with a new client from nothing but the saved ``stream.offset``."""
    rng = random.Random(seed * 31 + 7)
    with chaos_server(seed) as server:
        run_id = str(server.create_run(workflow="chaos"))
        rules = install_faults(server, run_id, mode, seed, scale=scale)
        writer = Writer(server, run_id, n, seed).start()
        started = now()
        segments: list[Segment] = []
        saved = "-1"
        try:
            for k in range(crashes + 1):
                stop_after = rng.randint(1, 2 * n // (crashes + 1)) if k < crashes else None
                async with new_client(server.url) as client:
                    segment = await read_stream(
                        client, run_id, mode, offset=saved, stop_after=stop_after
                    )
                segments.append(segment)
                saved = segment.saved
                if segment.closed:
                    break
        finally:
            writer.stop()
        seconds = now() - started
        requests = len(server.requests)
    union = [index for segment in segments for index in segment.indexes]
    result = tally(n + 2, union)
    result.seconds, result.requests, result.faults = seconds, requests, injected(rules)
    result.resumes = len(segments) - 1
    if not segments[-1].closed:
        result.violations.append("the last reader did not reach the end of the run")
    for k, segment in enumerate(segments):
        if not segment.indexes:
            continue
        if k:
            start = last_covered(segments[k - 1].saved) + 1
            if segment.indexes[0] != start:
                result.violations.append(
                    f"resume {k} from {segments[k - 1].saved!r} started at event "
                    f"{segment.indexes[0]}, not {start}"
                )
        covered = last_covered(segment.saved)
        last = segment.indexes[-1]
        if covered > last:
            result.violations.append(f"checkpoint {segment.saved!r} is ahead of event {last}")
        if not segment.closed:
            in_flight = last - covered
            if in_flight > BATCH:
                result.violations.append(f"{in_flight} events in flight (batch is {BATCH})")
            result.redelivered_expected += in_flight
    if result.duplicates != result.redelivered_expected:
        result.violations.append(
            f"{result.duplicates} duplicates, but {result.redelivered_expected} in flight"
        )
    return result


async def _read_through_cuts(
    client: AsyncFlueClient, run_id: str, mode: Mode, result: Tally
) -> tuple[list[int], bool]:
    """Every event index read in `mode`, and whether the read ended at the run's end.

    A read that gives up (raises a `FlueError`) is counted in ``result.give_ups`` and started
    again from its offset (``runs.events()``: called again), at most `MAX_GIVE_UPS` times.
    """
    indexes: list[int] = []
    offset = "-1"
    while True:
        try:
            if mode == "events":
                events = await client.runs.events(run_id)
                ended = bool(events) and events[-1].type == "run_end"
                return [event.event_index for event in events], ended
            async with client.runs.stream(run_id, offset=offset, live=mode) as stream:
                try:
                    async for event in stream:
                        indexes.append(event.event_index)
                finally:
                    offset = stream.offset
                return indexes, stream.closed
        except FlueError as exc:
            result.give_ups += 1
            result.violations.append(f"gave up: {exc}"[:300])
            if result.give_ups > MAX_GIVE_UPS:
                return indexes, False


async def run_cuts(mode: Mode, seed: int, *, n: int = EVENTS) -> Tally:
    """Read a run of `n` events (growing while it is read; ``events``: once it has ended)
    through a proxy that cuts every connection after a seeded 1.5-40 KB, the fake server
    paging 100 events (~20 KB): no server faults, only cuts, many of them inside a page."""
    with (
        chaos_server(seed) as server,
        CuttingProxy(server.url, seed=seed, min_bytes=CUT_MIN, max_bytes=CUT_MAX) as proxy,
    ):
        run_id = str(server.create_run(workflow="chaos"))
        writer = Writer(server, run_id, n, seed, padding=CUT_PADDING).start()
        result = Tally(expected=0, delivered=0, duplicates=0, lost=0, out_of_order=0)
        started = now()
        try:
            if mode == "events":  # one call reads the whole run: let the run end first
                writer.finished.wait(60)
                started = now()
            async with AsyncFlueClient(
                proxy.url, token=TOKEN, timeout=TIMEOUT, retry=CUT_RETRY
            ) as client:
                indexes, closed = await _read_through_cuts(client, run_id, mode, result)
        finally:
            writer.stop()
        seconds = now() - started
        cuts = len(proxy.cuts)
        requests = len(server.requests)
    figures = tally(n + 2, indexes)
    figures.give_ups, figures.violations = result.give_ups, result.violations
    if not closed:
        figures.violations.append("the read did not reach the end of the run")
    figures.seconds, figures.requests = seconds, requests
    figures.faults = {"connection cut at 1.5-40 KB": cuts}
    return figures


async def provoke(case: Case, url: str) -> tuple[FlueError, float]:
    """Meet the misbehaving server of `case`; return the error raised and the seconds it took.

    Only a `FlueError` is caught: anything else (an exception of requests, aiohttp, json or
    asyncio) escapes and fails the caller.
    """
    # `events` cases speak the paged-GET catch-up (the default catch-up reads over SSE)
    options = {
        "timeout": badinput.TIMEOUT,
        "retry": badinput.RETRY,
        "catchup": "get",
        **case.options,
    }
    started = now()
    async with AsyncFlueClient(url, token=TOKEN, **options) as client:
        try:
            if case.call == "get":
                await client.runs.get("run_1")
            elif case.call == "invoke":
                await client.workflows.invoke("w", {"n": 1})
            elif case.call == "events":
                await client.runs.events("run_1")
            else:
                live: Mode = case.call
                async for _ in client.runs.stream("run_1", live=live):  # type: ignore[arg-type]
                    pass
        except FlueError as exc:
            return exc, now() - started
    raise AssertionError(f"{case.id}: no error was raised")
