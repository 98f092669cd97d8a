"""Security: tokens never leak, redirects to another origin drop credentials, redirect loops
are bounded, run ids cannot change the route, TLS is verified by default."""

from __future__ import annotations

import logging
import ssl
import subprocess
import traceback
from pathlib import Path
from typing import Any

import pytest
import trustme

from flue import (
    AsyncFlueClient,
    AuthenticationError,
    FlueError,
    InvalidArgumentError,
    RetryPolicy,
    RunNotFoundError,
    TLSError,
    TooManyRedirectsError,
)
from flue.testing import Fault, FlueTestServer
from tests.reliability.chaos import TOKEN
from tests.reliability.rawserver import Exchange, RawServer, http_response

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3, jitter=False)
MODES = ["events", "long-poll", "sse"]
RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


@pytest.fixture
def secured() -> Any:
    with FlueTestServer.running_in_thread(
        token=TOKEN, long_poll_timeout=0.5, sse_keepalive=0.5, sse_heartbeat=0.2
    ) as server:
        yield server


@pytest.fixture
def elsewhere() -> Any:
    with FlueTestServer.running_in_thread(long_poll_timeout=0.5) as server:
        yield server


def new_run(server: FlueTestServer, n: int = 5, *, end: bool = True) -> str:
    run = server.create_run(workflow="w")
    server.append(run, [{"type": "log", "level": "info", "message": str(i)} for i in range(n)])
    if end:
        server.end_run(run)
    return str(run)


async def read(client: AsyncFlueClient, run_id: str, mode: str) -> list[Any]:
    if mode == "events":
        return await client.runs.events(run_id)
    return [event async for event in client.runs.stream(run_id, live=mode)]  # type: ignore[arg-type]


def leaks(text: str) -> bool:
    return TOKEN in text or TOKEN[:12] in text


async def test_token_never_in_repr_errors_logs_or_tracebacks(
    secured: FlueTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, aiohttp, urllib3, asyncio
    run_id = new_run(secured, 250)
    secured.faults.add(Fault.status(503), run_id=run_id, times=2)
    secured.faults.add(Fault.drop_after(bytes=500), run_id=run_id, times=2)
    errors: list[BaseException] = []
    patient = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=8, jitter=False)
    async with AsyncFlueClient(secured.url, token=TOKEN, retry=patient) as client:
        stream = client.runs.stream(run_id, live="sse")
        assert [e.event_index async for e in stream][-1] == 251
        texts = [repr(client), str(client), repr(stream), repr(stream._batches)]
        for call in ("missing run", "protocol", "transport"):
            try:
                if call == "missing run":
                    await client.runs.get("nope")
                elif call == "protocol":
                    secured.faults.add(Fault.corrupt_json(), run_id=run_id, times=1)
                    await client.runs.events(run_id)
            except FlueError as exc:
                errors.append(exc)
    async with AsyncFlueClient(secured.url, token=TOKEN + "-wrong", retry=FAST) as client:
        with pytest.raises(AuthenticationError) as refused:
            await client.runs.get(run_id)
        errors.append(refused.value)
    async with AsyncFlueClient("http://127.0.0.1:9", token=TOKEN, retry=FAST) as client:
        with pytest.raises(FlueError) as unreachable:
            await client.runs.events(run_id)
        errors.append(unreachable.value)
    assert len(errors) == 4
    for exc in errors:
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        cause = exc.__cause__
        while cause is not None:
            texts += [str(cause), repr(cause)]
            cause = cause.__cause__
    assert "retry" in caplog.text  # the logs did record the failures
    assert not any(leaks(text) for text in texts)
    assert not leaks(caplog.text)
    assert not any(leaks(str(record.args)) for record in caplog.records)


def test_plain_http_with_a_token_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="flue")
    AsyncFlueClient("http://flue.example.com/api", token=TOKEN)
    [warning] = caplog.records
    assert warning.levelno == logging.WARNING and "http://" in warning.getMessage()
    assert not leaks(caplog.text)
    caplog.clear()
    AsyncFlueClient("https://flue.example.com/api", token=TOKEN)
    AsyncFlueClient("http://flue.example.com/api")  # no token, nothing to leak
    assert caplog.records == []


@pytest.mark.parametrize("mode", MODES)
async def test_redirect_to_another_origin_drops_authorization(
    secured: FlueTestServer, elsewhere: FlueTestServer, mode: str
) -> None:
    run_id = new_run(secured)
    secured.faults.add(Fault.redirect(elsewhere.url, append_path=True), run_id=run_id)
    async with AsyncFlueClient(secured.url, token=TOKEN, retry=FAST) as client:
        with pytest.raises(RunNotFoundError):
            await read(client, run_id, mode)
    assert elsewhere.requests, "the redirect was not followed"
    for request in elsewhere.requests:
        assert "Authorization" not in request.headers
        assert not any(leaks(value) for value in request.headers.values())


