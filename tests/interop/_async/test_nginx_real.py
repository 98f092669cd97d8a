"""Our client through nginx in front of the real Flue server: a typical deployment.

Runs only in the nginx topology (``FLUE_INTEROP_TOPOLOGY=nginx``, ``nox -s interop_nginx``),
where the whole client suite (test_client_real.py) also goes through nginx. The fronts are
``tools/flue_servers/nginx.py``: TLS terminated at nginx (a local ``trustme`` CA, given to the
client as ``verify=``), ``gzip on`` for ``application/json``, SSE unbuffered, and a
``proxy_read_timeout`` below Flue's 30 s long-poll window and 15 s SSE heartbeat, so nginx
answers an idle long-poll 504 and cuts an idle SSE connection (without the chunked body's last
chunk). ``nginx_front`` has the deployment's 10 s; ``recycling_front`` 2 s, so a test sees
several recycles in a few seconds.

nginx's JSON access log (``NginxFront.requests()``) is the witness of what happened on the
wire: encodings, statuses, how long each read was held.

Written once against the async client; tests/interop/_sync holds the generated twin.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import datetime
from typing import Any

import pytest

from flue import AsyncFlueClient, RetryPolicy, ServerError, TLSError
from flue.models import LogEvent, RunEndEvent, RunStartEvent
from tests.interop.conftest import RECYCLE_READ_TIMEOUT
from tools.flue_servers.nginx import NginxFront

pytestmark = [pytest.mark.nginx, pytest.mark.timeout(60)]

LIVE_MODES = ["long-poll", "sse"]
#: How long the run in the idle-tail test appends nothing: more than three recycle periods.
IDLE_S = 3 * RECYCLE_READ_TIMEOUT + 1.0


def new_client(front: NginxFront, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("token", front.token)
    kw.setdefault("retry", RetryPolicy(initial_delay=0.05, max_delay=0.5, max_attempts=3))
    for name, value in front.client_options.items():
        kw.setdefault(name, value)
    return AsyncFlueClient(front.url, **kw)


def requests_for(front: NginxFront, run_id: str) -> list[dict[str, Any]]:
    """nginx's access-log entries of the reads of one run (GET /runs/<id>...)."""
    return [r for r in front.requests() if r["request"].startswith(f"GET /runs/{run_id}")]


def epoch(timestamp: str | None) -> float:
    """An event's ISO-8601 ``timestamp`` (``2026-01-01T00:00:00.123Z``) in seconds."""
    assert timestamp is not None
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


@pytest.fixture
def recycler(recycling_front: NginxFront) -> NginxFront:
    if not recycling_front.running:
        pytest.fail("the recycling nginx or its Flue server died:\n" + recycling_front.log_tail())
    return recycling_front


# ---------------------------------------------------------------------------------------------
# TLS and compression


async def test_tls_terminated_at_nginx_needs_the_local_ca(nginx_front: NginxFront) -> None:
    assert nginx_front.url.startswith("https://127.0.0.1:")
    async with new_client(nginx_front) as client:
        started = await client.workflows.invoke("emit", {"count": 1}, wait=True)
        assert (await client.runs.get(started.run_id)).status == "completed"
    # without the CA the certificate cannot be verified: a typed error that says what to do
    async with new_client(nginx_front, verify=True) as untrusting:
        with pytest.raises(TLSError, match="verify"):
            await untrusting.runs.get(started.run_id)


async def test_json_reads_arrive_gzip_encoded_and_are_decoded(nginx_front: NginxFront) -> None:
    async with new_client(nginx_front) as client:
        started = await client.workflows.invoke("emit", {"count": 2000, "size": 20}, wait=True)
        run_id = started.run_id
        record = await client.runs.get(run_id)
        assert record.status == "completed" and record.result == {"emitted": 2000, "size": 20}
        events = await client.runs.events(run_id)
        pages = [b async for b in client.streams.read(f"/runs/{run_id}", decode="bytes")]
    assert [e.event_index for e in events] == list(range(2002))
    assert [e.attributes["i"] for e in events[1:-1]] == list(range(2000))
    # decode="bytes" hands over the JSON as the server sent it: decoded, not gzip
    decoded = [item for page in pages for item in json.loads(page.data)]
    assert [item["eventIndex"] for item in decoded] == list(range(2002))

    reads = requests_for(nginx_front, run_id)
    json_reads = [r for r in reads if r["content_type"] == "application/json"]
    assert len(json_reads) >= 21 + 1, reads  # the record, and 21 pages of 100 events
    # every JSON answer was compressed by nginx, because the client asked for gzip
    assert {(r["status"], r["content_encoding"]) for r in json_reads} == {(200, "gzip")}, reads
    assert all("gzip" in r["accept_encoding"] for r in json_reads), reads
    # events() caught up over SSE (the client's default), which nginx does not compress
    sse = [r for r in reads if r["content_type"] == "text/event-stream"]
    assert len(sse) == 1 and sse[0]["content_encoding"] == "", reads


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_live_events_pass_nginx_as_they_are_appended(
    nginx_front: NginxFront, live: str
) -> None:
    # nginx buffers proxied answers by default: an SSE read would get its events only when
    # the run ends (about 2.5 s here). The deployment passes SSE through unbuffered.
    async with new_client(nginx_front) as client:
        started = await client.workflows.invoke(
            "emit", {"count": 6, "delayMs": 500, "startDelayMs": 200}
        )
        lags: list[float] = []
        async with client.runs.stream(started.run_id, live=live) as stream:  # type: ignore[arg-type]
            async for event in stream:
                lags.append(time.time() - epoch(event.timestamp))
            assert stream.closed
    assert len(lags) == 8
    assert max(lags) < 1.0, f"events reached the client late: {[round(x, 2) for x in lags]}"


