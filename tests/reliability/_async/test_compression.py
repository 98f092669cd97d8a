"""Compressed responses, both flavours (the sync twin is generated): the Accept-Encoding sent,
gzip and deflate bodies decoded as they arrive, an SSE event delivered as soon as its flushed
bytes arrive, decompression bombs stopped at the caps with bounded memory, and unknown,
corrupt or cut-short encodings ending in typed errors."""

from __future__ import annotations

import functools
import gzip
import json
import threading
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest

from flue import (
    AsyncFlueClient,
    ConnectionLostError,
    ProtocolError,
    RetryPolicy,
    RunNotFoundError,
    Timeout,
)
from flue.testing import FlueTestServer
from tests.reliability.rawserver import Exchange, RawServer, http_response

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3, jitter=False)
TIMEOUT = Timeout(connect=5.0, read=10.0, long_poll=10.0, stall=10.0)
JSON = {"Content-Type": "application/json"}
SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
RECORD = {
    "runId": "run_1",
    "workflowName": "w",
    "status": "active",
    "startedAt": "2025-01-01T00:00:00Z",
}
GZIP_JSON = {**JSON, "Content-Encoding": "gzip"}
GZIP_SSE = {**SSE, "Content-Encoding": "gzip"}
MiB = 1024 * 1024


def off(i: int) -> str:
    return f"{0:016d}_{i:016d}"


def event(i: int) -> dict[str, Any]:
    return {"type": "log", "v": 3, "eventIndex": i, "timestamp": "2025-01-01T00:00:00.000Z"}


def frame(kind: str, payload: Any) -> bytes:
    return f"event: {kind}\ndata:{json.dumps(payload)}\n\n".encode()


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


