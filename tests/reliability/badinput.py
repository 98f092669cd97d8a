"""Bad input: servers that answer wrongly, each of which must end in a typed `FlueError`.

Each `Case` is a raw-socket handler (see `rawserver.py`), the client call that meets it, the
error class it must raise and a pattern its message must match (a useful message names the
problem). The drivers are in ``_async/harness.py``; `scripts/reliability_report.py` times them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import attrs

from flue import (
    FlueError,
    FlueTimeoutError,
    ProtocolError,
    RetryPolicy,
    ServerError,
    Timeout,
)
from tests.reliability.rawserver import Exchange, http_response

Call = Literal["get", "invoke", "events", "long-poll", "sse"]

#: short timeouts and few retries: every case ends within seconds (the bound is asserted
#: generously by pytest-timeout; the report records the measured times)
TIMEOUT = Timeout(connect=2.0, read=0.5, long_poll=0.5, stall=0.5)
RETRY = RetryPolicy(initial_delay=0.01, max_delay=0.05, max_attempts=3, jitter=False)
#: the per-event cap the "line that never ends" cases run with
EVENT_CAP = 256 * 1024

OFFSET = "0000000000000000_0000000000000000"
JSON = {"content-type": "application/json"}
SSE = {"content-type": "text/event-stream", "cache-control": "no-cache"}


def _read_headers(offset: str = OFFSET, up_to_date: bool = True) -> dict[str, str]:
    headers = {**JSON, "Stream-Next-Offset": offset}
    if up_to_date:
        headers["Stream-Up-To-Date"] = "true"
    return headers


def _event(i: int) -> dict[str, Any]:
    return {"type": "log", "v": 3, "eventIndex": i, "timestamp": "2025-01-01T00:00:00.000Z"}


def live_only(bad: Callable[[Exchange], Any]) -> Callable[[Exchange], Any]:
    """Answer the catch-up read well (empty, up to date) and the live reads with `bad`."""

    def handler(ex: Exchange) -> None:
        if "live=" in ex.target:
            bad(ex)
        else:
            ex.send(http_response(200, _read_headers(), b"[]"))

    return handler


def answer(status: int, headers: dict[str, str], body: bytes = b"") -> Callable[[Exchange], Any]:
    def handler(ex: Exchange) -> None:
        ex.send(http_response(status, headers, body))

    return handler


def sse_body(*frames: str | bytes) -> Callable[[Exchange], Any]:
    """An SSE answer with these frames, then the end of the body."""

    def handler(ex: Exchange) -> None:
        body = b"".join(f if isinstance(f, bytes) else f.encode() for f in frames)
        ex.send(http_response(200, SSE, body))

    return handler


def data_frame(payload: Any) -> str:
    return f"event: data\ndata:{json.dumps(payload)}\n\n"


def control_frame(payload: Any) -> str:
    return f"event: control\ndata:{json.dumps(payload)}\n\n"


def never_answers(ex: Exchange) -> None:
    ex.hold()


def endless_sse_line(ex: Exchange) -> None:
    """Headers, then ``data:xxxx...`` forever, without a line end."""
    if not ex.send(http_response(200, SSE, length=False) + b"event: data\ndata:"):
        return
    chunk = b"x" * 16384
    while ex.send(chunk):
        pass


def endless_json_body(ex: Exchange) -> None:
    """A catch-up page whose JSON array never ends (no Content-Length: read to close)."""
    if not ex.send(http_response(200, _read_headers(up_to_date=False), length=False) + b"["):
        return
    chunk = json.dumps([_event(0)] * 100)[1:-1].encode() + b","
    while ex.send(chunk):
        pass


def sse_controls_forever(ex: Exchange) -> None:
    """Control frames that never move the offset (and never say up to date), forever."""
    if not ex.send(http_response(200, SSE, length=False)):
        return
    frame = control_frame({"streamNextOffset": "-1", "streamCursor": "1"}).encode()
    while ex.send(frame * 64):
        pass


def immediate_204_forever(ex: Exchange) -> None:
    """A long-poll answered at once with 204 and the same offset, every time (no waiting)."""
    ex.send(
        http_response(
            204, {"Stream-Next-Offset": OFFSET, "Stream-Up-To-Date": "true"}, length=False
        )
    )


HTML = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@attrs.frozen(kw_only=True)
class Case:
    """One misbehaving server and what the client must make of it."""

    name: str
    call: Call
    handler: Callable[[Exchange], Any]
    error: type[FlueError]
    match: str
    options: dict[str, Any] = attrs.field(factory=dict)

    @property
    def id(self) -> str:
        return f"{self.call}: {self.name}"


_BAD_JSON = b'[{"type": "log", "v": 3,, oops'
_NOT_ARRAY = b'{"events": []}'
_BAD_UTF8 = b'[{"type": "log", "message": "\xff\xfe"}]'

CASES: list[Case] = [
    # -- malformed JSON and bodies that are not an array of events
    Case(
        name="malformed JSON",
        call="events",
        handler=answer(200, _read_headers(), _BAD_JSON),
        error=ProtocolError,
        match="not valid JSON",
    ),
    Case(
        name="malformed JSON",
        call="long-poll",
        handler=live_only(answer(200, _read_headers(), _BAD_JSON)),
        error=ProtocolError,
        match="not valid JSON",
    ),
    Case(
        name="malformed JSON in a data frame",
        call="sse",
        handler=sse_body("event: data\ndata:[{oops\n\n"),
        error=ProtocolError,
        match="data frame is not valid JSON",
    ),
    Case(
        name="malformed JSON run record",
        call="get",
        handler=answer(200, JSON, b'{"runId": '),
        error=ProtocolError,
        match="expected a JSON body",
    ),
    Case(
        name="JSON that is not an array",
        call="events",
        handler=answer(200, _read_headers(), _NOT_ARRAY),
        error=ProtocolError,
        match="not an array",
    ),
    Case(
        name="JSON that is not an array",
        call="sse",
        handler=sse_body(data_frame({"a": 1})),
        error=ProtocolError,
        match="not a JSON array",
    ),
    Case(
        name="array of non-objects",
        call="events",
        handler=answer(200, _read_headers(), b"[1, 2]"),
        error=ProtocolError,
        match="event object",
    ),
    Case(
        name="run record that is not an object",
        call="get",
        handler=answer(200, JSON, b"[]"),
        error=ProtocolError,
        match="not a JSON object",
    ),
    # -- coordination headers and frames
    Case(
        name="200 without Stream-Next-Offset",
        call="events",
        handler=answer(200, JSON, b"[]"),
        error=ProtocolError,
        match="Stream-Next-Offset",
    ),
    Case(
        name="200 without Stream-Next-Offset",
        call="long-poll",
        handler=live_only(answer(200, JSON, b"[]")),
        error=ProtocolError,
        match="Stream-Next-Offset",
    ),
    Case(
        name="offset that never advances",
        call="events",
        handler=answer(200, _read_headers("-1", up_to_date=False), b"[]"),
        error=ProtocolError,
        match="unchanged",
    ),
    Case(
        name="offset that never advances (instant empty 200)",
        call="long-poll",
        handler=live_only(answer(200, _read_headers(OFFSET), b"[]")),
        error=ProtocolError,
        match="no progress",
    ),
    Case(
        name="offset that never advances (instant 204)",
        call="long-poll",
        handler=live_only(immediate_204_forever),
        error=ProtocolError,
        match="at once",
    ),
    Case(
        name="offset that never advances (endless control frames)",
        call="sse",
        handler=sse_controls_forever,
        error=ProtocolError,
        match="never advances",
    ),
    Case(
        name="body ends before any control frame",
        call="sse",
        handler=sse_body(data_frame([_event(0)])),
        error=ProtocolError,
        match="before any control frame",
    ),
    Case(
        name="malformed control frame",
        call="sse",
        handler=sse_body(data_frame([_event(0)]), "event: control\ndata:{oops\n\n"),
        error=ProtocolError,
        match="control frame is not valid JSON",
    ),
    Case(
        name="empty control frame",
        call="sse",
        handler=sse_body("event: control\ndata:\n\n"),
        error=ProtocolError,
        match="empty",
    ),
    Case(
        name="control frame without streamNextOffset",
        call="sse",
        handler=sse_body(control_frame({"upToDate": True})),
        error=ProtocolError,
        match="streamNextOffset",
    ),
    Case(
        name="control frame that is not an object",
        call="sse",
        handler=sse_body(control_frame(["x"])),
        error=ProtocolError,
        match="not a JSON object",
    ),
    # -- lines and bodies that never end: memory stays bounded by the cap
    Case(
        name="a line that never ends",
        call="sse",
        handler=endless_sse_line,
        error=ProtocolError,
        match="max_event_size",
        options={"max_event_size": EVENT_CAP},
    ),
    Case(
        name="a body that never ends",
        call="events",
        handler=endless_json_body,
        error=ProtocolError,
        match="max_body_size",
        options={"max_event_size": EVENT_CAP},
    ),
    # -- encodings, proxies, content types
    Case(
        name="invalid UTF-8",
        call="sse",
        handler=sse_body(b'event: data\ndata:[{"m": "\xff\xfe"}]\n\n'),
        error=ProtocolError,
        match="UTF-8",
    ),
    Case(
        name="invalid UTF-8",
        call="events",
        handler=answer(200, _read_headers(), _BAD_UTF8),
        error=ProtocolError,
        match="UTF-8",
    ),
    Case(
        name="HTML error page from a proxy (502)",
        call="events",
        handler=answer(502, {"content-type": "text/html"}, HTML),
        error=ServerError,
        match="502 Bad Gateway",
    ),
    Case(
        name="HTML error page from a proxy (502)",
        call="sse",
        handler=answer(502, {"content-type": "text/html"}, HTML),
        error=ServerError,
        match="502 Bad Gateway",
    ),
    Case(
        name="HTML page with 200 (captive portal)",
        call="events",
        handler=answer(200, {"content-type": "text/html"}, HTML),
        error=ProtocolError,
        match="Stream-Next-Offset",
    ),
    Case(
        name="HTML page with 200 (captive portal)",
        call="get",
        handler=answer(200, {"content-type": "text/html"}, HTML),
        error=ProtocolError,
        match="DOCTYPE",
    ),
    Case(
        name="empty 200",
        call="events",
        handler=answer(200, _read_headers(), b""),
        error=ProtocolError,
        match="empty body",
    ),
    Case(
        name="empty 200",
        call="long-poll",
        handler=live_only(answer(200, _read_headers(), b"")),
        error=ProtocolError,
        match="empty body",
    ),
    Case(
        name="empty 200",
        call="get",
        handler=answer(200, JSON, b""),
        error=ProtocolError,
        match="expected a JSON body",
    ),
    Case(
        name="empty 200",
        call="sse",
        handler=sse_body(),
        error=ProtocolError,
        match="before any control frame",
    ),
    Case(
        name="wrong content type",
        call="sse",
        handler=answer(200, _read_headers(), b"[]"),
        error=ProtocolError,
        match="content-type 'application/json'",
    ),
    # -- a server that accepts the connection and never answers
    Case(
        name="accepts, never answers",
        call="get",
        handler=never_answers,
        error=FlueTimeoutError,
        match="timed out",
    ),
    Case(
        name="accepts, never answers",
        call="events",
        handler=never_answers,
        error=FlueTimeoutError,
        match="timed out",
    ),
    Case(
        name="accepts, never answers",
        call="long-poll",
        handler=live_only(never_answers),
        error=FlueTimeoutError,
        match="timed out",
    ),
    Case(
        name="accepts, never answers",
        call="sse",
        handler=never_answers,
        error=FlueTimeoutError,
        match="timed out",
    ),
]
