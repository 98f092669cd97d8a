"""Hostile servers (`tests/reliability/hostile.py`): each case ends in its typed error within
its time bound (and memory bound, and request count); credentials that cannot be sent are
refused before anything is sent; both flavours follow exactly 10 redirects; the token and the
header factory's credentials never reach an error, a traceback or a log record."""

from __future__ import annotations

import json
import logging
import traceback
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from flue import (
    APIError,
    AsyncFlueClient,
    AuthenticationError,
    BadRequestError,
    FlueError,
    InvalidArgumentError,
    ProtocolError,
    RetryPolicy,
    ServerError,
    Timeout,
    TooManyRedirectsError,
)
from tests.reliability._async.harness import provoke
from tests.reliability.badinput import JSON, SSE
from tests.reliability.chaos import TOKEN
from tests.reliability.hostile import HOSTILE, Hostile, redirect_chain, redirects_then_ok
from tests.reliability.rawserver import Exchange, RawServer, http_response

FAST = RetryPolicy(initial_delay=0.01, max_delay=0.02, max_attempts=3, jitter=False)
SHORT = Timeout(connect=2.0, read=2.0, long_poll=2.0, stall=2.0, total=5.0)
KEY = "factory-Key-0f9e8d7c-must-never-leak"
RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", HOSTILE, ids=[case.id for case in HOSTILE])
async def test_a_hostile_server_ends_in_a_typed_error_in_bounded_time(case: Hostile) -> None:
    with RawServer(case.handler) as server:
        if case.memory_mib is not None:
            tracemalloc.start()
        try:
            error, seconds = await provoke(case, server.url)
            peak = tracemalloc.get_traced_memory()[1] if case.memory_mib is not None else 0
        finally:
            if case.memory_mib is not None:
                tracemalloc.stop()
    assert server.errors == []
    assert type(error) is case.error, repr(error)
    assert case.match in str(error), str(error)
    assert seconds < case.seconds, f"{seconds:.2f} s"
    if case.memory_mib is not None:
        assert peak < case.memory_mib * 2**20, f"peak {peak / 2**20:.1f} MiB"
    if case.requests is not None:
        assert len(server.heads) <= case.requests, len(server.heads)
    assert TOKEN not in str(error) and TOKEN not in repr(error)


# -- credentials and headers that cannot be sent -------------------------------------------

UNSENDABLE = [
    "Sekr1t\r\nX-Injected: 1",
    "Sekr1t\nen",
    "Sekr1t\ren",
    "Sekr1t\x00en",
    "Sekr1t\u20acen",  # the euro sign is outside latin-1
]


def ok_record(ex: Exchange) -> None:
    ex.send(http_response(200, JSON, RECORD))


async def _use(client: AsyncFlueClient, how: str) -> None:
    if how == "get":
        await client.runs.get("run_1")
    else:
        async with client.runs.stream("run_1", live=False) as stream:
            async for _ in stream:
                pass


@pytest.mark.parametrize("how", ["get", "stream"])
@pytest.mark.parametrize("value", UNSENDABLE, ids=["crlf", "lf", "cr", "nul", "non-latin-1"])
async def test_an_unsendable_token_is_refused_before_sending(value: str, how: str) -> None:
    with RawServer(ok_record) as server:
        async with AsyncFlueClient(server.url, token=value, retry=FAST) as client:
            with pytest.raises(InvalidArgumentError) as caught:
                await _use(client, how)
    assert server.heads == []  # nothing was sent
    text = "".join(traceback.format_exception(caught.value))
    assert "Sekr1t" not in text


@pytest.mark.parametrize("how", ["get", "stream"])
@pytest.mark.parametrize("value", UNSENDABLE, ids=["crlf", "lf", "cr", "nul", "non-latin-1"])
async def test_an_unsendable_header_factory_value_is_refused_before_sending(
    value: str, how: str
) -> None:
    with RawServer(ok_record) as server:
        async with AsyncFlueClient(
            server.url, headers=lambda: {"X-Api-Key": value}, retry=FAST
        ) as client:
            with pytest.raises(InvalidArgumentError) as caught:
                await _use(client, how)
    assert server.heads == []
    assert "Sekr1t" not in "".join(traceback.format_exception(caught.value))
    assert "X-Api-Key" in str(caught.value)


# -- redirects: exactly 10 are followed ----------------------------------------------------


async def test_ten_redirects_are_followed() -> None:
    with RawServer(redirects_then_ok(10)) as server:
        async with AsyncFlueClient(server.url, retry=FAST) as client:
            record = await client.runs.get("run_1")
    assert record.run_id == "run_1"
    assert len(server.heads) == 11


async def test_the_eleventh_redirect_is_refused_once() -> None:
    with RawServer(redirect_chain) as server:
        async with AsyncFlueClient(server.url, retry=FAST) as client:
            with pytest.raises(TooManyRedirectsError):
                await client.runs.get("run_1")
    assert len(server.heads) == 11  # the first request and 10 redirects; not retried


# -- the token and the factory's credentials never leak ------------------------------------


def _echo(ex: Exchange) -> str:
    """What the server received as credentials, to plant in its answers."""
    return f"{ex.header('Authorization')} key={ex.header('X-Api-Key')}"


