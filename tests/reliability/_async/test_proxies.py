"""Through a real forward proxy (tinyproxy, see ``forwardproxy.py``), both flavours (the sync
twin is generated): plain HTTP and HTTPS through CONNECT, chosen by ``proxy=`` or by the
environment variables, bypassed by NO_PROXY and trust_env=False; a refused, forbidding or
authenticating proxy ends in a typed, correctly classified error that never shows the proxy's
credentials. Under CI=true these tests fail (never skip) when tinyproxy is missing."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import ssl
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import trustme

from flue import (
    AsyncFlueClient,
    AuthenticationError,
    FlueError,
    ProxyAuthenticationError,
    ProxyError,
    RetryPolicy,
    Timeout,
)
from flue.testing import FlueTestServer
from tests.reliability.forwardproxy import TinyProxy, free_port, require_tinyproxy
from tests.reliability.rawserver import Exchange, RawServer, http_response

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3, jitter=False)
TIMEOUT = Timeout(connect=5.0, read=10.0, long_poll=10.0, stall=10.0)
USER, PASSWORD, STRANGER = "alice", "s3cretPw42", "mallory"
# the password, and the Basic credentials of the right and of a wrong user
SECRETS = (
    PASSWORD,
    *(base64.b64encode(f"{user}:{PASSWORD}".encode()).decode() for user in (USER, STRANGER)),
)
PROXY_VARIABLES = [
    "http_proxy", "https_proxy", "all_proxy", "no_proxy",
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY",
    "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
]  # fmt: skip
RECORD = {
    "runId": "run_1",
    "workflowName": "w",
    "status": "active",
    "startedAt": "2025-01-01T00:00:00Z",
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No proxy variable from the machine running the tests leaks into them."""
    require_tinyproxy()
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[TinyProxy]:
    with TinyProxy() as running:
        yield running


@pytest.fixture
def server() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread(
        compress=True, compress_sse=True, long_poll_timeout=0.5, sse_keepalive=0.5
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA) -> Iterator[str]:
    with ca.cert_pem.tempfile() as path:
        yield path


def tls_handler(ex: Exchange) -> None:
    """A TLS Flue stand-in: the run record and one gzip-compressed catch-up page."""
    gz = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if "?meta" in ex.target:
        ex.send(http_response(200, gz, gzip.compress(json.dumps(RECORD).encode())))
        return
    page = [{"type": "log", "v": 3, "eventIndex": i, "timestamp": "2025-01-01T00:00:00.000Z"}]
    headers = {**gz, "Stream-Next-Offset": f"{0:016d}_{i:016d}", "Stream-Up-To-Date": "true"}
    ex.send(http_response(200, headers, gzip.compress(json.dumps(page).encode())))


