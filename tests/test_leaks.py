"""No unclosed session, connection or socket across the client suites, in both flavours.

The client test files run again in a child ``python -X dev`` (ResourceWarnings shown, asyncio
debug mode) where a ResourceWarning is an error; a warning raised in a finaliser reaches
pytest as an unraisable exception, which is made an error too. aiohttp reports an unclosed
session or connector through the loop's exception handler ("Unclosed client session"): the
output is searched for that as well.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITES = [
    "tests/_async",
    "tests/_sync",
    "tests/test_lifecycle_flavours.py",
]
LEAK_WORDS = ("Unclosed", "unclosed", "ResourceWarning", "never retrieved")


def test_the_client_suites_leak_nothing() -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "error::ResourceWarning",
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "-W",
            "error::ResourceWarning",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
            *SUITES,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    leaks = [line for line in output.splitlines() if any(w in line for w in LEAK_WORDS)]
    assert leaks == [], "\n".join(leaks[:40])
