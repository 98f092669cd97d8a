"""Tests of `flue.models`: every event type in formats v1 and v3, run records, invoke results,
and forward compatibility (unknown types and fields, missing or mistyped fields, other ``v``)."""

from __future__ import annotations

import copy
import pickle
import re
import types
import typing
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flue._models.base import LENIENT, register_model
from flue.errors import ProtocolError
from flue.models import (
    EVENT_TYPES,
    BaseEvent,
    Event,
    InvokeResult,
    LogEvent,
    ModelErrorInfo,
    ModelRequestInfo,
    ModelResponse,
    PromptUsage,
    RunRecord,
    SerializedError,
    SubmissionSettledEvent,
    ThinkingDeltaEvent,
    ToolEvent,
    TurnEvent,
    UnknownEvent,
    UsageCost,
    converter,
    event_from_dict,
    events_from_dicts,
    invoke_result_from_dict,
    run_record_from_dict,
)

SPEC_TYPES = {
    "run_start", "run_resume", "agent_start", "agent_end", "turn_start", "turn_messages",
    "message_start", "message_end", "text_delta", "thinking_start", "thinking_delta",
    "thinking_end", "tool_start", "tool", "turn", "task_start", "task", "compaction_start",
    "compaction", "operation_start", "operation", "log", "idle", "submission_settled", "run_end",
}  # fmt: skip

RUN = "run_01JH3ZK8Q4W6N2V7X9YB5C0D1E"
USAGE = {
    "input": 1200,
    "output": 340,
    "cacheRead": 800,
    "cacheWrite": 0,
    "totalTokens": 2340,
    "cost": {
        "input": 0.0036,
        "output": 0.0051,
        "cacheRead": 0.0002,
        "cacheWrite": 0,
        "total": 0.0089,
    },
}
ASSISTANT = {
    "role": "assistant",
    "content": [
        {"type": "thinking", "thinking": "The user wants the weather.", "thinkingSignature": "sig"},
        {"type": "text", "text": "Let me check."},
        {"type": "toolCall", "id": "call_1", "name": "weather", "arguments": {"city": "Oslo"}},
    ],
}
USER = {"role": "user", "content": [{"type": "text", "text": "Weather in Oslo?"}]}
TOOL_RESULT = {
    "role": "toolResult",
    "toolCallId": "call_1",
    "toolName": "weather",
    "content": [{"type": "text", "text": "-3°C, snow"}],
    "isError": False,
}


