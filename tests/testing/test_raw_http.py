"""Raw-HTTP contract tests of a Flue runs server (SPEC sections 3, 7 and 9).

Plain ``requests`` calls, no ``flue`` client code, so the server under test cannot merely agree
with the client's mistakes. Everything goes through the ``target`` fixture (``.url``,
``.token``, ``.kind``) and runs are only created over HTTP with the demo workflows ``emit`` and
``fail``, so ``tests/interop`` re-runs this module unchanged against a real Flue server.
Nothing here sleeps and hopes: tests wait on long-polls, or poll ``?meta`` with a deadline.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

import pytest
import requests

TIMEOUT = (5, 15)
CURSOR_RE = re.compile(r"^[0-9]+$")
TIMESTAMP_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RUN_ID_RE = re.compile(r"^run_[0-9A-HJKMNP-TV-Z]{26}$")
SECURITY = {"X-Content-Type-Options": "nosniff", "Cross-Origin-Resource-Policy": "cross-origin"}


# -- helpers --------------------------------------------------------------------------------------


def off(n: int) -> str:
    """The canonical offset of the event with index ``n``."""
    return f"{0:016d}_{n:016d}"


def auth(target: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.token}"} if target.token else {}


def get(target: Any, path: str, **kwargs: Any) -> requests.Response:
    headers = {**auth(target), **kwargs.pop("headers", {})}
    return requests.get(target.url + path, headers=headers, timeout=TIMEOUT, **kwargs)


def invoke(target: Any, workflow: str, body: Any, *, wait: bool = False) -> requests.Response:
    return requests.post(
        f"{target.url}/workflows/{workflow}" + ("?wait=result" if wait else ""),
        json=body,
        headers=auth(target),
        timeout=TIMEOUT,
    )


def start(target: Any, workflow: str = "emit", body: Any = None) -> str:
    resp = invoke(target, workflow, {} if body is None else body)
    assert resp.status_code == 202, resp.text
    run_id: str = resp.json()["runId"]
    return run_id


def finished(target: Any, workflow: str = "emit", body: Any = None) -> tuple[str, dict[str, Any]]:
    """Run a workflow to its end (``?wait=result`` for emit, else polling ``?meta``)."""
    if workflow == "emit":
        resp = invoke(target, workflow, body or {}, wait=True)
        assert resp.status_code == 200, resp.text
        run_id = resp.json()["runId"]
    else:
        run_id = start(target, workflow, body)
    return run_id, wait_record(target, run_id)


def wait_record(target: Any, run_id: str, deadline_s: float = 15.0) -> dict[str, Any]:
    """The run record once it is no longer active (polled with a deadline)."""
    deadline = time.monotonic() + deadline_s
    while True:
        record: dict[str, Any] = get(target, f"/runs/{run_id}?meta").json()
        if record["status"] != "active":
            return record
        assert time.monotonic() < deadline, f"run {run_id} still active"
        time.sleep(0.02)


def etag(run_id: str, start: str, end: str, closed: bool) -> str:
    path = base64.b64encode(f"runs/{run_id}".encode()).decode()
    return f'"{path}:{start}:{end}{":c" if closed else ""}"'


def assert_security(resp: requests.Response) -> None:
    for name, value in SECURITY.items():
        assert resp.headers.get(name) == value, name


def assert_error(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = resp.json()["error"]
    assert error["type"] == type_
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], str)
    return error


def sse_frames(raw: bytes) -> list[tuple[str | None, str]]:
    """(event, data) of each frame; comments come back as (None, comment text)."""
    frames: list[tuple[str | None, str]] = []
    for block in raw.decode().split("\n\n"):
        if not block:
            continue
        if block.startswith(":"):
            frames.append((None, block[1:].strip()))
            continue
        event = None
        data: list[str] = []
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            if field == "event":
                event = value.strip()
            elif field == "data":
                data.append(value)
        frames.append((event, "\n".join(data)))
    return frames


def read_sse(target: Any, path: str) -> tuple[requests.Response, bytes]:
    """Read an SSE body until the server ends it (after ``streamClosed``)."""
    resp = get(target, path, stream=True)
    chunks = []
    for chunk in resp.iter_content(chunk_size=None):
        chunks.append(chunk)
    return resp, b"".join(chunks)


def check_event(event: dict[str, Any], run_id: str, index: int) -> None:
    assert event["v"] == 3
    assert event["eventIndex"] == index
    assert event["runId"] == run_id
    assert TIMESTAMP_RE.match(event["timestamp"])


@pytest.fixture
def ended_run(target: Any) -> tuple[str, dict[str, Any]]:
    """An ended emit run with events 0..4 (run_start, 3 logs, run_end)."""
    return finished(target, "emit", {"count": 3, "size": 2})


# -- POST /workflows/{name} (SPEC 7) --------------------------------------------------------------


def test_invoke_answers_202_with_a_run_id(target: Any) -> None:
    resp = invoke(target, "emit", {"count": 1})
    assert resp.status_code == 202
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert list(body) == ["runId"]
    assert RUN_ID_RE.match(body["runId"])


def test_invoke_wait_result_answers_200_with_result_then_run_id(target: Any) -> None:
    resp = invoke(target, "emit", {"count": 2, "size": 3}, wait=True)
    assert resp.status_code == 200
    body = resp.json()
    assert list(body) == ["result", "runId"]
    assert body["result"] == {"emitted": 2, "size": 3}
    assert RUN_ID_RE.match(body["runId"])


def test_invoke_wait_result_on_a_failing_workflow_is_500_internal_error(target: Any) -> None:
    resp = invoke(target, "fail", {"message": "boom"}, wait=True)
    error = assert_error(resp, 500, "internal_error")
    assert "runId" not in resp.json()
    assert "boom" not in json.dumps(error)


def test_invoke_unknown_workflow_is_404(target: Any) -> None:
    error = assert_error(invoke(target, "no-such-workflow", {}), 404, "workflow_not_found")
    assert "no-such-workflow" in error["message"]


def test_invoke_bad_json_is_400_invalid_json(target: Any) -> None:
    resp = requests.post(
        f"{target.url}/workflows/emit",
        data=b'{"count":',
        headers={**auth(target), "Content-Type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_error(resp, 400, "invalid_json")
    assert_security(resp)


def test_invoke_wrong_content_type_is_415(target: Any) -> None:
    resp = requests.post(
        f"{target.url}/workflows/emit",
        data=b"{}",
        headers={**auth(target), "Content-Type": "text/plain"},
        timeout=TIMEOUT,
    )
    assert_error(resp, 415, "unsupported_media_type")


def test_invoke_json_with_charset_is_accepted(target: Any) -> None:
    resp = requests.post(
        f"{target.url}/workflows/emit",
        data=b'{"count":0}',
        headers={**auth(target), "Content-Type": "application/json; charset=utf-8"},
        timeout=TIMEOUT,
    )
    assert resp.status_code == 202


def test_invoke_without_body_starts_a_run_without_input(target: Any) -> None:
    resp = requests.post(f"{target.url}/workflows/emit", headers=auth(target), timeout=TIMEOUT)
    assert resp.status_code == 202
    record = wait_record(target, resp.json()["runId"])
    assert "input" not in record
    assert record["result"] == {"emitted": 10, "size": 0}


@pytest.mark.parametrize(
    ("body", "path"),
    [({"count": -1}, ["count"]), ({"count": "x"}, ["count"]), ({"count": 1.5}, ["count"])],
)
def test_invalid_input_is_a_synchronous_500_action_input_validation(
    target: Any, body: Any, path: list[str]
) -> None:
    resp = invoke(target, "emit", body)
    error = assert_error(resp, 500, "action_input_validation")
    assert "runId" not in resp.json()
    assert error["meta"]["issues"][0]["path"] == path


def test_invalid_input_without_wait_also_creates_no_run(target: Any) -> None:
    error = assert_error(invoke(target, "fail", {}), 500, "action_input_validation")
    assert error["meta"]["issues"][0]["path"] == ["message"]


def test_invalid_wait_is_400_before_the_workflow_lookup_and_auth(target: Any) -> None:
    resp = requests.post(f"{target.url}/workflows/nope?wait=soon", json={}, timeout=TIMEOUT)
    error = assert_error(resp, 400, "invalid_request")
    assert "wait" in error["details"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
@pytest.mark.parametrize("workflow", ["emit", "nope"])
def test_workflow_route_answers_405_allow_post(target: Any, method: str, workflow: str) -> None:
    resp = requests.request(
        method, f"{target.url}/workflows/{workflow}", headers=auth(target), timeout=TIMEOUT
    )
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"


def test_invoke_without_token_is_401(target: Any) -> None:
    if not target.token:
        pytest.skip("the target needs no token")
    resp = requests.post(f"{target.url}/workflows/emit", json={}, timeout=TIMEOUT)
    assert_error(resp, 401, "unauthorized")
    wrong = requests.post(
        f"{target.url}/workflows/emit",
        json={},
        headers={"Authorization": "Bearer wrong"},
        timeout=TIMEOUT,
    )
    assert wrong.status_code == 401


def test_unknown_workflow_is_404_before_auth(target: Any) -> None:
    resp = requests.post(f"{target.url}/workflows/nope", json={}, timeout=TIMEOUT)
    assert_error(resp, 404, "workflow_not_found")


# -- run record -----------------------------------------------------------------------------------


def test_meta_of_a_completed_run(target: Any) -> None:
    run_id, record = finished(target, "emit", {"count": 3, "size": 2})
    assert list(record) == [
        "runId",
        "workflowName",
        "status",
        "startedAt",
        "input",
        "endedAt",
        "isError",
        "durationMs",
        "result",
    ]
    assert record["runId"] == run_id
    assert record["workflowName"] == "emit"
    assert record["status"] == "completed"
    assert record["input"] == {"count": 3, "size": 2}
    assert record["isError"] is False
    assert isinstance(record["durationMs"], int) and record["durationMs"] >= 0
    assert record["result"] == {"emitted": 3, "size": 2}
    assert TIMESTAMP_RE.match(record["startedAt"]) and TIMESTAMP_RE.match(record["endedAt"])
    resp = get(target, f"/runs/{run_id}?meta")
    assert resp.headers["content-type"].startswith("application/json")
    assert "Stream-Next-Offset" not in resp.headers


def test_meta_of_an_errored_run(target: Any) -> None:
    _, record = finished(target, "fail", {"message": "boom", "before": 2})
    assert record["status"] == "errored"
    assert record["isError"] is True
    assert record["error"] == {"name": "Error", "message": "boom"}
    assert "result" not in record
    assert list(record)[-1] == "error"


def test_meta_of_an_active_run(target: Any) -> None:
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 2000})
    record = get(target, f"/runs/{run_id}?meta").json()
    assert list(record) == ["runId", "workflowName", "status", "startedAt", "input"]
    assert record["status"] == "active"


# -- catch-up reads -------------------------------------------------------------------------------


def test_catch_up_of_an_ended_run(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["Stream-Closed"] == "true"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["ETag"] == etag(run_id, "-1", off(4), True)
    assert "Stream-Cursor" not in resp.headers
    assert_security(resp)
    events = resp.json()
    assert [e["type"] for e in events] == ["run_start", "log", "log", "log", "run_end"]
    for index, event in enumerate(events):
        check_event(event, run_id, index)
    assert list(events[0]) == [
        "type",
        "runId",
        "workflowName",
        "startedAt",
        "input",
        "v",
        "eventIndex",
        "timestamp",
    ]
    assert events[0]["input"] == {"count": 3, "size": 2}
    assert events[1] == {
        "type": "log",
        "level": "info",
        "message": "emit",
        "attributes": {"i": 0, "data": "xx"},
        "runId": run_id,
        "v": 3,
        "eventIndex": 1,
        "timestamp": events[1]["timestamp"],
    }
    assert list(events[4]) == [
        "type",
        "runId",
        "result",
        "isError",
        "durationMs",
        "v",
        "eventIndex",
        "timestamp",
    ]
    assert events[4]["result"] == {"emitted": 3, "size": 2}
    assert events[4]["isError"] is False
    assert get(target, f"/runs/{run_id}?offset=-1").json() == events


def test_events_of_an_errored_run(target: Any) -> None:
    run_id, _ = finished(target, "fail", {"message": "boom", "before": 2})
    events = get(target, f"/runs/{run_id}").json()
    assert [e["type"] for e in events] == ["run_start", "log", "log", "run_end"]
    assert events[1]["message"] == "before-fail"
    assert events[1]["attributes"] == {"i": 0}
    end = events[-1]
    assert end["result"] is None
    assert end["isError"] is True
    assert end["error"] == {"name": "Error", "message": "boom"}
    assert list(end)[:6] == ["type", "runId", "result", "isError", "error", "durationMs"]


def test_reading_from_an_offset_returns_the_events_after_it(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": off(2)})
    assert [e["eventIndex"] for e in resp.json()] == [3, 4]
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["ETag"] == etag(run_id, off(2), off(4), True)


def test_the_first_offset_component_is_ignored(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": "0000000000000007_0000000000000002"})
    assert [e["eventIndex"] for e in resp.json()] == [3, 4]
    short = get(target, f"/runs/{run_id}", params={"offset": "0_3"})
    assert [e["eventIndex"] for e in short.json()] == [4]
    assert short.headers["ETag"] == etag(run_id, "0_3", off(4), True)


def test_past_the_tail_answers_200_empty_echoing_the_offset(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": off(9)})
    assert resp.status_code == 200
    assert resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == off(9)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["Stream-Closed"] == "true"
    assert resp.headers["ETag"] == etag(run_id, off(9), off(9), True)


def test_at_the_tail_of_an_ended_run(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": off(4)})
    assert resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["Stream-Closed"] == "true"


def test_offset_now_catch_up(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": "now"})
    assert resp.status_code == 200
    assert resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["Stream-Closed"] == "true"
    assert "ETag" not in resp.headers


def test_catch_up_of_an_active_run_is_not_closed(target: Any) -> None:
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 2000})
    resp = get(target, f"/runs/{run_id}")
    assert [e["type"] for e in resp.json()] == ["run_start"]
    assert resp.headers["Stream-Next-Offset"] == off(0)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers
    assert resp.headers["ETag"] == etag(run_id, "-1", off(0), False)


def test_tail_returns_the_last_events(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": "-1", "tail": "2"})
    assert [e["eventIndex"] for e in resp.json()] == [3, 4]
    assert resp.headers["ETag"] == etag(run_id, off(2), off(4), True)
    no_offset = get(target, f"/runs/{run_id}", params={"tail": "1"})
    assert [e["eventIndex"] for e in no_offset.json()] == [4]
    everything = get(target, f"/runs/{run_id}", params={"tail": "50"})
    assert [e["eventIndex"] for e in everything.json()] == [0, 1, 2, 3, 4]


def test_tail_is_ignored_with_now_and_a_concrete_offset(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    concrete = get(target, f"/runs/{run_id}", params={"offset": off(1), "tail": "1"})
    assert [e["eventIndex"] for e in concrete.json()] == [2, 3, 4]
    now = get(target, f"/runs/{run_id}", params={"offset": "now", "tail": "1"})
    assert now.json() == []


def test_exact_if_none_match_answers_304(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    first = get(target, f"/runs/{run_id}")
    tag = first.headers["ETag"]
    resp = get(target, f"/runs/{run_id}", headers={"If-None-Match": tag})
    assert resp.status_code == 304
    assert resp.content == b""
    assert resp.headers["ETag"] == tag
    assert "Stream-Next-Offset" not in resp.headers
    assert_security(resp)
    star = get(target, f"/runs/{run_id}", headers={"If-None-Match": "*"})
    assert star.status_code == 200
    other = get(target, f"/runs/{run_id}", headers={"If-None-Match": tag[:-2] + '"'})
    assert other.status_code == 200


def test_catch_up_pages_hold_100_events(target: Any) -> None:
    run_id, _ = finished(target, "emit", {"count": 250})
    pages = []
    offset = "-1"
    while True:
        resp = get(target, f"/runs/{run_id}", params={"offset": offset})
        pages.append(resp)
        offset = resp.headers["Stream-Next-Offset"]
        if resp.headers.get("Stream-Up-To-Date") == "true":
            break
        assert "Stream-Closed" not in resp.headers
        assert len(pages) < 10
    assert [len(p.json()) for p in pages] == [100, 100, 52]
    assert [p.headers["Stream-Next-Offset"] for p in pages] == [off(99), off(199), off(251)]
    assert pages[-1].headers["Stream-Closed"] == "true"
    indexes = [e["eventIndex"] for p in pages for e in p.json()]
    assert indexes == list(range(252))
    tail = get(target, f"/runs/{run_id}", params={"tail": "150"})
    assert [e["eventIndex"] for e in tail.json()] == list(range(102, 202))
    assert "Stream-Up-To-Date" not in tail.headers


# -- HEAD -----------------------------------------------------------------------------------------


def test_head_answers_stream_headers_without_body(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    for query in ("", "?meta", "?tail=0", "?offset=now&live=sse"):
        resp = requests.head(f"{target.url}/runs/{run_id}{query}", headers=auth(target))
        assert resp.status_code == 200, query
        assert resp.content == b""
        assert resp.headers["Stream-Next-Offset"] == off(4)
        assert resp.headers["Stream-Up-To-Date"] == "true"
        assert resp.headers["Stream-Closed"] == "true"
        assert resp.headers["ETag"] == etag(run_id, "-1", off(4), True)
        assert resp.headers["cache-control"] == "no-store"


def test_head_of_an_active_run_is_not_closed(target: Any) -> None:
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 2000})
    resp = requests.head(f"{target.url}/runs/{run_id}", headers=auth(target))
    assert resp.headers["Stream-Next-Offset"] == off(0)
    assert "Stream-Closed" not in resp.headers


# -- long-poll ------------------------------------------------------------------------------------


def test_long_poll_at_the_tail_of_an_ended_run_is_204_closed_at_once(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    for offset in (off(4), "now"):
        began = time.monotonic()
        resp = get(target, f"/runs/{run_id}", params={"offset": offset, "live": "long-poll"})
        assert time.monotonic() - began < 5
        assert resp.status_code == 204
        assert resp.content == b""
        assert resp.headers["Stream-Next-Offset"] == off(4)
        assert resp.headers["Stream-Up-To-Date"] == "true"
        assert resp.headers["Stream-Closed"] == "true"
        assert CURSOR_RE.match(resp.headers["Stream-Cursor"])
        assert "ETag" not in resp.headers
        assert_security(resp)


def test_long_poll_with_data_answers_200_at_once(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}", params={"offset": off(1), "live": "long-poll"})
    assert resp.status_code == 200
    assert [e["eventIndex"] for e in resp.json()] == [2, 3, 4]
    assert resp.headers["Stream-Next-Offset"] == off(4)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["Stream-Closed"] == "true"
    assert resp.headers["ETag"] == etag(run_id, off(1), off(4), True)
    assert resp.headers["cache-control"] == "no-store"
    cursor = resp.headers["Stream-Cursor"]
    assert CURSOR_RE.match(cursor)
    # A cursor at or past the server's current interval is pushed further ahead.
    ahead = int(cursor) + 1000
    again = get(
        target,
        f"/runs/{run_id}",
        params={"offset": off(1), "live": "long-poll", "cursor": str(ahead)},
    )
    assert int(again.headers["Stream-Cursor"]) > ahead
    ignored = get(
        target, f"/runs/{run_id}", params={"offset": off(1), "live": "long-poll", "cursor": "abc"}
    )
    assert ignored.status_code == 200


def test_long_poll_waits_for_the_next_event(target: Any) -> None:
    # The answer holds the append that woke the long-poll: the log, not the run_end that the
    # workflow's end appends right after it, and the stream is not closed yet.
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 300})
    resp = get(target, f"/runs/{run_id}", params={"offset": off(0), "live": "long-poll"})
    assert resp.status_code == 200
    events = resp.json()
    assert [(e["eventIndex"], e["type"]) for e in events] == [(1, "log")]
    assert resp.headers["Stream-Next-Offset"] == off(1)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers
    assert resp.headers["ETag"] == etag(run_id, off(0), off(1), False)
    assert CURSOR_RE.match(resp.headers["Stream-Cursor"])


def test_long_poll_woken_by_run_end_is_not_closed_yet(target: Any) -> None:
    # run_end wakes the poll before the stream is closed: 200 with run_end alone, no
    # Stream-Closed; the next long-poll then answers 204 closed.
    run_id = start(target, "emit", {"count": 0, "startDelayMs": 300})
    resp = get(target, f"/runs/{run_id}", params={"offset": off(0), "live": "long-poll"})
    assert resp.status_code == 200
    assert [(e["eventIndex"], e["type"]) for e in resp.json()] == [(1, "run_end")]
    assert resp.headers["Stream-Next-Offset"] == off(1)
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Closed" not in resp.headers
    assert resp.headers["ETag"] == etag(run_id, off(0), off(1), False)
    after = get(target, f"/runs/{run_id}", params={"offset": off(1), "live": "long-poll"})
    assert after.status_code == 204
    assert after.headers["Stream-Next-Offset"] == off(1)
    assert after.headers["Stream-Closed"] == "true"


def test_long_poll_now_on_an_active_run_waits_from_the_tail(target: Any) -> None:
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 300})
    resp = get(target, f"/runs/{run_id}", params={"offset": "now", "live": "long-poll"})
    assert resp.status_code == 200
    assert resp.json()[0]["eventIndex"] == 1
    assert etag(run_id, off(0), "", False)[:-1] in resp.headers["ETag"]


def test_long_poll_past_the_tail_of_an_active_run_answers_204_on_change(target: Any) -> None:
    run_id = start(target, "emit", {"count": 1, "startDelayMs": 300})
    resp = get(target, f"/runs/{run_id}", params={"offset": off(50), "live": "long-poll"})
    assert resp.status_code == 204
    assert resp.headers["Stream-Next-Offset"] == off(50)
    assert resp.headers["Stream-Up-To-Date"] == "true"


def test_long_poll_follows_a_run_to_its_end(target: Any) -> None:
    run_id = start(target, "emit", {"count": 3, "delayMs": 50, "startDelayMs": 100})
    offset, seen = "-1", []
    for _ in range(50):
        resp = get(target, f"/runs/{run_id}", params={"offset": offset, "live": "long-poll"})
        assert resp.status_code in (200, 204)
        if resp.status_code == 200:
            seen += [e["eventIndex"] for e in resp.json()]
        offset = resp.headers["Stream-Next-Offset"]
        if resp.headers.get("Stream-Closed") == "true":
            break
    assert seen == [0, 1, 2, 3, 4]
    assert offset == off(4)


# -- SSE ------------------------------------------------------------------------------------------


def test_sse_of_an_ended_run(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    resp, raw = read_sse(target, f"/runs/{run_id}?offset=-1&live=sse")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "text/event-stream"
    assert resp.headers["cache-control"] == "no-cache"
    assert_security(resp)
    assert not any(name.lower().startswith("stream-") for name in resp.headers)
    assert "ETag" not in resp.headers
    events = get(target, f"/runs/{run_id}").content.decode()
    closing = f'{{"streamNextOffset":"{off(4)}","streamClosed":true}}'
    assert raw.decode() == (f"event: data\ndata:{events}\n\nevent: control\ndata:{closing}\n\n")


def test_sse_at_the_tail_of_an_ended_run_sends_only_the_closing_control(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    _, raw = read_sse(target, f"/runs/{run_id}?offset=now&live=sse")
    assert sse_frames(raw) == [
        ("control", f'{{"streamNextOffset":"{off(4)}","streamClosed":true}}')
    ]


def test_sse_follows_a_run_to_its_end(target: Any) -> None:
    run_id = start(target, "emit", {"count": 3, "delayMs": 50, "startDelayMs": 100})
    _, raw = read_sse(target, f"/runs/{run_id}?offset=-1&live=sse")
    frames = [f for f in sse_frames(raw) if f[0] is not None]
    seen: list[int] = []
    pending: list[int] = []
    for index, (event, data) in enumerate(frames):
        if event == "data":
            assert frames[index + 1][0] == "control"
            pending = [e["eventIndex"] for e in json.loads(data)]
            continue
        assert event == "control"
        control = json.loads(data)
        if pending:
            assert control["streamNextOffset"] == off(pending[-1])
        seen += pending
        pending = []
        if control.get("streamClosed"):
            assert list(control) == ["streamNextOffset", "streamClosed"]
            assert index == len(frames) - 1
        else:
            assert list(control)[:2] == ["streamNextOffset", "streamCursor"]
            assert CURSOR_RE.match(control["streamCursor"])
            assert control.get("upToDate", True) is True
    assert seen == [0, 1, 2, 3, 4]
    assert json.loads(frames[-1][1]) == {"streamNextOffset": off(4), "streamClosed": True}


def test_sse_data_frames_hold_at_most_100_events(target: Any) -> None:
    run_id, _ = finished(target, "emit", {"count": 250})
    _, raw = read_sse(target, f"/runs/{run_id}?offset=-1&live=sse")
    frames = sse_frames(raw)
    sizes = [len(json.loads(data)) for event, data in frames if event == "data"]
    assert sizes == [100, 100, 52]
    controls = [json.loads(data) for event, data in frames if event == "control"]
    assert controls[0] == {"streamNextOffset": off(99), "streamCursor": controls[0]["streamCursor"]}
    assert controls[1]["streamNextOffset"] == off(199) and "upToDate" not in controls[1]
    assert controls[2] == {"streamNextOffset": off(251), "streamClosed": True}


def test_sse_with_tail(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    _, raw = read_sse(target, f"/runs/{run_id}?offset=-1&tail=2&live=sse")
    event, data = sse_frames(raw)[0]
    assert event == "data"
    assert [e["eventIndex"] for e in json.loads(data)] == [3, 4]


# -- errors and the order of checks ---------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?meta", "?offset=now&live=long-poll", "?tail=0"])
def test_unknown_run_is_404_run_not_found(target: Any, query: str) -> None:
    resp = get(target, f"/runs/run_nope{query}")
    error = assert_error(resp, 404, "run_not_found")
    assert "run_nope" in error["message"]
    assert_security(resp)


def test_unknown_run_is_404_for_head_and_other_methods(target: Any) -> None:
    head = requests.head(f"{target.url}/runs/run_nope", headers=auth(target), timeout=TIMEOUT)
    assert head.status_code == 404
    assert head.content == b""
    delete = requests.delete(f"{target.url}/runs/run_nope", headers=auth(target), timeout=TIMEOUT)
    assert_error(delete, 404, "run_not_found")


@pytest.mark.parametrize("path", ["/runs", "/runs/", "/", "/workflows/emit/", "/nope/x"])
def test_other_paths_are_404_route_not_found(target: Any, path: str) -> None:
    error = assert_error(get(target, path), 404, "route_not_found")
    assert path in error["message"]


@pytest.mark.parametrize("method", ["DELETE", "POST", "PUT", "PATCH"])
def test_other_methods_on_a_run_are_405_allow_get_head(
    target: Any, method: str, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = requests.request(
        method, f"{target.url}/runs/{run_id}", headers=auth(target), timeout=TIMEOUT
    )
    error = assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD"
    assert method in error["message"]


@pytest.mark.parametrize(
    ("query", "details"),
    [
        ("offset=abc", "Invalid offset format."),
        ("offset=", "Invalid offset format."),
        ("offset=-2", "Invalid offset format."),
        ("offset=1_", "Invalid offset format."),
        ("offset=-1&offset=-1", "Duplicate offset parameters are not allowed."),
        ("tail=1&tail=2", "Duplicate tail parameters are not allowed."),
        ("tail=0", "Tail must be an integer greater than or equal to 1."),
        ("tail=abc", "Tail must be an integer greater than or equal to 1."),
        ("offset=-1&tail=01", "Tail must be an integer greater than or equal to 1."),
        ("live=sse", "Offset is required for live mode."),
        ("live=long-poll", "Offset is required for live mode."),
        ("offset=-1&live=bogus", 'Invalid live mode. Use "long-poll" or "sse".'),
        ("offset=-1&live=", 'Invalid live mode. Use "long-poll" or "sse".'),
    ],
)
def test_invalid_query_is_400_invalid_request(
    target: Any, query: str, details: str, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    error = assert_error(get(target, f"/runs/{run_id}?{query}"), 400, "invalid_request")
    assert error["details"] == details


def test_unknown_query_parameters_are_ignored(
    target: Any, ended_run: tuple[str, dict[str, Any]]
) -> None:
    run_id, _ = ended_run
    resp = get(target, f"/runs/{run_id}?cursor=5&foo=bar")
    assert resp.status_code == 200
    assert len(resp.json()) == 5
    meta = get(target, f"/runs/{run_id}?meta=1")
    assert meta.json()["runId"] == run_id


def test_reads_without_token_are_401(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    if not target.token:
        pytest.skip("the target needs no token")
    run_id, _ = ended_run
    for query in ("", "?meta", "?offset=-1&live=sse", "?offset=now&live=long-poll"):
        resp = requests.get(f"{target.url}/runs/{run_id}{query}", timeout=TIMEOUT)
        assert_error(resp, 401, "unauthorized")
    wrong = requests.get(
        f"{target.url}/runs/{run_id}", headers={"Authorization": "Bearer nope"}, timeout=TIMEOUT
    )
    assert wrong.status_code == 401
    head = requests.head(f"{target.url}/runs/{run_id}", timeout=TIMEOUT)
    assert head.status_code == 401


def test_order_of_checks_on_runs(target: Any, ended_run: tuple[str, dict[str, Any]]) -> None:
    run_id, _ = ended_run
    # 1. an unknown run is 404 before auth and before query validation
    resp = requests.get(f"{target.url}/runs/run_nope?tail=0", timeout=TIMEOUT)
    assert_error(resp, 404, "run_not_found")
    if target.token:
        # 2. then the runs middleware, before the method and the query
        resp = requests.get(f"{target.url}/runs/{run_id}?tail=0", timeout=TIMEOUT)
        assert resp.status_code == 401
        resp = requests.delete(f"{target.url}/runs/{run_id}", timeout=TIMEOUT)
        assert resp.status_code == 401
    # 3. then the method, 4. then the query
    resp = requests.delete(f"{target.url}/runs/{run_id}?tail=0", headers=auth(target))
    assert resp.status_code == 405
    assert_error(get(target, f"/runs/{run_id}?tail=0"), 400, "invalid_request")


def test_order_of_checks_on_workflows(target: Any) -> None:
    # method first, even for an unknown workflow and without a token
    assert requests.get(f"{target.url}/workflows/nope?wait=x", timeout=TIMEOUT).status_code == 405
    # then ?wait, then the workflow lookup, then auth, then the body
    bad_wait = requests.post(f"{target.url}/workflows/nope?wait=x", json={}, timeout=TIMEOUT)
    assert bad_wait.status_code == 400
    assert requests.post(f"{target.url}/workflows/nope", json={}, timeout=TIMEOUT).status_code == (
        404
    )
    if target.token:
        resp = requests.post(
            f"{target.url}/workflows/emit",
            data=b"{",
            headers={"Content-Type": "text/plain"},
            timeout=TIMEOUT,
        )
        assert resp.status_code == 401
