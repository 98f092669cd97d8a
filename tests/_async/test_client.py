"""Client tests, written once against the async client; tests/_sync holds the generated twin.

Every test runs against a real local HTTP server (`flue.testing` in a background thread).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    AuthenticationError,
    BadRequestError,
    InvalidArgumentError,
    NotFoundError,
    ProtocolError,
    RetryPolicy,
    RunNotFoundError,
    ServerError,
    Timeout,
    WorkflowNotFoundError,
)
from flue.models import LogEvent, RunEndEvent, RunStartEvent, UnknownEvent
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=6, jitter=False)


def client_for(server: FlueTestServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", TOKEN)
    kw.setdefault("retry", FAST)
    return AsyncFlueClient(server.url, **kw)


def log(i: int) -> dict[str, Any]:
    return {"type": "log", "level": "info", "message": "emit", "attributes": {"i": i}}


def make_run(server: FlueTestServer, n: int, *, end: bool = True) -> str:
    run = server.create_run(workflow="emit")
    if n:
        server.append(run, [log(i) for i in range(n)])
    if end:
        server.end_run(run, result={"emitted": n})
    return str(run)


def reads(server: FlueTestServer, run_id: str) -> list[Any]:
    return [r for r in server.requests if r.run_id == run_id and r.mode != "meta"]


async def test_get_run_record(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    async with client_for(server) as client:
        record = await client.runs.get(run_id)
    assert record.run_id == run_id
    assert record.status == "completed"
    assert record.result == {"emitted": 3}


async def test_events_across_many_pages(server: FlueTestServer) -> None:
    # one GET per page of 100 (the default reads them all over one SSE response)
    run_id = make_run(server, 5000)
    async with client_for(server, catchup="get") as client:
        events = await client.runs.events(run_id)
    assert [e.event_index for e in events] == list(range(5002))
    assert isinstance(events[0], RunStartEvent)
    assert isinstance(events[1], LogEvent) and events[1].attributes == {"i": 0}
    assert isinstance(events[-1], RunEndEvent)
    assert len(reads(server, run_id)) == 51  # 100 per page


async def test_events_as_dicts(server: FlueTestServer) -> None:
    run_id = make_run(server, 10)
    async with client_for(server) as client:
        events = await client.runs.events(run_id, as_dict=True)
    assert [e["eventIndex"] for e in events] == list(range(12))
    assert events[1]["attributes"] == {"i": 0}


async def test_tail_is_kept_across_pages(server: FlueTestServer) -> None:
    run_id = make_run(server, 400)
    async with client_for(server) as client:
        events = await client.runs.events(run_id, tail=250)
    assert [e.event_index for e in events] == list(range(152, 402))
    sent = reads(server, run_id)
    assert sent[0].query_values("tail") == ["250"]
    assert all(r.query_values("tail") == [] for r in sent[1:])


async def test_offset_resume_and_now(server: FlueTestServer) -> None:
    run_id = make_run(server, 30, end=False)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id, live=False)
        first = []
        async for event in stream:
            first.append(event.event_index)
        assert first == list(range(31))
        checkpoint = stream.offset
        server.append(run_id, [log(i) for i in range(30, 35)])
        rest = await client.runs.events(run_id, offset=checkpoint)
        assert [e.event_index for e in rest] == list(range(31, 36))
        assert await client.runs.events(run_id, offset="now") == []


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_live_stream_of_a_run_still_appending(server: FlueTestServer, live: str) -> None:
    run_id = make_run(server, 5, end=False)
    seen: list[int] = []
    ended = False
    async with client_for(server) as client:
        async with client.runs.stream(run_id, live=live) as stream:  # type: ignore[arg-type]
            async for event in stream:
                seen.append(event.event_index)
                # the writer appends once the reader has caught up; the run ends at 40 events
                if not ended and event.event_index == len(server.events(run_id)) - 1:
                    if len(seen) >= 40:
                        ended = True
                        server.end_run(run_id, result={"emitted": 40})
                    else:
                        server.append(run_id, log(event.event_index))
        assert stream.closed
    assert seen == list(range(len(seen)))
    assert seen[-1] == len(server.events(run_id)) - 1
    assert isinstance(event, RunEndEvent)


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_checkpoint_moves_after_each_batch(server: FlueTestServer, live: str) -> None:
    run_id = make_run(server, 250)
    offsets: list[tuple[int, str]] = []
    async with client_for(server) as client:
        stream = client.runs.stream(run_id, live=live)  # type: ignore[arg-type]
        assert stream.offset == "-1"
        async for event in stream:
            offsets.append((event.event_index, stream.offset))
    # pages of 100: mid-batch the checkpoint is the previous batch's end
    assert offsets[0][1] == "-1"
    assert offsets[98][1] == "-1"
    assert offsets[99][1] != "-1"  # last event of the batch handed over: checkpoint moved
    assert offsets[100][1] == offsets[99][1]
    assert offsets[-1][1] == stream.offset
    assert len({o for _, o in offsets}) == 4


@pytest.mark.parametrize("live", ["long-poll", "sse", False])
async def test_resume_from_checkpoint_delivers_nothing_before_it(
    server: FlueTestServer, live: Any
) -> None:
    run_id = make_run(server, 330)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id, live=live)
        saved = "-1"
        got: list[int] = []
        async for event in stream:
            got.append(event.event_index)
            saved = stream.offset
            if event.event_index == 150:
                break
        await stream.aclose()
        resumed = [e.event_index async for e in client.runs.stream(run_id, offset=saved, live=live)]
    # the checkpoint saved after event 150 is the end of the batch 100..199 only once that
    # batch is fully handed over; so the resumed stream starts at 100 (the in-flight batch)
    assert resumed[0] == 100
    assert resumed == list(range(100, 332))


async def test_cancel_before_iteration_makes_no_request(server: FlueTestServer) -> None:
    run_id = make_run(server, 5)
    server.clear_requests()
    async with client_for(server) as client:
        stream = client.runs.stream(run_id)
        stream.cancel()
        assert [e async for e in stream] == []
    assert server.requests == []


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_cancel_mid_stream(server: FlueTestServer, live: str) -> None:
    run_id = make_run(server, 20, end=False)
    async with client_for(server) as client:
        stream = client.runs.stream(run_id, live=live)  # type: ignore[arg-type]
        seen = []
        async for event in stream:
            seen.append(event.event_index)
            if event.event_index == 10:
                stream.cancel()
        # nothing more is handed out after cancel, not even the rest of the batch in hand,
        # and the checkpoint stays before that batch (resuming re-delivers it)
        assert seen == list(range(11))
        assert stream.offset == "-1"
        assert stream.state == "cancelled"
        assert [e async for e in stream] == []


async def test_headers_factory_called_per_request(server: FlueTestServer) -> None:
    run_id = make_run(server, 250)
    calls = 0

    def headers() -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"X-Call": str(calls)}

    async with client_for(server, headers=headers, catchup="get") as client:
        await client.runs.events(run_id)
    sent = reads(server, run_id)
    assert [r.headers["X-Call"] for r in sent] == ["1", "2", "3"]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_retries_on_transient_statuses(server: FlueTestServer, status: int) -> None:
    run_id = make_run(server, 250)
    server.faults.add(Fault.status(status, retry_after=0.05), times=2, skip=1, run_id=run_id)
    async with client_for(server, catchup="get") as client:
        events = await client.runs.events(run_id)
    assert [e.event_index for e in events] == list(range(252))
    sent = reads(server, run_id)
    assert len(sent) == 5
    # the retries resume from the checkpoint, never from the start
    assert sent[1].query_values("offset") == sent[2].query_values("offset")
    assert sent[2].query_values("offset") == sent[3].query_values("offset") != ["-1"]


@pytest.mark.parametrize("live", ["long-poll", "sse", False])
async def test_retry_on_dropped_connection(server: FlueTestServer, live: Any) -> None:
    run_id = make_run(server, 300)
    server.faults.add(Fault.drop_after(bytes=700), times=2, skip=1, run_id=run_id)
    async with client_for(server) as client:
        got = [e.event_index async for e in client.runs.stream(run_id, live=live)]
    assert got == list(range(302))


async def test_retry_on_stalled_sse(server: FlueTestServer) -> None:
    run_id = make_run(server, 150)
    server.faults.add(Fault.stall(after_bytes=300), times=1, skip=0, run_id=run_id, mode="sse")
    async with client_for(server, timeout=Timeout(stall=0.3)) as client:
        got = [e.event_index async for e in client.runs.stream(run_id, live="sse")]
    assert got == list(range(152))
    assert len(reads(server, run_id)) == 2


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, AuthenticationError), (404, NotFoundError)],
)
async def test_no_retry_on_fatal_statuses(
    server: FlueTestServer, status: int, cls: type[Exception]
) -> None:
    run_id = make_run(server, 3)
    server.faults.add(Fault.status(status), run_id=run_id)
    async with client_for(server) as client:
        with pytest.raises(cls):
            await client.runs.events(run_id)
    assert len(reads(server, run_id)) == 1


async def test_unknown_run_and_missing_token(server: FlueTestServer) -> None:
    run_id = make_run(server, 1)
    async with client_for(server) as client:
        with pytest.raises(RunNotFoundError, match="token") as info:
            await client.runs.get("run_does_not_exist")
        assert info.value.status == 404 and info.value.error_type == "run_not_found"
    async with client_for(server, token=None) as anonymous:
        with pytest.raises(AuthenticationError) as auth:
            await anonymous.runs.events(run_id)
        assert auth.value.status == 401


async def test_retries_exhausted(server: FlueTestServer) -> None:
    run_id = make_run(server, 3)
    server.faults.add(Fault.status(503), run_id=run_id)
    async with client_for(server) as client:
        with pytest.raises(ServerError, match="gave up after 6") as info:
            await client.runs.events(run_id)
    assert len(reads(server, run_id)) == 6
    # the message attribute, str() and repr() all say the same thing
    assert info.value.message == str(info.value)
    assert info.value.message.endswith("with backoff. (gave up after 6 attempts)")


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Fault.corrupt_json(), "JSON"),
        (Fault.missing_next_offset(), "Stream-Next-Offset"),
        (Fault.corrupt_json(body=b'{"not": "an array"}'), "not an array"),
    ],
)
async def test_malformed_responses_are_protocol_errors(
    server: FlueTestServer, fault: Fault, match: str
) -> None:
    run_id = make_run(server, 3)
    server.faults.add(fault, run_id=run_id)
    async with client_for(server, catchup="get") as client:
        with pytest.raises(ProtocolError, match=match):
            await client.runs.events(run_id)


@pytest.mark.parametrize("frame", ["control", "data"])
async def test_malformed_sse_frames_are_protocol_errors(server: FlueTestServer, frame: str) -> None:
    run_id = make_run(server, 3)
    server.faults.add(Fault.malformed_sse(frame=frame), run_id=run_id)  # type: ignore[arg-type]
    async with client_for(server) as client:
        with pytest.raises(ProtocolError):
            async for _ in client.runs.stream(run_id, live="sse"):
                pass


async def test_redirect_to_another_origin_drops_authorization(
    server: FlueTestServer, other_server: FlueTestServer
) -> None:
    run_id = make_run(server, 1)
    server.faults.add(Fault.redirect(other_server.url, append_path=True), mode="meta")
    async with client_for(server) as client:
        with pytest.raises(RunNotFoundError):
            await client.runs.get(run_id)
    [followed] = other_server.requests
    assert followed.path == f"/runs/{run_id}"
    assert "Authorization" not in followed.headers


async def test_redirect_loop_is_bounded(server: FlueTestServer) -> None:
    run_id = make_run(server, 1)
    server.faults.add(Fault.redirect(server.url, append_path=True), mode="meta")
    async with client_for(server) as client:
        with pytest.raises(Exception, match="redirect"):
            await client.runs.get(run_id)
    assert 5 <= len(server.requests) <= 40


async def test_workflows_invoke(server: FlueTestServer) -> None:
    async with client_for(server) as client:
        started = await client.workflows.invoke("emit", {"count": 2})
        assert started.run_id
        finished = await client.workflows.invoke("emit", {"count": 3, "size": 1}, wait=True)
        assert finished.result == {"emitted": 3, "size": 1}
        events = await client.runs.events(finished.run_id)
        assert [e.type for e in events] == ["run_start", "log", "log", "log", "run_end"]
        with pytest.raises(WorkflowNotFoundError):
            await client.workflows.invoke("nope")


async def test_unknown_event_type_keeps_every_field(server: FlueTestServer) -> None:
    run = server.create_run(workflow="emit")
    server.append(run, {"type": "brand_new", "weird": [1, 2], "v": 9})
    server.end_run(run)
    async with client_for(server) as client:
        events = await client.runs.events(str(run))
    odd = events[1]
    assert isinstance(odd, UnknownEvent)
    assert odd.raw["weird"] == [1, 2] and odd.raw["v"] == 9


async def test_invalid_arguments_raise_before_any_request(server: FlueTestServer) -> None:
    server.clear_requests()
    async with client_for(server) as client:
        for kwargs in ({"tail": 0}, {"tail": True}, {"offset": ""}, {"live": "ws"}):
            with pytest.raises(InvalidArgumentError):
                client.runs.stream("r1", **kwargs)
        with pytest.raises(ValueError):
            await client.runs.events("r1", tail=-1)
    assert server.requests == []


async def test_token_never_in_repr_or_logs(
    server: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="flue")
    run_id = make_run(server, 3)
    server.faults.add(Fault.status(503), run_id=run_id, times=1)
    async with client_for(server) as client:
        assert TOKEN not in repr(client)
        await client.runs.events(run_id)
        with pytest.raises(RunNotFoundError) as info:
            await client.runs.get("missing")
    assert "retry" in caplog.text
    assert TOKEN not in caplog.text
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value)


async def test_generic_stream_reader(server: FlueTestServer) -> None:
    run_id = make_run(server, 120)
    async with client_for(server) as client:
        batches = [b async for b in client.streams.read(f"/runs/{run_id}")]
        assert [len(b.items) for b in batches] == [100, 22]
        assert batches[-1].closed and batches[-1].up_to_date
        raw = [b async for b in client.streams.read(f"runs/{run_id}", decode="bytes")]
        assert raw[0].data.startswith(b"[{")
        sse = [b async for b in client.streams.read(f"/runs/{run_id}", live="sse")]
        assert sum(len(b.items) for b in sse) == 122


@pytest.mark.parametrize("live", ["sse", False])
async def test_a_10_mb_event_is_read_whole(server: FlueTestServer, live: Any) -> None:
    run = server.create_run(workflow="emit")
    big = "x" * 10_000_000
    server.append(run, [{"type": "log", "message": "big", "attributes": {"data": big}}, log(1)])
    server.end_run(run)
    async with client_for(server) as client:
        events = [e async for e in client.runs.stream(str(run), live=live)]
    assert [e.event_index for e in events] == [0, 1, 2, 3]
    assert events[1].attributes == {"data": big}