def _payloads(v: int) -> dict[str, dict[str, Any]]:
    """The type-specific fields of each event type, as Flue's types.ts describes them for `v`."""
    thinking_index = {"contentIndex": 0} if v == 3 else {}
    if v == 1:
        turn: dict[str, Any] = {
            "model": "claude-sonnet-4",
            "provider": "anthropic",
            "api": "anthropic-messages",
            "output": ASSISTANT,
            "usage": USAGE,
            "stopReason": "toolUse",
        }
        settled: dict[str, Any] = {"outcome": "failed", "error": "process exited"}
    else:
        turn = {
            "request": {
                "providerId": "anthropic",
                "providerName": "Anthropic",
                "requestedModel": "claude-sonnet-4",
                "api": "anthropic-messages",
                "serverAddress": "api.anthropic.com",
                "serverPort": 443,
                "reasoningLevel": "medium",
                "maxTokens": 8192,
                "temperature": 0.2,
                "contextCompacted": True,
            },
            "response": {
                "responseId": "msg_01",
                "responseModel": "claude-sonnet-4-20250514",
                "output": ASSISTANT,
                "usage": USAGE,
                "finishReason": "toolUse",
            },
        }
        settled = {
            "outcome": "failed",
            "result": None,
            "error": {"name": "Error", "message": "process exited", "type": "internal_error"},
        }
    return {
        "run_start": {
            "workflowName": "weather",
            "startedAt": "2026-01-15T10:20:30.000Z",
            "input": {"city": "Oslo"},
        },
        "run_resume": {"workflowName": "weather", "startedAt": "2026-01-15T10:20:30.000Z"},
        "agent_start": {"session": "s1", "harness": "default"},
        "agent_end": {"messages": [USER, ASSISTANT, TOOL_RESULT]},
        "turn_start": {"turnId": "turn_1", "purpose": "agent"},
        "turn_messages": {
            "turnId": "turn_1",
            "purpose": "agent",
            "message": ASSISTANT,
            "toolResults": [TOOL_RESULT],
        },
        "message_start": {"message": USER, "turnId": "turn_1"},
        "message_end": {"message": ASSISTANT, "turnId": "turn_1"},
        "text_delta": {"text": "Let me ", "turnId": "turn_1"},
        "thinking_start": {**thinking_index, "turnId": "turn_1"},
        "thinking_delta": {**thinking_index, "delta": "The user wants"},
        "thinking_end": {**thinking_index, "content": "The user wants the weather."},
        "tool_start": {"toolName": "weather", "toolCallId": "call_1", "args": {"city": "Oslo"}},
        "tool": {
            "toolName": "weather",
            "toolCallId": "call_1",
            "isError": False,
            "result": {"content": [{"type": "text", "text": "-3°C"}]},
            "durationMs": 412,
        },
        "turn": {"turnId": "turn_1", "purpose": "agent", "durationMs": 2210.5, "isError": False}
        | turn,
        "task_start": {
            "taskId": "task_1",
            "prompt": "Summarise",
            "agent": "summariser",
            "cwd": "/work",
            "parentSession": "s1",
        },
        "task": {
            "taskId": "task_1",
            "agent": "summariser",
            "isError": False,
            "result": "done",
            "durationMs": 900,
        },
        "compaction_start": {"reason": "threshold", "estimatedTokens": 150000},
        "compaction": {
            "messagesBefore": 40,
            "messagesAfter": 6,
            "durationMs": 3100,
            "isError": False,
            "usage": USAGE,
        },
        "operation_start": {"operationId": "op_1", "operationKind": "prompt"},
        "operation": {
            "operationId": "op_1",
            "operationKind": "prompt",
            "durationMs": 5000,
            "isError": True,
            "error": {"message": "boom"},
            "usage": USAGE,
        },
        "log": {"level": "warn", "message": "emit", "attributes": {"i": 1, "data": "x"}},
        "idle": {"instanceId": "inst_1", "dispatchId": "d_1"},
        "submission_settled": {"submissionId": "sub_1"} | settled,
        "run_end": {"result": {"temp": -3}, "isError": False, "durationMs": 12000},
    }


def sample(type_: str, v: int, index: int = 7) -> dict[str, Any]:
    """A realistic event of `type_` in event format `v`."""
    d: dict[str, Any] = {
        "type": type_,
        "v": v,
        "eventIndex": index,
        "timestamp": "2026-01-15T10:20:31.456Z",
        "runId": RUN,
    }
    if v == 3:
        d |= {"agentName": "assistant", "conversationId": "conv_1"}
    return d | copy.deepcopy(_payloads(v)[type_])


def snake(key: str) -> str:
    return re.sub(r"[A-Z]", lambda m: "_" + m.group(0).lower(), key)


def assert_truthful(obj: Any) -> None:
    """Every attribute holds a value of its declared type (the point of the lenient hooks)."""
    hints = typing.get_type_hints(type(obj))
    for a in attrs.fields(type(obj)):
        value, t = getattr(obj, a.name), hints[a.name]
        if t is Any:
            continue
        union = typing.get_origin(t) in (typing.Union, types.UnionType)
        allowed = tuple(typing.get_origin(x) or x for x in (typing.get_args(t) if union else (t,)))
        if float in allowed:
            allowed += (int,)  # a JSON number without a fraction
        assert isinstance(value, allowed), (a.name, value, t)
        assert not isinstance(value, bool) or bool in allowed, (a.name, value, t)
        if attrs.has(type(value)):
            assert_truthful(value)


