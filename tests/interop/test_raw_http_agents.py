"""Raw-HTTP contract tests of Flue 1.0.0-beta.9 agents (conversations), against the real
server and against ``flue.testing``.

Plain ``requests`` calls, no ``flue`` client code. Every test runs twice through the
``agent_target`` fixture: ``real`` is the beta.9 interop app's agent ``assistant`` (its model is
``tools/flue_servers/fakemodel.py``), ``fake`` is a :class:`~flue.testing.FlueTestServer` whose
``assistant`` answers by the same message directives (``slow:``, ``fail:``, ``think:``,
``tool:``), so the fake is held to what the real server does (``tests/interop/FINDINGS.md``,
"Agent conversations"). Collected only for beta9 (``conftest.pytest_ignore_collect``).

Nothing sleeps and hopes: tests wait on long-polls (which return as soon as the conversation
changes) with deadlines, and a reply is aborted only after one of its deltas was read.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import attrs
import pytest
import requests

from flue.testing import FlueTestServer

TIMEOUT = (5, 45)  # a long-poll at the head waits 30 s on the real server
AGENT = "assistant"
OFFSET_RE = re.compile(r"^\d{16}_\d{16}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CONV_RE = re.compile(r"^conv_[0-9A-HJKMNP-TV-Z]{26}$")
START = "0000000000000000_0000000000000000"
MODEL = {"provider": "fake", "id": "echo"}
ABORT_ERROR = {
    "name": "FlueError",
    "message": "Submission was aborted.",
    "type": "submission_aborted",
    "details": "The operation was stopped before it produced a completed response.",
}
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@attrs.frozen
class AgentTarget:
    url: str
    token: str
    kind: str
    long_poll_timeout: float


@pytest.fixture(scope="session")
def _fake_agent_target() -> Iterator[AgentTarget]:
    token = secrets.token_urlsafe(16)
    with FlueTestServer.running_in_thread(token=token, long_poll_timeout=2.0) as server:
        # The real app's assistant exports `attachments`, so the route is exposed there too.
        server.add_agent(AGENT, attachments=True)
        yield AgentTarget(server.url, token, "fake", 2.0)


@pytest.fixture(params=["real", "fake"])
def agent_target(request: pytest.FixtureRequest) -> AgentTarget:
    """The server under test: the real beta.9 server or flue.testing."""
    if request.param == "fake":
        fake: AgentTarget = request.getfixturevalue("_fake_agent_target")
        return fake
    real = request.getfixturevalue("target")
    return AgentTarget(real.url, real.token, "real", 30.0)


# -- helpers --------------------------------------------------------------------------------------


def conv() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def path(conversation: str, suffix: str = "", agent: str = AGENT) -> str:
    return f"/agents/{quote(agent, safe='')}/{quote(conversation, safe='')}{suffix}"


def auth(t: AgentTarget) -> dict[str, str]:
    return {"Authorization": f"Bearer {t.token}"}


def get(t: AgentTarget, p: str, *, token: bool = True, **kwargs: Any) -> requests.Response:
    headers = auth(t) if token else {}
    return requests.get(t.url + p, headers=headers, timeout=TIMEOUT, **kwargs)


def post(
    t: AgentTarget, p: str, body: Any = None, *, token: bool = True, **kwargs: Any
) -> requests.Response:
    headers = auth(t) if token else {}
    return requests.post(t.url + p, json=body, headers=headers, timeout=TIMEOUT, **kwargs)


def send(t: AgentTarget, c: str, message: str, **extra: Any) -> dict[str, Any]:
    resp = post(t, path(c), {"message": message, **extra})
    assert resp.status_code == 202, resp.text
    body: dict[str, Any] = resp.json()
    return body


def prompt(t: AgentTarget, c: str, message: str, **extra: Any) -> dict[str, Any]:
    resp = post(t, path(c, "?wait=result"), {"message": message, **extra})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def history(t: AgentTarget, c: str) -> dict[str, Any]:
    resp = get(t, path(c))
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def updates(t: AgentTarget, c: str, offset: str, live: str | None = None) -> requests.Response:
    query = f"?view=updates&offset={offset}" + (f"&live={live}" if live else "")
    return get(t, path(c, query))


def follow(
    t: AgentTarget, c: str, offset: str, until: Any, deadline_s: float = 30.0
) -> tuple[list[dict[str, Any]], str]:
    """Long-poll from ``offset`` until a chunk satisfies ``until``; (chunks read, next offset)."""
    chunks: list[dict[str, Any]] = []
    deadline = time.monotonic() + deadline_s
    while True:
        resp = updates(t, c, offset, "long-poll")
        assert resp.status_code == 200, resp.text
        offset = resp.headers["Stream-Next-Offset"]
        batch = resp.json()
        chunks += batch
        if any(until(chunk) for chunk in batch):
            return chunks, offset
        assert time.monotonic() < deadline, f"no matching chunk within {deadline_s}s: {chunks}"


def settled(submission_id: str) -> Any:
    return lambda c: c["type"] == "submission-settled" and c["submissionId"] == submission_id


def assert_error(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = resp.json()["error"]
    assert error["type"] == type_
    assert isinstance(error["message"], str) and error["message"]
    return error


def text_of(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


def key(chunk: dict[str, Any]) -> tuple[int, int]:
    return chunk["position"]["batch"], chunk["position"]["index"]


def sse_frames(resp: requests.Response, stop: Any) -> list[tuple[str, str]]:
    """(event, data) of each SSE frame until ``stop(event, data)``; comments are skipped."""
    frames: list[tuple[str, str]] = []
    buffer = b""
    for piece in resp.iter_content(chunk_size=None):
        buffer += piece
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event, data = "", []
            for line in block.decode().split("\n"):
                field, _, value = line.partition(":")
                if field == "event":
                    event = value.strip()
                elif field == "data":
                    data.append(value.removeprefix(" "))
            if event or data:
                frames.append((event, "\n".join(data)))
                if stop(event, frames[-1][1]):
                    return frames
    raise AssertionError(f"SSE body ended before the expected frame: {frames}")


# -- prompts --------------------------------------------------------------------------------------


def test_prompt_answers_202_with_stream_coordinates(agent_target: AgentTarget) -> None:
    c = conv()
    resp = post(agent_target, path(c), {"message": "hello there world"})
    assert resp.status_code == 202, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert sorted(body) == ["offset", "streamUrl", "submissionId"]
    assert body["streamUrl"] == agent_target.url + path(c)
    assert resp.headers["Location"] == body["streamUrl"]
    assert body["offset"] == START  # a new conversation: the head before the prompt
    assert resp.headers["Stream-Next-Offset"] == body["offset"]
    assert UUID_RE.match(body["submissionId"])


def test_prompt_wait_result_answers_the_result(agent_target: AgentTarget) -> None:
    c = conv()
    first = prompt(agent_target, c, "hello there world")
    assert sorted(first) == ["offset", "result", "streamUrl", "submissionId"]
    assert first["offset"] == "-1"  # on a new conversation (202 says O(0))
    assert first["streamUrl"] == agent_target.url + path(c)
    result = first["result"]
    assert result["text"] == "echo: hello there world"
    assert result["model"] == MODEL
    assert isinstance(result["usage"], dict)
    head = history(agent_target, c)["offset"]
    second = prompt(agent_target, c, "second")
    assert second["offset"] == head
    assert second["result"]["text"] == "echo: second"
    assert second["submissionId"] != first["submissionId"]


def test_a_prompt_while_one_runs_is_queued_and_runs_after_it(agent_target: AgentTarget) -> None:
    c = conv()
    one = send(agent_target, c, "slow50: a b c")
    two = send(agent_target, c, "second")
    assert OFFSET_RE.match(two["offset"]) and two["offset"] > one["offset"]
    chunks, _ = follow(agent_target, c, one["offset"], settled(two["submissionId"]))
    kinds = [(ch["type"], ch.get("submissionId")) for ch in chunks]
    first_settled = kinds.index(("submission-settled", one["submissionId"]))
    second_user = next(
        i
        for i, ch in enumerate(chunks)
        if ch["type"] == "message-appended" and ch["message"]["submissionId"] == two["submissionId"]
    )
    assert first_settled < second_user  # the queued prompt's message appears when it starts
    snap = history(agent_target, c)
    assert [m["role"] for m in snap["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [text_of(m) for m in snap["messages"][1::2]] == ["echo: a b c", "echo: second"]
    assert [s["submissionId"] for s in snap["settlements"]] == [
        one["submissionId"],
        two["submissionId"],
    ]


def test_bad_prompt_bodies_are_400_invalid_request(agent_target: AgentTarget) -> None:
    c = conv()
    for body in ({"prompt": "x"}, {"message": 3}, {"message": "x", "images": "nope"}):
        assert_error(post(agent_target, path(c), body), 400, "invalid_request")
    assert_error(
        post(agent_target, path(c, "?wait=bogus"), {"message": "x"}), 400, "invalid_request"
    )
    assert get(agent_target, path(c)).status_code == 404  # nothing was admitted


def test_percent_encoded_instance_ids_round_trip(agent_target: AgentTarget) -> None:
    c = f"a b/c-{uuid.uuid4().hex[:8]}"
    body = prompt(agent_target, c, "hi")
    assert body["streamUrl"] == agent_target.url + "/agents/assistant/" + quote(c, safe="")
    assert "%20" in body["streamUrl"] and "%2F" in body["streamUrl"]
    assert text_of(history(agent_target, c)["messages"][1]) == "echo: hi"


# -- history --------------------------------------------------------------------------------------


def test_history_after_two_prompts(agent_target: AgentTarget) -> None:
    c = conv()
    first = prompt(agent_target, c, "hello there world")
    second = prompt(agent_target, c, "think: why")
    resp = get(agent_target, path(c))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["Stream-Up-To-Date"] == "true"
    snap = resp.json()
    assert resp.headers["Stream-Next-Offset"] == snap["offset"]
    assert get(agent_target, path(c, "?view=history")).json() == snap
    assert sorted(snap) == ["conversationId", "messages", "offset", "settlements", "v"]
    assert snap["v"] == 1
    assert CONV_RE.match(snap["conversationId"])
    assert OFFSET_RE.match(snap["offset"])
    user1, reply1, user2, reply2 = snap["messages"]
    assert [user1["role"], reply1["role"], user2["role"], reply2["role"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert user1["submissionId"] == first["submissionId"]
    assert user2["submissionId"] == second["submissionId"]
    assert "submissionId" not in reply1 and "submissionId" not in reply2
    assert user1["parts"] == [{"type": "text", "text": "hello there world", "state": "done"}]
    assert reply1["parts"] == [{"type": "text", "text": "echo: hello there world", "state": "done"}]
    assert reply2["parts"] == [
        {"type": "reasoning", "text": "thinking about why", "state": "done"},
        {"type": "text", "text": "echo: why", "state": "done"},
    ]
    assert reply1["metadata"]["model"] == MODEL
    assert "timestamp" in user1["metadata"] and "usage" in reply1["metadata"]
    assert [
        (s["submissionId"], s["outcome"], s["result"]["text"]) for s in snap["settlements"]
    ] == [
        (first["submissionId"], "completed", "echo: hello there world"),
        (second["submissionId"], "completed", "echo: why"),
    ]


def test_head_gives_the_history_offset(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    resp = requests.head(agent_target.url + path(c), headers=auth(agent_target), timeout=TIMEOUT)
    assert resp.status_code == 200
    assert resp.headers["Stream-Next-Offset"] == history(agent_target, c)["offset"]
    assert resp.content == b""


def test_history_refuses_stream_parameters_and_unknown_views(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    for query in ("?view=history&offset=-1", "?live=long-poll", "?view=bogus"):
        assert_error(get(agent_target, path(c, query)), 400, "invalid_request")


# -- updates --------------------------------------------------------------------------------------


def test_updates_of_one_prompt_in_order(agent_target: AgentTarget) -> None:
    c = conv()
    sent = prompt(agent_target, c, "hello there world")
    resp = updates(agent_target, c, START)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Cursor" not in resp.headers and "Stream-Closed" not in resp.headers
    snap = history(agent_target, c)
    assert resp.headers["Stream-Next-Offset"] == snap["offset"]
    chunks = resp.json()
    types = [ch["type"] for ch in chunks]
    n = types.count("message-delta")
    assert n >= 2
    assert types == [
        "message-appended",
        "message-started",
        *["message-delta"] * n,
        "message-completed",
        "submission-settled",
    ]
    assert all(ch["conversationId"] == snap["conversationId"] for ch in chunks)
    positions = [key(ch) for ch in chunks]
    assert positions == sorted(set(positions))  # strictly increasing
    appended, started, *deltas, completed, settlement = chunks
    assert appended["message"] == {
        **snap["messages"][0],
        "metadata": appended["message"]["metadata"],
    }
    assert started["submissionId"] == sent["submissionId"]
    assert started["messageId"] == snap["messages"][1]["id"] == completed["messageId"]
    assert started["model"] == MODEL
    assert {d["kind"] for d in deltas} == {"text"}
    assert "".join(d["delta"] for d in deltas) == "echo: hello there world"
    assert settlement["submissionId"] == sent["submissionId"]
    assert settlement["outcome"] == "completed"
    assert settlement["result"]["text"] == "echo: hello there world"


def test_updates_from_the_start_open_with_a_reset(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    chunks = updates(agent_target, c, "-1").json()
    reset = chunks[0]
    assert reset["type"] == "conversation-reset"
    assert reset["position"] == {"batch": 0, "index": 0}
    snapshot = reset["snapshot"]
    assert snapshot["v"] == 1 and snapshot["messages"] == [] and snapshot["settlements"] == []
    assert snapshot["conversationId"] == reset["conversationId"]
    assert [ch["type"] for ch in chunks[1:]] == [
        ch["type"] for ch in updates(agent_target, c, START).json()
    ]


def test_updates_at_the_head_are_empty(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    head = history(agent_target, c)["offset"]
    resp = updates(agent_target, c, head)
    assert resp.status_code == 200 and resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == head
    assert resp.headers["Stream-Up-To-Date"] == "true"


def test_updates_query_errors(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    for query in (
        "?view=updates",  # offset is required
        "?view=updates&offset=-1&offset=-1",
        "?view=updates&offset=now",  # no `now` on conversations
        "?view=updates&offset=garbage",
        "?view=updates&offset=-1&live=bogus",
        "?view=updates&offset=-1&tail=1",
    ):
        assert_error(get(agent_target, path(c, query)), 400, "invalid_request")


def test_updates_past_the_head_is_500(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    resp = updates(agent_target, c, "9999999999999999_9999999999999999")
    assert_error(resp, 500, "conversation_stream_store_failure")


def test_long_poll_follows_a_slow_reply(agent_target: AgentTarget) -> None:
    c = conv()
    sent = send(agent_target, c, "slow50: one two three four")
    chunks, offset = follow(agent_target, c, sent["offset"], settled(sent["submissionId"]))
    deltas = [ch["delta"] for ch in chunks if ch["type"] == "message-delta"]
    assert "".join(deltas) == "echo: one two three four"
    assert offset == history(agent_target, c)["offset"]
    positions = [key(ch) for ch in chunks]
    assert positions == sorted(set(positions))


def test_long_poll_at_the_head_times_out_with_200_empty(agent_target: AgentTarget) -> None:
    c = conv()
    prompt(agent_target, c, "hi")
    head = history(agent_target, c)["offset"]
    started = time.monotonic()
    resp = updates(agent_target, c, head, "long-poll")
    assert time.monotonic() - started >= agent_target.long_poll_timeout - 1
    assert resp.status_code == 200 and resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == head
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert "Stream-Cursor" not in resp.headers


def test_sse_frames_carry_chunk_arrays_and_bare_controls(agent_target: AgentTarget) -> None:
    c = conv()
    sent = send(agent_target, c, "slow50: alpha beta gamma")
    query = f"?view=updates&offset={sent['offset']}&live=sse"
    with get(agent_target, path(c, query), stream=True) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        frames = sse_frames(resp, lambda event, data: '"submission-settled"' in data)
    chunks: list[dict[str, Any]] = []
    for event, data in frames:
        assert event in ("data", "control"), event
        value = json.loads(data)
        if event == "data":
            assert isinstance(value, list) and value
            chunks += value
        else:
            assert set(value) <= {"streamNextOffset", "upToDate"}
            assert OFFSET_RE.match(value["streamNextOffset"])
    assert frames[0][0] == "data"
    assert "".join(ch["delta"] for ch in chunks if ch["type"] == "message-delta") == (
        "echo: alpha beta gamma"
    )
    assert chunks[-1]["type"] == "submission-settled"


# -- tools, attachments ---------------------------------------------------------------------------


def test_tool_calls_and_tool_errors(agent_target: AgentTarget) -> None:
    c = conv()
    ok = prompt(agent_target, c, "tool: ping")
    assert ok["result"]["text"] == 'tool said: {"echoed":"ping"}'
    bad = prompt(agent_target, c, "tool: boom now")
    assert bad["result"]["text"] == "tool said: echo refused: boom now"
    chunks = updates(agent_target, c, START).json()
    inputs = [ch for ch in chunks if ch["type"] == "tool-input"]
    assert [(ch["toolName"], ch["input"]) for ch in inputs] == [
        ("echo", {"text": "ping"}),
        ("echo", {"text": "boom now"}),
    ]
    assert inputs[0]["toolCallId"] != inputs[1]["toolCallId"]
    (output,) = [ch for ch in chunks if ch["type"] == "tool-output"]
    (error,) = [ch for ch in chunks if ch["type"] == "tool-output-error"]
    assert (output["toolCallId"], output["output"]) == (inputs[0]["toolCallId"], {"echoed": "ping"})
    assert (error["toolCallId"], error["errorText"]) == (
        inputs[1]["toolCallId"],
        "echo refused: boom now",
    )
    messages = history(agent_target, c)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "assistant"] * 2
    assert messages[1]["parts"] == [
        {
            "type": "dynamic-tool",
            "toolName": "echo",
            "toolCallId": inputs[0]["toolCallId"],
            "state": "output-available",
            "input": {"text": "ping"},
            "output": {"echoed": "ping"},
        }
    ]
    assert messages[4]["parts"] == [
        {
            "type": "dynamic-tool",
            "toolName": "echo",
            "toolCallId": inputs[1]["toolCallId"],
            "state": "output-error",
            "input": {"text": "boom now"},
            "errorText": "echo refused: boom now",
        }
    ]
    assert text_of(messages[2]) == ok["result"]["text"]


def test_images_are_stored_as_attachments(agent_target: AgentTarget) -> None:
    c = conv()
    image = {
        "type": "image",
        "data": base64.b64encode(PNG).decode(),
        "mimeType": "image/png",
        "filename": "dot.png",
    }
    body = prompt(agent_target, c, "look", images=[image])
    assert body["result"]["text"].startswith("echo: look")
    user = history(agent_target, c)["messages"][0]
    assert user["parts"][0] == {"type": "text", "text": "look", "state": "done"}
    file_part = user["parts"][1]
    assert file_part == {
        "type": "file",
        "mediaType": "image/png",
        "id": file_part["id"],
        "size": len(PNG),
        "filename": "dot.png",
    }
    resp = get(agent_target, path(c, f"/attachments/{quote(file_part['id'], safe='')}"))
    assert resp.status_code == 200
    assert resp.content == PNG
    assert resp.headers["content-type"] == "image/png"
    assert resp.headers["content-disposition"] == "inline"
    missing = get(agent_target, path(c, "/attachments/att_nope"))
    assert_error(missing, 404, "attachment_not_found")


# -- abort and failures ---------------------------------------------------------------------------


def test_abort_during_a_slow_reply(agent_target: AgentTarget) -> None:
    c = conv()
    words = " ".join(f"t{i}" for i in range(40))
    sent = send(agent_target, c, f"slow300: {words}")
    follow(agent_target, c, sent["offset"], lambda ch: ch["type"] == "message-delta")
    resp = post(agent_target, path(c, "/abort"))
    assert resp.status_code == 200
    assert resp.json() == {"aborted": True}
    chunks, _ = follow(agent_target, c, sent["offset"], settled(sent["submissionId"]))
    notice, settlement = chunks[-2:]
    assert settlement["outcome"] == "aborted"
    assert settlement["error"] == ABORT_ERROR
    assert "result" not in settlement
    assert notice["type"] == "message-appended"
    assert notice["message"]["id"] == f"entry_submission_aborted_{sent['submissionId']}"
    assert notice["message"]["role"] == "user"
    assert "submissionId" not in notice["message"]
    assert notice["message"]["parts"] == [
        {"type": "text", "text": "Submission was aborted.", "state": "done"}
    ]
    assert "message-completed" in [ch["type"] for ch in chunks]
    snap = history(agent_target, c)
    _, partial, note = snap["messages"]
    assert note == {**notice["message"], "metadata": note["metadata"]}
    (part,) = partial["parts"]
    assert part["state"] == "done"
    assert f"echo: {words}".startswith(part["text"])
    assert len("echo:") <= len(part["text"]) < len(f"echo: {words}")
    assert snap["settlements"] == [
        {"submissionId": sent["submissionId"], "outcome": "aborted", "error": ABORT_ERROR}
    ]
    assert post(agent_target, path(c, "/abort")).json() == {"aborted": False}
    assert prompt(agent_target, c, "after")["result"]["text"] == "echo: after"


def test_wait_result_of_an_aborted_prompt_is_500_submission_aborted(
    agent_target: AgentTarget,
) -> None:
    c = conv()
    prompt(agent_target, c, "first")
    head = history(agent_target, c)["offset"]
    answer: dict[str, requests.Response] = {}

    def waiting() -> None:
        answer["resp"] = post(
            agent_target, path(c, "?wait=result"), {"message": "slow300: a b c d e f g h"}
        )

    thread = threading.Thread(target=waiting)
    thread.start()
    try:
        follow(agent_target, c, head, lambda ch: ch["type"] == "message-delta")
        assert post(agent_target, path(c, "/abort")).json() == {"aborted": True}
    finally:
        thread.join(30)
    error = assert_error(answer["resp"], 500, "submission_aborted")
    assert error["message"] == "Submission was aborted."


def test_model_failure(agent_target: AgentTarget) -> None:
    c = conv()
    assert_error(
        post(agent_target, path(c, "?wait=result"), {"message": "fail: x"}), 500, "operation_failed"
    )
    sent = send(agent_target, c, "fail: again")
    chunks, _ = follow(agent_target, c, sent["offset"], settled(sent["submissionId"]))
    assert [ch["type"] for ch in chunks] == [
        "message-appended",
        "message-started",
        "message-completed",
        "submission-settled",
    ]
    settlement = chunks[-1]
    assert settlement["outcome"] == "failed"
    assert settlement["error"]["type"] == "operation_failed"
    assert "result" not in settlement
    snap = history(agent_target, c)
    assert [m["role"] for m in snap["messages"]] == ["user", "assistant"] * 2
    assert snap["messages"][3]["parts"] == []
    assert [s["outcome"] for s in snap["settlements"]] == ["failed", "failed"]


# -- errors ---------------------------------------------------------------------------------------


def test_every_agent_route_needs_the_token(agent_target: AgentTarget) -> None:
    c = conv()
    assert_error(post(agent_target, path(c), {"message": "x"}, token=False), 401, "unauthorized")
    prompt(agent_target, c, "hi")
    for p in (path(c), path(c, "?view=updates&offset=-1"), path(c, "/attachments/att_x")):
        assert_error(get(agent_target, p, token=False), 401, "unauthorized")
    assert_error(post(agent_target, path(c, "/abort"), token=False), 401, "unauthorized")


def test_unknown_agent_is_404_even_without_a_token(agent_target: AgentTarget) -> None:
    c = conv()
    for token in (True, False):
        error = assert_error(
            post(agent_target, path(c, agent="nobody"), {"message": "x"}, token=token),
            404,
            "agent_not_found",
        )
        assert "nobody" in error["message"]
        assert_error(
            get(agent_target, path(c, agent="nobody"), token=token), 404, "agent_not_found"
        )
        assert_error(
            post(agent_target, path(c, "/abort", agent="nobody"), token=token),
            404,
            "agent_not_found",
        )
    assert_error(get(agent_target, path(c, agent="Assistant")), 404, "agent_not_found")


def test_an_instance_never_prompted(agent_target: AgentTarget) -> None:
    c = conv()
    for query in ("", "?view=updates&offset=-1", "?view=updates&offset=-1&live=long-poll"):
        assert_error(get(agent_target, path(c, query)), 404, "stream_not_found")
    with get(agent_target, path(c, "?view=updates&offset=-1&live=sse"), stream=True) as resp:
        assert_error(resp, 404, "stream_not_found")
    head = requests.head(agent_target.url + path(c), headers=auth(agent_target), timeout=TIMEOUT)
    assert head.status_code == 404
    assert_error(get(agent_target, path(c, "/attachments/att_1")), 404, "stream_not_found")
    assert post(agent_target, path(c, "/abort")).json() == {"aborted": False}
    assert get(agent_target, path(c)).status_code == 404  # abort did not create it


def test_methods_not_allowed(agent_target: AgentTarget) -> None:
    c = conv()
    resp = requests.delete(agent_target.url + path(c), headers=auth(agent_target), timeout=TIMEOUT)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    resp = get(agent_target, path(c, "/abort"))
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"
