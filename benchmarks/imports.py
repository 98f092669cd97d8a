"""``import flue`` time, and proof that a sync-only program never imports aiohttp."""

from __future__ import annotations

import json
import subprocess
import sys

from benchmarks.common import REPO, median

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


def _time_one(code: str) -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    # the last line of -X importtime is the outermost import of `code`
    for line in reversed(out.stderr.splitlines()):
        if line.startswith("import time:") and line.rstrip().endswith("| flue"):
            return int(line.split("|")[1]) / 1e6
    raise RuntimeError("no import time line for flue")


def import_times(repeats: int) -> dict[str, float]:
    """Median seconds, each in a fresh interpreter: ``import flue`` (``-X importtime``,
    cumulative), and ``import flue`` plus the first touch of the sync / async client class
    (``perf_counter`` inside the child, so interpreter start-up is excluded)."""
    return {
        "import_flue_s": median([_time_one("import flue") for _ in range(repeats)]),
        "sync_client_import_s": median(
            [_wall("import flue; flue.FlueClient") for _ in range(repeats)]
        ),
        "async_client_import_s": median(
            [_wall("import flue; flue.AsyncFlueClient") for _ in range(repeats)]
        ),
    }


def _wall(code: str) -> float:
    program = f"import time; _t = time.perf_counter(); {code}; print(time.perf_counter() - _t)"
    out = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def sync_only_proof(url: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", SYNC_ONLY, url],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
