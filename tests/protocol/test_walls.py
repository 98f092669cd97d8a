"""The reader's walls: the delivery queue and checkpoint, the progress accounting, and the
redaction and JSON helpers the protocol core relies on (issue 12)."""

from __future__ import annotations

import traceback

import pytest

from flue import RetryPolicy, Timeout
from flue._protocol.batches import Batch, SSEBatcher
from flue._protocol.delivery import Delivery
from flue._protocol.progress import MAX_EMPTY_STEPS, Progress
from flue._protocol.responses import MAX_RETRY_AFTER, api_error, load_json, parse_retry_after
from flue._protocol.secrets import REDACTED, Secrets, credential_values, redact
from flue._protocol.sse import SSEEvent
from flue.errors import APIError, ProtocolError, ServerError

DEEP = "[" * 100_000 + "]" * 100_000


def batch(offset: str, *items: object, up_to_date: bool = False, closed: bool = False) -> Batch:
    return Batch(items=list(items), next_offset=offset, up_to_date=up_to_date, closed=closed)


# -- delivery -------------------------------------------------------------------------------


def test_the_checkpoint_moves_only_when_a_batch_is_confirmed() -> None:
    delivery = Delivery("-1")
    assert delivery.offer(batch("0_1", {"a": 1}))
    assert delivery.offset == "-1" and delivery.frontier == "0_1"
    taken = delivery.take()
    assert delivery.offset == "-1"
    assert delivery.confirm() is taken
    assert delivery.offset == "0_1"


def test_nothing_new_is_not_queued_but_the_first_up_to_date_is() -> None:
    delivery = Delivery("0_1")
    assert not delivery.offer(batch("0_1"))  # same offset, not up to date: nothing new
    assert delivery.offer(batch("0_1", up_to_date=True))  # the first "up to date"
    assert not delivery.offer(batch("0_1", up_to_date=True))  # a keep-alive
    assert not delivery.offer(batch("0_1"))  # "not up to date" again moves nothing
    assert delivery.offer(batch("0_1", closed=True))  # the end is always news


def test_an_offset_that_cycles_or_goes_back_is_a_protocol_error() -> None:
    delivery = Delivery("-1")
    delivery.offer(batch("0_1", {"a": 1}))
    delivery.offer(batch("0_2", {"a": 2}))
    with pytest.raises(ProtocolError, match="went back to '0_1'"):
        delivery.offer(batch("0_1", {"a": 3}))
    # an earlier checkpoint, across requests
    delivery = Delivery("-1")
    delivery.offer(batch("0_1", {"a": 1}))
    delivery.take()
    delivery.confirm()
    delivery.start_request()
    with pytest.raises(ProtocolError, match="went back to '-1'"):
        delivery.offer(batch("-1", {"a": 1}))


def test_a_batch_queued_then_lost_may_come_again_after_a_reconnect() -> None:
    delivery = Delivery("0_1")
    delivery.offer(batch("0_2", {"a": 1}))
    delivery.clear()  # the connection broke before it was handed over
    delivery.start_request()
    assert delivery.offer(batch("0_2", {"a": 1}))


def test_items_that_do_not_move_the_offset_are_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="without moving the offset"):
        Delivery("0_1").offer(batch("0_1", {"a": 1}))


def test_the_history_of_checkpoints_is_bounded() -> None:
    delivery = Delivery("0")
    for i in range(1, 5000):
        delivery.offer(batch(str(i), {"i": i}))
        delivery.take()
        delivery.confirm()
    assert len(delivery._earlier) <= 4096 and len(delivery._reached) == 1
    delivery.offer(batch("1", {"old": True}))  # forgotten long ago: no longer recognised


# -- progress ---------------------------------------------------------------------------------


def test_empty_steps_with_fresh_offsets_end_in_a_protocol_error() -> None:
    progress = Progress(lambda: 0.0)
    for i in range(MAX_EMPTY_STEPS - 1):
        progress.step(batch(f"0_{i}"), queued=True)
    progress.step(batch("x", {"a": 1}), queued=True)  # an item resets the count
    for i in range(MAX_EMPTY_STEPS - 1):
        progress.step(batch(f"1_{i}"), queued=True)
    with pytest.raises(ProtocolError, match="no progress"):
        progress.step(batch("1_x"), queued=True)