# --- every type, both formats -----------------------------------------------------------------


def test_event_types_cover_the_spec() -> None:
    assert set(EVENT_TYPES) == SPEC_TYPES
    assert set(_payloads(1)) == set(_payloads(3)) == SPEC_TYPES
    for name, cls in EVENT_TYPES.items():
        assert issubclass(cls, BaseEvent)
        assert cls.__doc__
        assert cls().type == name  # hand-built events default their type


@pytest.mark.parametrize("v", [1, 3])
@pytest.mark.parametrize("type_", sorted(SPEC_TYPES))
def test_every_type_maps_every_field(type_: str, v: int) -> None:
    d = sample(type_, v)
    event = event_from_dict(d)
    assert type(event) is EVENT_TYPES[type_]
    assert event.type == type_
    assert event.v == v
    assert event.event_index == 7
    assert event.timestamp == "2026-01-15T10:20:31.456Z"
    assert event.run_id == RUN
    assert event.raw is d
    assert_truthful(event)
    # Every key the sample carries is an attribute, holding the value or its typed model.
    for key, value in d.items():
        attr = getattr(event, snake(key))
        if attrs.has(type(attr)):
            assert attr.raw is value
        else:
            assert attr == value, key


def test_v3_context_fields() -> None:
    event = event_from_dict(sample("agent_start", 3))
    assert (event.agent_name, event.conversation_id) == ("assistant", "conv_1")
    assert (event.session, event.harness) == ("s1", "default")
    event = event_from_dict(sample("idle", 1))
    assert (event.instance_id, event.dispatch_id, event.agent_name) == ("inst_1", "d_1", None)
    event = event_from_dict(sample("task_start", 3))
    assert (event.task_id, event.parent_session) == ("task_1", "s1")


def test_turn_v1_is_flat() -> None:
    event = event_from_dict(sample("turn", 1))
    assert isinstance(event, TurnEvent)
    assert (event.model, event.provider, event.api) == (
        "claude-sonnet-4",
        "anthropic",
        "anthropic-messages",
    )
    assert event.stop_reason == "toolUse"
    assert event.output == ASSISTANT
    assert event.usage == PromptUsage(
        input=1200,
        output=340,
        cache_read=800,
        cache_write=0,
        total_tokens=2340,
        cost=UsageCost(input=0.0036, output=0.0051, cache_read=0.0002, cache_write=0, total=0.0089),
    )
    assert event.request is None and event.response is None
    assert event.duration_ms == 2210.5 and event.is_error is False


def test_turn_v3_carries_request_and_response() -> None:
    event = event_from_dict(sample("turn", 3))
    assert isinstance(event, TurnEvent)
    assert event.request == ModelRequestInfo(
        provider_id="anthropic",
        provider_name="Anthropic",
        requested_model="claude-sonnet-4",
        api="anthropic-messages",
        server_address="api.anthropic.com",
        server_port=443,
        reasoning_level="medium",
        max_tokens=8192,
        temperature=0.2,
        context_compacted=True,
    )
    assert isinstance(event.response, ModelResponse)
    assert event.response.response_model == "claude-sonnet-4-20250514"
    assert event.response.finish_reason == "toolUse"
    assert event.response.output == ASSISTANT
    assert event.response.usage is not None and event.response.usage.total_tokens == 2340
    assert event.response.error is None
    assert event.model is None and event.usage is None and event.stop_reason is None


def test_turn_v3_response_error() -> None:
    d = sample("turn", 3)
    d["isError"] = True
    d["response"] = {"error": {"type": "provider_error", "code": "overloaded", "message": "busy"}}
    event = event_from_dict(d)
    assert isinstance(event, TurnEvent) and event.response is not None
    assert event.response.error == ModelErrorInfo(
        type="provider_error", code="overloaded", message="busy"
    )


