"""Fail fast where nothing ever answered, against real sockets (docs/retries.md).

A closed port on 127.0.0.1 refuses at once: the attempts are counted with a request hook and
every retry must leave an INFO record on the ``flue`` logger. No wall time is asserted; the
retry policy's short delays keep the tests quick.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest

from flue import AsyncFlueClient, ConnectError, RetryPolicy, ServerError
from flue.testing import Fault, FlueTestServer
from tests.conftest import TOKEN

# short waits, and more attempts than first contact allows (10, as by default)
QUICK = RetryPolicy(initial_delay=0.01, max_delay=0.05, jitter=False)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Attempts:
    """A request hook counting the requests the client sends."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, info: Any) -> None:
        self.urls.append(info.url)


def client(url: str, attempts: Attempts, **kw: Any) -> AsyncFlueClient:
    kw.setdefault("retry", QUICK)
    return AsyncFlueClient(url, event_hooks={"request": [attempts]}, **kw)


def retry_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "flue" and r.levelno == logging.INFO and " failed" in r.getMessage()
    ]


async def test_a_call_refused_on_first_contact_gives_up_after_three_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    url = f"http://127.0.0.1:{closed_port()}"
    attempts = Attempts()
    async with client(url, attempts) as flue:
        with pytest.raises(ConnectError) as info:
            await flue.runs.get("run_1")
    assert len(attempts.urls) == 3
    assert str(info.value) == (
        f"could not connect to {url}/runs/run_1: connection refused (is the server running, "
        "and is the port in the URL right?) (gave up after 3 attempts)"
    )
    records = retry_records(caplog)
    assert len(records) == 2
    assert records[0].startswith(
        "flue: attempt 1 of 3 failed (nothing at this address has answered yet); retrying in "
    )
    assert records[1].startswith("flue: attempt 2 of 3 failed")
    assert all("connection refused" in r for r in records)


async def test_a_stream_refused_on_first_contact_gives_up_after_three_attempts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    attempts = Attempts()
    async with client(f"http://127.0.0.1:{closed_port()}", attempts) as flue:
        stream = flue.runs.stream("run_1")
        with pytest.raises(ConnectError, match=r"gave up after 3 attempts"):
            async for _ in stream:
                pass
    assert len(attempts.urls) == 3
    assert [r.split(";")[0] for r in retry_records(caplog)] == [
        "flue: attempt 1 of 3 failed (nothing at this address has answered yet)",
        "flue: attempt 2 of 3 failed (nothing at this address has answered yet)",
    ]


async def test_an_unknown_host_on_first_contact_is_retried_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    attempts = Attempts()
    async with client("http://no-such-host.invalid", attempts) as flue:
        with pytest.raises(ConnectError, match=r"could not be resolved .*gave up after 2 att"):
            await flue.runs.get("run_1")
    assert len(attempts.urls) == 2
    assert len(retry_records(caplog)) == 1


async def test_refused_after_the_server_answered_keeps_the_full_patience(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    attempts = Attempts()
    with FlueTestServer.running_in_thread(token=TOKEN) as server:
        run = server.create_run(workflow="w")
        flue = client(server.url, attempts, token=TOKEN)
        await flue.runs.get(str(run))  # the address answered once
    try:  # the server is gone: its port refuses now, as when a server restarts
        with pytest.raises(ConnectError, match=r"gave up after 10 attempts"):
            await flue.runs.get(str(run))
    finally:
        await flue.close()
    assert len(attempts.urls) == 1 + 10
    records = retry_records(caplog)
    assert len(records) == 9
    assert records[0].startswith("flue: attempt 1 of 10 failed; retrying in 0.01 s: could not")


async def test_retry_records_never_show_the_token(caplog: pytest.LogCaptureFixture) -> None:
    # a one-shot call redacts its error itself; a stream's reader hands decide() the error as
    # made from the body, and the 'flue' logger's filter redacts the record
    caplog.set_level(logging.INFO, logger="flue")
    with FlueTestServer.running_in_thread(token=TOKEN) as server:
        run = server.create_run(workflow="w")
        server.end_run(run, result={})
        echo = f'{{"error": {{"type": "busy", "message": "busy, token {TOKEN}"}}}}'
        server.faults.add(Fault.status(503, body=echo), times=2, run_id=str(run))
        async with AsyncFlueClient(server.url, token=TOKEN, retry=QUICK) as flue:
            await flue.runs.get(str(run))
            async with flue.runs.stream(str(run)) as stream:
                assert len([event async for event in stream]) >= 1
    records = retry_records(caplog)
    assert len(records) == 2 and all("HTTP 503" in r for r in records)
    assert all(TOKEN not in r and "busy, token" in r for r in records)


async def test_no_retry_is_logged_when_nothing_fails(
    server: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="flue")
    run = server.create_run(workflow="w")
    async with AsyncFlueClient(server.url, token=TOKEN, retry=QUICK) as flue:
        await flue.runs.get(str(run))
    assert retry_records(caplog) == []


async def test_a_server_error_is_not_first_contact(server: FlueTestServer) -> None:
    # the server answered (503): full patience, even on the very first request
    run = server.create_run(workflow="w")
    server.faults.add(Fault.status(503), run_id=str(run))
    attempts = Attempts()
    async with client(server.url, attempts, token=TOKEN) as flue:
        with pytest.raises(ServerError, match=r"gave up after 10 attempts"):
            await flue.runs.get(str(run))
    assert len(attempts.urls) == 10