i = 7  # the event index the TLS stand-in serves


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[RawServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with RawServer(tls_handler, tls=context) as srv:
        yield srv


def ended_run(server: FlueTestServer, n: int = 50) -> str:
    run = server.create_run(workflow="w")
    server.append(run, [{"type": "log", "level": "info", "message": f"m{k}"} for k in range(n)])
    server.end_run(run)
    return str(run)


def through(server: FlueTestServer) -> list[bool]:
    """For each request the server saw: did it come through tinyproxy?"""
    return ["tinyproxy" in (r.headers.get("Via") or "") for r in server.requests]


async def read_everything(client: AsyncFlueClient, run_id: str) -> None:
    assert (await client.runs.get(run_id)).status == "completed"
    assert len(await client.runs.events(run_id)) == 52
    for live in ("long-poll", "sse"):
        stream = client.runs.stream(run_id, live=live, as_dict=True)  # type: ignore[arg-type]
        assert len([e async for e in stream]) == 52
    assert (await client.workflows.invoke("emit", {"count": 2}, wait=True)).run_id


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- plain HTTP ---------------------------------------------------------------------------------


async def test_plain_http_through_the_proxy_argument(
    proxy: TinyProxy, server: FlueTestServer
) -> None:
    run_id = ended_run(server)
    async with AsyncFlueClient(server.url, proxy=proxy.url, retry=FAST, timeout=TIMEOUT) as client:
        await read_everything(client, run_id)
    assert len(server.requests) >= 5 and all(through(server))
    assert f"GET {server.url}/runs/{run_id}?meta" in proxy.log  # absolute-form, to the proxy
    # and the compressed answers passed through it (the fake compresses when asked)
    assert {r.headers.get("Accept-Encoding") for r in server.requests} == {"gzip, deflate"}


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
async def test_plain_http_through_the_environment(
    proxy: TinyProxy, server: FlueTestServer, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    run_id = ended_run(server)
    monkeypatch.setenv(variable, proxy.url)
    async with AsyncFlueClient(server.url, retry=FAST, timeout=TIMEOUT) as client:
        await read_everything(client, run_id)
    assert all(through(server))


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*", "127.0.0.0/8"])
async def test_no_proxy_and_trust_env_false_connect_directly(
    proxy: TinyProxy, server: FlueTestServer, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    run_id = ended_run(server, 3)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    async with AsyncFlueClient(server.url, trust_env=False, retry=FAST) as client:
        assert len(await client.runs.events(run_id)) == 5
    monkeypatch.setenv("no_proxy", no_proxy)
    async with AsyncFlueClient(server.url, retry=FAST) as client:
        assert len(await client.runs.events(run_id)) == 5
    assert through(server) == [False, False]
    monkeypatch.delenv("no_proxy")
    async with AsyncFlueClient(server.url, retry=FAST) as client:  # the control
        assert len(await client.runs.events(run_id)) == 5
    assert through(server) == [False, False, True]


# -- HTTPS through CONNECT ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["argument", "HTTPS_PROXY", "https_proxy"])
async def test_https_through_connect(
    tls_server: RawServer, ca_file: str, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    with TinyProxy(connect_ports=[port_of(tls_server.url)]) as proxy:
        options: dict[str, Any] = {"proxy": proxy.url} if how == "argument" else {}
        if how != "argument":
            monkeypatch.setenv(how, proxy.url)
        client = AsyncFlueClient(
            tls_server.url, verify=ca_file, retry=FAST, catchup="get", **options
        )
        async with client:
            assert (await client.runs.get("run_1")).run_id == "run_1"
            assert [e.event_index for e in await client.runs.events("run_1")] == [i]
        log = proxy.log
    assert f"CONNECT {tls_server.url.removeprefix('https://')}" in log
    # inside the tunnel the requests are ordinary origin-form requests, end to end TLS
    assert tls_server.heads and all(h.startswith(b"GET /runs/run_1") for h in tls_server.heads)


async def test_https_with_the_ca_bundle_from_the_environment(
    tls_server: RawServer, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TinyProxy(connect_ports=[port_of(tls_server.url)]) as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
        async with AsyncFlueClient(tls_server.url, retry=FAST) as client:
            assert (await client.runs.get("run_1")).run_id == "run_1"


async def test_a_port_the_proxy_forbids_is_not_retried(tls_server: RawServer, ca_file: str) -> None:
    with TinyProxy(connect_ports=[free_port()]) as proxy:
        async with AsyncFlueClient(
            tls_server.url, proxy=proxy.url, verify=ca_file, retry=FAST
        ) as client:
            with pytest.raises(ProxyError) as info:
                await client.runs.get("run_1")
        log = proxy.log
    error = info.value
    assert type(error) is ProxyError and not error.retryable and not error.sent
    assert "could not open a tunnel" in str(error) and "403" in str(error)
    assert log.count("Refused CONNECT") == 1 and tls_server.heads == []


# -- a proxy that is not there -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_a_refused_proxy_is_a_retried_proxy_error(scheme: str) -> None:
    nowhere = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"
    url = f"{scheme}://127.0.0.1:{free_port()}"
    async with AsyncFlueClient(url, proxy=nowhere, retry=FAST, timeout=TIMEOUT) as client:
        with pytest.raises(ProxyError) as read:
            await client.runs.get("run_1")
        # an invocation is retried too: the request certainly never left for the server
        with pytest.raises(ProxyError) as invoked:
            await client.workflows.invoke("emit", {})
        with pytest.raises(ProxyError):
            async for _ in client.runs.stream("run_1", live="sse"):
                pass
    for error in (read.value, invoked.value):
        assert type(error) is ProxyError and error.retryable and not error.sent
        text = str(error)
        assert "could not connect to the proxy 127.0.0.1:" in text
        assert "connection refused" in text and "the proxy= argument" in text
        assert "gave up after 3 attempts" in text
        assert not leaks(error)


async def test_a_refused_proxy_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", f"127.0.0.1:{free_port()}")  # no scheme: http
    async with AsyncFlueClient("https://127.0.0.1:9", retry=FAST) as client:
        with pytest.raises(ProxyError, match="the HTTPS_PROXY environment variable"):
            await client.runs.get("run_1")


# -- proxy authentication -----------------------------------------------------------------------


@pytest.fixture
def auth_proxy(tls_server: RawServer) -> Iterator[TinyProxy]:
    with TinyProxy(auth=(USER, PASSWORD), connect_ports=[port_of(tls_server.url)]) as running:
        yield running


async def test_credentials_in_the_proxy_url_are_used(
    auth_proxy: TinyProxy,
    server: FlueTestServer,
    tls_server: RawServer,
    ca_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_id = ended_run(server, 3)
    with_credentials = auth_proxy.url_with(USER, PASSWORD)
    async with AsyncFlueClient(server.url, proxy=with_credentials, retry=FAST) as client:
        assert len(await client.runs.events(run_id)) == 5
    assert all(through(server))
    assert all("Proxy-Authorization" not in r.headers for r in server.requests)  # proxy only
    monkeypatch.setenv("HTTPS_PROXY", with_credentials)
    async with AsyncFlueClient(tls_server.url, verify=ca_file, retry=FAST) as client:
        assert (await client.runs.get("run_1")).run_id == "run_1"
    assert all(b"proxy-authorization" not in h.lower() for h in tls_server.heads)


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_missing_credentials_are_a_proxy_authentication_error(
    auth_proxy: TinyProxy, server: FlueTestServer, tls_server: RawServer, ca_file: str, scheme: str
) -> None:
    url = server.url if scheme == "http" else tls_server.url
    async with AsyncFlueClient(url, proxy=auth_proxy.url, verify=ca_file, retry=FAST) as client:
        with pytest.raises(ProxyAuthenticationError) as info:
            await client.runs.get("run_1")
    error = info.value
    assert not error.retryable and "407 Proxy Authentication Required" in str(error)
    assert "http://user:password@host:port" in str(error)
    assert server.requests == [] and tls_server.heads == []
    assert auth_proxy.log.count("Request (file descriptor") == 1  # not retried


async def test_wrong_credentials_never_leak(
    auth_proxy: TinyProxy,
    server: FlueTestServer,
    tls_server: RawServer,
    ca_file: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, aiohttp, urllib3
    errors: list[FlueError] = []
    wrong = auth_proxy.url_with(STRANGER, PASSWORD)  # a user the proxy does not know
    async with AsyncFlueClient(tls_server.url, proxy=wrong, verify=ca_file, retry=FAST) as client:
        with pytest.raises(ProxyAuthenticationError) as tunnel:
            await client.runs.get("run_1")
        errors.append(tunnel.value)
        with pytest.raises(ProxyAuthenticationError):
            async for _ in client.runs.stream("run_1", live=False):
                pass
        assert PASSWORD not in repr(client)
    assert "refused the credentials given in the proxy= argument" in str(tunnel.value)
    # over plain HTTP tinyproxy answers a wrong password with 401 as if it were the server
    # (it is no 407): the client can only report the 401, still not retried
    async with AsyncFlueClient(server.url, proxy=wrong, retry=FAST) as client:
        with pytest.raises(AuthenticationError) as plain:
            await client.runs.get("run_1")
        errors.append(plain.value)
    refused = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"
    async with AsyncFlueClient(tls_server.url, proxy=refused, retry=FAST) as client:
        with pytest.raises(ProxyError) as unreachable:
            await client.runs.get("run_1")
        errors.append(unreachable.value)
    assert not any(leaks(error) for error in errors)
    assert not any(secret in caplog.text for secret in SECRETS)
    assert not any(secret in str(r.args) for r in caplog.records for secret in SECRETS)


def leaks(error: BaseException) -> bool:
    """Do the proxy's credentials show anywhere in the error, its chain or its traceback?"""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    queue: list[BaseException] = [error]
    while queue:
        current = queue.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        queue += [e for e in (current.__cause__, current.__context__) if e is not None]
    return any(secret in text for text in texts for secret in SECRETS)