def test_thinking_content_index_is_v3_only() -> None:
    v1, v3 = (event_from_dict(sample("thinking_delta", v)) for v in (1, 3))
    assert isinstance(v1, ThinkingDeltaEvent) and isinstance(v3, ThinkingDeltaEvent)
    assert (v1.content_index, v3.content_index) == (None, 0)
    assert v1.delta == v3.delta == "The user wants"


def test_submission_settled_error_string_v1_structured_v3() -> None:
    v1 = event_from_dict(sample("submission_settled", 1))
    v3 = event_from_dict(sample("submission_settled", 3))
    assert isinstance(v1, SubmissionSettledEvent) and isinstance(v3, SubmissionSettledEvent)
    assert v1.error == "process exited" and v1.submission_id == "sub_1"
    assert v3.error == SerializedError(
        name="Error", message="process exited", type="internal_error"
    )
    assert v1.outcome == v3.outcome == "failed"
    assert "result" in v3.raw and "result" not in v1.raw


# --- forward compatibility --------------------------------------------------------------------


def test_unknown_type_keeps_everything() -> None:
    d = {"type": "hologram", "v": 4, "eventIndex": 3, "timestamp": "t", "runId": RUN, "beam": 1}
    event = event_from_dict(d)
    assert type(event) is UnknownEvent
    assert (event.type, event.v, event.event_index, event.run_id) == ("hologram", 4, 3, RUN)
    assert event.raw == d and event.raw["beam"] == 1


@pytest.mark.parametrize(
    "d",
    [{}, {"type": None}, {"type": 3}, {"type": ["log"]}, {"type": {"a": 1}}, {"v": 3}],
)
def test_missing_or_odd_type_is_unknown(d: dict[str, Any]) -> None:
    event = event_from_dict(d)
    assert type(event) is UnknownEvent
    assert event.type == ""
    assert event.raw is d


def test_unknown_field_kept_in_raw_only() -> None:
    d = sample("log", 3) | {"spanId": "abc", "level2": {"x": 1}}
    event = event_from_dict(d)
    assert isinstance(event, LogEvent)
    assert event.raw["spanId"] == "abc" and event.raw["level2"] == {"x": 1}
    assert not hasattr(event, "span_id")
    assert event == event_from_dict(sample("log", 3))  # raw is not part of equality
    assert "spanId" not in repr(event)


