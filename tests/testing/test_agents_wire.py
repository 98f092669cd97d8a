"""The fake server's agents: the wire layout a real beta.9 server writes (batches, ids, key
order), fault modes of agent routes, pause re-arming and SSE heartbeats. Raw HTTP, as in
``test_agents.py`` (whose helpers these tests share)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
import requests

from flue.testing import Fault, FlueTestServer

from .test_agents import (
    OFFSET_RE,
    TIMEOUT,
    TOKEN,
    get,
    post,
    prompt,
    texts,
    updates,
    url,
)
from .test_raw_http import sse_frames


@pytest.fixture
def server() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread(token=TOKEN, long_poll_timeout=0.2) as srv:
        yield srv


# -- wire layout as a real beta.9 server writes it ------------------------------------------------


def test_admission_offsets_and_ids(server: FlueTestServer) -> None:
    first = post(url(server), {"message": "a"}).json()
    assert first["offset"] == f"{0:016d}_{0:016d}"  # the new stream's conversation-reset batch
    done = prompt(server, "b")  # queued behind the first, answered once both are done
    head = get(url(server)).json()["offset"]
    third = post(url(server), {"message": "c"}).json()
    assert third["offset"] == head  # the head before the prompt's own records
    assert OFFSET_RE.match(done["offset"])
    user = get(url(server)).json()["messages"][0]
    encoded = base64.urlsafe_b64encode(first["submissionId"].encode()).decode().rstrip("=")
    assert user["id"] == f"entry_direct_{encoded}"


def test_plain_reply_chunk_sequence(server: FlueTestServer) -> None:
    admitted = post(url(server), {"message": "hello there"}).json()
    prompt(server, "x")  # runs after the first: its answer means the first one settled
    chunks = updates(server, admitted["offset"])
    end = next(i for i, c in enumerate(chunks) if c["type"] == "submission-settled")
    first = chunks[: end + 1]
    assert first[-1]["submissionId"] == admitted["submissionId"]
    kinds = [c["type"] for c in chunks[: len(first)]]
    assert kinds == [
        "message-appended",
        "message-started",
        "message-delta",
        "message-delta",
        "message-delta",
        "message-completed",
        "submission-settled",
    ]
    assert [c["delta"] for c in chunks if c["type"] == "message-delta"][:3] == [
        "echo:",
        " hello",
        " there",
    ]
    assert list(chunks[0])[:2] == ["type", "conversationId"]
    batches = [c["position"]["batch"] for c in chunks[: len(first)]]
    # block start/end records project to no chunk: the batch numbers have gaps, as on Flue
    assert batches[1] + 1 < batches[2] and batches[4] + 1 < batches[5]


def test_reads_skip_batches_without_chunks(server: FlueTestServer) -> None:
    agent = server.add_agent("held", pause_after=1)
    post(url(server, "held"), {"message": "a b"})
    agent.wait_paused(5)
    chunks = agent.chunks("c1")
    started = next(c for c in chunks if c["type"] == "message-started")["position"]["batch"]
    # right after message-started comes the text block's start: a batch with no chunk
    resp = get(url(server, "held") + f"?view=updates&offset={0:016d}_{started:016d}")
    [delta] = resp.json()
    assert (delta["type"], delta["delta"], delta["position"]) == (
        "message-delta",
        "echo:",
        {"batch": started + 2, "index": 0},
    )
    assert resp.headers["Stream-Next-Offset"] == f"{0:016d}_{started + 2:016d}"
    agent.resume()


def test_abort_chunk_sequence_and_failure_shape(server: FlueTestServer) -> None:
    agent = server.add_agent("slow", pause_after=2)
    admitted = post(url(server, "slow"), {"message": "a b c"}).json()
    agent.wait_paused(5)
    assert post(url(server, "slow") + "/abort").json() == {"aborted": True}
    chunks = get(url(server, "slow") + f"?view=updates&offset={admitted['offset']}").json()
    kinds = [c["type"] for c in chunks]
    assert kinds == [
        "message-appended",
        "message-started",
        "message-delta",
        "message-delta",
        "message-completed",
        "message-appended",
        "submission-settled",
    ]
    assert chunks[4]["usage"]["output"] == 0
    notice = chunks[5]["message"]
    assert notice["id"] == f"entry_submission_aborted_{admitted['submissionId']}"
    assert "submissionId" not in notice
    assert chunks[6]["error"] == {
        "name": "FlueError",
        "message": "Submission was aborted.",
        "type": "submission_aborted",
        "details": "The operation was stopped before it produced a completed response.",
    }
    failed = post(url(server) + "?wait=result", {"message": "fail: now"})
    error = failed.json()["error"]
    assert error["type"] == "operation_failed" and error["message"].startswith("direct(")
    snap = get(url(server)).json()
    assert snap["messages"][-1]["role"] == "assistant" and snap["messages"][-1]["parts"] == []


def test_percent_encoded_instance_ids(server: FlueTestServer) -> None:
    target = f"{server.url}/agents/assistant/a%20b%2Fc"
    answer = post(target + "?wait=result", {"message": "x"}).json()
    assert answer["streamUrl"] == target
    assert get(target).json()["messages"][0]["parts"][0]["text"] == "x"
    missing = get(f"{server.url}/agents/assistant/x%2Fy").json()["error"]["message"]
    assert missing == 'Event stream "agents/assistant/x/y" was not found.'


def test_faults_apply_to_agent_routes(server: FlueTestServer) -> None:
    prompt(server, "x")
    head = get(url(server)).json()["offset"]
    server.faults.add(Fault.status(503), times=1, mode="long-poll", path=re.compile("^/agents/"))
    poll = url(server) + f"?view=updates&offset={head}&live=long-poll"
    assert get(poll).status_code == 503
    assert get(poll).status_code == 200
    modes = [r.mode for r in server.requests if r.path.startswith("/agents/")]
    assert modes[:2] == ["invoke", "other"] and modes[-2:] == ["long-poll", "long-poll"]


def test_hold_rearms_the_pause(server: FlueTestServer) -> None:
    agent = server.add_agent("held", pause_after=1)
    post(url(server, "held"), {"message": "a b"})
    agent.wait_paused(5)
    agent.resume()
    assert prompt(server, "c", "held")["result"]["text"] == "echo: c"  # no pause once resumed
    agent.hold()
    post(url(server, "held"), {"message": "d e"})
    agent.wait_paused(5, count=2)
    assert texts(agent.history("c1")["messages"][-1]) == "echo:"
    assert agent.pauses == 2
    agent.resume()


def test_sse_heartbeats_while_idle() -> None:
    with FlueTestServer.running_in_thread(sse_heartbeat=0.05, long_poll_timeout=30) as srv:
        target = f"{srv.url}/agents/assistant/c1"
        requests.post(target + "?wait=result", json={"message": "x"}, timeout=TIMEOUT)
        raw = b""
        with requests.get(target + "?view=updates&offset=-1&live=sse", stream=True) as resp:
            for chunk in resp.iter_content(chunk_size=None):
                raw += chunk
                if raw.count(b": heartbeat") >= 2:
                    break
    frames = sse_frames(raw)
    assert [event for event, _ in frames] == ["data", "control", None, None]
