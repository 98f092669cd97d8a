"""Raw-HTTP smoke tests against the real Flue server (no flue client code involved)."""

from __future__ import annotations

import time
from typing import Any

import requests

from tools.flue_servers.server import RealFlueServer

TIMEOUT = 30


def _auth(server: RealFlueServer) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def _invoke(server: RealFlueServer, name: str, body: dict[str, Any], wait: bool = False) -> Any:
    url = f"{server.url}/workflows/{name}" + ("?wait=result" if wait else "")
    resp = requests.post(url, json=body, headers=_auth(server), timeout=TIMEOUT)
    assert resp.status_code == (200 if wait else 202), resp.text
    return resp.json()


def _wait_until_ended(server: RealFlueServer, run_id: str, deadline_s: float = 20) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        record = requests.get(
            f"{server.url}/runs/{run_id}?meta", headers=_auth(server), timeout=TIMEOUT
        ).json()
        if record["status"] != "active":
            return record
        assert time.monotonic() < deadline, f"run {run_id} still active: {record}"
        # Long-poll at the tail returns as soon as the run appends anything (or ends).
        requests.get(
            f"{server.url}/runs/{run_id}",
            params={"offset": "now", "live": "long-poll"},
            headers=_auth(server),
            timeout=TIMEOUT + 35,
        )


def test_invoke_returns_202_with_run_id(target: RealFlueServer) -> None:
    assert target.kind == "real"
    assert not target.url.endswith("/")
    body = _invoke(target, "emit", {"count": 2})
    assert set(body) == {"runId"}
    assert body["runId"].startswith("run_")
    record = _wait_until_ended(target, body["runId"])
    assert record["status"] == "completed"
    assert record["result"] == {"emitted": 2, "size": 0}


def test_wait_result_returns_200_with_result(target: RealFlueServer) -> None:
    body = _invoke(target, "emit", {"count": 3, "size": 4}, wait=True)
    assert body["result"] == {"emitted": 3, "size": 4}
    assert body["runId"].startswith("run_")


def test_catch_up_of_250_events_spans_pages(target: RealFlueServer) -> None:
    run_id = _invoke(target, "emit", {"count": 250}, wait=True)["runId"]
    events: list[dict[str, Any]] = []
    offset = "-1"
    pages = []
    for _ in range(20):  # bounded: 252 events need 3 pages
        resp = requests.get(
            f"{target.url}/runs/{run_id}",
            params={"offset": offset},
            headers=_auth(target),
            timeout=TIMEOUT,
        )
        assert resp.status_code == 200
        page = resp.json()
        pages.append(len(page))
        events.extend(page)
        next_offset = resp.headers["Stream-Next-Offset"]
        if resp.headers.get("Stream-Up-To-Date") == "true":
            assert resp.headers.get("Stream-Closed") == "true"
            break
        assert "Stream-Closed" not in resp.headers
        assert next_offset != offset
        offset = next_offset
    else:
        raise AssertionError(f"catch-up did not finish: pages {pages}")
    assert pages == [100, 100, 52]
    assert [e["eventIndex"] for e in events] == list(range(252))
    assert events[0]["type"] == "run_start"
    assert events[-1]["type"] == "run_end"
    logs = [e for e in events if e["type"] == "log"]
    assert [e["attributes"]["i"] for e in logs] == list(range(250))
    assert all(e["v"] == 3 for e in events)


def test_meta_returns_run_record(target: RealFlueServer) -> None:
    run_id = _invoke(target, "fail", {"message": "boom", "before": 2}, wait=False)["runId"]
    record = _wait_until_ended(target, run_id)
    assert record["runId"] == run_id
    assert record["workflowName"] == "fail"
    assert record["status"] == "errored"
    assert record["isError"] is True
    assert record["error"] == {"name": "Error", "message": "boom"}
    assert record["input"] == {"message": "boom", "before": 2}
    events = requests.get(
        f"{target.url}/runs/{run_id}", headers=_auth(target), timeout=TIMEOUT
    ).json()
    assert [e["type"] for e in events] == ["run_start", "log", "log", "run_end"]


def test_missing_or_wrong_token_is_401(target: RealFlueServer) -> None:
    run_id = _invoke(target, "emit", {"count": 1}, wait=True)["runId"]
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        resp = requests.get(f"{target.url}/runs/{run_id}", headers=headers, timeout=TIMEOUT)
        assert resp.status_code == 401
        assert resp.json()["error"]["type"] == "unauthorized"
        resp = requests.post(
            f"{target.url}/workflows/emit", json={}, headers=headers, timeout=TIMEOUT
        )
        assert resp.status_code == 401


def test_unknown_run_is_404(target: RealFlueServer) -> None:
    resp = requests.get(
        f"{target.url}/runs/run_does_not_exist", headers=_auth(target), timeout=TIMEOUT
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "run_not_found"
