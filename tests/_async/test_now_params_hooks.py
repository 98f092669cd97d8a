"""``offset="now"`` live reads in one request, ``params=`` and ``event_hooks=`` (issue 15).

Written once against the async client; tests/_sync holds the generated twin. The writer
appends only once the server says the reader is waiting (`FlueTestServer.wait_for_readers`),
so "one request, then the append" is forced, not timed.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from flue import (
    AsyncFlueClient,
    FlueError,
    InvalidArgumentError,
    RequestInfo,
    ResponseInfo,
)
from flue.models import LogEvent
from flue.testing import Fault, FlueTestServer, format_offset
from tests._async.test_client import client_for, log, reads
from tests.conftest import TOKEN


class AppendWhenWaiting:
    """A writer thread: once a read of the run waits, note how many reads the server has had,
    then append one event."""

    def __init__(self, server: FlueTestServer, run_id: str, event: dict[str, Any]) -> None:
        self.reads_before: int | None = None
        self.error: BaseException | None = None

        def write() -> None:
            try:
                server.wait_for_readers(run_id)
                self.reads_before = len(reads(server, run_id))
                server.append(run_id, event)
            except BaseException as exc:  # reported by the test
                self.error = exc

        self._thread = threading.Thread(target=write, daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(10)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error


# -- offset="now" with a live read -----------------------------------------------------------


async def test_now_long_poll_sends_one_request_and_delivers_the_append(
    server: FlueTestServer,
) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.append(run_id, [log(i) for i in range(3)])
    writer = AppendWhenWaiting(server, run_id, log(99))
    async with (
        client_for(server) as client,
        client.runs.stream(run_id, offset="now", live="long-poll") as stream,
    ):
        async for event in stream:
            assert isinstance(event, LogEvent) and event.attributes == {"i": 99}
            break
        checkpoint = stream.offset
    writer.join()
    assert writer.reads_before == 1
    first = reads(server, run_id)[0]
    assert first.query == (("offset", "now"), ("live", "long-poll"))
    assert checkpoint == format_offset(4)


async def test_streams_read_now_long_poll_is_one_request(server: FlueTestServer) -> None:
    run_id = str(server.create_run(workflow="emit"))
    writer = AppendWhenWaiting(server, run_id, log(7))
    async with (
        client_for(server) as client,
        client.streams.read(f"/runs/{run_id}", offset="now", live=True) as batches,
    ):
        async for batch in batches:
            assert [e["attributes"] for e in batch.items] == [{"i": 7}]
            break
    writer.join()
    assert writer.reads_before == 1
    assert reads(server, run_id)[0].query == (("offset", "now"), ("live", "long-poll"))


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_now_on_an_ended_run_ends_after_one_request(
    server: FlueTestServer, live: str
) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.append(run_id, [log(i) for i in range(2)])
    server.end_run(run_id, result={"emitted": 2})
    async with client_for(server) as client:
        async with client.runs.stream(run_id, offset="now", live=live) as stream:  # type: ignore[arg-type]
            seen = [event async for event in stream]
        assert seen == []
        assert stream.closed
        assert stream.offset == format_offset(3)  # the tail, no longer "now"
    sent = reads(server, run_id)
    assert len(sent) == 1
    assert sent[0].query == (("offset", "now"), ("live", live))


# -- params= ---------------------------------------------------------------------------------


async def test_params_callable_is_called_once_per_request_retries_included(
    server: FlueTestServer,
) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.append(run_id, [log(i) for i in range(3)])
    server.end_run(run_id)
    # a 503 on the run record (a retry), a catch-up body cut mid-way (a reconnect)
    server.faults.add(Fault.status(503, retry_after=0.01), times=1, run_id=run_id)
    server.faults.add(Fault.drop_after(bytes=300), times=1, run_id=run_id, mode="catch-up")
    calls: list[int] = []

    async def sign() -> dict[str, Any]:
        calls.append(len(calls))
        return {"request-id": f"r{len(calls)}", "n": len(calls), "flag": True}

    async with client_for(server, params=sign, catchup="get") as client:
        record = await client.runs.get(run_id)
        events = await client.runs.events(run_id)
        started = await client.workflows.invoke("emit", {"count": 0})
    assert record.run_id == run_id and len(events) == 5
    sent = [r for r in server.requests if r.run_id == run_id or r.workflow == "emit"]
    # meta (503), meta, catch-up (cut), catch-up, invoke: one call each
    assert [r.mode for r in sent] == ["meta", "meta", "catch-up", "catch-up", "invoke"]
    assert len(calls) == len(sent)
    ids = [r.query_values("request-id") for r in sent]
    assert ids == [["r1"], ["r2"], ["r3"], ["r4"], ["r5"]]
    # after the protocol's own parameters, in the callable's order; bool as "true"
    assert sent[0].query == (("meta", ""), ("request-id", "r1"), ("n", "1"), ("flag", "true"))
    assert sent[3].query == (("offset", "-1"), ("request-id", "r4"), ("n", "4"), ("flag", "true"))
    assert sent[4].query == (("request-id", "r5"), ("n", "5"), ("flag", "true"))
    assert started.run_id


async def test_call_params_merge_over_client_params(server: FlueTestServer) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.end_run(run_id)
    client_params = {"a": "1", "b": "2"}
    async with client_for(server, params=client_params) as client:
        async with client.streams.read(
            f"/runs/{run_id}", params={"b": "3", "a": None, "c": [1, 2.5]}
        ) as batches:
            [batch async for batch in batches]
        await client.runs.get(run_id)
    sent = [r for r in server.requests if r.run_id == run_id]
    assert sent[0].query == (("offset", "-1"), ("b", "3"), ("c", "1"), ("c", "2.5"))
    assert sent[1].query == (("meta", ""), ("a", "1"), ("b", "2"))  # other calls: the client's


@pytest.mark.parametrize("key", ["offset", "live", "cursor", "tail", "meta", "wait"])
async def test_protocol_keys_are_refused(server: FlueTestServer, key: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"'{key}'"):
        client_for(server, params={key: "x"})
    async with client_for(server) as client:
        with pytest.raises(InvalidArgumentError, match="client sends itself"):
            client.streams.read("/runs/r", params={key: "x"})
    assert server.requests == []


async def test_a_callable_returning_a_protocol_key_fails_at_request_time_unretried(
    server: FlueTestServer,
) -> None:
    run_id = str(server.create_run(workflow="emit"))
    calls: list[int] = []

    def bad() -> dict[str, str]:
        calls.append(1)
        return {"cursor": "mine"}

    async with client_for(server) as client:
        stream = client.streams.read(f"/runs/{run_id}", params=bad)
        with pytest.raises(InvalidArgumentError, match=r"'cursor'.*remove it"):
            async with stream:
                [batch async for batch in stream]
        with pytest.raises(InvalidArgumentError, match="must be a dict"):
            await AsyncFlueClient(server.url, token=TOKEN, params=lambda: [("a", "b")]).runs.get(
                run_id
            )
    assert calls == [1]
    assert server.requests == []


# -- event_hooks= ----------------------------------------------------------------------------


async def test_hooks_see_every_request_with_retries_and_reconnects_in_order(
    server: FlueTestServer,
) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.append(run_id, [log(i) for i in range(300)])
    server.end_run(run_id)
    # a 503 (retry), then a body cut mid-frame (reconnect)
    server.faults.add(Fault.status(503, retry_after=0.01), times=1, run_id=run_id)
    server.faults.add(Fault.drop_after(bytes=2000), times=1, run_id=run_id)
    seen: list[RequestInfo] = []
    answers: list[ResponseInfo] = []

    async def on_request(info: RequestInfo) -> None:
        seen.append(info)

    def on_response(info: ResponseInfo) -> None:
        answers.append(info)

    hooks = {"request": [on_request], "response": [on_response]}
    async with client_for(
        server, event_hooks=hooks, catchup="get", params={"access_token": TOKEN}
    ) as client:
        events = await client.runs.events(run_id)
        await client.runs.get(run_id)
    assert [e.event_index for e in events] == list(range(302))
    sent = [r for r in server.requests if r.run_id == run_id]
    assert len(sent) >= 5  # 503, cut, 4 pages (100 each), meta
    assert len(seen) == len(sent)
    for info, received in zip(seen, sent, strict=True):
        url = urlsplit(info.url)
        assert info.method == received.method
        assert url.path == received.raw_path
        query = parse_qsl(url.query, keep_blank_values=True)
        assert [pair for pair in query if pair[0] != "access_token"] == [
            pair for pair in received.query if pair[0] != "access_token"
        ]
        assert dict(query)["access_token"] == "<redacted>"
        assert info.headers["authorization"] == "<redacted>"
    assert [info.kind for info in seen][-1] == "meta"
    # a response for every answered request (the cut one was answered too: its head came)
    assert [a.request for a in answers] == seen
    assert [a.status for a in answers][:2] == [503, 200]
    assert all(a.elapsed >= 0 for a in answers)
    assert all(TOKEN not in repr(x) for x in [*seen, *answers])


async def test_hooks_on_a_live_stream_see_the_reconnect(server: FlueTestServer) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.append(run_id, [log(i) for i in range(5)])
    server.faults.add(Fault.drop_after(bytes=300), times=1, run_id=run_id, mode="sse")
    kinds: list[str] = []

    def on_request(info: RequestInfo) -> None:
        kinds.append(info.kind)
        if len(kinds) == 2:
            server.end_run(run_id)

    async with (
        client_for(server, event_hooks={"request": [on_request]}) as client,
        client.runs.stream(run_id, live="sse") as stream,
    ):
        indexes = [event.event_index async for event in stream]
    assert indexes == list(range(7))
    assert kinds == ["sse", "sse"]
    assert len(reads(server, run_id)) == 2


async def test_a_raising_request_hook_stops_the_call_unretried(server: FlueTestServer) -> None:
    run_id = str(server.create_run(workflow="emit"))
    calls: list[RequestInfo] = []

    def boom(info: RequestInfo) -> None:
        calls.append(info)
        raise ValueError("no tracing backend")

    async with client_for(server, event_hooks={"request": [boom]}) as client:
        with pytest.raises(FlueError, match=r"request event hook .*boom raised ValueError") as err:
            await client.runs.get(run_id)
        assert isinstance(err.value.__cause__, ValueError)
        with pytest.raises(FlueError, match="no tracing backend"):
            async with client.runs.stream(run_id) as stream:
                [event async for event in stream]
    assert len(calls) == 2
    assert server.requests == []


async def test_a_raising_response_hook_stops_the_call_unretried(server: FlueTestServer) -> None:
    run_id = str(server.create_run(workflow="emit"))
    server.end_run(run_id)

    async def boom(info: ResponseInfo) -> None:
        raise RuntimeError(f"saw {info.status}")

    async with client_for(server, event_hooks={"response": [boom]}) as client:
        with pytest.raises(FlueError, match=r"response event hook .* saw 202") as err:
            await client.workflows.invoke("emit", {"count": 0})
        assert isinstance(err.value.__cause__, RuntimeError)
    assert len(server.requests) == 1


def test_event_hooks_are_checked() -> None:
    for bad, match in [
        ([print], "must be a dict"),
        ({"error": [print]}, "'request' and 'response'"),
        ({"request": print}, "list of callables"),
        ({"response": [1]}, "not callable"),
    ]:
        with pytest.raises(InvalidArgumentError, match=match):
            AsyncFlueClient("http://127.0.0.1:9", event_hooks=bad)  # type: ignore[arg-type]