def _envelope(status: int) -> Callable[[Exchange], Any]:
    def handler(ex: Exchange) -> None:
        got = _echo(ex)
        body = {
            "error": {
                "type": "unauthorized",
                "message": f"rejected {got}",
                "details": {"received": got, "nested": [{"again": got}]},
            }
        }
        ex.send(http_response(status, JSON, json.dumps(body).encode()))

    return handler


def _text(status: int, headers: dict[str, str]) -> Callable[[Exchange], Any]:
    def handler(ex: Exchange) -> None:
        ex.send(http_response(status, headers, f"<html>you sent {_echo(ex)}</html>".encode()))

    return handler


def _sse(frame: str) -> Callable[[Exchange], Any]:
    def handler(ex: Exchange) -> None:
        ex.send(http_response(200, SSE, frame.replace("ECHO", _echo(ex)).encode()))

    return handler


def _page(ex: Exchange) -> None:
    body = f'[{{"oops": {_echo(ex)}'.encode()
    ex.send(http_response(200, {**JSON, "Stream-Next-Offset": "0_1"}, body))


def _cursor(ex: Exchange) -> None:
    """A cursor made of the token: echoed in the next request's URL, which is logged."""
    if "live=" not in ex.target:
        token = (ex.header("Authorization") or "").split()[-1]
        headers = {**JSON, "Stream-Next-Offset": "0_1", "Stream-Up-To-Date": "true"}
        ex.send(http_response(200, {**headers, "Stream-Cursor": token}, b"[]"))
    else:
        ex.send(http_response(400, JSON, b'{"error": {"type": "bad", "message": "no"}}'))


def _bad_status(ex: Exchange) -> None:
    ex.send(f"HTTP/1.1 2x0 {_echo(ex)}\r\nContent-Length: 0\r\n\r\n".encode())


LEAKS: list[tuple[str, str, Callable[[Exchange], Any], type[FlueError]]] = [
    ("401 envelope (message, details)", "get", _envelope(401), AuthenticationError),
    ("401 envelope on a stream", "sse", _envelope(401), AuthenticationError),
    ("500 envelope, retried", "get", _envelope(500), ServerError),
    ("502 HTML page, retried", "events", _text(502, {"content-type": "text/html"}), ServerError),
    ("502 HTML page on a stream, retried", "sse", _text(502, {}), ServerError),
    ("run record that is not JSON", "get", _text(200, JSON), ProtocolError),
    ("invoke reply that is not JSON", "invoke", _text(200, JSON), ProtocolError),
    ("catch-up page that is not JSON", "events", _page, ProtocolError),
    ("SSE data frame", "sse", _sse("event: data\ndata:[ECHO\n\n"), ProtocolError),
    ("SSE control frame", "sse", _sse("event: control\ndata:{ECHO\n\n"), ProtocolError),
    ("malformed status line", "get", _bad_status, ProtocolError),
    ("a cursor echoed in a logged URL", "long-poll", _cursor, BadRequestError),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("call", "handler", "error_class"),
    [leak[1:] for leak in LEAKS],
    ids=[leak[0] for leak in LEAKS],
)
async def test_credentials_echoed_by_the_server_never_leak(
    call: str,
    handler: Callable[[Exchange], Any],
    error_class: type[FlueError],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    with RawServer(handler) as server:
        async with AsyncFlueClient(
            server.url,
            token=TOKEN,
            headers=lambda: {"X-Api-Key": KEY},
            retry=FAST,
            timeout=SHORT,
            catchup="get",
        ) as client:
            with pytest.raises(FlueError) as caught:
                if call == "get":
                    await client.runs.get("run_1")
                elif call == "invoke":
                    await client.workflows.invoke("w", {"n": 1})
                elif call == "events":
                    await client.runs.events("run_1")
                else:
                    live: Any = call
                    async for _ in client.runs.stream("run_1", live=live):
                        pass
    assert server.heads, "the server was never reached"
    assert all(TOKEN.encode() in head for head in server.heads)  # it was sent...
    error = caught.value
    assert type(error) is error_class, repr(error)
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, APIError):
        texts += [error.message, error.body, repr(error.details)]
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert TOKEN not in text and KEY not in text, text
    if "malformed HTTP response head" not in str(error):  # the only case never shown at all
        # ...and echoed back (in an error, or in a logged URL), then redacted
        assert any("<redacted>" in text for text in texts)


def test_the_deadline_bounds_a_call_not_a_live_sse_stream() -> None:
    # a unit check of what the deadline applies to (the transports read it from here)
    from flue._protocol.http import RequestKind
    from flue._transports._common import deadline_for

    timeout = Timeout(total=7.0)
    assert deadline_for(timeout, RequestKind.META) == 7.0
    assert deadline_for(timeout, RequestKind.CATCH_UP) == 7.0
    assert deadline_for(timeout, RequestKind.LONG_POLL) == 7.0
    assert deadline_for(timeout, RequestKind.INVOKE) == 7.0
    assert deadline_for(timeout, RequestKind.INVOKE, wait=True) is None
    assert deadline_for(timeout, RequestKind.SSE) is None
    assert deadline_for(Timeout(total=None), RequestKind.META) is None


@pytest.mark.parametrize("content", [None, b"not a certificate"], ids=["missing", "not PEM"])
async def test_a_ca_bundle_that_cannot_be_read_is_refused_at_once(
    tmp_path: Any, content: bytes | None
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InvalidArgumentError, match="verify="):
        AsyncFlueClient("https://127.0.0.1:9", verify=str(path))
