"""Raw-HTTP contract tests of Flue 2.x agent conversations, shared by the real 2.x servers and
``flue.testing``'s ``FlueTestServer(line="2")``.

Plain ``requests`` calls, no ``flue`` client code: each test checks one of the wire facts of
SPEC section 10 through the ``v2_target`` fixture (a :class:`V2Target`). Here it is a
token-protected fake whose demo agent ``assistant`` is mounted at ``/agents/assistant`` and
``/api/chat`` with a router over no registered agent at ``/api/unregistered``, as the 2.x
interop app (``tests/interop/app/v2``) has them; ``tests/interop/test_raw_http_v2.py`` re-runs
this module unchanged against the real 2.0.3/2.1.0 servers, whose agent answers through the
fake model of ``tools/flue_servers/fakemodel.py`` (``echo: <text>``; directives ``slow:``,
``fail:``, ``tool:``, as the fake's demo agent). Where the real server differs from SPEC
section 10, the difference is recorded in ``tests/interop/FINDINGS.md`` ("Flue 2.x"); where
the fake differs from the real server, in ``FlueTestServer``'s docstring.

Nothing sleeps and hopes: tests wait on long-polls (which answer as soon as the conversation
changes) under deadlines, and a reply is aborted only after one of its deltas was read.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import pytest
import requests

from flue.testing import FlueTestServer

TIMEOUT = (5, 45)  # a long-poll at the head answers after 30 s on the real server
START = "0000000000000000_0000000000000000"
OFFSET_RE = re.compile(r"^\d{16}_\d{16}$")
SUB_RE = re.compile(r"^sub_[0-9A-HJKMNP-TV-Z]{26}$")
INST_RE = re.compile(r"^inst_[0-9A-HJKMNP-TV-Z]{26}$")
INC_RE = re.compile(r"^inc_[0-9A-HJKMNP-TV-Z]{26}$")
CONV_RE = re.compile(r"^conv_[0-9A-HJKMNP-TV-Z]{26}$")
REF_RE = re.compile(r"^err_[0-9A-HJKMNP-TV-Z]{26}$")
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
ABORTED = {
    "name": "FlueError",
    "message": "Submission was aborted.",
    "type": "submission_aborted",
    "details": "The operation was stopped before it produced a completed response.",
}

Chunk = dict[str, Any]


@attrs.frozen
class V2Target:
    """A 2.x server under test: base ``url``, ``token``, ``kind`` ("fake" or "real"), the
    mounts of its agent (absolute URLs, append ``/{id}``), a mount over no registered agent,
    ``log_tail()`` (the server's log, for error refs) and ``wait_for_reader(url)``, which
    returns once a long-poll of that conversation waits (the fake knows; for the real server
    it can only give the request a moment to arrive)."""

    url: str
    token: str
    kind: str
    agents_mount: str
    conversation_mount: str
    unregistered_mount: str
    log_tail: Callable[[], str]
    wait_for_reader: Callable[[str], None]


FAKE_TOKEN = "v2-test-token"


@pytest.fixture(scope="session")
def _fake_v2_target() -> Iterator[V2Target]:
    with FlueTestServer.running_in_thread(line="2", token=FAKE_TOKEN) as server:
        server.add_agent("assistant", attachments=True, mount="/api/chat")
        server.add_mount("/api/unregistered", None)
        agent = server.agent_handle("assistant")

        def wait_for_reader(url: str) -> None:
            agent.wait_for_readers(url.rsplit("/", 1)[1])

        yield V2Target(
            url=server.url,
            token=FAKE_TOKEN,
            kind="fake",
            agents_mount=f"{server.url}/agents/assistant",
            conversation_mount=f"{server.url}/api/chat",
            unregistered_mount=f"{server.url}/api/unregistered",
            log_tail=lambda: "\n".join(server.error_log),
            wait_for_reader=wait_for_reader,
        )


@pytest.fixture
def v2_target(_fake_v2_target: V2Target) -> V2Target:
    """The 2.x server under test (here the fake; ``tests/interop`` overrides it)."""
    return _fake_v2_target


# -- helpers --------------------------------------------------------------------------------------


class Conversation:
    """One conversation URL and the token: plain ``requests`` calls."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, body: Any, suffix: str = "", **kwargs: Any) -> requests.Response:
        return requests.post(
            self.url + suffix, json=body, headers=self.headers, timeout=TIMEOUT, **kwargs
        )

    def get(self, suffix: str = "", **kwargs: Any) -> requests.Response:
        return requests.get(self.url + suffix, headers=self.headers, timeout=TIMEOUT, **kwargs)

    def send(self, body: str, **extra: Any) -> dict[str, Any]:
        resp = self.post({"kind": "user", "body": body, **extra})
        assert resp.status_code == 202, resp.text
        admission: dict[str, Any] = resp.json()
        return admission

    def history(self) -> dict[str, Any]:
        resp = self.get()
        assert resp.status_code == 200, resp.text
        snapshot: dict[str, Any] = resp.json()
        return snapshot

    def updates(self, offset: str, live: str | None = None, **kwargs: Any) -> requests.Response:
        query = f"?view=updates&offset={offset}" + (f"&live={live}" if live else "")
        return self.get(query, **kwargs)

    def follow(
        self, offset: str, until: Callable[[Chunk], bool], deadline_s: float = 30.0
    ) -> tuple[list[Chunk], str]:
        """Long-poll from ``offset`` until a chunk satisfies ``until``: (the chunks read, without
        the checkpoints, and the next offset)."""
        chunks: list[Chunk] = []
        deadline = time.monotonic() + deadline_s
        while True:
            resp = self.updates(offset, "long-poll")
            assert resp.status_code == 200, resp.text
            offset = resp.headers["Stream-Next-Offset"]
            batch = [c for c in resp.json() if c["type"] != "stream-checkpoint"]
            chunks += batch
            if any(until(c) for c in batch):
                return chunks, offset
            assert time.monotonic() < deadline, f"no matching chunk within {deadline_s}s: {chunks}"

    def settle(self, admission: dict[str, Any], offset: str | None = None) -> list[Chunk]:
        """The chunks from the admission's offset (or ``offset``) to its submission's
        settlement."""
        start = offset if offset is not None else admission["offset"]
        chunks, _ = self.follow(start, settled(admission["submissionId"]))
        return chunks


def settled(submission_id: str) -> Callable[[Chunk], bool]:
    return lambda c: c["type"] == "submission-settled" and c["submissionId"] == submission_id


def fresh_id() -> str:
    return f"v2-{uuid.uuid4().hex[:12]}"


def assert_error(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = resp.json()["error"]
    assert error["type"] == type_, error
    assert isinstance(error["message"], str) and error["message"]
    return error


def text_of(message: dict[str, Any]) -> str:
    return "".join(p["text"] for p in message["parts"] if p["type"] == "text")


def sse_frames(resp: requests.Response, stop: Callable[[str, str], bool]) -> list[tuple[str, str]]:
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


@pytest.fixture
def conv(v2_target: V2Target) -> Conversation:
    """A fresh conversation at the app's own mount (``/api/chat/{id}``)."""
    return Conversation(f"{v2_target.conversation_mount}/{fresh_id()}", v2_target.token)


# -- admission ------------------------------------------------------------------------------------


def test_admission_is_202_with_uid_and_stream_coordinates(conv: Conversation) -> None:
    resp = conv.post({"kind": "user", "body": "hello there world"})
    assert resp.status_code == 202, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert sorted(body) == ["offset", "streamUrl", "submissionId", "uid"]
    assert body["streamUrl"] == conv.url  # the URL posted to, whatever the mount
    assert resp.headers["Location"] == body["streamUrl"]
    assert body["offset"] == START  # a new conversation: never "-1"
    assert resp.headers["Stream-Next-Offset"] == body["offset"]
    assert SUB_RE.match(body["submissionId"]) and INST_RE.match(body["uid"])
    chunks = conv.settle(body)
    # The admission offset is the head before the prompt: its own message-appended follows.
    appended = [c for c in chunks if c["type"] == "message-appended"]
    assert appended[0]["message"]["submissionId"] == body["submissionId"]

    head = conv.history()["offset"]
    again = conv.send("second")
    assert again["offset"] == head  # the head before the second prompt
    assert again["uid"] == body["uid"]  # the same incarnation
    assert again["submissionId"] != body["submissionId"]
    conv.settle(again)


def test_both_mounts_serve_the_same_conversation(v2_target: V2Target) -> None:
    cid = fresh_id()
    at_agents = Conversation(f"{v2_target.agents_mount}/{cid}", v2_target.token)
    at_app = Conversation(f"{v2_target.conversation_mount}/{cid}", v2_target.token)
    first = at_app.send("one")
    assert first["streamUrl"] == at_app.url
    at_app.settle(first)
    second = at_agents.send("two")
    assert second["streamUrl"] == at_agents.url
    assert second["uid"] == first["uid"]
    at_agents.settle(second)
    snapshot = at_agents.history()
    assert snapshot == at_app.history()
    assert [text_of(m) for m in snapshot["messages"]] == ["one", "echo: one", "two", "echo: two"]


def test_the_beta9_body_and_other_bad_bodies_are_400(conv: Conversation) -> None:
    for body in (
        {"message": "hello"},  # beta.9's prompt body
        {"message": "hello", "images": []},
        {"kind": "user"},
        {"kind": "user", "body": 3},
        {"kind": "assistant", "body": "x"},
        {"kind": "user", "body": "x", "attachments": [{"type": "file", "data": "x"}]},
        {"kind": "signal", "type": "", "body": "x"},
        {"kind": "signal", "type": "instructions", "body": "x"},  # framework-reserved type
        {"kind": "signal", "type": "memory", "body": "x"},  # reserved since 2.0.3 too
        {"kind": "signal", "type": "compaction", "body": "x"},
        {"kind": "signal", "type": "t", "body": "x", "tagName": "1bad"},
        {"kind": "user", "body": "x", "uid": 5},
        {"kind": "user", "body": "x", "idempotencyKey": ""},
        ["kind", "user"],
    ):
        assert_error(conv.post(body), 400, "invalid_request")
    assert_error(conv.get(), 404, "stream_not_found")  # nothing was admitted


def test_wait_result_is_400_invalid_request(conv: Conversation) -> None:
    error = assert_error(
        conv.post({"kind": "user", "body": "hi"}, "?wait=result"), 400, "invalid_request"
    )
    assert "wait=result" in error["details"]
    assert_error(conv.get(), 404, "stream_not_found")


def test_unknown_body_fields_are_ignored(conv: Conversation) -> None:
    admission = conv.send("x", message="ignored", extra={"a": 1})
    conv.settle(admission)
    assert text_of(conv.history()["messages"][0]) == "x"


def test_body_errors_keep_the_1_0_envelopes(conv: Conversation) -> None:
    resp = requests.post(
        conv.url, data="x", headers={**conv.headers, "content-type": "text/plain"}, timeout=TIMEOUT
    )
    assert_error(resp, 415, "unsupported_media_type")
    resp = requests.post(
        conv.url,
        data="{",
        headers={**conv.headers, "content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert_error(resp, 400, "invalid_json")
    resp = requests.delete(conv.url, headers=conv.headers, timeout=TIMEOUT)
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "GET, HEAD, POST"
    resp = conv.get("/abort")
    assert_error(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"


# -- idempotency keys and send conditions ---------------------------------------------------------


def test_a_repeated_idempotency_key_is_deduplicated(conv: Conversation) -> None:
    body = {"kind": "user", "body": "once", "idempotencyKey": "key-1"}
    first = conv.post(body).json()
    assert first["offset"] == START and "deduplicated" not in first
    resp = conv.post(body)
    assert resp.status_code == 202, resp.text
    again = resp.json()
    assert again == {**first, "offset": "-1", "deduplicated": True}
    assert resp.headers["Stream-Next-Offset"] == "-1"
    conv.settle(first)
    after = conv.post(body).json()  # also once it settled
    assert after == again
    snapshot = conv.history()
    assert [m["role"] for m in snapshot["messages"]] == ["user", "assistant"]
    assert [s["submissionId"] for s in snapshot["settlements"]] == [first["submissionId"]]

    error = assert_error(conv.post({**body, "body": "something else"}), 409, "submission_conflict")
    assert error["meta"] == {"submissionId": first["submissionId"]}


def test_uid_conditions(conv: Conversation) -> None:
    # uid: a string names the incarnation to continue; null creates only when fresh.
    assert_error(
        conv.post({"kind": "user", "body": "x", "uid": "inst_nope"}),
        404,
        "agent_instance_not_found",
    )
    created = conv.send("first", uid=None)
    assert created["offset"] == START
    conv.settle(created)
    error = assert_error(
        conv.post({"kind": "user", "body": "x", "uid": None}), 409, "agent_instance_exists"
    )
    assert error["meta"] == {"uid": created["uid"]}
    assert created["uid"] in error["details"]
    assert_error(
        conv.post({"kind": "user", "body": "x", "uid": "inst_nope"}),
        404,
        "agent_instance_not_found",
    )
    continued = conv.send("second", uid=created["uid"])
    assert continued["uid"] == created["uid"]
    conv.settle(continued)
    assert len(conv.history()["messages"]) == 4  # the refused sends left nothing


# -- messages -------------------------------------------------------------------------------------


def test_a_signal_message_is_accepted(conv: Conversation) -> None:
    first = conv.send("hi")
    conv.settle(first)
    resp = conv.post(
        {"kind": "signal", "type": "ping", "body": "pong", "attributes": {"source": "test"}}
    )
    assert resp.status_code == 202, resp.text
    signal = resp.json()
    assert signal["uid"] == first["uid"]
    conv.settle(signal)
    snapshot = conv.history()
    message = next(
        m
        for m in snapshot["messages"]
        if m.get("submissionId") == signal["submissionId"] and m["role"] != "assistant"
    )
    assert message["role"] == "system"
    assert message["signal"] == {"attributes": {"source": "test"}}
    assert text_of(message) == "pong"
    outcomes = {s["submissionId"]: s["outcome"] for s in snapshot["settlements"]}
    assert outcomes[signal["submissionId"]] == "completed"


def test_image_attachments_are_stored_and_served(conv: Conversation) -> None:
    data = base64.b64encode(PNG).decode()
    attachment = {"type": "image", "data": data, "mimeType": "image/png", "filename": "dot.png"}
    admission = conv.send("look", attachments=[attachment])
    conv.settle(admission)
    user = conv.history()["messages"][0]
    text, file = user["parts"]
    assert text == {"type": "text", "text": "look", "state": "done"}
    assert sorted(file) == ["filename", "id", "mediaType", "size", "type"]
    assert file["type"] == "file" and file["mediaType"] == "image/png"
    assert file["filename"] == "dot.png" and file["size"] == len(PNG)
    resp = conv.get(f"/attachments/{file['id']}")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "image/png"
    assert resp.content == PNG
    assert_error(conv.get("/attachments/att_nope"), 404, "attachment_not_found")


def test_a_tool_call_is_a_dynamic_tool_part(conv: Conversation) -> None:
    conv.settle(conv.send("tool: ping"))
    reply = conv.history()["messages"][1]
    call, _ = reply["parts"]
    assert call["type"] == "dynamic-tool" and call["toolName"] == "echo"
    assert call["state"] == "output-available"
    assert call["input"] == {"text": "ping"} and call["output"] == {"echoed": "ping"}
    assert text_of(reply) == 'tool said: {"echoed":"ping"}'


def test_a_model_failure_settles_failed(conv: Conversation) -> None:
    admission = conv.send("fail: nope")
    settlement = conv.settle(admission)[-1]
    assert settlement["outcome"] == "failed"
    assert settlement["error"]["type"] == "operation_failed"
    snapshot = conv.history()
    assert [m["role"] for m in snapshot["messages"]] == ["user", "assistant"]
    assert snapshot["messages"][1]["parts"] == []  # and no advisory message


def test_a_message_sent_mid_reply_joins_that_reply(conv: Conversation) -> None:
    first = conv.send("slow50: a b c d")  # about 250 ms of reply
    second = conv.send("B")
    assert OFFSET_RE.match(second["offset"]) and second["offset"] > first["offset"]
    conv.settle(second, first["offset"])
    conv.settle(first)
    snapshot = conv.history()
    user, reply, joined = snapshot["messages"]
    assert user["submissionId"] == first["submissionId"]
    assert reply["submissionId"] == first["submissionId"]
    assert [p["text"] for p in reply["parts"]] == ["echo: a b c d", "echo: B"]
    assert joined["role"] == "user" and joined["submissionId"] == second["submissionId"]
    answered = {s["submissionId"]: s["answeredBySubmissionId"] for s in snapshot["settlements"]}
    assert answered == {
        first["submissionId"]: first["submissionId"],
        second["submissionId"]: first["submissionId"],
    }


def test_a_tool_round_trip_reopens_the_same_assistant_message(conv: Conversation) -> None:
    admission = conv.send("tool: hi")
    chunks = conv.settle(admission)
    kinds = [c["type"] for c in chunks if c["type"] != "message-delta"]
    assert kinds == [
        "message-appended",
        "message-started",
        "tool-input",
        "message-completed",
        "tool-output",
        "message-started",  # the same messageId again, a new turnId
        "message-completed",
        "submission-settled",
    ]
    started = [c for c in chunks if c["type"] == "message-started"]
    assert started[0]["messageId"] == started[1]["messageId"]
    assert started[0]["turnId"] != started[1]["turnId"]
    assert "model" not in started[0]
    completed = next(c for c in chunks if c["type"] == "message-completed")
    assert "usage" not in completed
    assert "result" not in chunks[-1]
    assert len(conv.history()["messages"]) == 2  # one user, one assistant message


# -- history --------------------------------------------------------------------------------------


def test_history_has_an_incarnation(conv: Conversation) -> None:
    admission = conv.send("hello")
    conv.settle(admission)
    resp = conv.get()
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["Stream-Up-To-Date"] == "true"
    snapshot = resp.json()
    assert sorted(snapshot) == [
        "conversationId",
        "incarnation",
        "messages",
        "offset",
        "settlements",
        "v",
    ]
    assert snapshot["v"] == 1
    assert INC_RE.match(snapshot["incarnation"]) and CONV_RE.match(snapshot["conversationId"])
    assert resp.headers["Stream-Next-Offset"] == snapshot["offset"]
    user, reply = snapshot["messages"]
    assert user["role"] == "user" and user["purpose"] == "user" and user["display"] == "visible"
    assert reply["role"] == "assistant" and reply["purpose"] == "assistant"
    assert reply["submissionId"] == admission["submissionId"]
    assert reply["turnId"].startswith("turn_")
    assert "metadata" not in reply  # no usage, model or timestamp any more
    assert snapshot["settlements"] == [
        {
            "submissionId": admission["submissionId"],
            "outcome": "completed",
            "answeredBySubmissionId": admission["submissionId"],
        }
    ]
    head = requests.head(conv.url, headers=conv.headers, timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Stream-Next-Offset"] == snapshot["offset"]


def test_a_conversation_never_prompted(conv: Conversation) -> None:
    for query in ("", "?view=updates&offset=-1", "?view=updates&offset=-1&live=long-poll"):
        assert_error(conv.get(query), 404, "stream_not_found")
    assert requests.head(conv.url, headers=conv.headers, timeout=TIMEOUT).status_code == 404
    assert conv.post(None, "/abort").json() == {"aborted": False}
    assert_error(conv.get(), 404, "stream_not_found")  # abort did not create it


# -- updates --------------------------------------------------------------------------------------


def test_updates_reads_start_with_a_checkpoint_without_position(conv: Conversation) -> None:
    conv.settle(conv.send("hello"))
    snapshot = conv.history()
    checkpoint = {"type": "stream-checkpoint", "incarnation": snapshot["incarnation"]}
    middle = None
    for offset in ("-1", START, snapshot["offset"]):
        resp = conv.updates(offset)
        assert resp.status_code == 200, resp.text
        assert resp.headers["Stream-Next-Offset"] == snapshot["offset"]
        first, *rest = resp.json()
        assert first == checkpoint  # no position, no conversationId
        assert all("position" in c for c in rest)
        if offset == START:
            middle = rest
        if offset == snapshot["offset"]:
            assert rest == []  # at the head: the checkpoint alone
    assert middle and middle[0]["type"] == "message-appended"
    types = {c["type"] for c in conv.updates("-1").json()}
    assert "conversation-reset" in types


def test_a_long_poll_wakes_with_the_checkpoint_first(
    conv: Conversation, v2_target: V2Target
) -> None:
    conv.settle(conv.send("one"))
    head = conv.history()["offset"]
    answer: dict[str, requests.Response] = {}
    waiting = threading.Thread(target=lambda: answer.update(r=conv.updates(head, "long-poll")))
    waiting.start()
    v2_target.wait_for_reader(conv.url)  # the long-poll waits (up to 30 s on a real server)
    sent = conv.send("two")
    waiting.join(40)
    resp = answer["r"]
    assert resp.status_code == 200, resp.text
    chunks = resp.json()
    assert chunks[0]["type"] == "stream-checkpoint" and "position" not in chunks[0]
    assert chunks[1]["type"] == "message-appended"
    assert chunks[1]["message"]["submissionId"] == sent["submissionId"]
    conv.settle(sent)


def test_the_first_sse_data_frame_is_the_checkpoint(conv: Conversation) -> None:
    conv.settle(conv.send("hello"))
    snapshot = conv.history()
    with conv.updates("-1", "sse", stream=True) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        frames = sse_frames(resp, lambda event, _data: event == "control")
    (event, data), *rest = frames
    assert event == "data"
    assert data == f'[{{"type":"stream-checkpoint","incarnation":"{snapshot["incarnation"]}"}}]'
    assert [e for e, _ in rest] == ["data", "control"]
    assert '"type":"stream-checkpoint"' not in rest[0][1]
    assert f'"streamNextOffset":"{snapshot["offset"]}"' in rest[1][1]


def test_an_offset_past_the_head_is_416_stream_offset_gone(conv: Conversation) -> None:
    conv.settle(conv.send("hello"))
    head = conv.history()["offset"]
    beyond = "0000000000000000_0000000000099999"
    for live in (None, "long-poll"):
        error = assert_error(conv.updates(beyond, live), 416, "stream_offset_gone")
        assert error["meta"] == {"offset": beyond, "nextOffset": head}
    with conv.updates(beyond, "sse", stream=True) as resp:
        error = assert_error(resp, 416, "stream_offset_gone")
        assert error["meta"] == {"offset": beyond, "nextOffset": head}


# -- abort ----------------------------------------------------------------------------------------


def test_abort_settles_the_running_and_the_queued_submissions(conv: Conversation) -> None:
    running = conv.send("slow100: a b c d e f g h i j k l m n o p")
    # wait until the reply streams, then queue two more behind it
    conv.follow(running["offset"], lambda c: c["type"] == "message-delta")
    queued = [conv.send("second"), conv.send("third")]
    resp = conv.post(None, "/abort")
    assert resp.status_code == 200
    assert resp.json() == {"aborted": True}
    for admission in (running, *queued):
        settlement = conv.settle(admission, running["offset"])[-1]
        assert settlement["outcome"] == "aborted"
        assert settlement["error"] == ABORTED
    snapshot = conv.history()
    ids = [running["submissionId"], *(q["submissionId"] for q in queued)]
    assert [s["submissionId"] for s in snapshot["settlements"]] == ids
    user, partial, *notices = snapshot["messages"]
    assert user["submissionId"] == running["submissionId"]  # the queued messages never entered
    assert partial["role"] == "assistant" and text_of(partial).startswith("echo:")
    assert len(notices) == 3
    for notice, submission_id in zip(notices, ids, strict=True):
        assert notice["role"] == "system" and notice["purpose"] == "advisory"
        assert notice["settlement"] == {"outcome": "aborted"}
        assert notice["signal"]["attributes"]["submissionId"] == submission_id
        assert text_of(notice) == "Submission was aborted."
    assert conv.post(None, "/abort").json() == {"aborted": False}  # nothing left to abort


# -- errors ---------------------------------------------------------------------------------------


def test_every_route_needs_the_token(conv: Conversation) -> None:
    conv.settle(conv.send("hi"))
    bare = requests.Session()
    for method, suffix in (
        ("POST", ""),
        ("GET", ""),
        ("GET", "?view=updates&offset=-1"),
        ("POST", "/abort"),
        ("GET", "/attachments/att_x"),
    ):
        resp = bare.request(
            method, conv.url + suffix, json={"kind": "user", "body": "x"}, timeout=TIMEOUT
        )
        assert_error(resp, 401, "unauthorized")  # the app's own middleware


def test_an_unknown_mount_is_the_apps_plain_text_404(v2_target: V2Target) -> None:
    headers = {"Authorization": f"Bearer {v2_target.token}"}
    base = v2_target.url
    for url in (f"{base}/agents/nobody/c1", f"{base}/api/nothing/c1", f"{base}/runs/run_1"):
        for send in (requests.get, requests.post):
            resp = send(url, headers=headers, timeout=TIMEOUT)
            assert resp.status_code == 404
            assert resp.headers["content-type"].startswith("text/plain")
            assert resp.text == "404 Not Found"


def test_a_500_carries_an_error_ref(v2_target: V2Target) -> None:
    # The app's /api/unregistered mount serves a function that is no registered agent.
    url = f"{v2_target.unregistered_mount}/{fresh_id()}"
    headers = {"Authorization": f"Bearer {v2_target.token}"}
    resp = requests.post(url, json={"kind": "user", "body": "x"}, headers=headers, timeout=TIMEOUT)
    error = assert_error(resp, 500, "internal_error")
    assert REF_RE.match(error["ref"])
    assert resp.headers["flue-error-ref"] == error["ref"]
    assert error["message"] == "An internal error occurred."
    assert error["ref"] in v2_target.log_tail()  # the log line carries the same ref
    assert_error(requests.get(url, headers=headers, timeout=TIMEOUT), 404, "stream_not_found")
