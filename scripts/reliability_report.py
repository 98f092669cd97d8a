"""Measure the reliability figures behind RELIABILITY.md (and the `nox -s soak` run).

    python scripts/reliability_report.py                    # CI seeds, print the report
    python scripts/reliability_report.py --write RELIABILITY.md
    python scripts/reliability_report.py --soak 600         # random seeds for up to 600 s
    python scripts/reliability_report.py --hostile-only --write RELIABILITY.md   # that table

For both flavours it runs the chaos scenarios of ``tests/reliability`` (a 5,000-event run
appended while it is read through random faults: long-poll, SSE, ``runs.events()``), the
crash-and-resume scenarios, the cut scenarios (the same run through a proxy cutting every
connection at 1.5-40 KB, inside Flue's 100-event pages), and every bad-input case, and records
faults injected, events expected / delivered / duplicated / lost, reads that gave up, the peak
memory traced while the scenario ran
(tracemalloc: the client and the in-process fake server together) and the time each bad input
took to end in its typed error; then every hostile-server case (``tests/reliability/hostile.py``)
with its time, peak traced memory and requests sent against its bounds. Exits 1 if any event
was lost, any ordering or checkpoint rule was broken, any case ended in anything but its typed
error, a cut scenario gave up or duplicated an event, or a hostile case broke one of its
bounds.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import platform
import random
import sys
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.reliability._async import harness as async_harness  # noqa: E402
from tests.reliability._sync import harness as sync_harness  # noqa: E402
from tests.reliability.badinput import CASES, EVENT_CAP, Case  # noqa: E402
from tests.reliability.chaos import CI_SEEDS, EVENTS, MODES, Tally  # noqa: E402
from tests.reliability.hostile import HOSTILE, Hostile  # noqa: E402
from tests.reliability.rawserver import RawServer  # noqa: E402

FLAVOURS = ("async", "sync")


def traced(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run `fn` under tracemalloc; return its result and the peak traced bytes."""
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def chaos(flavour: str, mode: Any, seed: int, crash: bool) -> Tally:
    if flavour == "async":
        coro = (
            async_harness.run_crash_resume(mode, seed)
            if crash
            else async_harness.run_chaos(mode, seed)
        )
        return asyncio.run(coro)
    if crash:
        return sync_harness.run_crash_resume(mode, seed)
    return sync_harness.run_chaos(mode, seed)


def cuts(flavour: str, mode: Any, seed: int) -> Tally:
    if flavour == "async":
        return asyncio.run(async_harness.run_cuts(mode, seed))
    return sync_harness.run_cuts(mode, seed)


def bad_input(flavour: str, case: Case) -> tuple[str, float, str]:
    """(error class name, seconds, message) for one case."""
    with RawServer(case.handler) as server:
        try:
            if flavour == "async":
                error, seconds = asyncio.run(async_harness.provoke(case, server.url))
            else:
                error, seconds = sync_harness.provoke(case, server.url)
        except BaseException as exc:  # the report must show what escaped
            return f"UNTYPED {type(exc).__module__}.{type(exc).__name__}", 0.0, str(exc)
    ok = type(error) is case.error and case.match in str(error)
    name = type(error).__name__ if ok else f"WRONG {type(error).__name__}"
    return name, seconds, str(error)


def hostile(flavour: str, case: Hostile) -> tuple[str, float, int, str]:
    """(error class name, seconds, requests sent, message) for one hostile case."""
    with RawServer(case.handler) as server:
        try:
            if flavour == "async":
                error, seconds = asyncio.run(async_harness.provoke(case, server.url))
            else:
                error, seconds = sync_harness.provoke(case, server.url)
        except BaseException as exc:  # the report must show what escaped
            return f"UNTYPED {type(exc).__module__}.{type(exc).__name__}", 0.0, 0, str(exc)
        requests = len(server.heads)
    ok = type(error) is case.error and case.match in str(error)
    name = type(error).__name__ if ok else f"WRONG {type(error).__name__}"
    return name, seconds, requests, str(error)


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


