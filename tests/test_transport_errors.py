"""Every transport failure, in both flavours, says what happened in plain words: no internal
class names (ours or the HTTP libraries'), no object reprs, the right error class and hint."""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from flue import (
    AsyncFlueClient,
    ConnectError,
    ConnectionLostError,
    FlueClient,
    FlueError,
    FlueTimeoutError,
    RetryPolicy,
    Timeout,
    TLSError,
)
from flue.testing import Fault, FlueTestServer
from tests.reliability.rawserver import Exchange, RawServer, http_response

NOISE = re.compile(r"\b_+[A-Z]\w*|object at 0x|Errno|\(_ssl\.c|ConnectionKey|Pool\(")
ONCE = RetryPolicy.disabled()
SHORT = Timeout(connect=5.0, read=0.5)
RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


def failure(flavour: str, url: str, read: Callable[[Any], Any]) -> FlueError:
    """The error `read(client)` raises with a client of `flavour` for `url`."""
    if flavour == "sync":
        with FlueClient(url, retry=ONCE, timeout=SHORT) as client, pytest.raises(FlueError) as info:
            read(client)
        return info.value

    async def go() -> FlueError:
        async with AsyncFlueClient(url, retry=ONCE, timeout=SHORT) as client:
            with pytest.raises(FlueError) as info:
                await read(client)
        return info.value

    return asyncio.run(go())


def get_run(client: Any) -> Any:
    return client.runs.get("run_1")


def events(client: Any) -> Any:
    return client.runs.events("run_1")


def assert_plain(error: BaseException) -> str:
    text = str(error)
    assert not NOISE.search(text), text
    assert "\n" not in text
    return text


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture
def untrusted_tls() -> Iterator[str]:
    ca = trustme.CA()  # a CA nobody trusts
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def answer(ex: Exchange) -> None:
        ex.send(http_response(200, {"content-type": "application/json"}, RECORD))

    with RawServer(answer, tls=context) as server:
        yield server.url


@pytest.fixture
def plain() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread() as server:
        yield server


FLAVOURS = ["sync", "async"]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_connection_refused(flavour: str, closed_port: int) -> None:
    error = failure(flavour, f"http://127.0.0.1:{closed_port}", get_run)
    assert type(error) is ConnectError
    text = assert_plain(error)
    assert text.startswith(f"could not connect to http://127.0.0.1:{closed_port}/runs/run_1: ")
    assert "connection refused (is the server running" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_unknown_host(flavour: str) -> None:
    error = failure(flavour, "http://no-such-host.invalid", get_run)
    assert type(error) is ConnectError
    text = assert_plain(error)
    assert "the host name 'no-such-host.invalid' could not be resolved (" in text
    assert "check the URL's host" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tls_to_a_plain_http_port(flavour: str, plain: FlueTestServer) -> None:
    error = failure(flavour, plain.url.replace("http://", "https://"), get_run)
    assert type(error) is TLSError and not error.retryable
    text = assert_plain(error)
    assert "TLS handshake with https://" in text
    assert "the server may not speak TLS on that port" in text and "http:// URL" in text
    assert "verify=" not in text and "CA" not in text  # no CA bundle can fix this


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_tls_certificate_not_trusted(flavour: str, untrusted_tls: str) -> None:
    error = failure(flavour, untrusted_tls, get_run)
    assert type(error) is TLSError and not error.retryable
    text = assert_plain(error)
    assert "TLS certificate verification failed for https://" in text
    assert "verify=<path to your CA bundle>" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_no_answer_times_out(flavour: str, silent_port: int) -> None:
    error = failure(flavour, f"http://127.0.0.1:{silent_port}", get_run)
    assert type(error) is FlueTimeoutError
    text = assert_plain(error)
    assert text.startswith(
        f"timed out waiting for the response from http://127.0.0.1:{silent_port}"
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_server_hangs_up_without_answering(flavour: str, plain: FlueTestServer) -> None:
    plain.faults.add(Fault.disconnect())
    error = failure(flavour, plain.url, get_run)
    assert type(error) is ConnectionLostError
    text = assert_plain(error)
    assert "closed the connection without answering" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("catchup", ["get", "sse"])
def test_body_cut_short(flavour: str, catchup: str, plain: FlueTestServer) -> None:
    run = plain.create_run(workflow="w", run_id="run_1")
    plain.append(run, [{"type": "log", "message": "x" * 100}] * 50)
    plain.end_run(run)
    plain.faults.add(Fault.drop_after(bytes=300))

    def read(client: Any) -> Any:
        client.catchup = catchup
        return client.runs.events("run_1")

    error = failure(flavour, plain.url, read)
    assert type(error) is ConnectionLostError
    text = assert_plain(error)
    assert "broke mid-response (the body was cut short)" in text
