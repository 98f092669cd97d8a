"""The examples run against the demo server (`flue.testing`'s emit/fail workflows)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from flue.testing import FlueTestServer
from tests.conftest import TOKEN

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(server: FlueTestServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FLUE_BASE_URL": server.url, "FLUE_TOKEN": TOKEN}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, env=env, check=False
    )


def test_blocking_script(server: FlueTestServer) -> None:
    proc = run_example(server, str(EXAMPLES / "blocking_script.py"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("started run_")
    assert [line.split()[1] for line in lines[1:-1]] == ["run_start"] + ["log"] * 5 + ["run_end"]
    assert lines[-1] == "run completed: {'emitted': 5, 'size': 0}"


def test_async_service(server: FlueTestServer) -> None:
    proc = run_example(server, str(EXAMPLES / "async_service.py"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.count(": completed after") == 3 and out.count(": errored after") == 1
    assert out.splitlines()[-1] == "followed 4 runs, 28 events in all"  # 5+8+11 + 4


def test_resumable_tail(server: FlueTestServer, tmp_path: Path) -> None:
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "message": str(i)} for i in range(249)])
    server.end_run(run)
    ckpt = tmp_path / "ckpt"
    script = str(EXAMPLES / "resumable_tail.py")
    crashed = run_example(server, script, str(run), str(ckpt), "--stop-after", "130")
    assert crashed.returncode == 3
    first = [int(line.split()[0]) for line in crashed.stdout.splitlines()]
    resumed = run_example(server, script, str(run), str(ckpt))
    assert resumed.returncode == 0, resumed.stderr
    second = [int(line.split()[0]) for line in resumed.stdout.splitlines()]
    assert first == list(range(130))
    # the saved position is exact: the restart starts with event 130, none again
    assert second == list(range(130, 251))


def test_agent_relay(server: FlueTestServer) -> None:
    script = str(EXAMPLES / "agent_relay.py")
    proc = run_example(server, script, "assistant", "relay-1", "Hello there", "think: and you?")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-4:] == [
        "user: Hello there",
        "assistant: echo: Hello there",
        "user: think: and you?",
        "assistant: echo: and you?",
    ]
    assert lines[:4] == ["+ user message", "+ assistant message"] * 2
    relayed = int(lines[4].split()[1])
    assert lines[4] == f"relayed {relayed} updates" and relayed >= 4
