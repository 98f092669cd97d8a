"""Run every benchmark side by side and report: ``nox -s bench`` (or
``python -m benchmarks.run [--quick]`` from the repository root, after
``python -m tools.flue_servers --provision-only``).

Starts the real Flue server of the interop app (and flue.testing servers in separate
processes), measures, prints the tables, writes ``benchmarks/results.json``,
``benchmarks/catchup.png`` and the generated parts of ``BENCHMARKS.md``. A subset (``--only``)
rewrites only its own parts: the reconnect and live fan-in sections have their own markers, and
results.json keeps the sections that did not run.

Each section is a module with ``bench(quick, log)`` (the real-server sections also take the
server they share, started once): ``imports``, then ``catchup``, ``live``, ``fanin`` and
``cuts`` on the real server, then ``sse_decoder``, ``memory``, ``reconnect``, ``livefanin``
and ``observe``. ``benchmarks/report.py`` renders what they return.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from typing import Any

from benchmarks import (
    catchup,
    cuts,
    fanin,
    imports,
    live,
    livefanin,
    memory,
    observe,
    reconnect,
    sse_decoder,
)
from benchmarks.common import REPO, machine, versions
from benchmarks.report import (
    PLOT,
    REPORT,
    RESULTS,
    log,
    plot,
    print_tables,
    write_report,
    write_results,
)

#: The sections that need no shared server, in the order they run (after imports and the
#: real-server sections)
SECTIONS = {
    "sse": sse_decoder,
    "memory": memory,
    "reconnect": reconnect,
    "livefanin": livefanin,
    "observe": observe,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and events (~2 min)")
    parser.add_argument(
        "--only",
        default="catchup,live,sse,memory,fanin,cuts,imports,reconnect,livefanin,observe",
        help="comma-separated subset of catchup,live,sse,memory,fanin,cuts,imports,reconnect,"
        "livefanin,observe",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; keep the files")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile pass")
    args = parser.parse_args(argv)
    argv_given = list(sys.argv[1:] if argv is None else argv)
    only = set(args.only.split(","))
    quick = args.quick
    started = time.perf_counter()
    results: dict[str, Any] = {
        "meta": {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "quick": quick,
            "command": " ".join(
                ["nox -s bench", *(["--"] if argv_given else []), *(argv_given or [])]
            ),
            "machine": machine(),
            "versions": versions(),
            "load_before": [round(x, 2) for x in os.getloadavg()],
        }
    }
    if "imports" in only:
        # first: fresh interpreters are the figure most sensitive to load left behind by the
        # other sections (the real server, 1,000 streams)
        results["imports"] = imports.bench(quick, log)
    if only & {"catchup", "live", "fanin", "cuts"}:
        from tools.flue_servers.server import RealFlueServer

        with RealFlueServer() as server:
            log(f"real server {server.url} (pid {server.pid})")
            if "catchup" in only:
                results["catchup"] = catchup.bench(
                    quick, log, server=server, profile=not args.no_profile
                )
            if "live" in only:
                results["live"] = live.bench(quick, log, server=server)
            if "fanin" in only:
                results["fanin"] = fanin.bench(quick, log, server=server)
            if "cuts" in only:
                results["cuts"] = cuts.bench(quick, log, server=server)
    for name, section in SECTIONS.items():
        if name in only:
            results[name] = section.bench(quick, log)
    results["meta"]["seconds"] = time.perf_counter() - started
    results["meta"]["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print_tables(results)
    if results.get("catchup", {}).get("profile"):
        print("\ncProfile of flue sync runs.events() with typed models (tottime):")
        print(results["catchup"]["profile"])
    if not args.no_write:
        merged = write_results(results)
        written = [str(RESULTS.relative_to(REPO))]
        if "catchup" in results:
            plot(results["catchup"])
            written.append(str(PLOT.relative_to(REPO)))
        write_report(results, merged)
        log(f"wrote {', '.join([*written, REPORT.name])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
