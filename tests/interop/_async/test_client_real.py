"""Our client against a real Flue server, 1.0.0-beta.5 or beta.9 (tests/interop/FINDINGS.md).

Written once against the async client; tests/interop/_sync holds the twin that
scripts/unasync.py generates, so every test runs for both flavours. No fault injection: these
tests pin what the client does with the responses a real server sends. Runs are created with
the app's two workflows (tests/interop/app/README.md): ``emit {count, size, delayMs,
startDelayMs}`` logs ``count`` events between run_start and run_end and returns
``{"emitted", "size"}``;
``fail {message, before}`` logs ``before`` events, then throws.

In the nginx topology (``FLUE_INTEROP_TOPOLOGY=nginx``, see conftest.py) ``target`` is nginx
in front of the server (TLS, gzip, unbuffered SSE), and ``new_client`` passes its CA.

Waits are on conditions with deadlines (`wait_ended`), never a fixed sleep; a hung read is
stopped by the per-test timeout below.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    AsyncRunStream,
    AuthenticationError,
    RetryPolicy,
    RunNotFoundError,
    ServerError,
    WorkflowNotFoundError,
)
from flue.models import LogEvent, RunEndEvent, RunRecord, RunStartEvent
from tools.flue_servers.server import RealFlueServer

# A hang (e.g. a long-poll the client never leaves) fails the test instead of the whole job.
pytestmark = pytest.mark.timeout(30)

#: Retries would hide a protocol mismatch: the real server, without faults, never needs one
#: (the `no_retries` fixture fails any test that logged a retry).
RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=3)
DEADLINE_S = 30.0
LIVE_MODES = ["long-poll", "sse"]
ALL_MODES = [False, "long-poll", "sse"]


def new_client(server: RealFlueServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", server.token)
    kw.setdefault("retry", RETRY)
    for name, value in server.client_options.items():  # the nginx topology's CA (verify=)
        kw.setdefault(name, value)
    return AsyncFlueClient(server.url, **kw)


@pytest.fixture
async def client(target: RealFlueServer) -> AsyncIterator[AsyncFlueClient]:
    async with new_client(target) as c:
        yield c


@pytest.fixture(autouse=True)
def no_retries(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail a test whose client retried or reconnected: against the real server it never should."""
    caplog.set_level(logging.DEBUG, logger="flue")
    yield
    trouble = [
        r.getMessage()
        for r in caplog.records
        if r.name == "flue" and ("retry" in r.getMessage() or "failed" in r.getMessage())
    ]
    assert trouble == [], "the client retried against the real server:\n" + "\n".join(trouble)


async def pause(seconds: float) -> None:
    """A poll interval, always bounded by the caller's deadline (one source, both flavours)."""
    if inspect.iscoroutinefunction(pause):
        await asyncio.sleep(seconds)
    else:
        time.sleep(seconds)


