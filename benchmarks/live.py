"""Live delivery latency: from the moment an event is appended to the moment a client hands
it to the caller, for long-poll and SSE, flue (sync and async, typed models) against raw
``requests`` loops.

Two sources of "appended at":

* ``fake``: flue.testing (``benchmarks/fake_server.py``, its own process) appends a ``tick``
  every 20 ms and stamps ``attributes.t = time.monotonic_ns()`` right before the append; the
  client subtracts it from its own ``time.monotonic_ns()`` (CLOCK_MONOTONIC is system-wide).
* ``real``: the real Flue server's ``emit {delayMs: 20}``; the event's ``timestamp`` (wall
  clock, millisecond precision, taken by Node when the event is built) against the client's
  ``time.time()``: about ±0.5 ms coarser.

``bench()`` is section 2 of ``benchmarks/run.py``: every client against both sources.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import requests

from benchmarks.common import Log, fake_server, percentile

WARMUP = 3  # first events dropped (connection set-up, catch-up of run_start)

Stamp = Callable[[dict[str, Any]], float | None]  # event dict -> latency in ms, None to skip


def fake_latency(event: dict[str, Any]) -> float | None:
    attributes = event.get("attributes")
    if event.get("type") != "log" or not isinstance(attributes, dict):
        return None
    if attributes.get("i", 0) < WARMUP:
        return None
    return (time.monotonic_ns() - attributes["t"]) / 1e6


def real_latency(event: dict[str, Any]) -> float | None:
    attributes = event.get("attributes")
    if event.get("type") != "log" or not isinstance(attributes, dict):
        return None
    if attributes.get("i", 0) < WARMUP:
        return None
    now = time.time()
    stamp = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()
    return (now - stamp) * 1000


def _raw(model: Any) -> dict[str, Any]:
    return model if isinstance(model, dict) else model.raw


def flue_sync(mode: str) -> Callable[[str, str | None, str, Stamp], list[float]]:
    from flue import FlueClient

    def run(url: str, token: str | None, run_id: str, stamp: Stamp) -> list[float]:
        out: list[float] = []
        with FlueClient(url, token=token) as client:
            for event in client.runs.stream(run_id, live=mode):  # type: ignore[call-overload]
                latency = stamp(_as_dict(event))
                if latency is not None:
                    out.append(latency)
        return out

    return run


def flue_async(mode: str) -> Callable[[str, str | None, str, Stamp], list[float]]:
    from flue import AsyncFlueClient

    async def go(url: str, token: str | None, run_id: str, stamp: Stamp) -> list[float]:
        out: list[float] = []
        async with AsyncFlueClient(url, token=token) as client:
            async for event in client.runs.stream(run_id, live=mode):  # type: ignore[call-overload]
                latency = stamp(_as_dict(event))
                if latency is not None:
                    out.append(latency)
        return out

    def run(url: str, token: str | None, run_id: str, stamp: Stamp) -> list[float]:
        return asyncio.run(go(url, token, run_id, stamp))

    return run


def _as_dict(event: Any) -> dict[str, Any]:
    """The fields the stamp needs, from a typed model (what a user gets) or a dict."""
    if isinstance(event, dict):
        return event
    return {
        "type": event.type,
        "attributes": getattr(event, "attributes", None),
        "timestamp": event.timestamp,
    }


def raw_long_poll(url: str, token: str | None, run_id: str, stamp: Stamp) -> list[float]:
    """A ``requests`` loop: catch-up GETs, then ``live=long-poll`` with the cursor echoed."""
    out: list[float] = []
    target = f"{url}/runs/{quote(run_id, safe='')}"
    offset, cursor, live = "-1", None, False
    with requests.Session() as session:
        if token:
            session.headers["Authorization"] = f"Bearer {token}"
        while True:
            params = {"offset": offset}
            if live:
                params["live"] = "long-poll"
                if cursor:
                    params["cursor"] = cursor
            response = session.get(target, params=params)
            headers = response.headers
            if response.status_code == 200:
                for event in json.loads(response.content):
                    latency = stamp(event)
                    if latency is not None:
                        out.append(latency)
            offset = headers["Stream-Next-Offset"]
            cursor = headers.get("Stream-Cursor", cursor)
            if headers.get("Stream-Closed") == "true":
                return out
            if headers.get("Stream-Up-To-Date") == "true":
                live = True


def raw_sse(url: str, token: str | None, run_id: str, stamp: Stamp) -> list[float]:
    """One ``live=sse`` GET read with ``read1``; lines split by hand, ``json.loads`` per data
    line; ends at ``streamClosed``."""
    out: list[float] = []
    target = f"{url}/runs/{quote(run_id, safe='')}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with requests.get(
        target, params={"offset": "-1", "live": "sse"}, headers=headers, stream=True
    ) as response:
        raw = response.raw
        buffer = b""
        while True:
            chunk = raw.read1(65536)
            if not chunk:
                return out
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.startswith(b"data:["):
                    for event in json.loads(line[5:]):
                        latency = stamp(event)
                        if latency is not None:
                            out.append(latency)
                elif line.startswith(b"data:{") and b'"streamClosed":true' in line:
                    return out


CLIENTS: dict[str, tuple[str, Callable[[str, str | None, str, Stamp], list[float]]]] = {
    "flue sync long-poll": ("long-poll", flue_sync("long-poll")),
    "flue async long-poll": ("long-poll", flue_async("long-poll")),
    "raw long-poll (requests)": ("long-poll", raw_long_poll),
    "flue sync SSE": ("sse", flue_sync("sse")),
    "flue async SSE": ("sse", flue_async("sse")),
    "raw SSE (requests)": ("sse", raw_sse),
}


# -- the section ------------------------------------------------------------------------------


def bench(quick: bool, log: Log, *, server: Any) -> dict[str, Any]:
    """Latency of every client of CLIENTS: ``count`` events (100 when ``quick``, else 400), one
    every 20 ms, from the real ``server`` and from flue.testing."""
    from flue import FlueClient

    count = 100 if quick else 400
    out: dict[str, Any] = {"count": count, "interval_ms": 20, "real": {}, "fake": {}}
    with FlueClient(server.url, token=server.token) as client:
        for name, (_mode, fn) in CLIENTS.items():
            run = client.workflows.invoke(
                "emit", {"count": count, "delayMs": 20, "startDelayMs": 300}
            )
            out["real"][name] = _latency_summary(
                fn(server.url, server.token, run.run_id, real_latency)
            )
            log(f"live (real server) {name}: {out['real'][name]}")
    with fake_server() as url, FlueClient(url) as client:
        for name, (_mode, fn) in CLIENTS.items():
            run = client.workflows.invoke(
                "tick", {"count": count, "intervalMs": 20, "startDelayMs": 300}
            )
            out["fake"][name] = _latency_summary(fn(url, None, run.run_id, fake_latency))
            log(f"live (flue.testing) {name}: {out['fake'][name]}")
    return out


def _latency_summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 3),
        "p99_ms": round(percentile(values, 99), 3),
        "max_ms": round(max(values), 3),
    }