# ---------------------------------------------------------------------------------------------
# An idle tail through a proxy that recycles connections


@pytest.mark.parametrize("live", LIVE_MODES)
async def test_idle_tail_outlives_recycles_and_gets_the_next_event(
    recycler: NginxFront, live: str
) -> None:
    # Two consecutive failed attempts end the stream: recycling must not use them up. SSE: a
    # cut connection that had worked is reconnected at once, so backoff is a fixed 1 s here
    # (no jitter), which any reconnect that waited for it would show. Long-poll: nginx's 504
    # is a failed attempt that backs off (the default policy) before a catch-up read.
    if live == "sse":
        policy = RetryPolicy(initial_delay=1.0, jitter=False, max_attempts=2)
    else:
        policy = RetryPolicy(max_attempts=2)
    async with new_client(recycler, retry=policy) as client:
        started = await client.workflows.invoke("emit", {"count": 2, "delayMs": int(IDLE_S * 1000)})
        begun = time.monotonic()
        events: list[Any] = []
        received: list[float] = []
        async with client.runs.stream(started.run_id, live=live) as stream:  # type: ignore[arg-type]
            async for event in stream:
                events.append(event)
                received.append(time.time())
            assert stream.closed
        elapsed = time.monotonic() - begun

    assert [type(e) for e in events] == [RunStartEvent, LogEvent, LogEvent, RunEndEvent]
    assert [e.event_index for e in events] == [0, 1, 2, 3]
    assert [e.attributes["i"] for e in events[1:3]] == [0, 1]
    # the event after the idle period reached the reader promptly, not after a backoff
    # that grew with each recycle (nor after a 30 s long-poll window: nginx cuts at 2 s)
    lag = received[2] - epoch(events[2].timestamp)
    assert lag < RECYCLE_READ_TIMEOUT, f"event 2 arrived {lag:.2f}s after it was appended"
    assert elapsed < IDLE_S + 2 * RECYCLE_READ_TIMEOUT, f"took {elapsed:.1f}s"

    # nginx did recycle the idle reads, more than twice
    reads = requests_for(recycler, started.run_id)
    if live == "long-poll":
        recycled = [r for r in reads if r["status"] == 504 and "live=long-poll" in r["args"]]
    else:
        recycled = [
            r
            for r in reads
            if "live=sse" in r["args"] and r["request_time"] >= RECYCLE_READ_TIMEOUT - 0.1
        ]
    assert len(recycled) >= 2, reads
    if live == "sse":
        # each cut SSE connection was followed at once by the next one (connect, TLS, request)
        stream_reads = [r for r in reads if "live=sse" in r["args"]]
        gaps = [
            (after["msec"] - after["request_time"]) - before["msec"]
            for before, after in itertools.pairwise(stream_reads)
        ]
        assert gaps and max(gaps) < 0.5, f"reconnects waited {gaps}"
    timed_out = [
        line
        for line in recycler.error_log().splitlines()
        if "upstream timed out" in line and started.run_id in line and f"live={live}" in line
    ]
    assert len(timed_out) >= 2, recycler.error_log()[-3000:]


# ---------------------------------------------------------------------------------------------
# A waiting invoke that outlasts the proxy's read timeout


async def test_waiting_invoke_cut_by_the_proxy_is_not_repeated(recycler: NginxFront) -> None:
    def posts() -> int:
        return sum(r["request"].startswith("POST /workflows/emit") for r in recycler.requests())

    before = posts()
    delay_ms = int((RECYCLE_READ_TIMEOUT + 1.5) * 1000)
    async with new_client(recycler) as client:
        with pytest.raises(ServerError) as info:
            await client.workflows.invoke("emit", {"count": 1, "startDelayMs": delay_ms}, wait=True)
    assert info.value.status == 504
    assert "504" in str(info.value)
    # an invocation is not idempotent: the 504 is reported, never retried (which would start
    # a second run)
    assert posts() == before + 1