async def wait_ended(client: AsyncFlueClient, run_id: str) -> RunRecord:
    """Poll the run record until the run is no longer active (deadline: DEADLINE_S)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        record = await client.runs.get(run_id)
        if record.status != "active":
            return record
        assert time.monotonic() < deadline, f"run {run_id} still active after {DEADLINE_S}s"
        await pause(0.02)


async def emit(client: AsyncFlueClient, count: int, **extra: Any) -> str:
    """A finished `emit` run of `count` log events (count + 2 events in all)."""
    started = await client.workflows.invoke("emit", {"count": count, **extra}, wait=True)
    assert started.result == {"emitted": count, "size": extra.get("size", 0)}
    return started.run_id


async def drain(stream: AsyncRunStream[Any]) -> list[Any]:
    """Every event of `stream`, closing it afterwards."""
    async with stream:
        return [e async for e in stream]


def assert_emit_events(events: list[Any], run_id: str, count: int) -> None:
    """Every event of a finished `emit` run, in order, with contiguous eventIndex."""
    assert [e.event_index for e in events] == list(range(count + 2))
    assert isinstance(events[0], RunStartEvent)
    assert events[0].workflow_name == "emit"
    logs = events[1:-1]
    assert all(isinstance(e, LogEvent) for e in logs)
    assert [e.attributes["i"] for e in logs] == list(range(count))
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    assert end.is_error is False
    assert end.result["emitted"] == count
    assert all(e.run_id == run_id and e.v == 3 for e in events)


# ---------------------------------------------------------------------------------------------
# runs.get


async def test_get_active_record(client: AsyncFlueClient) -> None:
    # startDelayMs keeps the run active well past the assertion; it ends on its own later
    started = await client.workflows.invoke("emit", {"count": 1, "startDelayMs": 10_000})
    record = await client.runs.get(started.run_id)
    assert record.run_id == started.run_id
    assert record.workflow_name == "emit"
    assert record.status == "active"
    assert record.input == {"count": 1, "startDelayMs": 10_000}
    assert record.started_at is not None and record.started_at.endswith("Z")
    assert record.ended_at is None and record.is_error is None
    assert record.result is None and record.error is None


async def test_get_completed_record(client: AsyncFlueClient) -> None:
    run_id = await emit(client, 3, size=2)
    record = await client.runs.get(run_id)
    assert record.run_id == run_id
    assert record.status == "completed"
    assert record.is_error is False
    assert record.result == {"emitted": 3, "size": 2}
    assert record.error is None
    assert record.input == {"count": 3, "size": 2}
    assert record.ended_at is not None and record.duration_ms is not None
    assert record.raw["result"] == {"emitted": 3, "size": 2}


async def test_get_errored_record(client: AsyncFlueClient) -> None:
    started = await client.workflows.invoke("fail", {"message": "boom-get", "before": 2})
    record = await wait_ended(client, started.run_id)
    assert record.status == "errored"
    assert record.workflow_name == "fail"
    assert record.is_error is True
    assert record.error == {"name": "Error", "message": "boom-get"}
    assert record.result is None
    assert "result" not in record.raw


# ---------------------------------------------------------------------------------------------
# runs.events: catch-up reads


async def test_events_of_a_5000_event_run(client: AsyncFlueClient) -> None:
    run_id = await emit(client, 5000)
    events = await client.runs.events(run_id)
    assert_emit_events(events, run_id, 5000)
    as_dicts = await client.runs.events(run_id, as_dict=True)
    assert [e["eventIndex"] for e in as_dicts] == list(range(5002))
    assert as_dicts == [e.raw for e in events]


async def test_events_after_polling_until_completed(client: AsyncFlueClient) -> None:
    started = await client.workflows.invoke("emit", {"count": 300})
    assert started.result is None
    record = await wait_ended(client, started.run_id)
    assert record.status == "completed"
    assert_emit_events(await client.runs.events(started.run_id), started.run_id, 300)


@pytest.mark.parametrize("tail", [1, 99, 100, 101, 250])
async def test_tail_returns_exactly_the_last_events(client: AsyncFlueClient, tail: int) -> None:
    run_id = await emit(client, 5000)
    events = await client.runs.events(run_id, tail=tail)
    assert [e.event_index for e in events] == list(range(5002 - tail, 5002))
    assert isinstance(events[-1], RunEndEvent)
    streamed = [e.event_index async for e in client.runs.stream(run_id, tail=tail, live=False)]
    assert streamed == list(range(5002 - tail, 5002))


async def test_tail_larger_than_the_run_returns_everything(client: AsyncFlueClient) -> None:
    run_id = await emit(client, 5)
    events = await client.runs.events(run_id, tail=1000)
    assert [e.event_index for e in events] == list(range(7))


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_tail_with_live_modes(client: AsyncFlueClient, live: str) -> None:
    run_id = await emit(client, 400)
    async with client.runs.stream(run_id, tail=250, live=live) as stream:  # type: ignore[arg-type]
        got = [e.event_index async for e in stream]
        assert stream.closed
    assert got == list(range(152, 402))


async def test_offset_now_returns_nothing(client: AsyncFlueClient) -> None:
    run_id = await emit(client, 20)
    assert await client.runs.events(run_id, offset="now") == []
    async with client.runs.stream(run_id, offset="now", live=False) as stream:
        assert [e async for e in stream] == []
        assert stream.up_to_date and stream.closed
        tail_offset = stream.offset
    assert tail_offset != "now"
    # the offset it resolved to is the run's tail: nothing after it
    assert await client.runs.events(run_id, offset=tail_offset) == []
    # an active run: `now` is its current tail, so again nothing
    active = await client.workflows.invoke("emit", {"count": 1, "startDelayMs": 10_000})
    assert await client.runs.events(active.run_id, offset="now") == []


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_offset_now_on_an_ended_run_closes_at_once(
    client: AsyncFlueClient, live: str
) -> None:
    run_id = await emit(client, 3)
    begun = time.monotonic()
    async with client.runs.stream(run_id, offset="now", live=live) as stream:  # type: ignore[arg-type]
        assert [e async for e in stream] == []
        assert stream.closed
    assert time.monotonic() - begun < 5  # the 204/`streamClosed` comes at once, not after 30 s


async def test_catch_up_of_an_active_run_stops_up_to_date_not_closed(
    client: AsyncFlueClient,
) -> None:
    started = await client.workflows.invoke("emit", {"count": 1, "startDelayMs": 10_000})
    async with client.runs.stream(started.run_id, live=False) as stream:
        events = [e async for e in stream]
        assert stream.up_to_date and not stream.closed
    assert [type(e) for e in events] == [RunStartEvent]
    assert await client.runs.events(started.run_id, offset=stream.offset) == []


# ---------------------------------------------------------------------------------------------
# Checkpoints


@pytest.mark.parametrize("live", ALL_MODES)
async def test_resume_from_checkpoint_with_a_new_client(
    target: RealFlueServer, client: AsyncFlueClient, live: Any
) -> None:
    run_id = await emit(client, 5000)
    first: list[int] = []
    saved = "-1"
    stream = client.runs.stream(run_id, live=live)
    async for event in stream:
        first.append(event.event_index)
        saved = stream.offset  # the checkpoint an application would persist
        if event.event_index == 2550:
            break
    await stream.aclose()
    assert saved not in ("-1", "now")

    async with (
        new_client(target) as fresh,
        fresh.runs.stream(run_id, offset=saved, live=live) as resumed_stream,
    ):
        resumed = [e.event_index async for e in resumed_stream]
        assert resumed_stream.closed
    # pages hold 100 events: event 2550 belongs to the batch 2500..2599, which was in flight
    # when we stopped, so that batch is delivered again and nothing before it is
    assert first == list(range(2551))
    assert resumed == list(range(2500, 5002))
    assert sorted(set(first) | set(resumed)) == list(range(5002))


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_checkpoint_after_a_live_run_resumes_at_its_end(
    client: AsyncFlueClient, live: str
) -> None:
    run_id = await emit(client, 250)
    async with client.runs.stream(run_id, live=live) as stream:  # type: ignore[arg-type]
        assert len([e async for e in stream]) == 252
        assert stream.closed
        final = stream.offset
    assert await client.runs.events(run_id, offset=final) == []


# ---------------------------------------------------------------------------------------------
# Live tailing


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_live_stream_follows_a_run_until_run_end(client: AsyncFlueClient, live: str) -> None:
    started = await client.workflows.invoke("emit", {"count": 15, "delayMs": 200})
    begun = time.monotonic()
    events: list[Any] = []
    checkpoints: list[str] = []
    async with client.runs.stream(started.run_id, live=live) as stream:  # type: ignore[arg-type]
        async for event in stream:
            events.append(event)
            checkpoints.append(stream.offset)
        # the iteration ended by itself: the server said the run is over
        assert stream.closed
    elapsed = time.monotonic() - begun
    assert_emit_events(events, started.run_id, 15)
    # the events arrived while the run was appending (one batch per append), not in one
    # catch-up after it ended
    assert len(set(checkpoints)) >= 8
    # ~2.8 s of appends; far below Flue's 30 s long-poll window, so no read waited it out
    assert elapsed < 15, f"took {elapsed:.1f}s"
    record = await client.runs.get(started.run_id)
    assert record.status == "completed"


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_live_stream_when_run_end_arrives_before_the_close(
    client: AsyncFlueClient, live: str
) -> None:
    # A run with no log events: the live read waiting at run_start's offset is answered with
    # run_end alone, and on long-poll that 200 carries no Stream-Closed (the run is closed a
    # moment later); the next read gets 204 + Stream-Closed. The stream must still end.
    started = await client.workflows.invoke("emit", {"count": 0, "startDelayMs": 300})
    begun = time.monotonic()
    async with client.runs.stream(started.run_id, live=live) as stream:  # type: ignore[arg-type]
        events = [e async for e in stream]
        assert stream.closed
    assert time.monotonic() - begun < 10
    assert_emit_events(events, started.run_id, 0)


@pytest.mark.parametrize("live", ALL_MODES)
async def test_stream_of_an_errored_run(client: AsyncFlueClient, live: Any) -> None:
    started = await client.workflows.invoke("fail", {"message": "boom-stream", "before": 3})
    if live is False:
        await wait_ended(client, started.run_id)  # catch-up only: read once it has ended
    async with client.runs.stream(started.run_id, live=live) as stream:
        events = [e async for e in stream]
        assert stream.closed
    assert [e.event_index for e in events] == list(range(5))
    assert [e.type for e in events] == ["run_start", "log", "log", "log", "run_end"]
    assert [e.message for e in events[1:4]] == ["before-fail"] * 3
    end = events[-1]
    assert isinstance(end, RunEndEvent)
    assert end.is_error is True
    assert end.error == {"name": "Error", "message": "boom-stream"}
    assert end.result is None
    record = await client.runs.get(started.run_id)
    assert record.status == "errored"
    assert record.error == {"name": "Error", "message": "boom-stream"}


# ---------------------------------------------------------------------------------------------
# Errors


async def test_missing_token_is_authentication_error(target: RealFlueServer) -> None:
    async with new_client(target) as client:
        run_id = await emit(client, 1)
    async with new_client(target, token=None) as anonymous:
        with pytest.raises(AuthenticationError) as info:
            await anonymous.runs.get(run_id)
        assert info.value.status == 401 and info.value.error_type == "unauthorized"
        with pytest.raises(AuthenticationError):
            await anonymous.runs.events(run_id)
        for live in LIVE_MODES:
            with pytest.raises(AuthenticationError):
                await drain(anonymous.runs.stream(run_id, live=live))  # type: ignore[arg-type]
        with pytest.raises(AuthenticationError):
            await anonymous.workflows.invoke("emit", {"count": 1})
    async with new_client(target, token="wrong-token") as wrong:
        assert "wrong-token" not in repr(wrong)
        with pytest.raises(AuthenticationError):
            await wrong.runs.events(run_id)


async def test_unknown_run_is_run_not_found(client: AsyncFlueClient) -> None:
    with pytest.raises(RunNotFoundError, match="token") as info:
        await client.runs.get("run_does_not_exist")
    assert info.value.status == 404 and info.value.error_type == "run_not_found"
    with pytest.raises(RunNotFoundError, match="token"):
        await client.runs.events("run_does_not_exist")
    for live in LIVE_MODES:
        with pytest.raises(RunNotFoundError, match="token"):
            await drain(client.runs.stream("run_does_not_exist", live=live))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# workflows.invoke


async def test_invoke_without_wait(client: AsyncFlueClient) -> None:
    started = await client.workflows.invoke("emit", {"count": 4, "size": 3})
    assert started.run_id.startswith("run_")
    assert started.result is None
    assert set(started.raw) == {"runId"}
    record = await wait_ended(client, started.run_id)
    assert record.status == "completed"
    assert record.result == {"emitted": 4, "size": 3}


async def test_invoke_with_wait(client: AsyncFlueClient) -> None:
    finished = await client.workflows.invoke("emit", {"count": 4, "size": 3}, wait=True)
    assert finished.run_id.startswith("run_")
    assert finished.result == {"emitted": 4, "size": 3}
    # the run is over when the result comes back
    record = await client.runs.get(finished.run_id)
    assert record.status == "completed"
    assert_emit_events(await client.runs.events(finished.run_id), finished.run_id, 4)


async def test_invoke_without_input_uses_the_defaults(client: AsyncFlueClient) -> None:
    finished = await client.workflows.invoke("emit", wait=True)
    assert finished.result == {"emitted": 10, "size": 0}
    record = await client.runs.get(finished.run_id)
    # input=None sends no body at all, so the run has no input (as Flue records it)
    assert "input" not in record.raw


async def test_invoke_errors(client: AsyncFlueClient) -> None:
    with pytest.raises(WorkflowNotFoundError) as missing:
        await client.workflows.invoke("nope", {})
    assert missing.value.status == 404 and missing.value.error_type == "workflow_not_found"
    # SPEC section 9: a throwing workflow with ?wait=result is a 500 without a run id
    with pytest.raises(ServerError) as failed:
        await client.workflows.invoke("fail", {"message": "boom-wait"}, wait=True)
    assert failed.value.status == 500 and failed.value.error_type == "internal_error"
    # ... and invalid input is a synchronous 500 `action_input_validation`
    with pytest.raises(ServerError) as invalid:
        await client.workflows.invoke("emit", {"count": -1})
    assert invalid.value.status == 500 and invalid.value.error_type == "action_input_validation"


# ---------------------------------------------------------------------------------------------
# streams.read: the generic Durable Streams reader on a run URL


async def test_streams_read_batches(target: RealFlueServer, client: AsyncFlueClient) -> None:
    run_id = await emit(client, 250)
    async with client.streams.read(f"/runs/{run_id}") as reader:
        batches = [b async for b in reader]
        assert reader.closed and reader.offset == batches[-1].next_offset
    assert [len(b.items) for b in batches] == [100, 100, 52]
    assert [(b.up_to_date, b.closed) for b in batches] == [
        (False, False),
        (False, False),
        (True, True),
    ]
    assert len({b.next_offset for b in batches}) == 3
    items = [item for b in batches for item in b.items]
    assert [item["eventIndex"] for item in items] == list(range(252))
    assert items == await client.runs.events(run_id, as_dict=True)

    # an absolute URL, and a resume from the first batch's checkpoint
    absolute = client.streams.read(f"{target.url}/runs/{run_id}", offset=batches[0].next_offset)
    rest = [item["eventIndex"] async for b in absolute for item in b.items]
    assert rest == list(range(100, 252))


async def test_streams_read_bytes(client: AsyncFlueClient) -> None:
    run_id = await emit(client, 120)
    batches = [b async for b in client.streams.read(f"runs/{run_id}", decode="bytes")]
    assert len(batches) == 2 and batches[-1].closed
    pages = [json.loads(b.data) for b in batches]
    assert [len(p) for p in pages] == [100, 22]
    assert [e["eventIndex"] for p in pages for e in p] == list(range(122))


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_streams_read_live(client: AsyncFlueClient, live: str) -> None:
    run_id = await emit(client, 250)
    async with client.streams.read(f"/runs/{run_id}", live=live) as reader:  # type: ignore[arg-type]
        batches = [b async for b in reader]
        assert reader.closed
    assert [len(b.items) for b in batches] == [100, 100, 52]
    assert [b.closed for b in batches] == [False, False, True]
    assert [i["eventIndex"] for b in batches for i in b.items] == list(range(252))


# Over SSE, Flue's final control frame is `{"streamNextOffset":"…","streamClosed":true}`, without
# `upToDate` (FINDINGS.md, SSE): closed implies caught up all the same.
@pytest.mark.parametrize("live", [False, "long-poll", "sse"])
async def test_a_closed_stream_is_up_to_date(client: AsyncFlueClient, live: Any) -> None:
    run_id = await emit(client, 3)
    batches = [b async for b in client.streams.read(f"/runs/{run_id}", live=live)]
    assert [(len(b.items), b.closed) for b in batches] == [(5, True)]
    async with client.runs.stream(run_id, live=live) as stream:
        assert len([e async for e in stream]) == 5
        assert stream.closed
        assert stream.up_to_date
    assert batches[-1].up_to_date
