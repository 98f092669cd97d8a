"""Catch-up of a finished run: every client reads all its events, side by side.

Each function takes ``(url, token, run_id)`` and returns the events it read (a list), so the
caller can check that every client read the same number. Clients: flue sync and async, typed
models and plain dicts, with ``catchup="get"`` (paged GETs) and ``catchup="sse"`` (one SSE
connection), decoding JSON with the standard library or msgspec (``[speed]``); a raw
``requests`` GET loop with ``json.loads``; a raw single SSE GET; the ``durable-streams`` PyPI
client. The official TypeScript SDK is run by ``ts_events.mjs`` in Node.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import requests

Reader = Callable[[str, str, str], list[Any]]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- flue -------------------------------------------------------------------------------------


def flue_sync(as_dict: bool, catchup: str = "sse", decoder: str = "stdlib") -> Reader:
    """`decoder`: ``"stdlib"`` (json.loads, the default install) or ``"msgspec"`` (the
    ``flue-client[speed]`` extra)."""
    from flue import FlueClient
    from flue._protocol.jsondecode import use_decoder

    def read(url: str, token: str, run_id: str) -> list[Any]:
        use_decoder(decoder)  # type: ignore[arg-type]
        with FlueClient(url, token=token, catchup=catchup) as client:  # type: ignore[arg-type]
            return client.runs.events(run_id, as_dict=as_dict)  # type: ignore[call-overload]

    return read


def flue_async(as_dict: bool, catchup: str = "sse", decoder: str = "stdlib") -> Reader:
    from flue import AsyncFlueClient
    from flue._protocol.jsondecode import use_decoder

    async def go(url: str, token: str, run_id: str) -> list[Any]:
        async with AsyncFlueClient(url, token=token, catchup=catchup) as client:  # type: ignore[arg-type]
            return await client.runs.events(run_id, as_dict=as_dict)  # type: ignore[call-overload,no-any-return]

    def read(url: str, token: str, run_id: str) -> list[Any]:
        use_decoder(decoder)  # type: ignore[arg-type]
        return asyncio.run(go(url, token, run_id))

    return read


# -- raw baselines ----------------------------------------------------------------------------


def raw_get_loop(url: str, token: str, run_id: str) -> list[Any]:
    """The least a Python program can do: a GET loop with ``json.loads`` until up to date."""
    events: list[Any] = []
    offset = "-1"
    target = f"{url}/runs/{quote(run_id, safe='')}"
    with requests.Session() as session:
        session.headers.update(_auth(token))
        while True:
            response = session.get(target, params={"offset": offset})
            response.raise_for_status()
            events.extend(json.loads(response.content))
            offset = response.headers["Stream-Next-Offset"]
            if response.headers.get("Stream-Up-To-Date") == "true":
                return events


def raw_sse(url: str, token: str, run_id: str) -> list[Any]:
    """One ``live=sse`` GET; split lines, ``json.loads`` every ``data:`` array, stop at the
    control frame that says up to date or closed. Not a general SSE parser (Flue's exact
    framing only): a speed reference."""
    events: list[Any] = []
    target = f"{url}/runs/{quote(run_id, safe='')}"
    with requests.get(
        target, params={"offset": "-1", "live": "sse"}, headers=_auth(token), stream=True
    ) as response:
        response.raise_for_status()
        raw = response.raw
        buffer = b""
        while True:
            chunk = raw.read1(65536)
            if not chunk:
                return events
            lines = (buffer + chunk).split(b"\n")
            buffer = lines.pop()
            for line in lines:
                if line.startswith(b"data:["):
                    events.extend(json.loads(line[5:]))
                elif line.startswith(b"data:{") and (
                    b'"upToDate":true' in line or b'"streamClosed":true' in line
                ):
                    return events


def durable_streams_client(url: str, token: str, run_id: str) -> list[Any]:
    """The ``durable-streams`` PyPI client (0.1.0, httpx), catch-up with ``live=False``.

    ``read_json()`` stops after the first page when ``live=False`` (0.1.0), so the batches are
    iterated instead; that follows ``Stream-Next-Offset`` until ``Stream-Up-To-Date``.
    """
    import durable_streams

    events: list[Any] = []
    target = f"{url}/runs/{quote(run_id, safe='')}"
    with durable_streams.stream(target, offset="-1", live=False, headers=_auth(token)) as response:
        for batch in response.iter_json_batches():
            events.extend(batch)
    return events


def durable_streams_read_json(url: str, token: str, run_id: str) -> list[Any]:
    """``durable_streams.stream(live=False).read_json()``: the documented read-all call."""
    import durable_streams

    target = f"{url}/runs/{quote(run_id, safe='')}"
    with durable_streams.stream(target, offset="-1", live=False, headers=_auth(token)) as response:
        return list(response.read_json())
