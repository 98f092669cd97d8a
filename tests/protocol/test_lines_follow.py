"""Pure tests of what tells the server lines apart, the settlement follow, conversation URLs and
the 2.x error fields."""

from __future__ import annotations

from typing import Any

import pytest

from flue._protocol.agents import resolve_conversation_url
from flue._protocol.follow import RESTART, SKIP, Deliver, SettlementFollow
from flue._protocol.lines import (
    LINE_1,
    LINE_2,
    ServerLines,
    is_checkpoint,
    line_of_admission,
    line_of_history,
    rejected_beta9_body,
    rejected_wait_result,
)
from flue._protocol.responses import api_error
from flue._protocol.secrets import redact
from flue.errors import ConflictError, InvalidArgumentError, NotFoundError

BASE = "http://127.0.0.1:8787"


def test_lines_learnt_from_admissions_and_histories() -> None:
    assert line_of_admission({"submissionId": "s", "uid": "u", "offset": "0"}) == LINE_2
    assert line_of_admission({"submissionId": "s", "offset": "0"}) == LINE_1
    assert line_of_admission({"offset": "0"}) is None
    assert line_of_admission([]) is None
    assert line_of_history({"messages": [], "incarnation": "i1"}) == LINE_2
    assert line_of_history({"messages": [], "v": 1}) == LINE_1
    assert line_of_history({"error": {}}) is None
    assert is_checkpoint({"type": "stream-checkpoint", "incarnation": "x"})
    assert not is_checkpoint({"type": "message-delta"})


def test_refusals_that_name_the_line() -> None:
    beta9 = 'Direct agent requests must use JSON object body { "message": string, "images"?: [] }.'
    assert rejected_beta9_body(400, beta9)
    assert not rejected_beta9_body(400, "something else")
    assert not rejected_beta9_body(400, None)
    assert not rejected_beta9_body(404, beta9)
    assert rejected_wait_result(400, "invalid_request")
    assert not rejected_wait_result(400, "invalid_json")
    assert not rejected_wait_result(500, "invalid_request")


def test_server_lines_remembered_per_origin() -> None:
    lines = ServerLines()
    assert lines.get(f"{BASE}/agents/a/b") is None
    lines.learn(f"{BASE}/agents/a/b", LINE_2)
    assert lines.get(f"{BASE}/api/chat/c") == LINE_2  # another mount of the same app
    assert lines.get("http://127.0.0.1:9999/agents/a/b") is None
    lines.learn(f"{BASE}/x", None)
    assert lines.get(f"{BASE}/x") == LINE_2
    lines.learn(f"{BASE}/x", LINE_1)  # redeployed on another line
    assert lines.get(f"{BASE}/agents/a/b") == LINE_1


def _chunk(type_: str, batch: int, index: int, **fields: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "conversationId": "c",
        "position": {"batch": batch, "index": index},
        **fields,
    }


def test_follow_delivers_once_and_settles() -> None:
    follow = SettlementFollow("s1", "0000_1")
    assert follow.feed({"type": "stream-checkpoint", "incarnation": "i1"}) is SKIP
    delta = _chunk("message-delta", 1, 0, messageId="m", kind="text", delta="hi")
    step = follow.feed(delta)
    assert isinstance(step, Deliver) and step.settlement is None
    assert follow.feed(delta) is SKIP  # redelivered after a reconnect
    other = follow.feed(_chunk("submission-settled", 1, 1, submissionId="s0", outcome="completed"))
    assert isinstance(other, Deliver) and other.settlement is None
    mine = follow.feed(
        _chunk(
            "submission-settled", 2, 0, submissionId="s1", outcome="failed", error={"message": "x"}
        )
    )
    assert isinstance(mine, Deliver) and mine.settlement is not None
    assert mine.settlement.outcome == "failed" and mine.settlement.error == {"message": "x"}
    assert mine.settlement.submission_id == "s1"


def test_follow_restarts_on_a_new_incarnation_and_after_416() -> None:
    follow = SettlementFollow("s1", "0000_5")
    assert follow.feed({"type": "stream-checkpoint", "incarnation": "i1"}) is SKIP
    assert isinstance(follow.feed(_chunk("message-delta", 9, 0, messageId="m")), Deliver)
    assert follow.feed({"type": "stream-checkpoint", "incarnation": "i1"}) is SKIP
    assert follow.feed({"type": "stream-checkpoint", "incarnation": "i2"}) is RESTART
    # positions of the regrown stream start again: not mistaken for redeliveries
    assert isinstance(follow.feed(_chunk("message-delta", 1, 0, messageId="m")), Deliver)
    follow.gone()
    assert follow.offset == "-1" and follow.incarnation is None and follow.restarts == 2
    assert isinstance(follow.feed(_chunk("message-delta", 1, 0, messageId="m")), Deliver)
    assert follow.feed({"type": "stream-checkpoint"}) is SKIP  # no identity: says nothing


