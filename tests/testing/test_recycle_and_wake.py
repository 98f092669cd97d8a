"""flue.testing: SSE connection recycling (``sse_recycle``) and what a waiting long-poll answers.

Raw HTTP (``requests``), no flue client. Waits are on the server (its timers, its long-poll
window) or on the request log with a deadline; nothing sleeps and hopes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from flue.testing import FlueTestServer, format_offset

TIMEOUT = (5, 15)


def frames(raw: bytes) -> list[tuple[str | None, dict[str, Any] | list[Any] | str]]:
    out: list[tuple[str | None, dict[str, Any] | list[Any] | str]] = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            out.append((None, block[1:].strip()))
            continue
        event, _, data = block.partition("\ndata:")
        out.append((event.removeprefix("event: "), json.loads(data)))
    return out


def read_body(url: str) -> tuple[bytes, float]:
    """The whole body (the server ends it) and how long it took."""
    began = time.monotonic()
    with requests.get(url, stream=True, timeout=TIMEOUT) as resp:
        assert resp.status_code == 200
        body = b"".join(resp.iter_content(chunk_size=None))  # raises if the body is cut
    return body, time.monotonic() - began


def test_recycling_ends_an_idle_sse_body_cleanly_after_a_control_frame() -> None:
    with FlueTestServer.running_in_thread(sse_recycle=0.3, sse_heartbeat=0.1) as server:
        run = server.create_run()
        body, took = read_body(f"{server.url}/runs/{run}?offset=-1&live=sse")
        parsed = frames(body)
    assert took >= 0.3
    assert parsed[0][0] == "data"
    assert (None, "heartbeat") in parsed  # held open at the tail meanwhile
    last_event, last = parsed[-1]
    assert last_event == "control"
    assert isinstance(last, dict)
    assert last["streamNextOffset"] == format_offset(0) and last["upToDate"] is True
    assert "streamClosed" not in last


def test_recycling_during_a_catch_up_ends_after_the_page_s_control_frame() -> None:
    with FlueTestServer.running_in_thread(sse_recycle=1e-6) as server:
        run = server.create_run()
        server.append(run, [{"type": "log", "message": str(i)} for i in range(249)])
        body, _ = read_body(f"{server.url}/runs/{run}?offset=-1&live=sse")
    parsed = frames(body)
    assert [event for event, _ in parsed] == ["data", "control"]
    assert len(parsed[0][1]) == 100
    assert parsed[1][1] == {
        "streamNextOffset": format_offset(99),
        "streamCursor": parsed[1][1]["streamCursor"],
    }  # type: ignore[index]


def test_without_recycling_an_sse_body_stays_open() -> None:
    with FlueTestServer.running_in_thread(sse_heartbeat=0.05) as server:
        run = server.create_run()
        with requests.get(
            f"{server.url}/runs/{run}?offset=-1&live=sse", stream=True, timeout=TIMEOUT
        ) as resp:
            beats = 0
            for line in resp.iter_lines():
                beats += line == b": heartbeat"
                if beats == 5:  # 0.25 s in, the body is still open
                    break
    assert beats == 5


def poll_while(server: FlueTestServer, url: str, act: Callable[[], None]) -> requests.Response:
    """Send a long-poll, run `act` once the server holds it, return the answer."""
    result: dict[str, requests.Response] = {}
    thread = threading.Thread(target=lambda: result.update(r=requests.get(url, timeout=TIMEOUT)))
    thread.start()
    deadline = time.monotonic() + 10
    while not any(r.mode == "long-poll" for r in server.requests):
        assert time.monotonic() < deadline, "the long-poll never arrived"
        time.sleep(0.005)
    act()
    thread.join(15)
    return result["r"]


def test_a_waiting_long_poll_answers_with_the_append_that_woke_it() -> None:
    # One append of two events, then (in the same instant) another append and the run's end:
    # the poll answers with the first append only, like Flue.
    with FlueTestServer.running_in_thread() as server:
        run = server.create_run()
        url = f"{server.url}/runs/{run}?offset={format_offset(0)}&live=long-poll"

        def burst() -> None:
            def on_loop() -> None:
                server.append(
                    run, [{"type": "log", "message": "a"}, {"type": "log", "message": "b"}]
                )
                server.append(run, {"type": "log", "message": "c"})
                server.end_run(run)

            server._call(on_loop)

        resp = poll_while(server, url, burst)
    assert resp.status_code == 200
    assert [e["message"] for e in resp.json()] == ["a", "b"]
    assert resp.headers["Stream-Next-Offset"] == format_offset(2)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers


def test_a_waiting_long_poll_woken_by_the_close_answers_204_closed() -> None:
    with FlueTestServer.running_in_thread() as server:
        run = server.create_run()
        url = f"{server.url}/runs/{run}?offset={format_offset(0)}&live=long-poll"
        resp = poll_while(server, url, lambda: server.close_stream(run))
    assert resp.status_code == 204
    assert resp.headers["Stream-Closed"] == "true"
    assert resp.headers["Stream-Next-Offset"] == format_offset(0)
