"""Import cost of the entry points, against ``python -c pass`` and ``import requests`` measured in
the same run; and proof that a sync-only program never imports aiohttp.

Each figure is the median over fresh interpreters of the total of ``-X importtime`` (every
top-level import, the interpreter's own start-up imports included: what a command pays before it
does anything). Bytecode is written and used (``PYTHONDONTWRITEBYTECODE`` is dropped and one
untimed run goes first), as for an installed package.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.common import REPO, Log, fake_server, median

TARGET_MS = 150.0  # issue 17: `flue --help` and the CLI's `runs get`

# the console script (`flue = flue._cli.main:entry`), as the installed command runs it
CLI = "import sys; from flue._cli.main import entry; sys.argv = ['flue', *sys.argv[1:]]; entry()"

# (label, program, argv template, has target); {url} and {run} are filled in
FIGURES: list[tuple[str, str, tuple[str, ...], bool]] = [
    ("python -c pass (baseline: interpreter start-up)", "pass", (), False),
    ("import requests (baseline: the HTTP library alone)", "import requests", (), False),
    (
        "import requests, attrs (baseline: the libraries a `runs get` needs)",
        "import requests, attrs",
        (),
        False,
    ),
    ("flue --help", CLI, ("--help",), True),
    (
        "flue runs get RUN (CLI, flue.testing)",
        CLI,
        ("--base-url", "{url}", "runs", "get", "{run}"),
        True,
    ),
    ("import flue", "import flue", (), False),
    ("import flue; flue.FlueClient", "import flue; flue.FlueClient", (), False),
    ("import flue; flue.AsyncFlueClient", "import flue; flue.AsyncFlueClient", (), False),
    (
        "library: FlueClient(url).runs.get(run), first call",
        "import sys, flue; flue.FlueClient(sys.argv[1]).runs.get(sys.argv[2])",
        ("{url}", "{run}"),
        False,
    ),
    (
        "library: runs.events(run), first call (event classes)",
        "import sys, flue; flue.FlueClient(sys.argv[1]).runs.events(sys.argv[2])",
        ("{url}", "{run}"),
        False,
    ),
]

# A sync-only program: the blocking client, a run record, a catch-up read and a live stream
# against a server in ANOTHER process (passed as argv[1]); then list what got imported.
SYNC_ONLY = r"""
import sys, json
import flue
client = flue.FlueClient(sys.argv[1])
run = client.workflows.invoke("emit", {"count": 5}, wait=True)
client.runs.get(run.run_id)
client.runs.events(run.run_id)
for _ in client.runs.stream(run.run_id, live="sse"):
    pass
for _ in client.runs.stream(run.run_id, live=True):
    pass
client.close()
print(json.dumps({"aiohttp": "aiohttp" in sys.modules,
                  "flue_async": any(m.startswith("flue._async") for m in sys.modules),
                  "modules": len(sys.modules)}))
"""

_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def import_ms(code: str, argv: tuple[str, ...] = ()) -> tuple[float, list[tuple[int, str]]]:
    """Total import time (ms) of one fresh interpreter running `code`, and its top-level
    imports as (µs, module)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=_ENV,
    )
    top: list[tuple[int, str]] = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and not name.startswith("  "):  # not nested
            top.append((int(cumulative), name.strip()))
    return sum(us for us, _ in top) / 1000, top


def import_times(url: str, run_id: str, repeats: int) -> dict[str, Any]:
    """Median import ms of every figure, interleaved (one interpreter of each in turn)."""
    figures = [
        (label, code, tuple(a.format(url=url, run=run_id) for a in argv), target)
        for label, code, argv, target in FIGURES
    ]
    for _, code, argv, _ in figures:
        import_ms(code, argv)  # writes the bytecode; not timed
    samples: dict[str, list[float]] = {label: [] for label, *_ in figures}
    heaviest: dict[str, list[tuple[int, str]]] = {}
    for _ in range(repeats):
        for label, code, argv, _ in figures:
            ms, top = import_ms(code, argv)
            samples[label].append(ms)
            heaviest[label] = sorted(top, reverse=True)[:6]
    return {
        "repeats": repeats,
        "target_ms": TARGET_MS,
        "figures": [
            {
                "label": label,
                "median_ms": round(median(samples[label]), 1),
                "min_ms": round(min(samples[label]), 1),
                "target": target,
                "top": [f"{name} {us / 1000:.1f}" for us, name in heaviest[label]],
            }
            for label, _, _, target in figures
        ],
    }


def sync_only_proof(url: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SYNC_ONLY, url],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def bench(quick: bool, log: Log) -> dict[str, Any]:
    """Section 6: :func:`import_times` (5 interleaved rounds when ``quick``, else 15) and
    :func:`sync_only_proof`, against flue.testing in its own process."""
    from flue import FlueClient

    repeats = 5 if quick else 15
    with fake_server() as url:
        with FlueClient(url) as client:
            run_id = client.workflows.invoke("emit", {"count": 10}, wait=True).run_id
        out: dict[str, Any] = import_times(url, run_id, repeats)
        out["sync_only"] = sync_only_proof(url)
    log(f"imports: {out}")
    return out


def render(i: dict[str, Any]) -> list[str]:
    """The markdown of the imports section."""
    if "figures" not in i:  # a results.json written before these figures existed
        return []
    figures = {f["label"]: f for f in i["figures"]}
    base = figures[FIGURES[0][0]]["median_ms"]
    requests_ms = figures[FIGURES[1][0]]["median_ms"]
    lines = [
        f"Total `-X importtime` of a fresh interpreter (start-up imports included), median of "
        f"{i['repeats']} interleaved runs, bytecode cached. Target: {i['target_ms']:.0f} ms for "
        "`flue --help` and the CLI's `runs get`.",
        "",
        "| program | import ms | over `pass` | vs `import requests` | target "
        "| heaviest top-level imports (ms) |",
        "|---|---:|---:|---:|---|---|",
    ]
    for f in i["figures"]:
        target = ""
        if f["target"]:
            met = f["median_ms"] < i["target_ms"]
            target = f"< {i['target_ms']:.0f} ms: {'met' if met else 'NOT met'}"
        lines.append(
            f"| {f['label']} | {f['median_ms']:.1f} | {f['median_ms'] - base:+.1f} | "
            f"{f['median_ms'] / requests_ms:.2f}x | {target} | {', '.join(f['top'][:4])} |"
        )
    s = i["sync_only"]
    lines += [
        "",
        f"- A sync-only program (invoke, `runs.get`, `runs.events`, SSE and long-poll streams "
        f"against flue.testing in another process): `aiohttp` in `sys.modules`: "
        f"**{s['aiohttp']}**, any `flue._async` module: **{s['flue_async']}**.",
    ]
    return lines
