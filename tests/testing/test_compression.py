"""FlueTestServer(compress=...): JSON bodies compressed when the request accepts it, SSE only
when asked and then with a flush after every frame. Read with http.client, which never
decodes, so the bytes on the wire are what the tests see."""

from __future__ import annotations

import gzip
import http.client
import json
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from flue.testing import Fault, FlueTestServer

from .test_raw_http import sse_frames


@pytest.fixture
def gzip_server() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread(compress=True, compress_sse=True) as server:
        yield server


def request(
    server: FlueTestServer, path: str, accept: str | None, method: str = "GET", body: Any = None
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    conn = http.client.HTTPConnection(urlsplit(server.url).netloc, timeout=10)
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
    return conn.getresponse(), conn


def fetch(
    server: FlueTestServer, path: str, accept: str | None, method: str = "GET", body: Any = None
) -> tuple[http.client.HTTPResponse, bytes]:
    resp, conn = request(server, path, accept, method, body)
    try:
        return resp, resp.read()
    finally:
        conn.close()


def new_run(server: FlueTestServer, n: int = 30) -> str:
    run = server.create_run(workflow="w")
    server.append(run, [{"type": "log", "message": f"event {i} " + "x" * 50} for i in range(n)])
    return str(run)


@pytest.mark.parametrize("path", ["/runs/{run}?offset=-1", "/runs/{run}?meta", "/runs/nope"])
def test_json_is_gzipped_when_accepted(gzip_server: FlueTestServer, path: str) -> None:
    run = new_run(gzip_server)
    plain_resp, plain = fetch(gzip_server, path.format(run=run), None)
    assert plain_resp.getheader("Content-Encoding") is None
    resp, wire = fetch(gzip_server, path.format(run=run), "gzip, deflate")
    assert resp.status == plain_resp.status
    assert resp.getheader("Content-Encoding") == "gzip"
    assert "Accept-Encoding" in (resp.getheader("Vary") or "")
    assert int(resp.getheader("Content-Length") or -1) == len(wire)
    assert gzip.decompress(wire) == plain
    if resp.status == 200 and "offset" in path:
        assert len(wire) < len(plain) // 3  # really compressed


def test_invoke_answers_are_compressed_too(gzip_server: FlueTestServer) -> None:
    resp, wire = fetch(gzip_server, "/workflows/emit?wait=result", "gzip", "POST", {"count": 2})
    assert resp.status == 200 and resp.getheader("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(wire))["runId"].startswith("run_")


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, deflate;q=0", "br"])
def test_not_compressed_unless_accepted(gzip_server: FlueTestServer, accept: str | None) -> None:
    resp, wire = fetch(gzip_server, f"/runs/{new_run(gzip_server)}?offset=-1", accept)
    assert resp.getheader("Content-Encoding") is None
    assert len(json.loads(wire)) == 31  # run_start and 30 more


def test_deflate_and_the_wildcard() -> None:
    with FlueTestServer.running_in_thread(compress="deflate") as server:
        run = new_run(server)
        _, plain = fetch(server, f"/runs/{run}?offset=-1", None)
        for accept in ("deflate", "gzip, deflate", "*"):
            resp, wire = fetch(server, f"/runs/{run}?offset=-1", accept)
            assert resp.getheader("Content-Encoding") == "deflate"
            assert zlib.decompress(wire) == plain  # the zlib format, as HTTP defines "deflate"
        resp, _ = fetch(server, f"/runs/{run}?offset=-1", "gzip")
        assert resp.getheader("Content-Encoding") is None


def test_sse_is_not_compressed_unless_asked() -> None:
    with FlueTestServer.running_in_thread(compress=True) as server:
        run = new_run(server, 3)
        server.end_run(run)
        resp, wire = fetch(server, f"/runs/{run}?offset=-1&live=sse", "gzip")
        assert resp.getheader("Content-Encoding") is None
        assert [event for event, _ in sse_frames(wire)][-1] == "control"


def test_sse_is_flushed_after_every_frame(gzip_server: FlueTestServer) -> None:
    run = new_run(gzip_server, 3)
    resp, conn = request(gzip_server, f"/runs/{run}?offset=-1&live=sse", "gzip")
    try:
        assert resp.getheader("Content-Encoding") == "gzip"
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = b""

        def read_until(frames: int) -> list[tuple[str | None, str]]:
            nonlocal text
            while len([f for f in sse_frames(text) if f[0]]) < frames:
                chunk = resp.read1(65536)
                assert chunk, "the body ended early"
                text += decoder.decompress(chunk)
                # whatever arrived decodes to whole frames: nothing is held back in the
                # compressor waiting for more
                assert text.endswith(b"\n\n")
            return sse_frames(text)

        first = read_until(2)  # data + control for the 3 events, sent before any wait
        assert [e for e, _ in first[:2]] == ["data", "control"]
        assert len(json.loads(first[0][1])) == 4  # run_start and 3 more
        gzip_server.append(run, [{"type": "log", "message": "late"}])  # only now
        second = [f for f in read_until(4) if f[0]]
        assert json.loads(second[2][1])[0]["message"] == "late"
        gzip_server.end_run(run)
        rest = resp.read()
        text += decoder.decompress(rest) + decoder.flush()
        assert decoder.eof  # the gzip stream was finished properly at the end of the body
        assert json.loads(sse_frames(text)[-1][1])["streamClosed"] is True
    finally:
        conn.close()


def test_body_faults_apply_before_compression_and_cuts_after(
    gzip_server: FlueTestServer,
) -> None:
    run = new_run(gzip_server)
    gzip_server.faults.add(Fault.truncate(bytes=40), run_id=run, times=1)
    resp, wire = fetch(gzip_server, f"/runs/{run}?offset=-1", "gzip")
    assert resp.getheader("Content-Encoding") == "gzip"
    assert len(gzip.decompress(wire)) == 40  # the server's truncated body, compressed whole
    gzip_server.faults.add(Fault.drop_after(bytes=25), run_id=run, times=1)
    resp, conn = request(gzip_server, f"/runs/{run}?offset=-1", "gzip")
    try:
        with pytest.raises(http.client.IncompleteRead) as cut:
            resp.read()
        assert len(cut.value.partial) == 25  # the compressed bytes cut on the wire
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"compress": "br"}, "compress must be"), ({"compress_sse": True}, "compress_sse")],
)
def test_bad_compression_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FlueTestServer(**kwargs)
