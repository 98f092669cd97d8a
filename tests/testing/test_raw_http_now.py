"""``?offset=now&live=long-poll``: what the server answers, byte for byte (raw HTTP).

Run against flue.testing here and against the real Flue server (beta.5, beta.9) by
tests/interop/test_raw_http_now_real.py, so both are held to the same answers: an ended run
answers 204 with ``Stream-Closed: true`` at once; a live run holds the request at the tail it
has when the request arrives and answers 200 with what was appended meanwhile (its ETag starts
at that tail). The 30 s window's plain 204 (``Stream-Next-Offset`` = that tail, no
``Stream-Closed``) is in tests/interop/FINDINGS.md; flue.testing's is tested with a short window
below.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flue.testing import FlueTestServer
from tests.testing.test_raw_http import (
    CURSOR_RE,
    SECURITY,
    etag,
    finished,
    get,
    off,
    start,
)


def test_now_long_poll_on_an_ended_run_answers_204_closed_at_once(target: Any) -> None:
    run_id, _ = finished(target, "emit", {"count": 3})
    began = time.monotonic()
    resp = get(target, f"/runs/{run_id}", params={"offset": "now", "live": "long-poll"})
    assert time.monotonic() - began < 5  # not the 30 s window
    assert resp.status_code == 204
    assert resp.content == b""
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["Stream-Closed"] == "true"
    assert CURSOR_RE.match(resp.headers["Stream-Cursor"])
    assert "ETag" not in resp.headers
    for name, value in SECURITY.items():
        assert resp.headers[name] == value


def test_now_long_poll_on_a_live_run_waits_for_the_next_append(target: Any) -> None:
    # the first log comes 1.5 s after run_start; "now" is resolved when the request arrives,
    # so getting log 0 shows the request waited at off(0) (a late one would miss it and fail)
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 1500})
    resp = get(target, f"/runs/{run_id}", params={"offset": "now", "live": "long-poll"})
    assert resp.status_code == 200
    events = resp.json()
    assert [(e["eventIndex"], e["type"], e["attributes"]["i"]) for e in events] == [(1, "log", 0)]
    assert resp.headers["Stream-Next-Offset"] == off(1)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers
    assert CURSOR_RE.match(resp.headers["Stream-Cursor"])
    assert resp.headers["ETag"] == etag(run_id, off(0), off(1), False)


def test_fake_now_long_poll_window_passes_with_a_plain_204() -> None:
    with FlueTestServer.running_in_thread(long_poll_timeout=0.2) as server:
        run = server.create_run(workflow="emit")
        target = type("T", (), {"url": server.url, "token": None})()
        resp = get(target, f"/runs/{run}", params={"offset": "now", "live": "long-poll"})
    assert resp.status_code == 204
    assert resp.headers["Stream-Next-Offset"] == off(0)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers


def test_wait_for_readers_orders_a_waiting_read_before_an_append() -> None:
    with FlueTestServer.running_in_thread(long_poll_timeout=5) as server:
        run = server.create_run(workflow="emit")
        try:
            server.wait_for_readers(run, timeout=0.05)
        except TimeoutError as exc:
            assert "0 were" in str(exc)
        else:
            raise AssertionError("nothing was waiting")
        results: list[Any] = []
        target = type("T", (), {"url": server.url, "token": None})()
        reader = threading.Thread(
            target=lambda: results.append(
                get(target, f"/runs/{run}", params={"offset": "now", "live": "long-poll"})
            )
        )
        reader.start()
        server.wait_for_readers(run)
        server.append(run, {"type": "log", "level": "info", "message": "late"})
        reader.join(10)
    assert [e["message"] for e in results[0].json()] == ["late"]