@pytest.mark.parametrize("mode", MODES)
async def test_a_redirect_loop_is_bounded(secured: FlueTestServer, mode: str) -> None:
    run_id = new_run(secured)
    secured.faults.add(Fault.redirect(secured.url, append_path=True), run_id=run_id)
    async with AsyncFlueClient(secured.url, token=TOKEN, retry=FAST) as client:
        with pytest.raises(TooManyRedirectsError, match="redirect"):
            await read(client, run_id, mode)
    assert 5 <= len(secured.requests) <= 40  # one bounded chain, not retried


@pytest.mark.parametrize(
    "run_id", ["../workflows/x", "a?b#c/d", "x/../../workflows/emit", "..%2F..", "%2e%2e", "?#/"]
)
async def test_a_run_id_cannot_change_the_route(secured: FlueTestServer, run_id: str) -> None:
    async with AsyncFlueClient(secured.url, token=TOKEN, retry=FAST) as client:
        with pytest.raises(RunNotFoundError):
            await client.runs.get(run_id)
        with pytest.raises(RunNotFoundError):
            await client.runs.events(run_id)
    assert len(secured.requests) == 2
    for request in secured.requests:
        assert request.run_id == run_id  # the whole id arrived as the one path segment
        assert request.raw_path.count("/") == 2 and request.raw_path.startswith("/runs/")
        assert request.mode in ("meta", "catch-up", "sse")


@pytest.mark.parametrize("run_id", [".", ".."])
async def test_dot_segments_are_refused_before_any_request(
    secured: FlueTestServer, run_id: str
) -> None:
    async with AsyncFlueClient(secured.url, token=TOKEN, retry=FAST) as client:
        with pytest.raises(InvalidArgumentError):
            await client.runs.get(run_id)
        with pytest.raises(InvalidArgumentError):
            client.runs.stream(run_id)
        with pytest.raises(InvalidArgumentError):
            await client.workflows.invoke(run_id)
    assert secured.requests == []


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Any:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)

    def answer(ex: Exchange) -> None:
        ex.send(http_response(200, {"content-type": "application/json"}, RECORD))

    with RawServer(answer, tls=context) as server:
        yield server


async def test_tls_is_verified_by_default(tls_server: RawServer, ca: trustme.CA) -> None:
    async with AsyncFlueClient(tls_server.url, token=TOKEN, retry=FAST) as client:
        with pytest.raises(TLSError, match="verify=") as info:
            await client.runs.get("run_1")
    assert not leaks(str(info.value))
    assert tls_server.heads == []  # nothing was sent to the unverified server


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
async def test_tls_with_the_callers_ca(
    tls_server: RawServer, ca: trustme.CA, tmp_path: Path
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    async with AsyncFlueClient(tls_server.url, token=TOKEN, verify=str(bundle)) as client:
        record = await client.runs.get("run_1")
    assert record.run_id == "run_1"
    async with AsyncFlueClient(tls_server.url, token=TOKEN, verify=False) as insecure:
        assert (await insecure.runs.get("run_1")).run_id == "run_1"
    assert len(tls_server.heads) == 2
    assert all(b"Authorization: Bearer " in head for head in tls_server.heads)


@pytest.mark.parametrize("folder", [False, True])
async def test_a_ca_bundle_that_does_not_exist_is_refused_at_once(
    tls_server: RawServer, tmp_path: Path, folder: bool
) -> None:
    missing = tmp_path / ("no-such-dir/" if folder else "missing-ca.pem")
    with pytest.raises(InvalidArgumentError, match="no CA bundle at that path") as info:
        AsyncFlueClient(tls_server.url, token=TOKEN, verify=str(missing))
    assert not leaks(str(info.value))
    assert tls_server.heads == []


async def test_a_ca_folder_is_accepted(
    tls_server: RawServer, ca: trustme.CA, tmp_path: Path
) -> None:
    # a c_rehash-style folder: <subject hash>.0 -> PEM (what OpenSSL's capath looks up)
    folder = tmp_path / "cas"
    folder.mkdir()
    pem = ca.cert_pem.bytes()
    subject_hash = (
        subprocess.run(
            ["openssl", "x509", "-hash", "-noout"], input=pem, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    (folder / f"{subject_hash}.0").write_bytes(pem)
    async with AsyncFlueClient(tls_server.url, token=TOKEN, verify=str(folder)) as client:
        assert (await client.runs.get("run_1")).run_id == "run_1"
