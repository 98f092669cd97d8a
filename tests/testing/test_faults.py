"""Fault injection of FlueTestServer, checked with raw HTTP (requests, aiohttp, sockets)."""

from __future__ import annotations

import json
import re
import socket
import time

import aiohttp
import pytest
import requests

from flue.testing import Fault, FlueTestServer, RunHandle

from .test_raw_http import off, sse_frames

TIMEOUT = (5, 15)


def ended_run(server: FlueTestServer, count: int = 3) -> RunHandle:
    run = server.create_run(workflow="demo")
    run.append([{"type": "log", "level": "info", "message": f"m{i}"} for i in range(count)])
    run.end({"n": count})
    return run


def raw_get(server: FlueTestServer, path: str) -> tuple[bytes, bytes]:
    """(head, body) of a GET read with a socket until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_status_with_retry_after_then_normal(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    rule = server.faults.add(Fault.status(503, retry_after=1.0), times=2)
    url = f"{server.url}/runs/{run}"
    for _ in range(2):
        resp = requests.get(url, timeout=TIMEOUT)
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "1"
        assert resp.json()["error"]["type"] == "runtime_unavailable"
    assert requests.get(url, timeout=TIMEOUT).status_code == 200
    assert rule.hits == 2 and rule.exhausted
    server.faults.add(Fault.status(429, retry_after=0.5, body='{"x":1}'), times=1)
    resp = requests.get(url, timeout=TIMEOUT)
    assert (resp.status_code, resp.headers["Retry-After"], resp.text) == (429, "0.5", '{"x":1}')
    assert [r.fault.kind if r.fault else None for r in server.requests] == [
        "status",
        "status",
        None,
        "status",
    ]


def test_probability_is_deterministic_for_a_seed() -> None:
    patterns = []
    for _ in range(2):
        with FlueTestServer.running_in_thread(seed=42) as server:
            server.faults.add(Fault.status(500), probability=0.5)
            patterns.append(
                [requests.get(f"{server.url}/x", timeout=TIMEOUT).status_code for _ in range(20)]
            )
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {404, 500}


def test_matchers_scope_faults(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run, other = ended_run(server), ended_run(server)
    server.faults.add(Fault.status(502), run_id=run.run_id, mode="meta", skip=1)
    base = server.url
    assert requests.get(f"{base}/runs/{run}?meta", timeout=TIMEOUT).status_code == 200  # skipped
    assert requests.get(f"{base}/runs/{run}?meta", timeout=TIMEOUT).status_code == 502
    assert requests.get(f"{base}/runs/{other}?meta", timeout=TIMEOUT).status_code == 200
    assert requests.get(f"{base}/runs/{run}", timeout=TIMEOUT).status_code == 200
    server.faults.clear()
    server.faults.add(Fault.status(418), method="head", path=re.compile(r"^/runs/"))
    assert requests.head(f"{base}/runs/{run}", timeout=TIMEOUT).status_code == 418
    assert requests.get(f"{base}/runs/{run}", timeout=TIMEOUT).status_code == 200
    server.faults.clear()
    server.faults.add(Fault.status(400), when=lambda r: "X-Bad" in r.headers)
    assert requests.get(f"{base}/runs/{run}", headers={"X-Bad": "1"}).status_code == 400


def test_drop_after_cuts_a_json_body_mid_way(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    full = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT).content
    server.faults.add(Fault.drop_after(bytes=25), times=1)
    head, body = raw_get(server, f"/runs/{run}")
    assert f"Content-Length: {len(full)}".encode() in head
    assert body == full[:25]
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        server.faults.add(Fault.drop_after(bytes=25), times=1)
        requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT)


def test_drop_after_cuts_an_sse_body_mid_frame(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    path = f"/runs/{run}?offset=-1&live=sse"
    full = requests.get(server.url + path, timeout=TIMEOUT).content
    server.faults.add(Fault.drop_after(bytes=30), mode="sse", times=1)
    received = b""
    with pytest.raises(requests.exceptions.RequestException):
        resp = requests.get(server.url + path, stream=True, timeout=TIMEOUT)
        for chunk in resp.iter_content(chunk_size=None):
            received += chunk
    assert received == full[:30]


def test_truncate_ends_bodies_early_but_cleanly(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    full = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT).content
    server.faults.add(Fault.truncate(bytes=10), mode="catch-up", times=1)
    resp = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT)
    assert resp.content == full[:10]
    assert resp.headers["Content-Length"] == "10"
    sse_path = f"{server.url}/runs/{run}?offset=-1&live=sse"
    full_sse = requests.get(sse_path, timeout=TIMEOUT).content
    server.faults.add(Fault.truncate(bytes=len(full_sse) - 5), mode="sse", times=1)
    assert requests.get(sse_path, timeout=TIMEOUT).content == full_sse[:-5]


def test_stall_sends_headers_then_silence(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    server.faults.add(Fault.stall(), times=1)
    resp = requests.get(f"{server.url}/runs/{run}", stream=True, timeout=(5, 0.3))
    assert resp.status_code == 200
    assert resp.headers["Stream-Closed"] == "true"
    with pytest.raises(requests.exceptions.ConnectionError):
        resp.content  # noqa: B018
    resp.close()
    server.faults.add(Fault.stall(0.2, after_bytes=5), mode="sse", times=1)
    began = time.monotonic()
    body = requests.get(f"{server.url}/runs/{run}?offset=-1&live=sse", timeout=TIMEOUT).content
    assert time.monotonic() - began >= 0.2
    assert body.endswith(b'"streamClosed":true}\n\n')


def test_corrupt_json(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    server.faults.add(Fault.corrupt_json(), mode="catch-up", times=1)
    resp = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT)
    assert resp.status_code == 200 and "Stream-Next-Offset" in resp.headers
    with pytest.raises(ValueError):
        json.loads(resp.content)
    server.faults.add(Fault.corrupt_json(body='{"not": "an array"}'), times=1)
    assert requests.get(f"{server.url}/runs/{run}").json() == {"not": "an array"}
    server.faults.add(Fault.corrupt_json(), mode="sse", times=1)
    raw = requests.get(f"{server.url}/runs/{run}?offset=-1&live=sse").content
    [(event, data), *_] = sse_frames(raw)
    assert event == "data"
    with pytest.raises(ValueError):
        json.loads(data)


def test_malformed_sse_and_missing_next_offset(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    path = f"{server.url}/runs/{run}?offset=-1&live=sse"
    server.faults.add(Fault.malformed_sse("control", nth=0, data="{oops"), times=1)
    frames = sse_frames(requests.get(path, timeout=TIMEOUT).content)
    assert frames[1] == ("control", "{oops")
    server.faults.add(Fault.missing_next_offset(), mode="sse", times=1)
    frames = sse_frames(requests.get(path, timeout=TIMEOUT).content)
    assert json.loads(frames[-1][1]) == {"streamClosed": True}
    server.faults.add(Fault.missing_next_offset(), mode="catch-up", times=1)
    resp = requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT)
    assert resp.status_code == 200 and "Stream-Next-Offset" not in resp.headers


def test_delay_disconnect_and_redirect(flue_server_thread: FlueTestServer) -> None:
    server = flue_server_thread
    run = ended_run(server)
    server.faults.add(Fault.delay(0.2), times=1)
    began = time.monotonic()
    assert requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT).status_code == 200
    assert time.monotonic() - began >= 0.2
    server.faults.add(Fault.disconnect(), times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{server.url}/runs/{run}", timeout=TIMEOUT)
    with FlueTestServer.running_in_thread(token="t") as other:
        server.faults.add(Fault.redirect(other.url, append_path=True), times=1)
        resp = requests.get(
            f"{server.url}/runs/{run}?meta",
            headers={"Authorization": "Bearer t"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        assert resp.status_code == 307
        assert resp.headers["Location"] == f"{other.url}/runs/{run}?meta"
        server.faults.add(Fault.redirect(other.url, append_path=True), times=1)
        requests.get(f"{server.url}/runs/{run}", headers={"Authorization": "Bearer t"})
        [followed] = other.requests
        assert followed.path == f"/runs/{run}"
        assert "Authorization" not in followed.headers  # requests drops it across hosts


async def test_faults_with_an_async_client(flue_server: FlueTestServer) -> None:
    run = ended_run(flue_server)
    flue_server.faults.add(Fault.status(503, retry_after=2), mode="long-poll", times=1)
    url = f"{flue_server.url}/runs/{run}?offset={off(0)}&live=long-poll"
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as resp:
            assert resp.status == 503 and resp.headers["Retry-After"] == "2"
        async with http.get(url) as resp:
            assert resp.status == 200
            assert len(await resp.json()) == 4
        flue_server.faults.add(Fault.drop_after(bytes=12), times=1)
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(url) as resp:
                await resp.read()


def test_add_validates_arguments(flue_server_thread: FlueTestServer) -> None:
    with pytest.raises(ValueError):
        flue_server_thread.faults.add(Fault.delay(1), probability=1.5)
    with pytest.raises(ValueError):
        flue_server_thread.faults.add(Fault.delay(1), times=-1)
