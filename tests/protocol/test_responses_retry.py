from __future__ import annotations

import random
from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from flue._protocol.responses import (
    api_error,
    decode_json_batch,
    is_retryable_status,
    lower_headers,
    parse_retry_after,
    read_head,
    snippet,
)
from flue._protocol.retry import RetryPolicy, RetryState
from flue.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RunNotFoundError,
    ServerError,
    WorkflowNotFoundError,
)

NOW = 1_800_000_000.0


def test_read_head_is_case_insensitive() -> None:
    head = read_head(
        lower_headers(
            {
                "STREAM-NEXT-OFFSET": "o2",
                "Stream-Up-To-Date": "true",
                "stream-closed": "TRUE",
                "Stream-Cursor": "123",
                "ETag": '"e"',
                "Content-Type": "application/json; charset=utf-8",
            }
        )
    )
    assert head.next_offset == "o2"
    assert head.up_to_date and head.closed
    assert head.cursor == "123" and head.etag == '"e"'
    assert head.content_type == "application/json"
    assert not head.sse_base64


def test_read_head_absent_flags() -> None:
    head = read_head(lower_headers([("stream-next-offset", "x"), ("stream-up-to-date", "false")]))
    assert not head.up_to_date and not head.closed and head.cursor is None
    assert read_head({"stream-sse-data-encoding": "base64"}).sse_base64


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (408, True),
        (429, True),
        (500, True),
        (501, False),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
    ],
)
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_retry_after_seconds_and_date() -> None:
    assert parse_retry_after("3", now=NOW) == 3.0
    assert parse_retry_after(" 1.5 ", now=NOW) == 1.5
    date = format_datetime(datetime.fromtimestamp(NOW + 7, tz=timezone.utc), usegmt=True)
    assert parse_retry_after(date, now=NOW) == pytest.approx(7.0)
    past = format_datetime(datetime.fromtimestamp(NOW - 60, tz=timezone.utc), usegmt=True)
    assert parse_retry_after(past, now=NOW) == 0.0
    for bad in (None, "", "soon", "-1", "nan", "inf"):
        assert parse_retry_after(bad, now=NOW) is None


def _err(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, **kw: str
) -> APIError:
    return api_error(status, headers or {}, body, url="https://h/runs/r?offset=-1", now=NOW, **kw)


def envelope(etype: str, message: str, details: object = None) -> bytes:
    import json

    return json.dumps({"error": {"type": etype, "message": message, "details": details}}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (418, APIError),
    ],
)
def test_error_classes(status: int, cls: type[APIError]) -> None:
    err = _err(status, envelope("some_type", "it broke", {"k": 1}))
    assert type(err) is cls
    assert err.status == status
    assert err.error_type == "some_type"
    assert err.details == {"k": 1}
    assert "it broke" in str(err) and str(status) in str(err)
    assert "offset=-1" not in str(err)


def test_run_not_found_mentions_token() -> None:
    err = _err(404, envelope("run_not_found", "Run not found"), run_id="r1")
    assert isinstance(err, RunNotFoundError) and isinstance(err, NotFoundError)
    assert "token" in str(err) and "'r1'" in str(err)


def test_workflow_not_found() -> None:
    err = _err(404, envelope("workflow_not_found", "nope"), workflow="zzz")
    assert isinstance(err, WorkflowNotFoundError)
    assert "zzz" in str(err)
    assert type(_err(404, b"")) is NotFoundError


def test_error_body_not_json_or_empty() -> None:
    html = b"<html><body><h1>502 Bad Gateway</h1>" + b"x" * 500 + b"</body></html>"
    err = _err(502, html)
    assert err.error_type is None
    assert "502 Bad Gateway" in str(err) and "non-JSON" in str(err)
    assert len(str(err)) < 600
    assert "empty body" in str(_err(503, b""))
    truncated = _err(500, b'{"error": {"type": "internal_er')
    assert "non-JSON" in str(truncated) and "internal_er" in str(truncated)
    assert "text" in str(_err(400, b'{"error": "text"}'))


def test_error_retry_after_parsed() -> None:
    assert _err(429, b"", {"retry-after": "2"}).retry_after == 2.0


def test_decode_json_batch() -> None:
    assert decode_json_batch(b'[{"a":1},{"b":2}]') == [{"a": 1}, {"b": 2}]
    assert decode_json_batch(b"[]") == []
    assert decode_json_batch(b"[1, 2]", objects_only=False) == [1, 2]
    for bad, what in [
        (b"", "empty"),
        (b'{"a":1}', "not an array"),
        (b"[1]", "int"),
        (b'[{"a":1}', "not valid JSON"),
        (b"\xff\xfe[]", "UTF-8"),
        (b"<html>", "not valid JSON"),
    ]:
        with pytest.raises(ProtocolError, match=what):
            decode_json_batch(bad)


def test_snippet() -> None:
    assert snippet(b"a\n  b") == "a b"
    assert snippet(b"x" * 300).endswith("…")


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_backoff_grows_and_caps_without_jitter() -> None:
    state = RetryState(
        RetryPolicy(
            initial_delay=0.5, max_delay=4, jitter=False, max_attempts=None, max_elapsed=None
        ),
        clock=FakeClock(),
    )
    assert [state.failed() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_jitter_is_bounded_and_seeded() -> None:
    policy = RetryPolicy(initial_delay=1, max_delay=8, max_attempts=None, max_elapsed=None)
    a = RetryState(policy, clock=FakeClock(), rng=random.Random(7))
    b = RetryState(policy, clock=FakeClock(), rng=random.Random(7))
    da = [a.failed() for _ in range(5)]
    assert da == [b.failed() for _ in range(5)]
    for delay, cap in zip(da, [1, 2, 4, 8, 8], strict=True):
        assert delay is not None and 0 <= delay <= cap


def test_retry_after_is_a_floor() -> None:
    state = RetryState(RetryPolicy(jitter=False), clock=FakeClock())
    assert state.failed(retry_after=5.0) == 5.0
    assert state.failed(retry_after=0.1) == 1.0


def test_max_attempts() -> None:
    state = RetryState(RetryPolicy(max_attempts=3, jitter=False), clock=FakeClock())
    assert state.failed() is not None
    assert state.failed() is not None
    assert state.failed() is None
    assert state.failures == 3


def test_max_elapsed() -> None:
    clock = FakeClock()
    state = RetryState(
        RetryPolicy(max_attempts=None, max_elapsed=10, jitter=False, initial_delay=1), clock=clock
    )
    assert state.failed() == 1.0
    clock.t = 8.5
    assert state.elapsed == 8.5
    assert state.failed() is None  # 8.5 + 2 > 10


def test_success_resets() -> None:
    state = RetryState(RetryPolicy(max_attempts=3, jitter=False), clock=FakeClock())
    state.failed()
    state.failed()
    state.succeeded()
    assert state.failures == 0 and state.elapsed == 0.0
    assert state.failed() == 0.5  # the sequence starts again


def test_policy_validation() -> None:
    for kwargs in (
        {"initial_delay": 0},
        {"max_delay": -1},
        {"multiplier": True},
        {"max_attempts": 0},
        {"max_elapsed": -5},
    ):
        with pytest.raises(InvalidArgumentError):
            RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert RetryPolicy.disabled().max_attempts == 1
