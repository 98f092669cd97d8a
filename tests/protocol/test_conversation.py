"""The conversation reducer and the agent request builders: scripted chunks, no sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flue._models.chunks import UnknownChunk, chunk_from_dict
from flue._models.conversation import (
    ConversationSnapshot,
    FilePart,
    ReasoningPart,
    TextPart,
    ToolPart,
    UnknownPart,
    snapshot_from_dict,
)
from flue._protocol.agents import (
    ABSENT_RETRY,
    LAGGING_RETRY,
    build_abort_request,
    build_history_request,
    conversation_url,
    updates_url,
)
from flue._protocol.agents_beta9 import (
    build_prompt_request,
    execution_error_from_api,
    settlement_result,
)
from flue._protocol.conversation import (
    APPLIED,
    DROPPED,
    UNCHANGED,
    CannotApply,
    Conversation,
    Rehydrate,
    apply_chunk,
    settled_submission,
    state_from_snapshot,
)
from flue._protocol.retry import RetryState
from flue.errors import FlueExecutionError, InvalidArgumentError

CONV = "http://h/agents/assistant/c1"


def snap(messages: list[dict[str, Any]] | None = None, offset: str = "0_0") -> ConversationSnapshot:
    return snapshot_from_dict(
        {
            "v": 1,
            "conversationId": "c1",
            "offset": offset,
            "messages": messages or [],
            "settlements": [],
        }
    )


def ch(type: str, batch: int, index: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "type": type,
        "conversationId": "c1",
        "position": {"batch": batch, "index": index},
        **fields,
    }


USER = {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Hi", "state": "done"}]}

MODEL = {"provider": "fake", "id": "echo"}
RESULT = {"text": "echo: Hi"}

# one reply as a real server streams it: user message, start, deltas, completion, settlement
REPLY = [
    ch("message-appended", 1, 0, message=USER),
    ch("message-started", 2, 0, messageId="a1", submissionId="s1", timestamp="t", model=MODEL),
    ch("message-delta", 2, 1, messageId="a1", kind="reasoning", delta="hmm"),
    ch("message-delta", 3, 0, messageId="a1", kind="text", delta="echo:"),
    ch("message-delta", 3, 1, messageId="a1", kind="text", delta=" Hi"),
    ch("message-completed", 4, 0, messageId="a1", usage={"input": 1, "output": 2}),
    ch("submission-settled", 4, 1, submissionId="s1", outcome="completed", result=RESULT),
]  # fmt: skip


def run(chunks: list[dict[str, Any]], conversation: Conversation | None = None) -> Conversation:
    conversation = conversation or Conversation(snap(), conversation_url=CONV)
    for item in chunks:
        outcome = conversation.apply(chunk_from_dict(item))
        assert not isinstance(outcome, Rehydrate), outcome
    return conversation


def check_final(conversation: Conversation) -> None:
    state = conversation.state
    assert [m.id for m in state.messages] == ["u1", "a1"]
    reply = state.messages[1]
    assert reply.role == "assistant" and reply.submission_id == "s1"
    assert reply.parts == (
        ReasoningPart(text="hmm", state="done"),
        TextPart(text="echo: Hi", state="done"),
    )
    assert reply.text == "echo: Hi"
    assert reply.metadata is not None and reply.metadata.usage is not None
    assert reply.metadata.usage.output == 2 and reply.metadata.timestamp == "t"
    settled = state.settlement("s1")
    assert settled is not None and settled.outcome == "completed"
    assert settled.result == {"text": "echo: Hi"}


def test_a_scripted_reply_materializes() -> None:
    check_final(run(REPLY))


def test_text_streams_then_is_done() -> None:
    conversation = run(REPLY[:5])
    parts = conversation.state.messages[1].parts
    # the kind change closed the reasoning part; the text part is still streaming
    assert parts == (
        ReasoningPart(text="hmm", state="done"),
        TextPart(text="echo: Hi", state="streaming"),
    )


@pytest.mark.parametrize("cut", range(len(REPLY) + 1))
def test_redelivery_after_any_cut_never_applies_twice(cut: int) -> None:
    # an SSE reconnect replays the batch in flight: everything up to `cut` comes again
    conversation = run(REPLY[:cut])
    outcomes = [conversation.apply(chunk_from_dict(c)) for c in REPLY]
    assert outcomes[:cut] == [DROPPED] * cut
    assert DROPPED not in outcomes[cut:]
    check_final(conversation)


def test_redelivered_batch_in_the_middle_is_dropped() -> None:
    conversation = Conversation(snap(), conversation_url=CONV)
    script = [*REPLY[:5], REPLY[3], REPLY[4], *REPLY[5:]]
    outcomes = [conversation.apply(chunk_from_dict(c)) for c in script]
    assert outcomes[5:7] == [DROPPED, DROPPED]
    check_final(conversation)


def test_message_started_twice_is_unchanged() -> None:
    conversation = run(REPLY[:2])
    again = dict(REPLY[1], position={"batch": 2, "index": 5})
    before = conversation.state
    assert conversation.apply(chunk_from_dict(again)) is UNCHANGED
    assert conversation.state is before
    assert conversation.position is not None and conversation.position.index == 5


@pytest.mark.parametrize(
    "bad",
    [
        ch("brand-new-chunk", 9, 0, payload=1),  # unknown type
        {"type": "message-delta", "messageId": "a1", "kind": "text", "delta": "x"},  # no position
        ch("message-delta", 9, 0, messageId="nope", kind="text", delta="x"),  # unknown message
        ch("message-delta", 9, 0, messageId="a1", kind="audio", delta="x"),  # unknown kind
        ch("tool-output", 9, 0, toolCallId="unknown", output=1),
        ch("message-appended", 9, 0),  # no message
        ch("submission-settled", 9, 0, submissionId="s1"),  # no outcome
        {"type": "message-delta", "position": {"batch": "1", "index": 0}},  # bad position
        "not an object",
    ],
)  # fmt: skip
def test_a_chunk_that_cannot_be_applied_asks_for_rehydrate(bad: Any) -> None:
    conversation = run(REPLY[:3])
    before = conversation.state
    outcome = conversation.apply(chunk_from_dict(bad))
    assert isinstance(outcome, Rehydrate) and outcome.reason
    assert conversation.state is before  # nothing half-applied


def test_rehydrate_then_resume_from_a_fresh_snapshot() -> None:
    conversation = run(REPLY[:4])
    assert isinstance(conversation.apply(chunk_from_dict(ch("mystery", 3, 5))), Rehydrate)
    # the history read again holds the reply so far; the stream goes on after it
    fresh = snap(
        [
            USER,
            {
                "id": "a1",
                "role": "assistant",
                "parts": [
                    {"type": "reasoning", "text": "hmm", "state": "done"},
                    {"type": "text", "text": "echo:", "state": "streaming"},
                ],
                "metadata": {"timestamp": "t"},
            },
        ]
    )
    conversation.reset(fresh)
    assert conversation.position is None
    run(REPLY[4:], conversation)
    state = conversation.state
    assert state.messages[1].parts[-1] == TextPart(text="echo: Hi", state="done")
    assert state.messages[1].submission_id is None  # history does not say; fine


def test_tool_calls_and_results() -> None:
    conversation = run(REPLY[:4])
    run(
        [
            ch(
                "tool-input",
                5,
                0,
                messageId="a1",
                toolCallId="t1",
                toolName="search",
                input={"q": 1},
            ),
            ch("tool-input", 5, 1, messageId="a1", toolCallId="t2", toolName="fail", input=None),
            ch("tool-output", 5, 2, toolCallId="t1", output={"hits": 1}),
            ch("tool-output-error", 5, 3, toolCallId="t2", errorText="boom"),
            ch("message-delta", 6, 0, messageId="a1", kind="text", delta="after"),
        ],
        conversation,
    )
    parts = conversation.state.messages[1].parts
    assert parts[1] == TextPart(text="echo:", state="done")  # the tool call closed it
    assert parts[2] == ToolPart(
        tool_name="search",
        tool_call_id="t1",
        state="output-available",
        input={"q": 1},
        output={"hits": 1},
    )
    assert parts[3] == ToolPart(
        tool_name="fail", tool_call_id="t2", state="output-error", error_text="boom"
    )
    assert parts[4] == TextPart(text="after", state="streaming")


def test_reset_chunk_replaces_the_state_and_appended_replaces_a_message() -> None:
    conversation = run(REPLY)
    reset = ch(
        "conversation-reset",
        7,
        0,
        snapshot={"conversationId": "c1", "offset": "x", "messages": [USER]},
    )
    assert conversation.apply(chunk_from_dict(reset)) is APPLIED
    assert [m.id for m in conversation.state.messages] == ["u1"]
    assert conversation.state.settlements == ()
    edited = dict(USER, parts=[{"type": "text", "text": "Hi!", "state": "done"}])
    conversation.apply(chunk_from_dict(ch("message-appended", 7, 1, message=edited)))
    assert conversation.state.messages[0].text == "Hi!" and len(conversation.state.messages) == 1


def test_settlement_is_replaced_not_duplicated() -> None:
    conversation = run(REPLY)
    again = ch("submission-settled", 8, 0, submissionId="s1", outcome="failed", error={"type": "x"})
    conversation.apply(chunk_from_dict(again))
    assert len(conversation.state.settlements) == 1
    assert conversation.state.settlements[0].outcome == "failed"


def test_unknown_parts_are_kept_and_attachment_urls_filled() -> None:
    message = {
        "id": "u9",
        "role": "user",
        "parts": [
            {"type": "file", "mediaType": "image/png", "id": "att 1/x", "size": 3},
            {"type": "file", "mediaType": "image/png", "url": "data:x"},
            {"type": "hologram", "depth": 3},
        ],
    }
    state = state_from_snapshot(snap([message]), CONV)
    parts = state.messages[0].parts
    assert parts[0] == FilePart(
        media_type="image/png", id="att 1/x", size=3, url=f"{CONV}/attachments/att%201%2Fx"
    )
    assert isinstance(parts[1], FilePart) and parts[1].url == "data:x"
    assert isinstance(parts[2], UnknownPart) and parts[2].type == "hologram"
    assert parts[2].raw == {"type": "hologram", "depth": 3}


def test_unknown_chunks_keep_their_raw_object() -> None:
    raw = {"type": "future", "position": {"batch": 1, "index": 2}, "extra": [1]}
    chunk = chunk_from_dict(raw)
    assert isinstance(chunk, UnknownChunk) and chunk.type == "future" and chunk.raw == raw
    assert isinstance(apply_chunk(snap().state, chunk), CannotApply)


def test_settlement_results_and_errors() -> None:
    done = chunk_from_dict(REPLY[-1])
    assert settled_submission(done, "other") is None
    found = settled_submission(done, "s1")
    assert found is not None and settlement_result(found).text == "echo: Hi"
    for outcome, failure in (("aborted", "aborted"), ("failed", "failed"), ("weird", "failed")):
        error = {"type": "submission_aborted", "message": "stopped"}
        chunk = chunk_from_dict(
            ch("submission-settled", 1, 0, submissionId="s2", outcome=outcome, error=error)
        )
        found = settled_submission(chunk, "s2")
        assert found is not None
        with pytest.raises(FlueExecutionError) as info:
            settlement_result(found)
        assert info.value.target == "agent_submission" and info.value.target_id == "s2"
        assert info.value.failure == failure and info.value.error == error
        assert "stopped" in str(info.value)


def test_prompt_failure_errors() -> None:
    body = json.dumps({"error": {"type": "submission_aborted", "message": "aborted"}})
    error = execution_error_from_api("submission_aborted", None, body)
    assert error is not None and error.failure == "aborted"
    assert error.error == {"type": "submission_aborted", "message": "aborted"}
    error = execution_error_from_api("operation_failed", {"submissionId": "s"}, "not json")
    assert error is not None and error.failure == "failed" and error.target_id == "s"
    assert execution_error_from_api("internal_error", None, "") is None


def test_urls_and_requests() -> None:
    url = conversation_url("https://h/api", "my agent", "../c/1")
    assert url == "https://h/api/agents/my%20agent/..%2Fc%2F1"
    for bad in ("", ".", "..", None):
        with pytest.raises(InvalidArgumentError):
            conversation_url("https://h", "a", bad)  # type: ignore[arg-type]
    assert updates_url(url) == f"{url}?view=updates"
    assert updates_url(f"{url}?view=events&x=1") == f"{url}?x=1&view=updates"
    sent = build_prompt_request(
        url, "hi", images=[{"data": b"\x00\x01", "mime_type": "image/png"}], wait=False
    )
    assert sent.method == "POST" and sent.url == url
    assert json.loads(sent.body or b"") == {
        "message": "hi",
        "images": [{"data": "AAE=", "mimeType": "image/png", "type": "image"}],
    }
    assert build_prompt_request(url, "hi", wait=True).url == f"{url}?wait=result"
    for images in ("x", [1], [{"data": 3, "mimeType": "a"}], [{"data": "x"}]):
        with pytest.raises(InvalidArgumentError):
            build_prompt_request(url, "hi", images=images, wait=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        build_prompt_request(url, 5, wait=False)
    assert build_history_request(url).url == f"{url}?view=history"
    abort = build_abort_request(url)
    assert abort.method == "POST" and abort.url == f"{url}/abort"


def test_the_observer_waits_grow_to_a_cap() -> None:
    # through the one backoff computation of retries: no jitter, no limit
    absent, lagging = RetryState(ABSENT_RETRY), RetryState(LAGGING_RETRY)
    delays = [absent.failed() for _ in range(40)]
    assert delays[:6] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0] and set(delays[6:]) == {5.0}
    assert [lagging.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 5.0]
