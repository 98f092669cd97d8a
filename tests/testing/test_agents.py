"""The fake server's agents (conversations), over raw HTTP.

Plain ``requests``/``aiohttp`` calls against :class:`FlueTestServer` with scripted replies.
Mid-reply states are reached with ``pause_after`` + ``wait_paused`` (never by sleeping), and
long-poll windows are shrunk so the ``200 []`` timeout answer comes quickly.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest
import requests

from flue.testing import AgentFailure, AgentPrompt, FlueTestServer, Reasoning, ToolCall

from .test_raw_http import sse_frames

TIMEOUT = (5, 15)
TOKEN = "agent-token"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
OFFSET_RE = re.compile(r"^[0-9]{16}_[0-9]{16}$")
H = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def server() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread(token=TOKEN, long_poll_timeout=0.2) as srv:
        yield srv


def wait_until(condition: Callable[[], bool], deadline_s: float = 5.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


def url(server: FlueTestServer, agent: str = "assistant", instance: str = "c1") -> str:
    return f"{server.url}/agents/{agent}/{instance}"


def post(target: str, body: Any = None, **kwargs: Any) -> requests.Response:
    headers = {**H, **kwargs.pop("headers", {})}
    return requests.post(target, json=body, headers=headers, timeout=TIMEOUT, **kwargs)


def get(target: str, **kwargs: Any) -> requests.Response:
    headers = {**H, **kwargs.pop("headers", {})}
    return requests.get(target, headers=headers, timeout=TIMEOUT, **kwargs)


def prompt(
    server: FlueTestServer, message: str, agent: str = "assistant", instance: str = "c1"
) -> dict[str, Any]:
    resp = post(url(server, agent, instance) + "?wait=result", {"message": message})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def updates(server: FlueTestServer, offset: str = "-1", **kw: str) -> list[dict[str, Any]]:
    params = "&".join(f"{k}={v}" for k, v in kw.items())
    resp = get(
        url(server, **{}) + f"?view=updates&offset={offset}" + (f"&{params}" if params else "")
    )
    assert resp.status_code == 200, resp.text
    chunks: list[dict[str, Any]] = resp.json()
    return chunks


def positions(chunks: list[dict[str, Any]]) -> list[tuple[int, int]]:
    return [(c["position"]["batch"], c["position"]["index"]) for c in chunks]


def texts(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


# -- prompts --------------------------------------------------------------------------------------


def test_prompt_admission(server: FlueTestServer) -> None:
    resp = post(url(server), {"message": "hello"})
    assert resp.status_code == 202
    body = resp.json()
    assert body["streamUrl"] == url(server)
    assert OFFSET_RE.match(body["offset"])
    assert UUID_RE.match(body["submissionId"])
    assert resp.headers["Location"] == url(server)
    assert resp.headers["Stream-Next-Offset"] == body["offset"]


def test_wait_result_and_history_after_two_prompts(server: FlueTestServer) -> None:
    first = prompt(server, "hello world")
    assert first["offset"] == "-1"  # the head before this prompt: a new instance has none
    assert first["result"]["text"] == "echo: hello world"
    assert first["result"]["model"] == {"provider": "fake", "id": "echo"}
    second = prompt(server, "again")
    assert OFFSET_RE.match(second["offset"])
    snap = get(url(server)).json()
    assert snap["v"] == 1 and snap["conversationId"].startswith("conv_")
    roles = [m["role"] for m in snap["messages"]]
    assert roles == ["user", "assistant", "user", "assistant"]
    assert [texts(m) for m in snap["messages"]] == [
        "hello world",
        "echo: hello world",
        "again",
        "echo: again",
    ]
    assert snap["messages"][0]["submissionId"] == first["submissionId"]
    assert "submissionId" not in snap["messages"][1]  # as a real server's history
    assert all(p["state"] == "done" for m in snap["messages"] for p in m["parts"])
    outcomes = [(s["submissionId"], s["outcome"]) for s in snap["settlements"]]
    assert outcomes == [(first["submissionId"], "completed"), (second["submissionId"], "completed")]


def test_custom_reply_sees_the_prompt(server: FlueTestServer) -> None:
    seen: list[AgentPrompt] = []

    def reply(p: AgentPrompt) -> list[str]:
        seen.append(p)
        return ["Hi ", p.message, f" ({len(p.messages)})"]

    server.add_agent("greeter", reply)
    assert prompt(server, "Ada", "greeter")["result"]["text"] == "Hi Ada (0)"
    assert prompt(server, "Bob", "greeter")["result"]["text"] == "Hi Bob (2)"
    assert [p.instance_id for p in seen] == ["c1", "c1"]
    assert seen[1].messages[1]["role"] == "assistant"


def test_async_generator_reply_with_reasoning_and_tools(server: FlueTestServer) -> None:
    async def reply(p: AgentPrompt) -> Any:
        yield Reasoning("let me see")
        yield ToolCall("search", {"q": p.message}, output={"hits": 1}, call_id="call_1")
        yield ToolCall("fetch", {}, error="no network", call_id="call_2")
        yield "done"

    server.add_agent("tools", reply)
    assert prompt(server, "q", "tools")["result"]["text"] == "done"
    snap = get(url(server, "tools")).json()
    first, second, third = snap["messages"][1:]
    assert [p["type"] for p in first["parts"]] == ["reasoning", "dynamic-tool"]
    assert first["parts"][1]["state"] == "output-available" and first["parts"][1]["output"] == {
        "hits": 1
    }
    assert second["parts"][0]["state"] == "output-error"
    assert second["parts"][0]["errorText"] == "no network"
    assert texts(third) == "done"
    kinds = [c["type"] for c in updates_of(server, "tools")]
    assert "tool-input" in kinds and "tool-output" in kinds and "tool-output-error" in kinds


def updates_of(server: FlueTestServer, agent: str) -> list[dict[str, Any]]:
    resp = get(url(server, agent) + "?view=updates&offset=-1")
    assert resp.status_code == 200
    chunks: list[dict[str, Any]] = resp.json()
    return chunks


def test_demo_directives(server: FlueTestServer) -> None:
    assert prompt(server, "words3: x")["result"]["text"] == "w0 w1 w2"
    think = prompt(server, "think: hi")
    snap = get(url(server)).json()
    assert snap["messages"][-1]["parts"][0] == {
        "type": "reasoning",
        "text": "thinking about hi",
        "state": "done",
    }
    assert think["result"]["text"] == "echo: hi"
    assert prompt(server, "tool: hi")["result"]["text"] == 'tool said: {"echoed":"hi"}'


def test_failure_settles_failed(server: FlueTestServer) -> None:
    server.add_agent("broken", AgentFailure("the model is down"))
    resp = post(url(server, "broken") + "?wait=result", {"message": "x"})
    assert resp.status_code == 500
    assert resp.json()["error"]["type"] == "operation_failed"
    assert "the model is down" in resp.json()["error"]["message"]
    [settlement] = get(url(server, "broken")).json()["settlements"]
    assert settlement["outcome"] == "failed"
    assert settlement["error"]["type"] == "operation_failed"


def test_failure_mid_reply_keeps_the_partial_text(server: FlueTestServer) -> None:
    def reply(p: AgentPrompt) -> Iterator[str]:
        yield "partial"
        raise AgentFailure("cut")

    server.add_agent("flaky", reply)
    assert post(url(server, "flaky") + "?wait=result", {"message": "x"}).status_code == 500
    snap = get(url(server, "flaky")).json()
    assert texts(snap["messages"][-1]) == "partial"
    assert snap["messages"][-1]["parts"][0]["state"] == "done"
    assert snap["settlements"][0]["outcome"] == "failed"


def test_unexpected_exception_is_an_internal_error(server: FlueTestServer) -> None:
    def reply(p: AgentPrompt) -> str:
        raise RuntimeError("bug in the test's reply")

    server.add_agent("buggy", reply)
    resp = post(url(server, "buggy") + "?wait=result", {"message": "x"})
    assert (resp.status_code, resp.json()["error"]["type"]) == (500, "internal_error")
    assert get(url(server, "buggy")).json()["settlements"][0]["error"]["type"] == "internal_error"


# -- updates --------------------------------------------------------------------------------------


def test_updates_catch_up_positions_and_replay(server: FlueTestServer) -> None:
    prompt(server, "one two")
    prompt(server, "three")
    chunks = updates(server)
    assert chunks[0]["type"] == "conversation-reset"
    assert positions(chunks) == sorted(set(positions(chunks)))  # strictly increasing
    snap = get(url(server)).json()
    assert all(c["conversationId"] == snap["conversationId"] for c in chunks)
    deltas = "".join(c["delta"] for c in chunks if c["type"] == "message-delta")
    assert deltas == "echo: one two" + "echo: three"
    settled = [c for c in chunks if c["type"] == "submission-settled"]
    assert [s["outcome"] for s in settled] == ["completed", "completed"]
    started = [c for c in chunks if c["type"] == "message-started"]
    assert [s["submissionId"] for s in started] == [s["submissionId"] for s in settled]
    # a read from the middle returns exactly the chunks after that batch
    middle = chunks[len(chunks) // 2]["position"]["batch"]
    rest = updates(server, f"{0:016d}_{middle:016d}")
    assert rest == [c for c in chunks if c["position"]["batch"] > middle]


def test_updates_headers_and_long_poll_timeout(server: FlueTestServer) -> None:
    prompt(server, "x")
    head = get(url(server)).json()["offset"]
    resp = get(url(server) + f"?view=updates&offset={head}&live=long-poll")
    assert resp.status_code == 200 and resp.json() == []
    assert resp.headers["Stream-Next-Offset"] == head
    assert resp.headers["Stream-Up-To-Date"] == "true"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


def test_long_poll_wakes_on_a_prompt(server: FlueTestServer) -> None:
    agent = server.add_agent("held", pause_after=1)
    post(url(server, "held"), {"message": "a b"})
    agent.wait_paused(5)
    head = get(url(server, "held")).json()["offset"]
    answers: list[requests.Response] = []
    poll = threading.Thread(
        target=lambda: answers.append(
            get(url(server, "held") + f"?view=updates&offset={head}&live=long-poll")
        )
    )
    poll.start()
    # The long-poll is counted once it waits (as on line "2"), so the reply resumed below is
    # certainly what wakes it.
    agent.wait_for_readers("c1")
    agent.resume()
    poll.join(10)
    [resp] = answers
    assert resp.status_code == 200
    assert resp.json(), "the long-poll answered with the resumed reply's chunks"


def test_offset_past_head_is_a_500(server: FlueTestServer) -> None:
    prompt(server, "x")
    resp = get(url(server) + f"?view=updates&offset={0:016d}_{999:016d}")
    assert resp.status_code == 500


def test_sse_streams_until_the_client_closes(server: FlueTestServer) -> None:
    prompt(server, "a b")
    raw = b""
    with get(url(server) + "?view=updates&offset=-1&live=sse", stream=True) as resp:
        assert resp.headers["content-type"] == "text/event-stream"
        for chunk in resp.iter_content(chunk_size=None):
            raw += chunk
            if raw.count(b"event: control") >= 2:  # the first answer, then the idle re-read
                break
    frames = sse_frames(raw)
    data = [json.loads(d) for e, d in frames if e == "data"]
    controls = [json.loads(d) for e, d in frames if e == "control"]
    chunks = [c for batch in data for c in batch]
    assert chunks == updates(server)
    assert controls[0] == {"streamNextOffset": get(url(server)).json()["offset"], "upToDate": True}
    assert all("streamClosed" not in c and "streamCursor" not in c for c in controls)


def test_read_validation(server: FlueTestServer) -> None:
    prompt(server, "x")
    cases = {
        "?view=bogus": "Invalid agent conversation view. Use history or updates.",
        "?offset=-1": "History reads do not accept offset, tail, or live parameters.",
        "?view=updates": "Exactly one offset is required.",
        "?view=updates&offset=now": "Invalid offset format.",
        "?view=updates&offset=-1&tail=2": "Update streams do not accept tail.",
        "?view=updates&offset=-1&live=ws": "Invalid live mode. Use long-poll or sse.",
    }
    for query, details in cases.items():
        resp = get(url(server) + query)
        assert resp.status_code == 400, query
        assert resp.json()["error"]["details"] == details


# -- errors and auth ------------------------------------------------------------------------------


def test_auth_and_not_found(server: FlueTestServer) -> None:
    prompt(server, "x")
    for method, path in [
        ("POST", ""),
        ("GET", ""),
        ("GET", "?view=updates&offset=-1"),
        ("POST", "/abort"),
    ]:
        resp = requests.request(method, url(server) + path, json={"message": "x"}, timeout=TIMEOUT)
        assert resp.status_code == 401, (method, path)
    resp = requests.get(url(server, "nobody"), timeout=TIMEOUT)  # unknown agent: 404 before auth
    assert resp.json()["error"]["type"] == "agent_not_found"
    for path in ["", "?view=updates&offset=-1"]:
        resp = get(url(server, instance="never") + path)
        assert (resp.status_code, resp.json()["error"]["type"]) == (404, "stream_not_found")
    assert (
        requests.head(url(server, instance="never"), headers=H, timeout=TIMEOUT).status_code == 404
    )
    head = requests.head(url(server), headers=H, timeout=TIMEOUT)
    assert head.headers["Stream-Next-Offset"] == get(url(server)).json()["offset"]
    assert requests.delete(url(server), headers=H, timeout=TIMEOUT).status_code == 405
    assert get(url(server) + "/other").json()["error"]["type"] == "route_not_found"


def test_prompt_validation(server: FlueTestServer) -> None:
    assert post(url(server), {"text": "x"}).json()["error"]["type"] == "invalid_request"
    assert post(url(server), {"message": "x", "images": [{"type": "image"}]}).status_code == 400
    resp = requests.post(
        url(server), data=b"x", headers={**H, "Content-Type": "text/plain"}, timeout=TIMEOUT
    )
    assert resp.status_code == 415
    resp = requests.post(
        url(server), data=b"{", headers={**H, "Content-Type": "application/json"}, timeout=TIMEOUT
    )
    assert resp.json()["error"]["type"] == "invalid_json"
    assert post(url(server) + "?wait=now", {"message": "x"}).status_code == 400
    assert server.agent_handle("assistant").instances == []  # nothing was admitted


# -- abort ----------------------------------------------------------------------------------------


def test_abort_mid_reply(server: FlueTestServer) -> None:
    agent = server.add_agent("slow", pause_after=2)
    answers: list[requests.Response] = []
    waiter = threading.Thread(
        target=lambda: answers.append(
            post(url(server, "slow") + "?wait=result", {"message": "a b c"})
        )
    )
    waiter.start()
    agent.wait_paused(5)
    live = get(url(server, "slow")).json()["messages"][-1]
    assert (texts(live), live["parts"][0]["state"]) == ("echo: a", "streaming")
    resp = post(url(server, "slow") + "/abort")
    assert resp.status_code == 200 and resp.json() == {"aborted": True}
    waiter.join(10)
    [answer] = answers
    assert (answer.status_code, answer.json()["error"]["type"]) == (500, "submission_aborted")
    snap = get(url(server, "slow")).json()
    _, partial, notice = snap["messages"]
    assert (texts(partial), partial["parts"][0]["state"]) == ("echo: a", "done")
    assert notice["role"] == "user" and texts(notice) == "Submission was aborted."
    [settlement] = snap["settlements"]
    assert settlement["outcome"] == "aborted"
    assert settlement["error"]["type"] == "submission_aborted"
    assert post(url(server, "slow") + "/abort").json() == {"aborted": False}


def test_abort_covers_queued_prompts(server: FlueTestServer) -> None:
    agent = server.add_agent("slow", pause_after=1)
    first = post(url(server, "slow"), {"message": "one"}).json()["submissionId"]
    second = post(url(server, "slow"), {"message": "two"}).json()["submissionId"]
    agent.wait_paused(5)
    assert agent.abort("c1") is True
    snap = get(url(server, "slow")).json()
    outcomes = {s["submissionId"]: s["outcome"] for s in snap["settlements"]}
    assert outcomes == {first: "aborted", second: "aborted"}
    assert [texts(m) for m in snap["messages"] if m["role"] == "user"] == [
        "one",
        "Submission was aborted.",
        "Submission was aborted.",
    ]
    assert agent.abort("never-prompted") is False


# -- attachments ----------------------------------------------------------------------------------


def test_images_become_file_parts_and_attachments(server: FlueTestServer) -> None:
    server.add_agent("vision", attachments=True)
    png = b"\x89PNG fake bytes"
    image = {
        "type": "image",
        "data": base64.b64encode(png).decode(),
        "mimeType": "image/png",
        "filename": "a.png",
    }
    result = post(
        url(server, "vision") + "?wait=result", {"message": "look", "images": [image]}
    ).json()
    att = f"att_direct_{result['submissionId']}_0"
    assert result["result"]["text"] == (
        f'echo: look\n\n<attachments>\n<image id="{att}" mimeType="image/png" />\n'
        "</attachments>(image omitted: model does not support images)"
    )
    user = get(url(server, "vision")).json()["messages"][0]
    file_part = user["parts"][1]
    assert file_part == {
        "type": "file",
        "mediaType": "image/png",
        "id": att,
        "size": len(png),
        "filename": "a.png",
    }
    resp = get(url(server, "vision") + f"/attachments/{att}")
    assert resp.status_code == 200 and resp.content == png
    assert resp.headers["content-type"] == "image/png"
    assert (
        requests.get(url(server, "vision") + f"/attachments/{att}", timeout=TIMEOUT).status_code
        == 401
    )
    missing = get(url(server, "vision") + "/attachments/att_nope")
    assert missing.json()["error"]["type"] == "attachment_not_found"
    # not exposed (the default of add_agent, as in Flue): the route does not exist
    server.add_agent("private")
    resp = get(url(server, "private") + f"/attachments/{att}")
    assert resp.json()["error"]["type"] == "route_not_found"
    assert get(url(server, instance="never") + f"/attachments/{att}").status_code == 404


# -- timing and the async fixture -----------------------------------------------------------------


def test_token_delay_writes_a_batch_per_token(server: FlueTestServer) -> None:
    agent = server.add_agent("paced", reply=["a", "b", "c"], token_delay=0.001)
    prompt(server, "x", "paced")
    batches = [c["position"]["batch"] for c in agent.chunks("c1") if c["type"] == "message-delta"]
    assert len(set(batches)) == 3


@pytest.mark.flue_server(long_poll_timeout=0.2)
async def test_async_fixture_pause_and_resume(flue_server: FlueTestServer) -> None:
    agent = flue_server.add_agent("held", pause_after=1)
    async with aiohttp.ClientSession() as http:
        target = f"{flue_server.url}/agents/held/c1"
        async with http.post(target, json={"message": "a b"}) as resp:
            assert resp.status == 202
        await agent.wait_paused_async(5)
        assert texts(agent.history("c1")["messages"][-1]) == "echo:"
        agent.resume()
        async with http.post(target + "?wait=result", json={"message": "c"}) as resp:
            assert (await resp.json())["result"]["text"] == "echo: c"
        async with http.get(target) as resp:
            snap = await resp.json()
    assert [texts(m) for m in snap["messages"]] == ["a b", "echo: a b", "c", "echo: c"]