def test_missing_fields_read_as_none() -> None:
    event = event_from_dict({"type": "tool"})
    assert isinstance(event, ToolEvent)
    assert event == ToolEvent()
    assert (event.v, event.event_index, event.tool_name, event.is_error, event.result) == (
        None,
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("v", [0, 2, 4, 99, "3", None, 3.5])
def test_other_v_never_fails(v: Any) -> None:
    d = sample("log", 3) | {"v": v}
    event = event_from_dict(d)
    assert isinstance(event, LogEvent)
    assert event.v == (v if type(v) is int else None)
    assert event.message == "emit"
    assert event.raw["v"] == v


def test_mistyped_fields_read_as_none_but_stay_in_raw() -> None:
    d = {
        "type": "tool",
        "eventIndex": True,
        "timestamp": 5,
        "toolName": ["weather"],
        "isError": "false",
        "durationMs": "12",
        "runId": None,
        "sessi0n": 1,
    }
    event = event_from_dict(d)
    assert isinstance(event, ToolEvent)
    assert event == ToolEvent()
    assert event.raw is d
    turn = event_from_dict({"type": "turn", "usage": [1], "request": "x", "response": None})
    assert isinstance(turn, TurnEvent)
    assert (turn.usage, turn.request, turn.response) == (None, None, None)
    nested = event_from_dict({"type": "compaction", "usage": {"input": "many", "cost": 3}})
    assert nested.usage == PromptUsage()  # type: ignore[union-attr]


def test_numbers() -> None:
    event = event_from_dict({"type": "tool", "durationMs": 12})
    assert isinstance(event, ToolEvent) and event.duration_ms == 12
    event = event_from_dict({"type": "tool", "durationMs": 12.5})
    assert isinstance(event, ToolEvent) and event.duration_ms == 12.5
    event = event_from_dict({"type": "tool", "durationMs": False, "eventIndex": 1.0})
    assert isinstance(event, ToolEvent) and event.duration_ms is None and event.event_index is None


def test_camel_case_to_snake_case() -> None:
    d = {
        "type": "tool",
        "eventIndex": 1,
        "runId": "r",
        "toolName": "t",
        "toolCallId": "c",
        "isError": True,
        "durationMs": 3,
        "parentSession": "p",
        "operationId": "o",
        "submissionId": "s",
        "instanceId": "i",
        "dispatchId": "d",
        "conversationId": "cv",
        "agentName": "a",
        "turnId": "tu",
        "taskId": "ta",
        # snake_case keys are not the wire format: not read
        "tool_name": "wrong",
        "is_error": False,
    }
    event = event_from_dict(d)
    assert isinstance(event, ToolEvent)
    assert (event.event_index, event.run_id, event.tool_name, event.tool_call_id) == (
        1,
        "r",
        "t",
        "c",
    )
    assert (event.is_error, event.duration_ms, event.parent_session) == (True, 3, "p")
    assert (event.operation_id, event.submission_id, event.instance_id) == ("o", "s", "i")
    assert (event.dispatch_id, event.conversation_id, event.agent_name) == ("d", "cv", "a")
    assert (event.turn_id, event.task_id) == ("tu", "ta")


def test_rare_context_fields_found_with_extra_keys_present() -> None:
    # The generated code looks at context fields only when keys are left over; make sure every
    # combination of "left over" (unknown key, context key) is handled.
    event = event_from_dict({"type": "log", "session": "s"})
    assert event.session == "s"
    event = event_from_dict({"type": "log", "unknown": 1, "harness": "h"})
    assert event.harness == "h"
    event = converter.structure({"session": "s"}, LogEvent)  # no type key at all
    assert event.session == "s" and event.type == "log"


# --- run record, invoke result ----------------------------------------------------------------


def test_run_record_active() -> None:
    d = {"runId": RUN, "workflowName": "weather", "status": "active", "startedAt": "t0"}
    record = run_record_from_dict(d)
    assert record == RunRecord(
        run_id=RUN, workflow_name="weather", status="active", started_at="t0"
    )
    assert (record.ended_at, record.is_error, record.duration_ms, record.input) == (
        None,
        None,
        None,
        None,
    )
    assert record.raw is d


def test_run_record_completed() -> None:
    d = {
        "runId": RUN,
        "workflowName": "weather",
        "status": "completed",
        "startedAt": "t0",
        "endedAt": "t1",
        "isError": False,
        "durationMs": 1234,
        "input": {"city": "Oslo"},
        "result": {"temp": -3},
    }
    record = run_record_from_dict(d)
    assert (record.status, record.ended_at, record.is_error, record.duration_ms) == (
        "completed",
        "t1",
        False,
        1234,
    )
    assert record.input == {"city": "Oslo"} and record.result == {"temp": -3}
    assert record.error is None


def test_run_record_errored() -> None:
    d = {
        "runId": RUN,
        "workflowName": "weather",
        "status": "errored",
        "startedAt": "t0",
        "endedAt": "t1",
        "isError": True,
        "durationMs": 10,
        "error": {"name": "Error", "message": "boom"},
        "futureField": [1],
    }
    record = run_record_from_dict(d)
    assert record.status == "errored" and record.is_error is True
    assert record.error == {"name": "Error", "message": "boom"} and record.result is None
    assert record.raw["futureField"] == [1]


def test_run_record_unknown_status_and_missing_fields() -> None:
    record = run_record_from_dict({"status": "paused"})
    assert record.status == "paused" and record.run_id is None


def test_invoke_result() -> None:
    assert invoke_result_from_dict({"runId": RUN}) == InvokeResult(run_id=RUN)
    result = invoke_result_from_dict({"runId": RUN, "result": {"temp": -3}, "extra": 1})
    assert result.result == {"temp": -3} and result.raw["extra"] == 1


@pytest.mark.parametrize("d", [{}, {"runId": None}, {"runId": 5}, {"result": 1}])
def test_invoke_result_without_run_id_is_a_protocol_error(d: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="runId"):
        invoke_result_from_dict(d)


# --- errors, immutability, converter ----------------------------------------------------------


@pytest.mark.parametrize("bad", [None, "log", 3, [{"type": "log"}], b"{}", 1.5])
def test_non_dict_is_a_protocol_error(bad: Any) -> None:
    with pytest.raises(ProtocolError):
        event_from_dict(bad)
    with pytest.raises(ProtocolError):
        run_record_from_dict(bad)
    with pytest.raises(ProtocolError):
        invoke_result_from_dict(bad)
    with pytest.raises(ProtocolError):
        events_from_dicts([{"type": "idle"}, bad])
    with pytest.raises(ProtocolError):
        converter.structure(bad, LogEvent)


@pytest.mark.parametrize("bad", [None, {"type": "log"}, "[]", ({"type": "log"},)])
def test_events_from_dicts_needs_a_list(bad: Any) -> None:
    with pytest.raises(ProtocolError):
        events_from_dicts(bad)


def test_events_from_dicts_keeps_order() -> None:
    ds = [sample(t, 3, i) for i, t in enumerate(sorted(SPEC_TYPES))] + [{"type": "new"}]
    events = events_from_dicts(ds)
    assert [e.raw for e in events] == ds
    assert [type(e) for e in events] == [EVENT_TYPES[t] for t in sorted(SPEC_TYPES)] + [
        UnknownEvent
    ]
    assert events_from_dicts([]) == []


def test_frozen() -> None:
    event = event_from_dict(sample("turn", 3))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.type = "log"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.raw = {}  # type: ignore[misc]
    assert isinstance(event, TurnEvent) and event.response is not None
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        event.response.finish_reason = "x"  # type: ignore[misc]
    record = run_record_from_dict({"runId": RUN, "status": "active"})
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        record.status = "completed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        typing.cast(Any, LogEvent)("log")  # keyword-only


def test_repr_shows_set_fields_only() -> None:
    event = event_from_dict({"type": "log", "v": 3, "message": "hi", "secret": "s"})
    assert repr(event) == "LogEvent(type='log', v=3, message='hi')"


def test_pickle_and_copy() -> None:
    event = event_from_dict(sample("turn", 3))
    for clone in (pickle.loads(pickle.dumps(event)), copy.deepcopy(event)):
        assert clone == event and clone.raw == event.raw and type(clone) is TurnEvent


def test_converter_is_the_entry_point() -> None:
    d = sample("log", 1)
    assert converter.structure(d, BaseEvent) == event_from_dict(d)
    assert converter.structure(d, Event) == event_from_dict(d)  # type: ignore[arg-type]
    assert converter.structure([d], list[Event]) == [event_from_dict(d)]
    assert converter.structure(d, LogEvent).raw is d
    assert converter.structure({"runId": "r"}, RunRecord) == RunRecord(run_id="r")


# --- properties -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
KNOWN_KEYS = sorted(
    {k for v in (1, 3) for t in SPEC_TYPES for k in sample(t, v)}
    | {k for k in ("request", "response", "usage", "error", "cost", "contentIndex")}
)
KEYS = st.sampled_from(KNOWN_KEYS) | st.text(max_size=8)
TYPES = st.sampled_from(sorted(SPEC_TYPES)) | JSON


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    d = draw(st.dictionaries(KEYS, JSON, max_size=10))
    d["type"] = draw(TYPES)
    # Sometimes give a nested model field a plausible, partly broken shape.
    if draw(st.booleans()):
        d[draw(st.sampled_from(["usage", "request", "response", "error"]))] = draw(
            st.dictionaries(KEYS, JSON, max_size=5)
            | st.fixed_dictionaries({"usage": st.dictionaries(KEYS, JSON, max_size=4)})
        )
    return d


@settings(max_examples=400)
@given(event_dicts())
def test_any_json_object_with_a_type_reads(d: dict[str, Any]) -> None:
    snapshot = copy.deepcopy(d)
    event = event_from_dict(d)
    assert isinstance(event, BaseEvent)
    assert event.raw is d and d == snapshot  # input neither lost nor changed
    expected = EVENT_TYPES.get(d["type"]) if isinstance(d["type"], str) else None
    assert type(event) is (expected or UnknownEvent)
    assert_truthful(event)
    assert events_from_dicts([d]) == [event]


@settings(max_examples=300)
@given(st.dictionaries(KEYS | st.sampled_from(["status", "endedAt", "workflowName"]), JSON))
def test_any_json_object_reads_as_a_run_record(d: dict[str, Any]) -> None:
    record = run_record_from_dict(d)
    assert record.raw is d
    assert_truthful(record)


@attrs.frozen(kw_only=True, slots=False)
class _AllLenient:
    s: str | None = None
    i: int | None = None
    f: float | None = None
    b: bool | None = None
    d: dict[str, Any] | None = None
    li: list[Any] | None = None
    a: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


_build_all = register_model(_AllLenient)


@given(JSON)
def test_inline_checks_agree_with_the_converter_hooks(value: Any) -> None:
    built = _build_all(dict.fromkeys(["s", "i", "f", "b", "d", "li", "a"], value))
    hints = typing.get_type_hints(_AllLenient)
    for name in ("s", "i", "f", "b", "d", "li", "a"):
        hook = LENIENT[hints[name]][0]
        assert getattr(built, name) is hook(value, None), name
        if hints[name] is not Any:
            assert converter.structure(value, hints[name]) is hook(value, None)


# --- agent conversations: the Flue 2.x fields -----------------------------------------------


def test_conversation_names_are_public() -> None:
    import flue
    import flue.models as models

    assert flue.Admission is models.Admission is models.AgentSendResult
    assert flue.Reply is models.Reply
    for name in ("DataPart", "DataPartChunk", "MessageMetadataChunk", "StreamCheckpointChunk",
                 "SettlementMarker", "SignalDescriptor"):  # fmt: skip
        assert name in models.__all__ and getattr(models, name).__doc__


def test_admission_fields_on_both_lines() -> None:
    from flue.models import Admission

    doc = {"streamUrl": "http://h/a/c", "offset": "-1", "submissionId": "sub_ik_0f",
           "uid": "inst_01", "deduplicated": True}  # fmt: skip
    admission = converter.structure(doc, Admission)
    assert (admission.uid, admission.deduplicated, admission.offset) == ("inst_01", True, "-1")
    assert admission.raw is doc and admission.conversation_url is None
    beta9 = converter.structure({"submissionId": "s", "offset": "0_0"}, Admission)
    assert beta9.uid is None and beta9.deduplicated is False
    odd = converter.structure({"submissionId": "s", "deduplicated": "true", "uid": 1}, Admission)
    assert odd.deduplicated is False and odd.uid is None
    assert Admission(submission_id="s").deduplicated is False


def test_message_metadata_is_a_read_only_mapping() -> None:
    from flue.models import MessageMetadata, ModelRef, message_from_dict

    raw = {"timestamp": "t", "usage": {"input": 1}, "model": {"provider": "p", "id": "m"},
           "custom": {"k": [1]}}  # fmt: skip
    message = message_from_dict({"id": "m", "role": "assistant", "metadata": raw})
    metadata = message.metadata
    assert isinstance(metadata, MessageMetadata)
    assert metadata.timestamp == "t" and metadata.model == ModelRef(provider="p", id="m")
    assert metadata.usage is not None and metadata.usage.input == 1
    assert metadata["custom"] == {"k": [1]} and metadata.get("nope", 5) == 5
    assert "custom" in metadata and "nope" not in metadata and len(metadata) == 4
    assert list(metadata) == list(raw) and dict(metadata) == raw
    assert metadata == raw and raw == metadata and metadata != {"custom": {"k": [1]}}
    assert metadata == converter.structure(raw, MessageMetadata)
    assert metadata != converter.structure({**raw, "custom": 2}, MessageMetadata)
    assert metadata != 5
    with pytest.raises(KeyError):
        metadata["nope"]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        metadata.timestamp = "x"  # type: ignore[misc]
    assert repr(metadata).startswith("MessageMetadata({'timestamp': 't'")
    assert hash(metadata) == hash(converter.structure(raw, MessageMetadata))
    for clone in (pickle.loads(pickle.dumps(message)), copy.deepcopy(message)):
        assert clone == message and clone.metadata == raw
    # a 2.x agent's keys of those names but other shapes read None typed, as they are mapped
    odd = converter.structure({"model": "fake/echo", "usage": 3}, MessageMetadata)
    assert odd.model is None and odd.usage is None and odd["model"] == "fake/echo"
    assert MessageMetadata(timestamp="t") == {}  # built by hand: the mapping is raw


def test_data_parts_read_by_their_type() -> None:
    from flue.models import DataPart, Message, UnknownPart

    part = converter.structure({"type": "data-chart", "data": [1]}, DataPart)
    assert part == DataPart(name="chart", data=[1]) and part.type == "data-chart"
    with pytest.raises(ProtocolError):
        converter.structure({"type": "text"}, DataPart)
    message = converter.structure(
        {"parts": [{"type": "data-x"}, {"type": "datax", "data": 1}]}, Message
    )
    assert message.parts[0] == DataPart(name="x")
    assert isinstance(message.parts[1], UnknownPart)


def _walk(obj: Any) -> None:
    """`assert_truthful` down every nested model, those in tuples too."""
    assert_truthful(obj)
    for a in attrs.fields(type(obj)):
        value = getattr(obj, a.name)
        for item in value if isinstance(value, tuple) else (value,):
            if attrs.has(type(item)):
                _walk(item)


CHUNK_TYPES = [
    "conversation-reset", "message-appended", "message-started", "message-metadata",
    "data-part", "message-delta", "tool-input", "tool-output", "tool-output-error",
    "message-completed", "submission-settled", "stream-checkpoint",
]  # fmt: skip
CHUNK_KEYS = st.sampled_from(
    ["conversationId", "messageId", "submissionId", "turnId", "metadata", "timestamp", "model",
     "name", "data", "kind", "delta", "toolCallId", "toolName", "input", "output", "durationMs",
     "errorText", "usage", "outcome", "result", "error", "answeredBySubmissionId",
     "incarnation", "position", "message", "snapshot", "purpose", "display", "signal",
     "settlement", "parts", "messages", "settlements", "attributes", "tagName"]
) | st.text(max_size=6)  # fmt: skip
NESTED = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.dictionaries(CHUNK_KEYS, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=250)
@given(st.sampled_from(CHUNK_TYPES), st.dictionaries(CHUNK_KEYS, NESTED, max_size=6))
def test_any_json_object_reads_as_a_chunk(kind: str, d: dict[str, Any]) -> None:
    from flue.models import chunk_from_dict

    d["type"] = kind
    snapshot = copy.deepcopy(d)
    chunk = chunk_from_dict(d)
    assert chunk.type == kind and chunk.raw is d and d == snapshot
    _walk(chunk)