class Report:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], list[tuple[Tally, int]]] = defaultdict(list)
        self.bad: list[tuple[str, Case, str, float, int, str]] = []
        self.hostile: list[tuple[str, Hostile, str, float, int, int]] = []
        self.failures: list[str] = []

    def add_chaos(self, flavour: str, scenario: str, seed: int, tally: Tally, peak: int) -> None:
        self.rows[(scenario, flavour)].append((tally, peak))
        if tally.lost or tally.out_of_order or tally.violations:
            self.failures.append(f"{scenario} {flavour} seed {seed}: {tally}")
        if scenario.startswith(("chaos", "cuts")) and tally.duplicates:
            self.failures.append(f"{scenario} {flavour} seed {seed}: duplicates {tally}")
        if tally.give_ups:
            self.failures.append(f"{scenario} {flavour} seed {seed}: gave up {tally}")

    def add_bad(self, flavour: str, case: Case, result: tuple[str, float, str], peak: int) -> None:
        name, seconds, message = result
        self.bad.append((flavour, case, name, seconds, peak, message))
        if name != case.error.__name__:
            self.failures.append(f"bad input {case.id} ({flavour}): {name}: {message}")

    def add_hostile(
        self, flavour: str, case: Hostile, result: tuple[str, float, int, str], peak: int
    ) -> None:
        name, seconds, requests, message = result
        self.hostile.append((flavour, case, name, seconds, peak, requests))
        where = f"hostile {case.id} ({flavour})"
        if name != case.error.__name__:
            self.failures.append(f"{where}: {name}: {message}")
        if seconds >= case.seconds:
            self.failures.append(f"{where}: {seconds:.2f} s, bound {case.seconds} s")
        if case.memory_mib is not None and peak >= case.memory_mib * 2**20:
            self.failures.append(f"{where}: peak {mib(peak)}, bound {case.memory_mib} MiB")
        if case.requests is not None and requests > case.requests:
            self.failures.append(f"{where}: {requests} requests, bound {case.requests}")

    def hostile_markdown(self) -> str:
        out = ["### Hostile servers: typed error, time and memory\n"]
        out.append(
            "| case | read | flavour | error | time (bound) | peak memory (bound) "
            "| requests (bound) |"
        )
        out.append("|---|---|---|---|---:|---:|---:|")
        for flavour, case, name, secs, peak, requests in self.hostile:
            memory = mib(peak) + (f" ({case.memory_mib:g} MiB)" if case.memory_mib else "")
            sent = f"{requests}" + (f" ({case.requests})" if case.requests else "")
            out.append(
                f"| {case.name} | {case.call} | {flavour} | {name} "
                f"| {secs:.2f} s ({case.seconds:g} s) | {memory} | {sent} |"
            )
        if self.hostile:
            longest = max(self.hostile, key=lambda row: row[3])
            out.append(
                f"\nLongest: **{longest[3]:.2f} s** ({longest[1].id}, {longest[0]}). Client "
                "settings: `Timeout(read=0.5, long_poll=0.5, stall=0.5)` (`total=1.0` for the "
                "trickling cases), 3 attempts; peak memory is traced (tracemalloc) for the "
                "client and the raw-socket server together."
            )
        return "\n".join(out)

    def markdown(self, seeds: list[int], seconds: float) -> str:
        out: list[str] = []
        out.append("### Chaos, crash/resume and cuts inside a page\n")
        out.append(
            "| scenario | flavour | runs | faults injected | events expected | delivered "
            "| duplicated | lost | out of order | checkpoint violations | give-ups | peak memory "
            "| longest run |"
        )
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        kinds: dict[str, Counter[str]] = defaultdict(Counter)
        for (scenario, flavour), results in self.rows.items():
            faults = sum(t.faults_total for t, _ in results)
            for t, _ in results:
                kinds[scenario].update(t.faults)
            out.append(
                f"| {scenario} | {flavour} | {len(results)} | {faults} "
                f"| {sum(t.expected for t, _ in results)} "
                f"| {sum(t.delivered for t, _ in results)} "
                f"| {sum(t.duplicates for t, _ in results)} "
                f"| {sum(t.lost for t, _ in results)} "
                f"| {sum(t.out_of_order for t, _ in results)} "
                f"| {sum(len(t.violations) for t, _ in results)} "
                f"| {sum(t.give_ups for t, _ in results)} "
                f"| {mib(max(p for _, p in results))} "
                f"| {max(t.seconds for t, _ in results):.1f} s |"
            )
        out.append("\nFaults injected, by kind (both flavours, all seeds):\n")
        for scenario, counter in kinds.items():
            parts = ", ".join(f"{kind} {n}" for kind, n in sorted(counter.items()) if n)
            out.append(f"- **{scenario}**: {parts}")
        out.append("\n### Bad input: time to a typed error\n")
        out.append("| case | read | flavour | error | time | peak memory | message (start) |")
        out.append("|---|---|---|---|---:|---:|---|")
        for flavour, case, name, secs, peak, message in self.bad:
            short = message.replace("|", "/").replace("\n", " ")[:90]
            out.append(
                f"| {case.name} | {case.call} | {flavour} | {name} | {secs:.2f} s "
                f"| {mib(peak)} | {short} |"
            )
        longest = max(self.bad, key=lambda row: row[3])
        out.append(
            f"\nLongest time to a typed error: **{longest[3]:.2f} s** ({longest[1].id}, "
            f"{longest[0]}). Cap for the endless-line cases: max_event_size={EVENT_CAP} bytes."
        )
        out.append(
            f"\nSeeds: {seeds}; {EVENTS} events per run (+ run_start and run_end); "
            f"measured in {seconds:.0f} s on Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}."
        )
        return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(CI_SEEDS))
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of extra random seeds")
    parser.add_argument("--write", type=Path, help="write the figures into this Markdown file")
    parser.add_argument(
        "--hostile-only", action="store_true", help="measure only the hostile-server cases"
    )
    args = parser.parse_args()
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    report = Report()
    started = time.monotonic()
    seeds: list[int] = list(args.seeds)

    def run_seed(seed: int) -> None:
        for flavour in FLAVOURS:
            for mode in MODES:
                tally, peak = traced(lambda: chaos(flavour, mode, seed, False))  # noqa: B023
                report.add_chaos(flavour, f"chaos {mode}", seed, tally, peak)
            for mode in ("long-poll", "sse"):
                tally, peak = traced(lambda: chaos(flavour, mode, seed, True))  # noqa: B023
                report.add_chaos(flavour, f"crash/resume {mode}", seed, tally, peak)
            for mode in MODES:
                tally, peak = traced(lambda: cuts(flavour, mode, seed))  # noqa: B023
                report.add_chaos(flavour, f"cuts {mode}", seed, tally, peak)
        print(f"seed {seed} done ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    if not args.hostile_only:
        for seed in seeds:
            run_seed(seed)
        rng = random.Random()
        while args.soak and time.monotonic() - started < args.soak:
            seed = rng.randrange(1000, 10**6)
            seeds.append(seed)
            run_seed(seed)
        for flavour in FLAVOURS:
            for case in CASES:
                result, peak = traced(lambda: bad_input(flavour, case))  # noqa: B023
                report.add_bad(flavour, case, result, peak)
    for case in HOSTILE:
        for flavour in FLAVOURS:
            outcome, peak = traced(lambda: hostile(flavour, case))  # noqa: B023
            report.add_hostile(flavour, case, outcome, peak)
    blocks = {"hostile": report.hostile_markdown()}
    if not args.hostile_only:
        blocks["figures"] = report.markdown(seeds, time.monotonic() - started)
    for text in blocks.values():
        print(text)
    for failure in report.failures:
        print("FAILURE:", failure, file=sys.stderr)
    if args.write:
        path: Path = args.write
        doc = path.read_text(encoding="utf-8") if path.exists() else ""
        for name, text in blocks.items():
            begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
            if begin in doc and end in doc:
                head, rest = doc.split(begin, 1)
                doc = f"{head}{begin}\n{text}\n{end}{rest.split(end, 1)[1]}"
            else:
                doc += f"\n{begin}\n{text}\n{end}\n"
        path.write_text(doc, encoding="utf-8")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
