"""Compare what two Flue releases send on the wire for the same requests.

Starts the interop app on each release in turn (``tools.flue_servers.releases.FLUE_VERSIONS``),
sends the same raw HTTP/1.1 requests over a plain socket (catch-up, paging, ``tail``, long-poll,
SSE on an ended and on a live run, ``?meta``, ``HEAD``, 304, the 400/401/404/405 errors, invalid
input), keeps the response bytes as received (status line, header order and case, chunk framing,
body) and prints a unified diff after replacing what legitimately differs between two runs: run
ids (and their base64 in ETags), timestamps, ``Date``, cursors, ``durationMs``, chunk and
content lengths. No output but the summary line means the two releases answered byte for byte
alike.

    python -m tests.interop.wire_compare            # beta5 against beta9
    python -m tests.interop.wire_compare beta5 beta9

The live-SSE exchange depends on timing (how events fall into frames), so a difference there
alone is worth a second run before it is believed.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import json
import re
import socket
import sys
import time
from typing import Any

from tools.flue_servers.releases import FLUE_VERSIONS
from tools.flue_servers.server import RealFlueServer

_O = "0000000000000000_"
#: ``body`` default: send no body (``None`` sends the JSON ``null``).
_NO_BODY = object()


def _raw(
    server: RealFlueServer,
    method: str,
    target: str,
    headers: list[str],
    body: Any = _NO_BODY,
    *,
    deadline_s: float = 30.0,
) -> str:
    """One request on its own connection (``Connection: close``); the bytes until EOF."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", "Connection: close"]
    payload = b""
    if body is not _NO_BODY:
        payload = json.dumps(body).encode()
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    received = b""
    deadline = time.monotonic() + deadline_s
    with socket.create_connection(("127.0.0.1", server.port), timeout=deadline_s) as sock:
        sock.sendall(("\r\n".join([*lines, *headers]) + "\r\n\r\n").encode() + payload)
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        else:
            raise RuntimeError(f"{method} {target}: no EOF within {deadline_s:.0f}s")
    return received.decode("utf-8", "replace")


def _normalise(text: str) -> str:
    for i, run_id in enumerate(dict.fromkeys(re.findall(r"run_[0-9A-Z]{26}", text))):
        text = text.replace(run_id, f"<run{i}>")
        text = text.replace(base64.b64encode(f"runs/{run_id}".encode()).decode(), f"<b64run{i}>")
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>", text)
    text = re.sub(r'"durationMs":\d+', '"durationMs":<n>', text)
    text = re.sub(r"(?im)^(date|content-length): .*$", r"\1: <x>", text)
    text = re.sub(r"(?im)^(stream-cursor): \d+", r"\1: <cursor>", text)
    text = re.sub(r'"streamCursor":"\d+"', '"streamCursor":"<cursor>"', text)
    return re.sub(r"(?m)^[0-9a-f]+\r$", "<chunk-size>\r", text)


