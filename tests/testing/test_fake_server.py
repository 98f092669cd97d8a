"""Fake-only behaviour of FlueTestServer: run control, configuration, timing, fixtures, CLI.

These need the fake's knobs (short windows, programmatic runs), so they do not run against a
real server. Timing tests shrink the windows to fractions of a second.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

import flue
from flue.testing import FlueTestServer, RunContext, WorkflowError

from .test_raw_http import off, sse_frames

TIMEOUT = (5, 15)
ROOT = Path(flue.__file__).parent.parent  # where this `flue` is imported from


def wait_until(condition: Any, deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


# -- run control ----------------------------------------------------------------------------------


def test_created_runs_are_readable_and_decorated(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = server.create_run(workflow="demo", input={"x": 1})
    stored = run.append([{"type": "log", "level": "info", "message": "a"}, {"type": "idle"}])
    assert [e["eventIndex"] for e in stored] == [1, 2]
    custom = server.append(run.run_id, {"type": "mystery", "v": 4, "extra": [1]})
    assert custom[0]["v"] == 4 and custom[0]["extra"] == [1] and custom[0]["eventIndex"] == 3
    end = run.end({"ok": True})
    assert end["type"] == "run_end" and end["eventIndex"] == 4
    events = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT).json()
    assert events == server.events(run)
    assert [e["type"] for e in events] == ["run_start", "log", "idle", "mystery", "run_end"]
    assert all(e["runId"] == run.run_id for e in events)
    record = server.run_record(run)
    assert record["status"] == "completed" and record["result"] == {"ok": True}
    assert record["input"] == {"x": 1}


def test_end_run_with_an_error(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = server.create_run()
    end = server.end_run(run, error=WorkflowError("bad"))
    assert end["error"] == {"name": "Error", "message": "bad"} and end["result"] is None
    assert server.run_record(run)["status"] == "errored"
    other = server.create_run()
    assert other.end(error="text")["error"] == {"name": "Error", "message": "text"}
    with pytest.raises(RuntimeError):
        other.end()


def test_append_wakes_a_waiting_long_poll_at_once(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = server.create_run()
    result: dict[str, Any] = {}

    def poll() -> None:
        result["resp"] = requests.get(
            f"{server.url}/runs/{run}?offset={off(0)}&live=long-poll", timeout=TIMEOUT
        )

    thread = threading.Thread(target=poll)
    thread.start()
    wait_until(lambda: any(r.mode == "long-poll" for r in server.requests))
    run.append({"type": "log", "level": "info", "message": "wake"})
    thread.join(5)
    resp = result["resp"]
    assert resp.status_code == 200
    assert resp.json()[0]["message"] == "wake"


def test_run_end_without_close_then_close_stream(flue_server_thread: FlueTestServer) -> None:
    # A real server may answer a long-poll with run_end before the stream is closed.
    server = flue_server_thread
    run = server.create_run()
    run.end({"done": 1}, close=False)
    url = f"{server.url}/runs/{run}"
    first = requests.get(f"{url}?offset={off(0)}&live=long-poll", timeout=TIMEOUT)
    assert first.json()[0]["type"] == "run_end"
    assert "Stream-Closed" not in first.headers
    server.close_stream(run)
    second = requests.get(f"{url}?offset={off(1)}&live=long-poll", timeout=TIMEOUT)
    assert second.status_code == 204 and second.headers["Stream-Closed"] == "true"


def test_deleted_runs_answer_404(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run()
    flue_server_thread.delete_run(run)
    resp = requests.get(f"{flue_server_thread.url}/runs/{run}", timeout=TIMEOUT)
    assert resp.status_code == 404
    assert run.run_id not in flue_server_thread.run_ids


def test_registered_python_workflows_run_over_http(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread

    @server.workflow("double")
    async def double(run: RunContext, value: Any) -> Any:
        run.log("doubling", {"value": value["n"]})
        return value["n"] * 2

    resp = requests.post(f"{server.url}/workflows/double?wait=result", json={"n": 21})
    assert resp.json()["result"] == 42
    events = server.events(resp.json()["runId"])
    assert [e["type"] for e in events] == ["run_start", "log", "run_end"]

    async def broken(run: RunContext, value: Any) -> Any:
        raise KeyError("missing")

    server.add_workflow("broken", broken)
    resp = requests.post(f"{server.url}/workflows/broken", json={})
    record = wait_record(server, resp.json()["runId"])
    assert record["error"] == {"name": "KeyError", "message": "'missing'"}


def wait_record(server: FlueTestServer, run_id: str) -> dict[str, Any]:
    wait_until(lambda: server.run_record(run_id)["status"] != "active")
    return server.run_record(run_id)


# -- configuration and timing ---------------------------------------------------------------------


@pytest.mark.flue_server(page_size=3)
def test_page_size_is_configurable(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run()
    run.append([{"type": "idle"}] * 5)
    resp = requests.get(f"{flue_server_thread.url}/runs/{run}", timeout=TIMEOUT)
    assert len(resp.json()) == 3
    assert resp.headers["Stream-Next-Offset"] == off(2)
    assert "Stream-Up-To-Date" not in resp.headers


@pytest.mark.flue_server(long_poll_timeout=0.2)
def test_long_poll_answers_204_after_the_window(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run()
    began = time.monotonic()
    resp = requests.get(
        f"{flue_server_thread.url}/runs/{run}?offset=now&live=long-poll", timeout=TIMEOUT
    )
    assert time.monotonic() - began >= 0.2
    assert resp.status_code == 204
    assert resp.headers["Stream-Next-Offset"] == off(0)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers
    assert "content-type" not in resp.headers


@pytest.mark.flue_server(sse_heartbeat=0.1, sse_keepalive=0.25)
def test_sse_heartbeats_and_double_keepalive(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = server.create_run()
    resp = requests.get(f"{server.url}/runs/{run}?offset=now&live=sse", stream=True, timeout=5)
    chunks = resp.iter_content(chunk_size=None)
    raw = b""
    while raw.count(b"event: control") < 3:
        raw += next(chunks)
    server.end_run(run)
    for chunk in chunks:
        raw += chunk
    frames = sse_frames(raw)
    kinds = [event for event, _ in frames]
    assert kinds[0] == "control"
    assert kinds[1:3] == [None, None]  # heartbeats at 0.1 s and 0.2 s
    assert frames[1] == (None, "heartbeat")
    assert kinds[3:5] == ["control", "control"]
    assert frames[3] == frames[4]  # the idle keep-alive comes twice
    assert json.loads(frames[3][1])["upToDate"] is True
    assert json.loads(frames[-1][1]) == {"streamNextOffset": off(1), "streamClosed": True}


def test_stopping_ends_waiting_reads(flue_server_thread: FlueTestServer) -> None:
    with FlueTestServer.running_in_thread() as server:
        run = server.create_run()
        url = server.url
        results: list[Any] = []

        def poll() -> None:
            try:
                results.append(requests.get(f"{url}/runs/{run}?offset=now&live=long-poll"))
            except requests.RequestException as exc:
                results.append(exc)

        thread = threading.Thread(target=poll)
        thread.start()
        wait_until(lambda: len(server.requests) == 1)
        began = time.monotonic()
    assert time.monotonic() - began < 5
    thread.join(5)
    assert results


@pytest.mark.flue_server(token="s3cret", unauthorized_status=404)
def test_unauthorized_reads_can_answer_404_like_flue(flue_server_thread: FlueTestServer) -> None:
    run = flue_server_thread.create_run()
    resp = requests.get(f"{flue_server_thread.url}/runs/{run}", timeout=TIMEOUT)
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "run_not_found"
    ok = requests.get(
        f"{flue_server_thread.url}/runs/{run}",
        headers={"Authorization": "Bearer s3cret"},
        timeout=TIMEOUT,
    )
    assert ok.status_code == 200


def test_requests_are_recorded(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    assert server.requests == []
    run = server.create_run()
    requests.get(f"{server.url}/runs/{run}?offset=-1&tail=1", headers={"X-Trace": "t1"})
    [rec] = server.requests
    assert rec.method == "GET" and rec.path == f"/runs/{run}" and rec.run_id == run.run_id
    assert rec.query == (("offset", "-1"), ("tail", "1")) and rec.mode == "catch-up"
    assert rec.headers["X-Trace"] == "t1"
    server.clear_requests()
    assert server.requests == []


# -- fixtures -------------------------------------------------------------------------------------


async def test_async_fixture(flue_server: FlueTestServer) -> None:
    run = flue_server.create_run()
    async with aiohttp.ClientSession() as http:
        poll = asyncio.ensure_future(
            http.get(f"{flue_server.url}/runs/{run}?offset={off(0)}&live=long-poll")
        )
        while not flue_server.requests:
            await asyncio.sleep(0.005)
        flue_server.end_run(run, {"fine": True})
        async with await poll as resp:
            assert resp.status == 200
            # like Flue, the poll answers with the append that woke it: the stream closes after
            assert "Stream-Closed" not in resp.headers
            assert (await resp.json())[0]["result"] == {"fine": True}


def test_sync_fixture_alias(flue_server_sync: FlueTestServer) -> None:
    assert requests.get(f"{flue_server_sync.url}/nope", timeout=TIMEOUT).status_code == 404


# -- python -m flue.testing -----------------------------------------------------------------------


def test_cli_serves_the_demo_contract() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = ["--host", "127.0.0.1", "--port", "0", "--token", "tok"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "flue.testing", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        assert requests.post(f"{url}/workflows/emit", json={}, timeout=TIMEOUT).status_code == 401
        resp = requests.post(
            f"{url}/workflows/emit?wait=result",
            json={"count": 2, "size": 1},
            headers={"Authorization": "Bearer tok"},
            timeout=TIMEOUT,
        )
        assert resp.json()["result"] == {"emitted": 2, "size": 1}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        if proc.stdout is not None:
            proc.stdout.close()
