"""Hostile servers: each must end in its typed `FlueError` within a time bound (and, where it
matters, a memory bound), in both flavours, sending no more requests than it should.

Every class of issue 12 has cases here: deeply nested JSON at every decode site, servers that
make no progress in every read mode (cycling, regressing or never-advancing offsets, instant
long-polls, SSE without control frames), servers that trickle or never finish their answer
(the total deadline), malformed heads, unfollowable redirects and absurd ``Retry-After``
values. The drivers are ``_async/harness.py`` (`provoke`), the tests
``_async/test_hostile.py``; `scripts/reliability_report.py` measures them for RELIABILITY.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs

from flue import (
    AuthenticationError,
    FlueError,
    FlueTimeoutError,
    ProtocolError,
    RedirectError,
    ServerError,
    Timeout,
    TooManyRedirectsError,
)
from tests.reliability.badinput import (
    JSON,
    SSE,
    Case,
    answer,
    control_frame,
    data_frame,
    live_only,
    sse_body,
)
from tests.reliability.rawserver import Exchange, http_response

#: deep enough to exhaust any interpreter stack (the C JSON decoder recurses per level)
DEPTH = 200_000
DEEP = b"[" * DEPTH + b"]" * DEPTH
#: the per-event cap of the memory cases; the catch-up body cap is 8 times that
EVENT_CAP = 256 * 1024
#: a short total deadline, so that the trickling cases end within seconds
DEADLINE = Timeout(connect=2.0, read=0.5, long_poll=0.5, stall=0.5, total=1.0)


@attrs.frozen(kw_only=True)
class Hostile(Case):
    """A bad-input case with bounds: `seconds` of wall time, `memory_mib` of peak traced
    memory (None: not measured), `requests` sent at most (None: not counted)."""

    seconds: float = 8.0
    memory_mib: float | None = None
    requests: int | None = None


def _offset(ex: Exchange) -> str:
    return parse_qs(urlsplit(ex.target).query).get("offset", ["-1"])[0]


def _event(i: int) -> dict[str, Any]:
    return {"type": "log", "v": 3, "eventIndex": i, "timestamp": "2025-01-01T00:00:00.000Z"}


def _page(offset: str, items: list[Any], *, up_to_date: bool) -> bytes:
    headers = {**JSON, "Stream-Next-Offset": offset}
    if up_to_date:
        headers["Stream-Up-To-Date"] = "true"
    return http_response(200, headers, json.dumps(items).encode())


# -- no progress -------------------------------------------------------------------------------

_CYCLE = {"-1": "0_1", "0_1": "0_2", "0_2": "0_1"}


def cycling_pages(ex: Exchange) -> None:
    """Pages of one event each whose offsets go -1 -> 0_1 -> 0_2 -> 0_1 -> ... (a cycle)."""
    ex.send(_page(_CYCLE.get(_offset(ex), "0_1"), [_event(0)], up_to_date=False))


def regressing_long_poll(ex: Exchange) -> None:
    """Caught up at 0_5; the long-polls then answer an event at 0_3, then 0_5 again..."""
    here = _offset(ex)
    if "live=" not in ex.target:
        ex.send(_page("0_5", [], up_to_date=True))
    else:
        ex.send(_page("0_3" if here == "0_5" else "0_5", [_event(1)], up_to_date=True))


def _counter() -> Callable[[], int]:
    count = iter(range(1, 10**9))
    return lambda: next(count)


def fresh_empty_pages() -> Callable[[Exchange], Any]:
    """Empty pages, never up to date, each with a fresh offset: paging would never end."""
    tick = _counter()

    def handler(ex: Exchange) -> None:
        ex.send(_page(f"0_{tick():09d}", [], up_to_date=False))

    return handler


def fresh_empty_controls(ex: Exchange) -> None:
    """One SSE connection of control frames with a fresh offset each, no data, never up to
    date."""
    if not ex.send(http_response(200, SSE, length=False)):
        return
    for i in range(1, 100_000):
        frame = control_frame({"streamNextOffset": f"0_{i:09d}", "streamCursor": "1"})
        if not ex.send(frame.encode()):
            return


def instant_long_polls_fresh_offset() -> Callable[[Exchange], Any]:
    """Long-polls answered at once, empty and up to date, with a new offset every time."""
    tick = _counter()

    def handler(ex: Exchange) -> None:
        ex.send(_page(f"0_{tick():09d}", [], up_to_date=True))

    return handler


def sse_comments_only(ex: Exchange) -> None:
    """An SSE body that sends a comment every 50 ms and never a control frame."""
    if not ex.send(http_response(200, SSE, length=False)):
        return
    while ex.send(b": keep-alive\n\n"):
        time.sleep(0.05)


def sse_data_without_control(ex: Exchange) -> None:
    """Data frames, fast and forever, never followed by a control frame."""
    if not ex.send(http_response(200, SSE, length=False)):
        return
    frame = data_frame([_event(0)] * 50).encode()
    while ex.send(frame * 8):
        pass


# -- unbounded waits ---------------------------------------------------------------------------


def trickle(head: bytes, body: bytes = b"", *, every: float = 0.1) -> Callable[[Exchange], Any]:
    """Send `head` whole (may be empty), then `body` one byte every `every` seconds."""

    def handler(ex: Exchange) -> None:
        if head and not ex.send(head):
            return
        for byte in body:
            if not ex.send(bytes([byte])):
                return
            time.sleep(every)

    return handler


_STATUS_AND_HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" * 50
_RECORD = (
    b'{"runId":"run_1","workflowName":"w","status":"active","startedAt":"2025-01-01T00:00:00Z"}'
)


def endless_continue(ex: Exchange) -> None:
    """``100 Continue`` interim responses, forever."""
    while ex.send(b"HTTP/1.1 100 Continue\r\n\r\n"):
        time.sleep(0.05)


# -- malformed heads, redirects ----------------------------------------------------------------


def raw(data: bytes) -> Callable[[Exchange], Any]:
    def handler(ex: Exchange) -> None:
        ex.send(data)

    return handler


def redirect(location: str) -> Callable[[Exchange], Any]:
    return answer(302, {"Location": location})


def redirect_chain(ex: Exchange) -> None:
    """/x -> /r/1 -> /r/2 -> ... forever; `redirects_then_ok` stops after N."""
    step = int(ex.target.split("/r/")[1].split("?")[0]) if "/r/" in ex.target else 0
    ex.send(http_response(302, {"Location": f"/r/{step + 1}"}))


def redirects_then_ok(n: int) -> Callable[[Exchange], Any]:
    """`n` redirects in a row, then the run record."""

    def handler(ex: Exchange) -> None:
        step = int(ex.target.split("/r/")[1].split("?")[0]) if "/r/" in ex.target else 0
        if step < n:
            ex.send(http_response(302, {"Location": f"/r/{step + 1}"}))
        else:
            ex.send(http_response(200, JSON, _RECORD))

    return handler


def _nested_envelope() -> bytes:
    return b'{"error": {"type": "x", "message": "m", "details": ' + DEEP + b"}}"


HOSTILE: list[Hostile] = [
    # -- deeply nested JSON, at every decode site
    Hostile(
        name="deeply nested JSON page",
        call="events",
        handler=answer(200, {**JSON, "Stream-Next-Offset": "0_1"}, DEEP),
        error=ProtocolError,
        match="nested too deeply",
    ),
    Hostile(
        name="deeply nested JSON page",
        call="long-poll",
        handler=live_only(answer(200, {**JSON, "Stream-Next-Offset": "0_1"}, DEEP)),
        error=ProtocolError,
        match="nested too deeply",
    ),
    Hostile(
        name="deeply nested run record",
        call="get",
        handler=answer(200, JSON, DEEP),
        error=ProtocolError,
        match="expected a JSON body",
    ),
    Hostile(
        name="deeply nested invoke reply",
        call="invoke",
        handler=answer(200, JSON, DEEP),
        error=ProtocolError,
        match="expected a JSON body",
    ),
    Hostile(
        name="deeply nested SSE data frame",
        call="sse",
        handler=sse_body(b"event: data\ndata:" + DEEP + b"\n\n"),
        error=ProtocolError,
        match="nested too deeply",
        options={"max_event_size": 4 * DEPTH},
    ),
    Hostile(
        name="deeply nested SSE control frame",
        call="sse",
        handler=sse_body(b"event: control\ndata:" + DEEP + b"\n\n"),
        error=ProtocolError,
        match="control frame is not valid JSON",
        options={"max_event_size": 4 * DEPTH},
    ),
    Hostile(
        name="401 with a deeply nested error body",
        call="get",
        handler=answer(401, JSON, _nested_envelope()),
        error=AuthenticationError,
        match="HTTP 401",
        requests=1,
    ),
    Hostile(
        name="500 with a deeply nested error body",
        call="events",
        handler=answer(500, JSON, _nested_envelope()),
        error=ServerError,
        match="HTTP 500",
    ),
    # -- no progress, in every read mode
    Hostile(
        name="offsets that cycle",
        call="events",
        handler=cycling_pages,
        error=ProtocolError,
        match="went back",
        requests=3,
    ),
    Hostile(
        name="offsets that go backwards",
        call="long-poll",
        handler=regressing_long_poll,
        error=ProtocolError,
        match="went back",
        requests=3,
    ),
    Hostile(
        name="empty pages with a fresh offset, never up to date",
        call="events",
        handler=fresh_empty_pages(),
        error=ProtocolError,
        match="no progress",
        requests=100,
    ),
    Hostile(
        name="control frames with a fresh offset, no data, never up to date",
        call="sse",
        handler=fresh_empty_controls,
        error=ProtocolError,
        match="no progress",
    ),
    Hostile(
        name="instant long-polls with a fresh offset each time",
        call="long-poll",
        handler=live_only(instant_long_polls_fresh_offset()),
        error=ProtocolError,
        match="at once",
        requests=4,
    ),
    Hostile(
        name="comments but no control frame beyond the stall timeout",
        call="sse",
        handler=sse_comments_only,
        error=ProtocolError,
        match="no control frame",
        requests=3,
    ),
    Hostile(
        name="data frames that never get a control frame",
        call="sse",
        handler=sse_data_without_control,
        error=ProtocolError,
        match="without a control frame",
        # a stall timeout long enough that the cap, not the missing control frame, ends it
        options={"max_event_size": EVENT_CAP, "timeout": Timeout(read=10.0, stall=30.0)},
        memory_mib=48.0,
        requests=1,
    ),
    # -- unbounded waits: the total deadline
    Hostile(
        name="status line trickled a byte at a time",
        call="get",
        handler=trickle(b"", _STATUS_AND_HEADERS),
        error=FlueTimeoutError,
        match="total deadline",
        options={"timeout": DEADLINE},
        memory_mib=16.0,
        requests=3,
    ),
    Hostile(
        name="headers trickled a byte at a time",
        call="events",
        handler=trickle(b"HTTP/1.1 200 OK\r\n", _STATUS_AND_HEADERS[17:]),
        error=FlueTimeoutError,
        match="total deadline",
        options={"timeout": DEADLINE},
        requests=3,
    ),
    Hostile(
        name="body trickled a byte at a time",
        call="get",
        handler=trickle(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(_RECORD)}\r\n\r\n".encode(),
            _RECORD,
        ),
        error=FlueTimeoutError,
        match="total deadline",
        options={"timeout": DEADLINE},
        requests=3,
    ),
    Hostile(
        name="unframed body trickled a byte at a time",
        call="long-poll",
        handler=live_only(
            trickle(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Stream-Next-Offset: 0_9\r\nConnection: close\r\n\r\n",
                json.dumps([_event(0)] * 5).encode(),
            )
        ),
        error=FlueTimeoutError,
        match="total deadline",
        options={"timeout": DEADLINE},
    ),
    Hostile(
        name="100 Continue forever",
        call="get",
        handler=endless_continue,
        error=FlueTimeoutError,
        match="total deadline",
        options={"timeout": DEADLINE},
        requests=3,
    ),
    # -- malformed heads, redirects, Retry-After
    Hostile(
        name="malformed status line",
        call="get",
        handler=raw(b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\n{}"),
        error=ProtocolError,
        match="malformed HTTP response head",
        requests=1,
    ),
    Hostile(
        name="not HTTP at all",
        call="events",
        handler=raw(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"),
        error=ProtocolError,
        match="malformed HTTP response head",
        requests=1,
    ),
    Hostile(
        name="malformed header block",
        call="get",
        handler=raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nnot a header\r\nX: y\r\n\r\n{}"),
        error=ProtocolError,
        match="malformed HTTP response head",
        requests=1,
    ),
    Hostile(
        name="Retry-After: 1e308",
        call="get",
        handler=answer(503, {**JSON, "Retry-After": "1e308"}),
        error=ServerError,
        match="HTTP 503",
        seconds=3.0,
    ),
    Hostile(
        name="Retry-After in the year 9999",
        call="sse",
        handler=answer(503, {**JSON, "Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}),
        error=ServerError,
        match="HTTP 503",
        seconds=3.0,
    ),
    Hostile(
        name="redirect to file:",
        call="get",
        handler=redirect("file:///etc/passwd"),
        error=RedirectError,
        match="file: URL",
        requests=1,
    ),
    Hostile(
        name="redirect to ftp:",
        call="events",
        handler=redirect("ftp://127.0.0.1/x"),
        error=RedirectError,
        match="ftp: URL",
        requests=1,
    ),
    Hostile(
        name="redirect to data:",
        call="sse",
        handler=redirect("data:text/plain,hello"),
        error=RedirectError,
        match="data: URL",
        requests=1,
    ),
    Hostile(
        name="endless redirects",
        call="get",
        handler=redirect_chain,
        error=TooManyRedirectsError,
        match="more than 10",
        requests=11,
    ),
]

#: every error class a hostile case may end in (the test checks the exact class)
ERRORS: tuple[type[FlueError], ...] = tuple({case.error for case in HOSTILE})