def record(version: str) -> str:
    """The normalised exchanges with one release, as text."""
    with RealFlueServer(flue_version=version) as server:
        auth = [f"Authorization: Bearer {server.token}"]

        def call(
            method: str,
            target: str,
            headers: list[str] = auth,
            body: Any = _NO_BODY,
            *,
            deadline_s: float = 30.0,
        ) -> str:
            return _raw(server, method, target, headers, body, deadline_s=deadline_s)

        ended = call("POST", "/workflows/emit?wait=result", body={"count": 3, "size": 2})
        run = re.search(r'"runId":"(run_[0-9A-Z]+)"', ended)
        if run is None:
            raise RuntimeError(f"no run id in {ended!r}")
        done = f"/runs/{run.group(1)}"
        etag = re.search(r"(?im)^etag: (.*)\r$", call("GET", f"{done}?offset=-1"))
        if etag is None:
            raise RuntimeError("no ETag on a catch-up read")
        exchanges = {
            "invoke wait=result": ended,
            "invoke": call("POST", "/workflows/emit", body={"count": 1}),
            "fail wait=result": call("POST", "/workflows/fail?wait=result", body={"message": "x"}),
            "invalid input": call("POST", "/workflows/emit", body={"count": "x"}),
            "null input": call("POST", "/workflows/emit", body=None),
            "array input": call("POST", "/workflows/emit?wait=result", body=[1]),
            "wait=foo": call("POST", "/workflows/emit?wait=foo", body={}),
            "wait twice": call("POST", "/workflows/emit?wait=result&wait=result", body={}),
            "trailing slash": call("POST", "/workflows/emit/", body={}),
            "GET a workflow": call("GET", "/workflows/emit"),
            "POST without token": call("POST", "/workflows/emit", [], body={}),
            "unknown workflow": call("POST", "/workflows/nope", body={}),
            "no token": call("GET", done, []),
            "catch-up": call("GET", done),
            "from offset 2": call("GET", f"{done}?offset={_O}0000000000000002"),
            "past the tail": call("GET", f"{done}?offset={_O}0000000000000009"),
            "offset=now": call("GET", f"{done}?offset=now"),
            "tail=2": call("GET", f"{done}?offset=-1&tail=2"),
            "tail=0": call("GET", f"{done}?offset=-1&tail=0"),
            "bad offset": call("GET", f"{done}?offset=garbage"),
            "duplicate offset": call("GET", f"{done}?offset=-1&offset=-1"),
            "live without offset": call("GET", f"{done}?live=long-poll"),
            "bad live mode": call("GET", f"{done}?offset=-1&live=foo"),
            "long-poll": call("GET", f"{done}?offset=-1&live=long-poll"),
            "long-poll at the tail": call(
                "GET", f"{done}?offset={_O}0000000000000004&live=long-poll"
            ),
            "unknown parameter": call("GET", f"{done}?offset=-1&cursor=abc&foo=1"),
            "sse ended": call("GET", f"{done}?offset=-1&live=sse"),
            "meta": call("GET", f"{done}?meta"),
            "head": call("HEAD", done),
            "head ?meta": call("HEAD", f"{done}?meta&offset=garbage"),
            "304": call("GET", f"{done}?offset=-1", [*auth, f"If-None-Match: {etag.group(1)}"]),
            "delete": call("DELETE", done),
            "unknown run": call("GET", "/runs/run_does_not_exist"),
            "unknown path": call("GET", "/nope"),
        }
        live = call("POST", "/workflows/emit", body={"count": 3, "delayMs": 1000})
        live_run = re.search(r'"runId":"(run_[0-9A-Z]+)"', live)
        if live_run is None:
            raise RuntimeError(f"no run id in {live!r}")
        exchanges["sse live"] = call(
            "GET", f"/runs/{live_run.group(1)}?offset=-1&live=sse", deadline_s=60
        )
        failed = call("POST", "/workflows/fail", body={"message": "boom", "before": 2})
        failed_run = re.search(r'"runId":"(run_[0-9A-Z]+)"', failed)
        if failed_run is None:
            raise RuntimeError(f"no run id in {failed!r}")
        exchanges["sse errored run"] = call(
            "GET", f"/runs/{failed_run.group(1)}?offset=-1&live=sse", deadline_s=60
        )
        exchanges["errored run meta"] = call("GET", f"/runs/{failed_run.group(1)}?meta")
    return _normalise("".join(f"===== {name}\n{text}\n" for name, text in exchanges.items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.interop.wire_compare")
    parser.add_argument("first", nargs="?", default="beta5", choices=sorted(FLUE_VERSIONS))
    parser.add_argument("second", nargs="?", default="beta9", choices=sorted(FLUE_VERSIONS))
    args = parser.parse_args(argv)
    first, second = record(args.first), record(args.second)
    diff = list(
        difflib.unified_diff(
            first.splitlines(keepends=True),
            second.splitlines(keepends=True),
            FLUE_VERSIONS[args.first],
            FLUE_VERSIONS[args.second],
        )
    )
    sys.stdout.writelines(diff)
    exchanges = first.count("===== ")
    verdict = "differ" if diff else "are identical after normalisation"
    print(
        f"{exchanges} exchanges, {len(first)} bytes: Flue {FLUE_VERSIONS[args.first]} and "
        f"{FLUE_VERSIONS[args.second]} {verdict}"
    )
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
