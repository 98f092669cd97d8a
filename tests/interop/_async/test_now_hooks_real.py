"""``offset="now"`` live reads, ``params=`` and ``event_hooks=`` against a real Flue server.

Written once against the async client; tests/interop/_sync holds the generated twin. Flue
1.0.0-beta.5 and beta.9 answer ``?offset=now&live=long-poll`` by waiting at the tail the run
has when the request arrives: 200 with what was appended meanwhile, 204 after its 30 s window,
and, on an ended run, 204 with ``Stream-Closed: true`` at once (tests/interop/FINDINGS.md).

The `emit` workflow's first log comes ``startDelayMs`` after the run starts. Whether the read
was waiting before that log was appended is checked, not hoped for: "now" is resolved when the
request arrives, so receiving log 0 (eventIndex 1) proves the request was there first; a late
request would get log 1 or nothing, and the test would fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from flue import AsyncFlueClient, RequestInfo, ResponseInfo, RetryPolicy
from flue.models import LogEvent
from tools.flue_servers.server import RealFlueServer

pytestmark = pytest.mark.timeout(30)

RETRY = RetryPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=3)


class Recorder:
    """Event hooks that keep what they see."""

    def __init__(self) -> None:
        self.requests: list[RequestInfo] = []
        self.responses: list[ResponseInfo] = []

    def on_request(self, info: RequestInfo) -> None:
        self.requests.append(info)

    async def on_response(self, info: ResponseInfo) -> None:
        self.responses.append(info)

    @property
    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self.on_request], "response": [self.on_response]}

    def clear(self) -> None:
        self.requests.clear()
        self.responses.clear()

    def reads(self) -> list[RequestInfo]:
        return [r for r in self.requests if r.kind in ("catch-up", "long-poll", "sse")]


def new_client(server: RealFlueServer, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", server.token)
    kw.setdefault("retry", RETRY)
    for name, value in server.client_options.items():
        kw.setdefault(name, value)
    return AsyncFlueClient(server.url, **kw)


def query(info: RequestInfo) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(info.url).query, keep_blank_values=True)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    yield Recorder()


async def test_now_long_poll_waits_in_one_request(
    target: RealFlueServer, recorder: Recorder
) -> None:
    async with new_client(target, event_hooks=recorder.hooks) as client:
        started = await client.workflows.invoke("emit", {"count": 2, "startDelayMs": 1500})
        recorder.clear()
        async with client.runs.stream(started.run_id, offset="now", live="long-poll") as stream:
            async for event in stream:
                reads_before = len(recorder.reads())
                assert isinstance(event, LogEvent)
                assert (event.event_index, event.attributes["i"]) == (1, 0)
                break
    assert reads_before == 1
    first = recorder.reads()[0]
    assert query(first) == [("offset", "now"), ("live", "long-poll")]
    assert recorder.responses[0].status == 200


async def test_streams_read_now_long_poll_waits_in_one_request(
    target: RealFlueServer, recorder: Recorder
) -> None:
    async with new_client(target, event_hooks=recorder.hooks) as client:
        started = await client.workflows.invoke("emit", {"count": 1, "startDelayMs": 1500})
        recorder.clear()
        async with client.streams.read(
            f"/runs/{started.run_id}", offset="now", live=True
        ) as batches:
            async for batch in batches:
                assert [e["eventIndex"] for e in batch.items] == [1]
                break
    assert len(recorder.reads()) == 1
    assert query(recorder.reads()[0]) == [("offset", "now"), ("live", "long-poll")]


@pytest.mark.parametrize("live", ["long-poll", "sse"])
async def test_now_on_an_ended_run_is_one_request(
    target: RealFlueServer, recorder: Recorder, live: str
) -> None:
    async with new_client(target, event_hooks=recorder.hooks) as client:
        started = await client.workflows.invoke("emit", {"count": 3}, wait=True)
        recorder.clear()
        async with client.runs.stream(started.run_id, offset="now", live=live) as stream:  # type: ignore[arg-type]
            assert [e async for e in stream] == []
            assert stream.closed
            tail = stream.offset
        assert await client.runs.events(started.run_id, offset=tail) == []
        full = await client.runs.events(started.run_id)
    assert len(recorder.reads()) == 3  # the stream's one, then the two checks
    assert query(recorder.reads()[0]) == [("offset", "now"), ("live", live)]
    assert tail not in ("now", "-1") and len(full) == 5


async def test_params_reach_the_server_after_the_protocols_own(
    target: RealFlueServer, recorder: Recorder
) -> None:
    calls: list[int] = []

    async def sign() -> dict[str, Any]:
        calls.append(1)
        return {"request-id": f"r{len(calls)}", "sig": "s3cr3t-signature"}

    async with new_client(target, params=sign, event_hooks=recorder.hooks) as client:
        started = await client.workflows.invoke("emit", {"count": 150}, wait=True)
        record = await client.runs.get(started.run_id)
        events = await client.runs.events(started.run_id)
        async with client.streams.read(
            f"/runs/{started.run_id}", params={"sig": None, "extra": 1}
        ) as batches:
            items = [item async for batch in batches for item in batch.items]
    assert record.status == "completed" and len(events) == 152 == len(items)
    sent = recorder.requests
    assert len(calls) == len(sent) == len(recorder.responses)
    assert all(200 <= r.status < 300 for r in recorder.responses)  # extra parameters are fine
    ids = [dict(query(info)).get("request-id") for info in sent]
    assert ids == [f"r{i}" for i in range(1, len(sent) + 1)]
    assert query(sent[1])[:2] == [("meta", ""), ("request-id", "r2")]
    # the signature is credential-like: redacted; the stream's own params dropped it
    own = [query(info) for info in sent if ("extra", "1") in query(info)]
    assert own and all("sig" not in dict(q) for q in own)
    assert own[0][0] == ("offset", "-1")
    others = [query(info) for info in sent if ("extra", "1") not in query(info)]
    assert len(others) == 3 and all(dict(q)["sig"] == "<redacted>" for q in others)


async def test_hooks_see_every_request_and_never_the_token(
    target: RealFlueServer, recorder: Recorder
) -> None:
    async with new_client(target, event_hooks=recorder.hooks, catchup="get") as client:
        started = await client.workflows.invoke("emit", {"count": 250}, wait=True)
        events = await client.runs.events(started.run_id)
        async with client.runs.stream(started.run_id, live="sse") as stream:
            streamed = [e async for e in stream]
    assert len(events) == len(streamed) == 252
    kinds = [info.kind for info in recorder.requests]
    assert kinds == ["invoke", "catch-up", "catch-up", "catch-up", "sse"]
    assert [r.request for r in recorder.responses] == recorder.requests
    assert [r.status for r in recorder.responses] == [200, 200, 200, 200, 200]
    assert [r.headers.get("stream-up-to-date") for r in recorder.responses[1:4]] == [
        None,
        None,
        "true",
    ]
    for info in recorder.requests:
        assert info.headers["authorization"] == "<redacted>"
        assert target.token not in repr(info)
    assert all(target.token not in repr(r) for r in recorder.responses)
