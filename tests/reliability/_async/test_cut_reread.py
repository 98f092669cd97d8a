"""A server that changes the events at an offset when a cut page is read again: the client
hands out the events received whole before the cut, resumes after them, and raises
ProtocolError on the changed re-read, never a silent duplicate or gap (raw sockets: no real
server sends this; the real server's side is tests/interop/_async/test_cuts_real.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flue import AsyncFlueClient, ProtocolError, RetryPolicy
from tests.reliability.rawserver import Exchange, RawServer, http_response

pytestmark = pytest.mark.timeout(30)

EVENTS = [{"type": "log", "eventIndex": i, "runId": "run_1"} for i in range(10)]
RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3)


def page(events: list[dict[str, Any]]) -> bytes:
    return json.dumps(events).encode()


def sse(events: list[dict[str, Any]]) -> bytes:
    control = {"streamNextOffset": "o10", "streamClosed": True}
    return (
        b"event: data\ndata: "
        + page(events)
        + b"\n\nevent: control\ndata: "
        + json.dumps(control).encode()
        + b"\n\n"
    )


def serve(mode: str, changed: bool) -> Any:
    """A handler: the first answer is cut after 3 whole events; the second is whole, with
    event 0 changed when `changed`."""
    calls = {"n": 0}

    def handler(exchange: Exchange) -> None:
        calls["n"] += 1
        events = [dict(e) for e in EVENTS]
        if calls["n"] > 1 and changed:
            events[0]["level"] = "changed"
        body = sse(events) if mode == "sse" else page(events)
        headers = {"Stream-Next-Offset": "o10", "Stream-Up-To-Date": "true"}
        if mode == "sse":
            headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        else:
            headers |= {"Content-Type": "application/json", "Stream-Closed": "true"}
        whole = http_response(200, headers, body)
        if calls["n"] == 1:
            cut = whole.index(b"},", whole.index(b'"eventIndex": 2')) + 2
            exchange.send(whole[:cut])  # Content-Length promises more: the client sees a cut
            return
        exchange.send(whole)

    return handler


async def read(client: AsyncFlueClient, mode: str) -> list[int]:
    live = "sse" if mode == "sse" else False
    async with client.runs.stream("run_1", live=live, as_dict=True) as stream:  # type: ignore[call-overload]
        return [e["eventIndex"] async for e in stream]


@pytest.mark.parametrize("mode", ["catch-up", "sse"])
async def test_a_cut_page_read_again_delivers_each_event_once(mode: str) -> None:
    with RawServer(serve(mode, changed=False)) as server:
        async with AsyncFlueClient(server.url, retry=RETRY) as client:
            got = await read(client, mode)
    assert got == list(range(10))
    assert len(server.heads) == 2


@pytest.mark.parametrize("mode", ["catch-up", "sse"])
async def test_a_server_that_changes_events_on_the_re_read_is_a_protocol_error(mode: str) -> None:
    handed: list[int] = []
    with RawServer(serve(mode, changed=True)) as server:
        async with AsyncFlueClient(server.url, retry=RETRY) as client:
            with pytest.raises(ProtocolError, match=r"different data at offset '-1'.*item 1"):
                if mode == "sse":
                    async with client.runs.stream("run_1", live="sse", as_dict=True) as stream:
                        async for event in stream:
                            handed.append(event["eventIndex"])
                else:
                    await read(client, mode)
    if mode == "sse":
        assert handed == [0, 1, 2]  # what came whole before the cut, and nothing after
