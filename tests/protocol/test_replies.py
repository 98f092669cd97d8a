"""Which message replies to a submission, and what the reply holds (the rules of the TypeScript
SDK's ``readSubmissionReply``, @flue/sdk 2.0.3): pure, no sockets."""

from __future__ import annotations

from typing import Any

import flue
from flue._models.conversation import Message, Settlement, message_from_dict, snapshot_from_dict
from flue._protocol.replies import reply_message, select_reply

A, B, C = "sub_A", "sub_B", "sub_C"


def msg(id: str, role: str = "assistant", submission: str | None = None, *parts: Any) -> Message:
    doc: dict[str, Any] = {"id": id, "role": role, "parts": list(parts)}
    if submission is not None:
        doc["submissionId"] = submission
    return message_from_dict(doc)


def text(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t, "state": "done"}


def settled(submission: str, answered_by: str | None = None) -> Settlement:
    return Settlement(
        submission_id=submission, outcome="completed", answered_by_submission_id=answered_by
    )


def test_the_last_assistant_message_of_the_submission() -> None:
    messages = [
        msg("u1", "user", A, text("Hi")),
        msg("a1", "assistant", A, text("first")),
        msg("a2", "assistant", A, text("second")),
        msg("b1", "assistant", B, text("other")),
    ]
    reply = select_reply(messages, [settled(A, B)], A)
    assert reply.text == "second" and reply.message is messages[2]
    assert reply.submission_id == A and reply.uid is None


def test_a_joined_submission_reads_the_reply_that_answered_it() -> None:
    # B was sent while A's reply streamed: it joined, both settle naming A
    messages = [
        msg("u1", "user", A, text("A")),
        msg("a1", "assistant", A, text("echo: A"), text("echo: B")),
        msg("u2", "user", B, text("B")),
        msg("x", "assistant", C, text("later")),
    ]
    settlements = [settled(A, A), settled(B, A)]
    for submission in (A, B):
        reply = select_reply(messages, settlements, submission, uid="inst_1")
        assert reply.text == "echo: A\n\necho: B"
        assert reply.submission_id == submission and reply.uid == "inst_1"


def test_a_named_reply_without_a_message_is_empty_not_the_last_one() -> None:
    messages = [msg("a1", "assistant", C, text("unrelated"))]
    reply = select_reply(messages, [settled(B, A)], B)
    assert reply.text == "" and reply.message is None and reply.data == {}
    assert reply.metadata is None
    assert reply_message(messages, [settled(B, A)], B) is None


def test_without_a_link_the_conversations_last_assistant_message() -> None:
    messages = [
        msg("a1", "assistant", None, text("beta.9 reply")),
        msg("n1", "system", None, text("notice")),
        msg("u2", "user", None, text("again")),
    ]
    assert select_reply(messages, [], A).text == "beta.9 reply"  # no settlement
    assert select_reply(messages, [settled(A)], A).text == "beta.9 reply"  # no link


def test_no_assistant_message_at_all() -> None:
    reply = select_reply([msg("u1", "user", A, text("Hi"))], [], A)
    assert reply == flue.Reply(submission_id=A)
    assert reply.raw == {"text": "", "data": {}, "submissionId": A}


def test_text_parts_only_joined_by_a_blank_line() -> None:
    message = msg(
        "a1",
        "assistant",
        A,
        {"type": "reasoning", "text": "thinking", "state": "done"},
        text("one"),
        {"type": "dynamic-tool", "toolCallId": "c", "toolName": "t", "state": "input-available"},
        text(""),
        {"type": "text", "text": 5, "state": "done"},  # no string text: left out, as the SDK
        text("two"),
    )
    assert select_reply([message], [], A).text == "one\n\n\n\ntwo"


def test_data_parts_collected_by_name_in_order_and_metadata() -> None:
    doc = {
        "id": "a1",
        "role": "assistant",
        "submissionId": A,
        "parts": [
            {"type": "data-progress", "data": 1},
            text("done"),
            {"type": "data-chart", "data": {"x": [1]}},
            {"type": "data-progress", "data": 2},  # a later step's part of the same name
            {"type": "data-", "data": None},
        ],
        "metadata": {"tokens": 3},
    }
    reply = select_reply([message_from_dict(doc)], [settled(A, A)], A, uid="inst_1")
    assert reply.data == {"progress": (1, 2), "chart": ({"x": [1]},), "": (None,)}
    assert reply.metadata == {"tokens": 3} and reply.metadata is not None
    assert reply.metadata["tokens"] == 3
    assert reply.raw == {
        "text": "done",
        "data": {"progress": [1, 2], "chart": [{"x": [1]}], "": [None]},
        "metadata": {"tokens": 3},
        "submissionId": A,
        "uid": "inst_1",
    }


def test_replies_from_a_snapshot_and_a_live_state_agree() -> None:
    snapshot = snapshot_from_dict(
        {
            "v": 1,
            "conversationId": "c",
            "offset": "0",
            "incarnation": "inc_1",
            "messages": [
                {"id": "a1", "role": "assistant", "submissionId": A, "parts": [text("hi")]}
            ],
            "settlements": [{"submissionId": A, "outcome": "completed"}],
        }
    )
    state = snapshot.state
    assert select_reply(snapshot.messages, snapshot.settlements, A) == select_reply(
        state.messages, state.settlements, A
    )