@functools.cache
def bomb(prefix: bytes, size: int) -> bytes:
    """gzip of `prefix` and `size` bytes of spaces: a few hundred KB inflating to `size`."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b" " * MiB
    body = [packer.compress(prefix)] + [packer.compress(block) for _ in range(size // MiB)]
    return b"".join(body) + packer.flush()


def catch_up(body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """A complete catch-up answer carrying `body` as is."""
    return http_response(
        200,
        {**JSON, "Stream-Next-Offset": off(0), "Stream-Up-To-Date": "true", **(headers or {})},
        body,
    )


# -- against the fake server, compressing ----------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_every_call_reads_compressed_answers(coding: str) -> None:
    with FlueTestServer.running_in_thread(
        compress=coding,
        compress_sse=True,
        long_poll_timeout=0.5,
        sse_keepalive=0.5,  # type: ignore[arg-type]
    ) as server:
        run = server.create_run(workflow="w")
        server.append(run, [{"type": "log", "level": "info", "message": "m" * 200}] * 300)
        server.end_run(run, {"ok": True})
        run_id = str(run)
        async with AsyncFlueClient(server.url, retry=FAST, timeout=TIMEOUT) as client:
            assert (await client.runs.get(run_id)).status == "completed"
            assert len(await client.runs.events(run_id)) == 302
            for live in ("long-poll", "sse"):
                stream = client.runs.stream(run_id, live=live, as_dict=True)  # type: ignore[arg-type]
                assert [e["eventIndex"] async for e in stream] == list(range(302))
            invoked = await client.workflows.invoke("emit", {"count": 3}, wait=True)
            assert invoked.run_id.startswith("run_")
        async with AsyncFlueClient(server.url, retry=FAST, catchup="get") as client:
            assert len(await client.runs.events(run_id)) == 302
        sent = {r.headers.get("Accept-Encoding") for r in server.requests}
        assert sent == {"gzip, deflate"}


async def test_a_callers_accept_encoding_wins_without_duplicates() -> None:
    with RawServer(
        lambda ex: ex.send(http_response(200, JSON, json.dumps(RECORD).encode()))
    ) as srv:
        async with AsyncFlueClient(srv.url, headers={"accept-encoding": "identity"}) as client:
            await client.runs.get("run_1")
    [head] = srv.heads
    lines = [line.lower() for line in head.split(b"\r\n")]
    assert [line for line in lines if line.startswith(b"accept-encoding:")] == [
        b"accept-encoding: identity"
    ]


# -- SSE through a compressing proxy -----------------------------------------------------------


async def test_each_sse_event_is_delivered_as_soon_as_its_flushed_bytes_arrive() -> None:
    delivered = threading.Event()
    problems: list[str] = []

    def handler(ex: Exchange) -> None:
        if "live=sse" not in ex.target:  # the catch-up read: nothing yet
            ex.send(catch_up(b"[]"))
            return
        packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

        def flushed(data: bytes) -> bytes:
            return packer.compress(data) + packer.flush(zlib.Z_SYNC_FLUSH)

        first = frame("data", [event(0)]) + frame(
            "control", {"streamNextOffset": off(0), "streamCursor": "1", "upToDate": True}
        )
        ex.send(http_response(200, GZIP_SSE, length=False))
        ex.send(flushed(first))
        # not a byte more until the client has handed event 0 over: if it waited for more
        # compressed input (or for the end of the body) this would time out
        if not delivered.wait(20):
            problems.append("event 0 was not delivered from its own flushed bytes")
        last = frame("data", [event(1)]) + frame(
            "control", {"streamNextOffset": off(1), "streamClosed": True}
        )
        ex.send(flushed(last) + packer.flush())

    got: list[int] = []
    with RawServer(handler) as srv:
        client = AsyncFlueClient(srv.url, retry=FAST, timeout=TIMEOUT)
        async with client, client.runs.stream("run_1", live="sse", as_dict=True) as stream:
            async for item in stream:
                got.append(item["eventIndex"])
                delivered.set()
    assert got == [0, 1]
    assert problems == [] and srv.errors == []


# -- decompression bombs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "wire", "cap"),
    [
        # a catch-up body: capped at 8 x max_event_size = 8 MiB decoded
        ("events", lambda: catch_up(bomb(b"[", 256 * MiB), {"Content-Encoding": "gzip"}), 8 * MiB),
        # an SSE event: capped at max_event_size = 1 MiB decoded
        (
            "sse",
            lambda: http_response(200, GZIP_SSE, bomb(b"event: data\ndata:", 256 * MiB)),
            1 * MiB,
        ),
        # a run record: capped at 64 MiB decoded
        ("get", lambda: http_response(200, GZIP_JSON, bomb(b"{", 256 * MiB)), 64 * MiB),
    ],
    ids=["catch-up", "sse", "run-record"],
)  # fmt: skip
async def test_a_decompression_bomb_stops_at_the_cap_with_bounded_memory(
    call: str, wire: Callable[[], bytes], cap: int
) -> None:
    answer = wire()  # built before measuring
    assert len(answer) < 2 * MiB  # ~256 MiB once inflated

    def handler(ex: Exchange) -> None:
        if call == "sse" and "live=sse" not in ex.target:
            ex.send(catch_up(b"[]"))
        else:
            ex.send(answer)

    with RawServer(handler) as srv:
        async with AsyncFlueClient(
            srv.url, retry=FAST, timeout=TIMEOUT, max_event_size=MiB, catchup="get"
        ) as client:
            tracemalloc.start()
            try:
                with pytest.raises(ProtocolError) as info:
                    if call == "events":
                        await client.runs.events("run_1")
                    elif call == "get":
                        await client.runs.get("run_1")
                    else:
                        async for _ in client.runs.stream("run_1", live="sse"):
                            pass
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert "exceeded" in str(info.value) or "max_event_size" in str(info.value), info.value
    # the decoded bytes held never go much past the cap (256 MiB were on offer)
    assert peak < cap + 4 * MiB, f"peak {peak / MiB:.1f} MiB for a {cap / MiB:.0f} MiB cap"
    answered = [h for h in srv.heads if call != "sse" or b"live=sse" in h]
    assert len(answered) == 1  # malformed data is not retried


# -- encodings that cannot be used -------------------------------------------------------------


async def test_an_unknown_content_encoding_is_a_protocol_error() -> None:
    body = json.dumps(RECORD).encode()
    with RawServer(
        lambda ex: ex.send(http_response(200, {**JSON, "Content-Encoding": "br"}, body))
    ) as srv:
        async with AsyncFlueClient(srv.url, retry=FAST) as client:
            with pytest.raises(ProtocolError) as info:
                await client.runs.get("run_1")
            with pytest.raises(ProtocolError):
                async for _ in client.runs.stream("run_1", live=False):
                    pass
    assert "'br'" in str(info.value) and "gzip, deflate" in str(info.value)
    assert len(srv.heads) == 2  # one per call: not retried


async def test_corrupt_gzip_is_a_protocol_error() -> None:
    wire = bytearray(gzipped(json.dumps([event(i) for i in range(200)]).encode()))
    wire[len(wire) // 2] ^= 0xFF
    answer = catch_up(bytes(wire), {"Content-Encoding": "gzip"})
    with RawServer(lambda ex: ex.send(answer)) as srv:
        async with AsyncFlueClient(srv.url, retry=FAST, catchup="get") as client:
            with pytest.raises(ProtocolError, match="corrupt"):
                await client.runs.events("run_1")
    assert len(srv.heads) == 1


async def test_a_compressed_body_cut_short_is_retried() -> None:
    record = gzipped(json.dumps(RECORD).encode())
    page = gzipped(json.dumps([event(0), event(1)]).encode())
    calls: list[str] = []

    def handler(ex: Exchange) -> None:
        calls.append(ex.target)
        body = page if "offset=" in ex.target else record
        headers = {**JSON, "Content-Encoding": "gzip", "Stream-Next-Offset": off(1)}
        headers["Stream-Up-To-Date"] = "true"
        if len(calls) % 2:  # every first try: the body ends cleanly, halfway through
            ex.send(http_response(200, headers, length=False) + body[: len(body) // 2])
        else:
            ex.send(http_response(200, headers, body))

    with RawServer(handler) as srv:
        async with AsyncFlueClient(srv.url, retry=FAST, catchup="get") as client:
            assert (await client.runs.get("run_1")).run_id == "run_1"
            assert [e.event_index for e in await client.runs.events("run_1")] == [0, 1]
    assert len(calls) == 4


async def test_a_cut_compressed_body_gives_connection_lost_once_retries_are_spent() -> None:
    body = gzipped(json.dumps(RECORD).encode())
    answer = http_response(200, {**JSON, "Content-Encoding": "gzip"}, length=False) + body[:15]
    with RawServer(lambda ex: ex.send(answer)) as srv:
        async with AsyncFlueClient(srv.url, retry=FAST) as client:
            with pytest.raises(ConnectionLostError, match="cut short"):
                await client.runs.get("run_1")
    assert len(srv.heads) == 3


async def test_compressed_error_bodies_are_decoded_for_the_error() -> None:
    envelope = {"error": {"type": "run_not_found", "message": "Run run_1 not found", "details": ""}}
    answers = [
        http_response(503, GZIP_JSON, gzipped(b"<html>busy</html>")),
        http_response(404, GZIP_JSON, gzipped(json.dumps(envelope).encode())),
    ]  # fmt: skip
    with RawServer(lambda ex: ex.send(answers[min(len(srv.heads), 2) - 1])) as srv:
        async with AsyncFlueClient(srv.url, retry=FAST) as client:
            with pytest.raises(RunNotFoundError) as info:
                await client.runs.get("run_1")
    assert info.value.error_type == "run_not_found"
    assert "Run run_1 not found" in str(info.value)
    assert len(srv.heads) == 2  # the 503 was retried
