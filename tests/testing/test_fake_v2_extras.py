"""The Flue 2.x fake beyond the shared raw-HTTP suite (test_raw_http_v2.py): what only the fake
offers (its line option, mounts, the error log, the CLI's --line 2, the v2 fixtures) and the
beta.9 routes it must not serve, plus the 2.x example against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from flue.testing import Fault, FlueTestServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_line_is_checked_and_1_0_stays_the_default() -> None:
    with pytest.raises(ValueError, match="line must be"):
        FlueTestServer(line="3")  # type: ignore[arg-type]
    assert FlueTestServer().line == "1.0"
    one = FlueTestServer()
    with pytest.raises(ValueError, match="line='2'"):
        one.add_agent("bot", mount="/api/chat")
    with pytest.raises(ValueError, match="line='2'"):
        one.add_mount("/api/chat", None)
    with pytest.raises(RuntimeError, match="no workflow runs"):
        FlueTestServer(line="2").create_run()
    with pytest.raises(ValueError, match="a mount is a path"):
        FlueTestServer(line="2").add_agent("bot", mount="api/chat/")


def test_line_2_serves_no_runs_and_no_beta9_body(flue_server_v2_thread: FlueTestServer) -> None:
    url = flue_server_v2_thread.url
    for path in ("/runs/run_1", "/workflows/emit", "/agents/assistant", "/"):
        resp = requests.post(url + path, json={}, timeout=5)
        assert (resp.status_code, resp.text) == (404, "404 Not Found")
    resp = requests.post(f"{url}/agents/assistant/c1", json={"message": "hi"}, timeout=5)
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request"


def test_faults_and_the_fault_log_on_line_2(flue_server_v2_thread: FlueTestServer) -> None:
    server = flue_server_v2_thread
    rule = server.faults.add(Fault.status(500, retry_after=1), times=1, mode="invoke")
    resp = requests.post(
        f"{server.url}/agents/assistant/c1", json={"kind": "user", "body": "x"}, timeout=5
    )
    assert resp.status_code == 500 and rule.hits == 1
    ref = resp.json()["error"]["ref"]
    assert resp.headers["flue-error-ref"] == ref and resp.headers["Retry-After"] == "1"
    assert server.error_log == [f"{ref} injected fault: HTTP 500"]
    assert [r.mode for r in server.requests] == ["invoke"]
    server.faults.add(Fault.status(503), times=1, mode="catch-up")
    read = f"{server.url}/agents/assistant/c1?view=updates&offset=-1"
    assert requests.get(read, timeout=5).status_code == 503
    assert requests.get(read, timeout=5).status_code == 404  # nothing was admitted


@pytest.mark.flue_server(token="tk")
async def test_the_async_v2_fixture(flue_server_v2: FlueTestServer) -> None:
    assert flue_server_v2.line == "2" and flue_server_v2.token == "tk"


def test_cli_line_2_and_the_conversation_example() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flue.testing", "--line", "2", "--token", "tk", "--mount", "/c"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().rsplit(" ", 1)[1].strip()
        env = {**os.environ, "FLUE_BASE_URL": url, "FLUE_TOKEN": "tk"}
        out = subprocess.run(
            [sys.executable, str(EXAMPLES / "conversation.py"), "/c/ex-1"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines[0] == "reply: echo: Hello there"
        assert "(repeat deduplicated: True)" in lines[1]
        assert "submission failed: operation_failed" in lines
        assert "history: 8 messages, 4 settled" in lines
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run(
        [sys.executable, "-m", "flue.testing", "--mount", "/c"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "--line 2" in bad.stderr