def test_follow_finds_a_settlement_folded_into_a_reset() -> None:
    follow = SettlementFollow("s1", "-1")
    snapshot = {"messages": [], "settlements": [{"submissionId": "s1", "outcome": "aborted"}]}
    step = follow.feed(_chunk("conversation-reset", 1, 0, snapshot=snapshot))
    assert isinstance(step, Deliver) and step.settlement is not None
    assert step.settlement.outcome == "aborted"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("agents/assistant/c1", f"{BASE}/agents/assistant/c1"),
        ("/api/chat/c1/", f"{BASE}/api/chat/c1"),
        ("https://other.example/x/y", "https://other.example/x/y"),
    ],
)
def test_conversation_urls(given: str, expected: str) -> None:
    assert resolve_conversation_url(BASE, given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "/",
        "agents/a/b?x=1",
        "https://h/x?token=t",
        "agents/a#frag",
        "ftp://h/x",
        "http:///x",
        5,
    ],
)
def test_conversation_urls_refused(bad: Any) -> None:
    with pytest.raises(InvalidArgumentError):
        resolve_conversation_url(BASE, bad)


def _error(status: int, body: bytes, headers: dict[str, str] | None = None, **kw: Any) -> Any:
    return api_error(status, headers or {}, body, url=f"{BASE}/api/chat/c1", now=0.0, **kw)


def test_error_ref_and_meta() -> None:
    body = b'{"error":{"type":"internal_error","message":"boom","ref":"r-123"}}'
    error = _error(500, body)
    assert error.ref == "r-123" and "r-123" in str(error)
    header_only = _error(
        500, b'{"error":{"type":"internal_error","message":"boom"}}', {"flue-error-ref": "r-9"}
    )
    assert header_only.ref == "r-9" and "r-9" in str(header_only)
    conflict = _error(
        409, b'{"error":{"type":"agent_instance_exists","message":"m","meta":{"uid":"u1"}}}'
    )
    assert isinstance(conflict, ConflictError) and conflict.meta == {"uid": "u1"}
    assert "meta['uid']" in str(conflict)
    dup = _error(
        409, b'{"error":{"type":"submission_conflict","message":"m","meta":{"submissionId":"s"}}}'
    )
    assert isinstance(dup, ConflictError) and dup.meta == {"submissionId": "s"}
    gone = _error(404, b'{"error":{"type":"agent_instance_not_found","message":"m"}}')
    assert isinstance(gone, NotFoundError) and "uid" in str(gone)


def test_plain_404s_say_what_they_mean() -> None:
    mount = _error(404, b"404 Not Found", {"content-type": "text/plain"})
    assert type(mount) is NotFoundError and "mounts the agent" in str(mount)
    runs = _error(404, b"404 Not Found", run_id="r1")
    assert type(runs) is NotFoundError and "Flue 2.x has no workflow runs" in str(runs)
    flows = _error(404, b"Not Found", workflow="emit")
    assert type(flows) is NotFoundError and "Flue 2.x has no workflow runs" in str(flows)
    json_runs = _error(404, b'{"error":{"type":"run_not_found","message":"m"}}', run_id="r1")
    assert "2.x" not in str(json_runs)


def test_invalid_request_details_are_shown() -> None:
    body = (
        b'{"error":{"type":"invalid_request","message":"Request is malformed.",'
        b'"details":"uid must be a string"}}'
    )
    assert "uid must be a string" in str(_error(400, body))


def test_every_server_field_redacted() -> None:
    token = "sekret-token-123"
    t = token
    body = (
        f'{{"error":{{"type":"Bearer {t}","message":"m {t}","details":"d {t}","ref":"{t}",'
        f'"meta":{{"uid":"{t}"}}}}}}'
    ).encode()
    error = redact(_error(400, body), [token])
    for text in (
        str(error),
        repr(error),
        repr(error.args),
        str(error.meta),
        str(error.ref),
        str(error.error_type),
        str(error.details),
        error.body,
    ):
        assert token not in text
