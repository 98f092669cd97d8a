"""Catch-up of a finished run: every client reads all its events, side by side.

Each function takes ``(url, token, run_id)`` and returns the events it read (a list), so the
caller can check that every client read the same number. Clients: flue sync and async, typed
models and plain dicts, with ``catchup="get"`` (paged GETs) and ``catchup="sse"`` (one SSE
connection), decoding JSON with the standard library or msgspec (``[speed]``); a raw
``requests`` GET loop with ``json.loads``; a raw single SSE GET; the ``durable-streams`` PyPI
client. The official TypeScript SDK is run by ``ts_events.mjs`` in Node.

``bench()`` (section 1 of ``benchmarks/run.py``) times them all, interleaved, against the real
server it is given.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import pstats
import random
import subprocess
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

import requests

from benchmarks.common import REPO, Log, median, timed

Reader = Callable[[str, str, str], list[Any]]

CATCHUP_EVENTS = 20_000  # run_start + 19,998 logs + run_end
LOG_SIZE = 18  # attributes.data length giving ~200 bytes of JSON per event on this server

TS = "TypeScript @flue/sdk runs.events()"
SPEED = ", [speed] msgspec"  # the row decodes JSON with msgspec (flue-client[speed])
TARGETS = {
    # client: (max ratio to the TS SDK, max ratio to the raw SSE GET)
    f"flue {flavour} runs.events() {kind}{mode}": (ts_limit, raw_limit)
    for flavour in ("sync", "async")
    for kind, ts_limit, sse_raw_limit in (("models", 0.6, 1.2), ("dicts", 0.45, 1.5))
    for mode, raw_limit in (("", sse_raw_limit), (SPEED, sse_raw_limit), (", catchup=get", 1.5))
}
RAW_SSE = "raw SSE GET (requests + json.loads)"


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


# -- the section ------------------------------------------------------------------------------


def bench(quick: bool, log: Log, *, server: Any, profile: bool = True) -> dict[str, Any]:
    """Every client reads one finished run of CATCHUP_EVENTS events from ``server``, in
    interleaved rounds (3 when ``quick``, else 15); ``profile``: a cProfile pass too."""
    from flue import FlueClient

    repeats = 3 if quick else 15
    with FlueClient(server.url, token=server.token) as client:
        run = client.workflows.invoke(
            "emit", {"count": CATCHUP_EVENTS - 2, "size": LOG_SIZE}, wait=True
        )
    run_id = run.run_id
    url, token = server.url, server.token
    clients = {
        "flue sync runs.events() models": flue_sync(False),
        "flue sync runs.events() dicts": flue_sync(True),
        "flue async runs.events() models": flue_async(False),
        "flue async runs.events() dicts": flue_async(True),
        f"flue sync runs.events() models{SPEED}": flue_sync(False, decoder="msgspec"),
        f"flue async runs.events() models{SPEED}": flue_async(False, decoder="msgspec"),
        "flue sync runs.events() models, catchup=get": flue_sync(False, "get"),
        "flue sync runs.events() dicts, catchup=get": flue_sync(True, "get"),
        "flue async runs.events() models, catchup=get": flue_async(False, "get"),
        "flue async runs.events() dicts, catchup=get": flue_async(True, "get"),
        "raw GET loop (requests + json.loads)": raw_get_loop,
        RAW_SSE: raw_sse,
        "durable-streams 0.1.0 (PyPI) iter_json_batches": durable_streams_client,
    }
    notes: dict[str, str] = {}
    # warm-up + correctness: everyone must read every event
    reference = raw_get_loop(url, token, run_id)
    size = len(json.dumps(reference, separators=(",", ":")).encode()) / len(reference)
    for name, reader in list(clients.items()):
        try:
            got = reader(url, token, run_id)
        except Exception as exc:  # a third-party client that cannot read a Flue run
            notes[name] = f"failed: {type(exc).__name__}: {exc}"
            del clients[name]
            continue
        if len(got) != len(reference):
            notes[name] = f"read {len(got)} of {len(reference)} events"
            del clients[name]
    try:
        got = durable_streams_read_json(url, token, run_id)
        notes["durable-streams 0.1.0 read_json()"] = (
            f"read {len(got)} of {len(reference)} events (stops after the first page when "
            "live=False); not timed"
        )
    except Exception as exc:
        notes["durable-streams 0.1.0 read_json()"] = f"failed: {exc}"

    times: dict[str, list[float]] = {name: [] for name in clients}
    names = list(clients)
    rng = random.Random(7)
    for round_ in range(repeats):
        rng.shuffle(names)  # no client always runs right after the same neighbour
        for name in names:
            seconds = timed(partial(clients[name], url, token, run_id))[0]  # result freed
            times[name].append(seconds)
        log(f"catch-up round {round_ + 1}/{repeats}")
    ts = _ts_sdk(server, run_id, repeats)
    times[TS] = ts["seconds"]
    medians = {name: median(values) for name, values in times.items()}

    profile_text = ""
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        clients["flue sync runs.events() models"](url, token, run_id)
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(18)
        profile_text = out.getvalue()
    return {
        "run_events": len(reference),
        "bytes_per_event": round(size),
        "repeats": repeats,
        "times": times,
        "medians": medians,
        "notes": notes,
        "ts": {k: v for k, v in ts.items() if k != "seconds"},
        "profile": profile_text,
    }


def _ts_sdk(server: Any, run_id: str, repeats: int) -> dict[str, Any]:
    from tools.flue_servers.provision import provision

    prov = provision()
    node = prov.node
    out = subprocess.run(
        [
            str(node),
            str(REPO / "benchmarks" / "ts_events.mjs"),
            str(prov.app_dir),
            server.url,
            server.token,
            run_id,
            str(repeats),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if result["events"] != CATCHUP_EVENTS:
        raise RuntimeError(f"the TS SDK read {result['events']} events")
    return result
