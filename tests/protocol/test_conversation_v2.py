"""The conversation reducer on Flue 2.x chunks: scripted chunks in the shapes the 2.0.3 runtime
emits (``packages/runtime/src/conversation-public.ts``, tests/interop/FINDINGS.md), no sockets.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from flue._models.chunks import (
    DataPartChunk,
    MessageMetadataChunk,
    MessageStartedChunk,
    StreamCheckpointChunk,
    SubmissionSettledChunk,
    ToolOutputChunk,
    ToolOutputErrorChunk,
    chunk_from_dict,
)
from flue._models.conversation import (
    ConversationSnapshot,
    MessageMetadata,
    SettlementMarker,
    SignalDescriptor,
    snapshot_from_dict,
)
from flue._models.parts import DataPart, FilePart, TextPart, ToolPart
from flue._protocol.conversation import (
    APPLIED,
    DROPPED,
    UNCHANGED,
    CannotApply,
    Conversation,
    Rehydrate,
    apply_chunk,
    deep_merge,
    state_from_snapshot,
)

CONV = "http://h/agents/assistant/c1"
CID = "conv_01JZ0000000000000000000000"
INC = "inc_01JZ8W3J6Q5Y7R2M9T4V1X0ABC"
SUB = "sub_01JZ8W3K0000000000000000S1"
SUB2 = "sub_01JZ8W3K0000000000000000S2"
TURN = "turn_01JZ8W3K00000000000000000T"
TS = "2026-05-01T10:00:00.000Z"


def ch(type: str, batch: int, index: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "type": type,
        "conversationId": CID,
        **fields,
        "position": {"batch": batch, "index": index},
    }


def checkpoint(incarnation: Any = INC) -> dict[str, Any]:
    return {"type": "stream-checkpoint", "incarnation": incarnation}


USER = {
    "id": "entry_u1",
    "role": "user",
    "purpose": "user",
    "display": "visible",
    "submissionId": SUB,
    "parts": [{"type": "text", "text": "Hi", "state": "done"}],
}


def snap(
    messages: list[dict[str, Any]] | None = None,
    settlements: list[dict[str, Any]] | None = None,
    incarnation: str | None = INC,
) -> ConversationSnapshot:
    doc: dict[str, Any] = {
        "v": 1,
        "conversationId": CID,
        "offset": "0000000000000000_0000000000000002",
        "messages": messages or [],
        "settlements": settlements or [],
    }
    if incarnation is not None:
        doc["incarnation"] = incarnation
    return snapshot_from_dict(doc)


# one 2.x reply as the runtime streams it (a JSON answer starts with the checkpoint)
REPLY = [
    checkpoint(),
    ch("message-appended", 3, 0, message=USER),
    ch("message-started", 4, 0, messageId="m_a1", submissionId=SUB, turnId=TURN, timestamp=TS),
    ch("message-delta", 4, 1, messageId="m_a1", kind="text", delta="echo:"),
    ch("message-delta", 5, 0, messageId="m_a1", kind="text", delta=" Hi"),
    ch("message-completed", 5, 1, messageId="m_a1", timestamp=TS),
    ch("submission-settled", 6, 0, submissionId=SUB, outcome="completed",
       answeredBySubmissionId=SUB, timestamp=TS),
]  # fmt: skip


def run(chunks: list[dict[str, Any]], conversation: Conversation | None = None) -> Conversation:
    conversation = conversation or Conversation(snap(), conversation_url=CONV)
    for item in chunks:
        outcome = conversation.apply(chunk_from_dict(item))
        assert not isinstance(outcome, Rehydrate), outcome
    return conversation


# -- chunks -----------------------------------------------------------------------------------


def test_new_chunks_parse() -> None:
    point = chunk_from_dict(checkpoint())
    assert point == StreamCheckpointChunk(incarnation=INC)
    assert point.position is None and point.raw == checkpoint()
    meta = chunk_from_dict(ch("message-metadata", 1, 2, messageId="m", metadata={"k": [1]}))
    assert isinstance(meta, MessageMetadataChunk)
    assert (meta.message_id, meta.metadata, meta.conversation_id) == ("m", {"k": [1]}, CID)
    data = chunk_from_dict(ch("data-part", 1, 3, messageId="m", name="chart", data={"x": 1}))
    assert isinstance(data, DataPartChunk)
    assert (data.message_id, data.name, data.data) == ("m", "chart", {"x": 1})
    assert data.position is not None and data.position.index == 3


def test_new_fields_of_known_chunks_parse() -> None:
    started = chunk_from_dict(REPLY[2] | {"metadata": {"who": "bot"}})
    assert isinstance(started, MessageStartedChunk)
    assert started.turn_id == TURN and started.metadata == {"who": "bot"}
    assert started.timestamp == TS and started.model is None
    out = chunk_from_dict(ch("tool-output", 1, toolCallId="c1", output=1, durationMs=12,
                             timestamp=TS))  # fmt: skip
    assert isinstance(out, ToolOutputChunk) and out.duration_ms == 12 and out.timestamp == TS
    err = chunk_from_dict(ch("tool-output-error", 1, toolCallId="c1", errorText="x",
                             durationMs=0.5))  # fmt: skip
    assert isinstance(err, ToolOutputErrorChunk) and err.duration_ms == 0.5
    settled = chunk_from_dict(REPLY[-1])
    assert isinstance(settled, SubmissionSettledChunk)
    assert settled.answered_by_submission_id == SUB and settled.timestamp == TS
    assert settled.result is None


@pytest.mark.parametrize("bad", [None, 3, ["x"]])
def test_a_checkpoint_without_a_valid_incarnation_reads_as_none(bad: Any) -> None:
    chunk = chunk_from_dict(checkpoint(bad))
    assert isinstance(chunk, StreamCheckpointChunk) and chunk.incarnation is None


# -- messages and snapshots --------------------------------------------------------------------


ABORT_NOTICE = {
    "id": f"entry_submission_aborted_{SUB2}",
    "role": "system",
    "purpose": "advisory",
    "display": "diagnostic",
    "submissionId": SUB2,
    "signal": {"attributes": {"submissionId": SUB2, "kind": "direct", "reason": "aborted"}},
    "settlement": {"outcome": "aborted"},
    "parts": [{"type": "text", "text": "Submission was aborted.", "state": "done"}],
}


def test_a_2x_history_parses() -> None:
    assistant = {
        "id": "m_a1",
        "role": "assistant",
        "purpose": "assistant",
        "display": "visible",
        "submissionId": SUB,
        "turnId": TURN,
        "parts": [
            {"type": "text", "text": "echo: Hi", "state": "done"},
            {"type": "data-chart", "data": {"points": [1, 2]}},
            {"type": "dynamic-tool", "toolName": "search", "toolCallId": "call_1",
             "state": "output-available", "input": {}, "output": "ok", "durationMs": 7},
        ],
        "metadata": {"tokens": 3, "nested": {"a": 1}},
    }  # fmt: skip
    settlement = {"submissionId": SUB, "outcome": "completed", "answeredBySubmissionId": SUB}
    snapshot = snap([USER, assistant, ABORT_NOTICE], [settlement])
    assert snapshot.incarnation == INC
    user, reply, notice = snapshot.messages
    assert (user.purpose, user.display, user.turn_id) == ("user", "visible", None)
    assert (reply.role, reply.purpose, reply.turn_id) == ("assistant", "assistant", TURN)
    assert reply.parts[1] == DataPart(name="chart", data={"points": [1, 2]})
    assert reply.parts[1].type == "data-chart"
    tool = reply.parts[2]
    assert isinstance(tool, ToolPart) and tool.duration_ms == 7
    assert reply.metadata is not None and reply.metadata["tokens"] == 3
    assert dict(reply.metadata) == {"tokens": 3, "nested": {"a": 1}}
    assert (notice.role, notice.purpose, notice.display) == ("system", "advisory", "diagnostic")
    assert notice.signal == SignalDescriptor(
        attributes={"submissionId": SUB2, "kind": "direct", "reason": "aborted"}
    )
    assert notice.settlement == SettlementMarker(outcome="aborted")
    assert notice.text == "Submission was aborted."
    (s,) = snapshot.settlements
    assert (s.submission_id, s.outcome, s.answered_by_submission_id) == (SUB, "completed", SUB)
    assert s.timestamp is None and s.result is None


def test_signal_descriptor_keeps_only_string_attributes_typed() -> None:
    message = dict(ABORT_NOTICE, signal={"tagName": "hook", "attributes": {"a": "b", "n": 1}})
    (notice,) = snap([message]).messages
    assert notice.signal is not None and notice.signal.tag_name == "hook"
    assert notice.signal.attributes == {"a": "b"}
    assert notice.signal.raw["attributes"] == {"a": "b", "n": 1}


def test_beta9_history_reads_none_for_2x_fields() -> None:
    beta9 = {"id": "u1", "role": "user", "parts": [], "metadata": {"timestamp": TS}}
    (message,) = snap([beta9], incarnation=None).messages
    assert message.purpose is message.display is message.turn_id is None
    assert message.signal is message.settlement is None
    assert message.metadata is not None and message.metadata.timestamp == TS
    assert snap(incarnation=None).incarnation is None


# -- the reducer --------------------------------------------------------------------------------


def test_a_2x_reply_materializes_as_the_sdk_does() -> None:
    conversation = run(REPLY)
    user, reply = conversation.state.messages
    assert user.id == "entry_u1"
    assert (reply.id, reply.role, reply.purpose, reply.display) == (
        "m_a1",
        "assistant",
        "assistant",
        "visible",
    )
    assert reply.submission_id == SUB and reply.turn_id == TURN
    assert reply.metadata is None  # the timestamp is the record's, not metadata, on 2.x
    assert reply.parts == (TextPart(text="echo: Hi", state="done"),)
    (settled,) = conversation.state.settlements
    assert settled.answered_by_submission_id == SUB and settled.timestamp == TS
    assert settled.result is None
    assert conversation.incarnation == INC


def test_message_started_carries_turn_and_metadata() -> None:
    started = REPLY[2] | {"metadata": {"model": "fake/echo", "n": 1}}
    conversation = run([REPLY[1], started])
    reply = conversation.state.messages[1]
    assert reply.turn_id == TURN
    assert reply.metadata == {"model": "fake/echo", "n": 1}
    assert reply.metadata is not None and reply.metadata.model is None  # not a ModelRef shape


def test_2x_message_started_without_turn_or_metadata_on_a_known_2x_stream() -> None:
    bare = ch("message-started", 4, 0, messageId="m_a1", submissionId=SUB, timestamp=TS)
    reply = run([bare]).state.messages[0]  # the snapshot had an incarnation: 2.x
    assert (reply.purpose, reply.display, reply.metadata) == ("assistant", "visible", None)
    # with nothing to tell, a pure reducer call keeps beta.9's reading
    state = apply_chunk(snap(incarnation=None).state, chunk_from_dict(bare))
    assert not isinstance(state, CannotApply)
    assert state.messages[0].metadata == {"timestamp": TS}
    assert state.messages[0].purpose is None
    state = apply_chunk(snap(incarnation=None).state, chunk_from_dict(bare), v2=True)
    assert not isinstance(state, CannotApply) and state.messages[0].metadata is None


def test_a_second_message_started_of_the_same_reply_is_unchanged() -> None:
    conversation = run(REPLY[:6])
    again = ch("message-started", 7, 0, messageId="m_a1", submissionId=SUB,
               turnId="turn_other", timestamp=TS)  # fmt: skip
    before = conversation.state
    assert conversation.apply(chunk_from_dict(again)) is UNCHANGED
    assert conversation.state is before
    # the reply goes on in the same message: a new text part after the completed one
    run([ch("message-delta", 7, 1, messageId="m_a1", kind="text", delta="more")], conversation)
    assert conversation.state.messages[1].parts == (
        TextPart(text="echo: Hi", state="done"),
        TextPart(text="more", state="streaming"),
    )
    assert conversation.state.messages[1].turn_id == TURN


def test_message_metadata_deep_merges() -> None:
    started = REPLY[2] | {"metadata": {"a": 1, "obj": {"x": 1, "deep": {"p": 1}}, "list": [1]}}
    conversation = run([REPLY[1], started])
    before = conversation.state.messages[1].metadata
    assert before is not None
    raw_before = copy.deepcopy(before.raw)
    update = {"b": 2, "obj": {"y": 2, "deep": {"q": 2}}, "list": [2], "a": None}
    assert conversation.apply(chunk_from_dict(ch("message-metadata", 5, 0, messageId="m_a1",
                                                 metadata=update))) is APPLIED  # fmt: skip
    metadata = conversation.state.messages[1].metadata
    assert metadata == {
        "a": None,  # null is a value: it wins
        "b": 2,
        "obj": {"x": 1, "y": 2, "deep": {"p": 1, "q": 2}},  # objects merge key by key
        "list": [2],  # arrays are replaced
    }
    assert before.raw == raw_before  # the earlier state did not change


def test_message_metadata_on_a_message_without_metadata() -> None:
    conversation = run(REPLY[:3])
    chunk = ch("message-metadata", 5, 0, messageId="m_a1", metadata={"usage": {"input": 4}})
    run([chunk], conversation)
    metadata = conversation.state.messages[1].metadata
    assert isinstance(metadata, MessageMetadata) and metadata == {"usage": {"input": 4}}
    assert metadata.usage is not None and metadata.usage.input == 4  # the typed reading


def test_deep_merge_drops_prototype_keys_and_copies() -> None:
    base = {"k": {"a": 1}}
    merged = deep_merge(base, {"__proto__": {"x": 1}, "constructor": 1, "prototype": 2,
                               "k": {"b": 2}})  # fmt: skip
    assert merged == {"k": {"a": 1, "b": 2}}
    assert base == {"k": {"a": 1}}
    assert deep_merge({"k": 1}, {"k": {"a": 1}}) == {"k": {"a": 1}}
    assert deep_merge({"k": {"a": 1}}, {"k": 5}) == {"k": 5}


def test_data_parts_append_then_replace_in_place() -> None:
    conversation = run(REPLY[:4])
    run(
        [
            ch("data-part", 4, 2, messageId="m_a1", name="progress", data={"pct": 10}),
            ch("data-part", 4, 3, messageId="m_a1", name="chart", data=[1]),
            ch("message-delta", 4, 4, messageId="m_a1", kind="text", delta=" more"),
            ch("data-part", 4, 5, messageId="m_a1", name="progress", data={"pct": 90}),
        ],
        conversation,
    )
    parts = conversation.state.messages[1].parts
    assert parts == (
        TextPart(text="echo:", state="streaming"),  # a data part closes nothing (as the SDK)
        DataPart(name="progress", data={"pct": 90}),  # rewritten where it was
        DataPart(name="chart", data=[1]),
        TextPart(text=" more", state="streaming"),
    )
    run([REPLY[5]], conversation)
    assert [getattr(p, "state", None) for p in conversation.state.messages[1].parts] == [
        "done",
        None,
        None,
        "done",
    ]


def test_a_data_part_in_a_history_is_rewritten_by_name() -> None:
    message = {"id": "m_a1", "role": "assistant", "parts": [{"type": "data-x", "data": 1}]}
    conversation = Conversation(snap([message]), conversation_url=CONV)
    run([ch("data-part", 9, 0, messageId="m_a1", name="x", data=2)], conversation)
    assert conversation.state.messages[0].parts == (DataPart(name="x", data=2),)


@pytest.mark.parametrize(
    "bad",
    [
        ch("message-metadata", 9, 0, messageId="nope", metadata={"a": 1}),  # unknown message
        ch("message-metadata", 9, 0, messageId="m_a1", metadata=[1]),  # not an object
        ch("message-metadata", 9, 0, messageId="m_a1"),  # no metadata
        ch("data-part", 9, 0, messageId="nope", name="x", data=1),  # unknown message
        ch("data-part", 9, 0, messageId="m_a1", data=1),  # no name
        checkpoint(None),  # a checkpoint without its incarnation
    ],
)
def test_2x_chunks_that_cannot_be_applied_ask_for_rehydrate(bad: Any) -> None:
    conversation = run(REPLY[:4])
    before = conversation.state
    outcome = conversation.apply(chunk_from_dict(bad))
    assert isinstance(outcome, Rehydrate) and outcome.reason
    assert conversation.state is before


def test_tool_results_carry_duration_and_land_on_the_waiting_call() -> None:
    conversation = run(REPLY[:4])
    run(
        [
            ch("tool-input", 6, 0, messageId="m_a1", toolCallId="call_0", toolName="search",
               input={"q": 1}, timestamp=TS),
            ch("tool-output", 6, 1, toolCallId="call_0", output="hit", durationMs=12,
               timestamp=TS),
            # the next step of the same reply calls a tool with the same id again
            ch("message-started", 7, 0, messageId="m_a1", submissionId=SUB, turnId="turn_2"),
            ch("tool-input", 7, 1, messageId="m_a1", toolCallId="call_x", toolName="fail",
               input=None),
            ch("tool-output-error", 7, 2, toolCallId="call_x", errorText="boom"),
        ],
        conversation,
    )  # fmt: skip
    parts = conversation.state.messages[1].parts
    assert parts[1] == ToolPart(tool_name="search", tool_call_id="call_0",
                                state="output-available", input={"q": 1}, output="hit",
                                duration_ms=12)  # fmt: skip
    assert parts[2] == ToolPart(tool_name="fail", tool_call_id="call_x", state="output-error",
                                error_text="boom")  # fmt: skip


def message_part(message: dict[str, Any], index: int) -> Any:
    return snap([message]).messages[0].parts[index]


def test_a_repeated_tool_call_id_gets_its_own_result() -> None:
    message = {
        "id": "m_a1",
        "role": "assistant",
        "parts": [
            {"type": "dynamic-tool", "toolName": "t", "toolCallId": "call_0",
             "state": "output-available", "input": 1, "output": "first", "durationMs": 3},
            {"type": "dynamic-tool", "toolName": "t", "toolCallId": "call_0",
             "state": "input-available", "input": 2},
        ],
    }  # fmt: skip
    conversation = Conversation(snap([message]), conversation_url=CONV)
    run([ch("tool-output", 9, 0, toolCallId="call_0", output="second")], conversation)
    first, second = conversation.state.messages[0].parts
    assert isinstance(first, ToolPart) and first.output == "first" and first.duration_ms == 3
    assert isinstance(second, ToolPart) and second.output == "second"
    assert second.state == "output-available" and second.duration_ms is None
    # with none waiting, a result goes to the last call of that id
    run([ch("tool-output-error", 9, 1, toolCallId="call_0", errorText="late")], conversation)
    first, second = conversation.state.messages[0].parts
    assert first == message_part(message, 0)
    assert isinstance(second, ToolPart) and second.error_text == "late"


def test_abort_notice_and_settlements_of_queued_submissions() -> None:
    conversation = run(REPLY[:5])
    run(
        [
            ch("message-completed", 6, 0, messageId="m_a1", timestamp=TS),
            ch("message-appended", 6, 1, message=ABORT_NOTICE),
            ch("submission-settled", 6, 2, submissionId=SUB2, outcome="aborted",
               error={"type": "submission_aborted", "message": "aborted"}, timestamp=TS),
        ],
        conversation,
    )  # fmt: skip
    notice = conversation.state.messages[-1]
    assert notice.role == "system" and notice.settlement == SettlementMarker(outcome="aborted")
    settled = conversation.state.settlement(SUB2)
    assert settled is not None and settled.outcome == "aborted"
    assert settled.answered_by_submission_id is None


# -- stream-checkpoint and incarnations ---------------------------------------------------------


def test_a_checkpoint_of_the_same_incarnation_is_unchanged_and_never_dropped() -> None:
    conversation = run(REPLY)
    before, position = conversation.state, conversation.position
    for _ in range(3):  # one per JSON answer: never a redelivery, never position-checked
        assert conversation.apply(chunk_from_dict(checkpoint())) is UNCHANGED
    assert conversation.state is before and conversation.position == position


def test_a_checkpoint_of_another_incarnation_asks_for_rehydrate() -> None:
    conversation = run(REPLY)
    outcome = conversation.apply(chunk_from_dict(checkpoint("inc_01JZOTHER000000000000000000")))
    assert outcome == Rehydrate(reason="the conversation's stream was reset (incarnation changed)")
    assert conversation.incarnation == INC  # the state still comes from the old one
    # the history read again names the new incarnation; its stream goes on from there
    fresh = snap([USER], incarnation="inc_01JZOTHER000000000000000000")
    conversation.reset(fresh)
    assert conversation.incarnation == "inc_01JZOTHER000000000000000000"
    assert conversation.position is None
    replayed = [checkpoint("inc_01JZOTHER000000000000000000"), *REPLY[2:]]
    outcomes = [conversation.apply(chunk_from_dict(c)) for c in replayed]
    assert DROPPED not in outcomes and not any(isinstance(o, Rehydrate) for o in outcomes)


def test_an_unknown_incarnation_is_learnt_from_the_first_checkpoint() -> None:
    conversation = Conversation(snap(incarnation=None), conversation_url=CONV)
    assert conversation.incarnation is None
    assert conversation.apply(chunk_from_dict(checkpoint())) is UNCHANGED
    assert conversation.incarnation == INC
    assert conversation.apply(chunk_from_dict(checkpoint())) is UNCHANGED
    assert isinstance(conversation.apply(chunk_from_dict(checkpoint("inc_2"))), Rehydrate)


def test_a_checkpoint_applied_by_the_pure_reducer_changes_nothing() -> None:
    state = snap().state
    assert apply_chunk(state, chunk_from_dict(checkpoint())) is state


def test_redelivery_with_checkpoints_between_batches() -> None:
    # an SSE reconnect: a new checkpoint, then the batch in flight again
    conversation = run(REPLY[:4])
    outcomes = [conversation.apply(chunk_from_dict(c)) for c in [checkpoint(), *REPLY[1:]]]
    assert outcomes[:4] == [UNCHANGED, DROPPED, DROPPED, DROPPED]
    assert conversation.state.messages[1].text == "echo: Hi"


# -- conversation-reset -------------------------------------------------------------------------


def test_a_reset_carries_settlements_and_keeps_the_incarnation() -> None:
    conversation = run(REPLY[:3])
    snapshot = {
        "v": 1,
        "conversationId": CID,
        "offset": "0000000000000000_0000000000000009",
        "messages": [USER, ABORT_NOTICE],
        "settlements": [
            {"submissionId": SUB, "outcome": "completed", "answeredBySubmissionId": SUB},
            {"submissionId": SUB2, "outcome": "aborted",
             "error": {"type": "submission_aborted", "message": "aborted"}},
        ],
    }  # fmt: skip
    reset = ch("conversation-reset", 9, 0, snapshot=snapshot)
    assert conversation.apply(chunk_from_dict(reset)) is APPLIED
    state = conversation.state
    assert [m.id for m in state.messages] == ["entry_u1", ABORT_NOTICE["id"]]
    first = state.settlement(SUB)
    assert first is not None and first.answered_by_submission_id == SUB
    second = state.settlement(SUB2)
    assert second is not None and second.error == {"type": "submission_aborted",
                                                    "message": "aborted"}  # fmt: skip
    assert conversation.incarnation == INC  # a reset's snapshot has none: the stream's stays
    assert conversation.apply(chunk_from_dict(checkpoint())) is UNCHANGED


def test_a_reset_at_the_start_of_a_stream_read_from_the_origin() -> None:
    # reads from -1 start [checkpoint, conversation-reset {0, 0}, ...]
    conversation = Conversation(snap(incarnation=None), conversation_url=CONV)
    snapshot = {"v": 1, "conversationId": CID, "offset": "0000000000000000_0000000000000000",
                "messages": [], "settlements": []}  # fmt: skip
    outcomes = [
        conversation.apply(chunk_from_dict(c))
        for c in [checkpoint(), ch("conversation-reset", 0, 0, snapshot=snapshot), *REPLY[1:]]
    ]
    assert outcomes[0] is UNCHANGED and DROPPED not in outcomes
    assert conversation.state.messages[1].text == "echo: Hi"


def test_file_parts_of_2x_user_messages_get_urls() -> None:
    message = dict(USER, parts=[{"type": "file", "mediaType": "image/png",
                                 "id": "att_01", "size": 3, "filename": "a.png"}])  # fmt: skip
    state = state_from_snapshot(snap([message]), CONV)
    part = state.messages[0].parts[0]
    assert isinstance(part, FilePart)
    assert part.url == f"{CONV}/attachments/att_01" and part.filename == "a.png"