def test_a_control_frame_overdue_beyond_the_stall_timeout() -> None:
    now = [0.0]
    progress = Progress(lambda: now[0], stall=5.0)
    progress.sse_opened()
    now[0] = 4.0
    assert progress.control_overdue() is None
    progress.control_frame(batch("0_1", up_to_date=True), queued=False)
    now[0] = 8.9
    assert progress.control_overdue() is None  # 4.9 s since the frame at 4.0
    now[0] = 9.5
    assert progress.control_overdue() == pytest.approx(5.5)
    assert Progress(lambda: 1e9).control_overdue() is None  # no stall timeout: never


# -- the SSE batcher's cap on data frames waiting for their control frame ----------------------


def test_data_frames_without_a_control_frame_are_capped() -> None:
    batcher = SSEBatcher(max_pending=100)
    frame = SSEEvent(event="data", data='[{"a": "' + "x" * 30 + '"}]', id=None, retry=None)
    batcher.push(frame)
    batcher.push(frame)
    with pytest.raises(ProtocolError, match="without a control frame"):
        batcher.push(frame)
    batcher.discard_pending()
    batcher.push(frame)  # the count starts again on a new connection


# -- JSON too deep, Retry-After too long ------------------------------------------------------


def test_json_nested_too_deeply_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="nested too deeply"):
        load_json(DEEP)
    error = api_error(401, {}, DEEP.encode(), url="http://h/x", now=0.0)
    assert error.status == 401 and "non-JSON error body" in error.message


def test_absurd_retry_after_values_are_capped() -> None:
    assert parse_retry_after("1e308", now=0.0) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=0.0) == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 99999 23:59:59 GMT", now=0.0) is None
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:00", now=0.0) is None  # no zone


# -- redaction ---------------------------------------------------------------------------------

TOKEN = "tok-0123456789"


def test_credential_values_come_from_credential_headers_only() -> None:
    found = credential_values(
        {
            "Authorization": f"Bearer {TOKEN}",
            "X-Api-Key": "key-abc",
            "Accept": "application/json",
            "Cookie": "s",
        }
    )
    assert found == {f"Bearer {TOKEN}", TOKEN, "key-abc"}


def test_secrets_keep_the_most_recent_values() -> None:
    secrets = Secrets(TOKEN, None, limit=2)
    secrets.add_headers({"X-Token": "second"})
    secrets.add("third")
    secrets.add("ab")  # too short to redact safely
    assert secrets() == frozenset({"second", "third"})


def test_redact_scrubs_every_text_of_an_api_error_and_cuts_a_leaking_cause() -> None:
    deep: object = TOKEN
    for _ in range(150):
        deep = [deep]
    error = ServerError(
        f"HTTP 500 ({TOKEN})",
        status=500,
        details={"got": TOKEN, TOKEN: [1, TOKEN], "deep": deep},
        body=f"<p>{TOKEN}</p>",
    )
    try:
        try:
            raise ValueError(f"inner {TOKEN}")
        except ValueError as inner:
            raise error from inner
    except ServerError as caught:
        assert redact(caught, {TOKEN}) is caught
    assert TOKEN not in "".join(traceback.format_exception(error))
    assert TOKEN not in repr(error.details) and REDACTED in error.body
    assert error.message == f"HTTP 500 ({REDACTED})"
    assert error.__cause__ is None


def test_redact_keeps_a_harmless_cause_and_does_nothing_without_secrets() -> None:
    error = APIError("plain", status=400)
    error.__cause__ = KeyError("harmless")
    assert redact(error, set()) is error
    redact(error, {TOKEN})
    assert isinstance(error.__cause__, KeyError)


# -- settings ------------------------------------------------------------------------------------


def test_settings_live_in_one_module_and_the_old_paths_still_work() -> None:
    from flue._protocol.retry import RetryPolicy as FromRetry
    from flue._settings import RetryPolicy as Settings
    from flue._settings import Timeout as SettingsTimeout
    from flue._transports._common import Timeout as FromCommon

    assert RetryPolicy is Settings is FromRetry
    assert Timeout is SettingsTimeout is FromCommon
    assert Timeout().total == 120.0
    with pytest.raises(ValueError, match="total"):
        Timeout(total=0)
