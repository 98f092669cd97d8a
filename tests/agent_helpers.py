"""Workflows for the `workflows.run` tests (kept out of tests/_async: a workflow of the fake
server is an ``async def`` in both flavours, and the codegen would make these plain functions)."""

from __future__ import annotations

from typing import Any

from flue.testing._workflows import RunContext, WorkflowError


async def emit(run: RunContext, input: Any) -> Any:
    """Log ``count`` events, then return ``{"emitted": count}``."""
    for i in range(input["count"]):
        run.log("emit", {"i": i})
    return {"emitted": input["count"]}


async def explode(run: RunContext, input: Any) -> Any:
    """Log once, then fail with ``Error: kaboom``."""
    run.log("about to fail")
    raise WorkflowError("kaboom")


async def forever(run: RunContext, input: Any) -> Any:
    """Stay active for a minute (the server stops it at shutdown)."""
    await run.sleep(60)


def bytes_before_first_control(base_url: str, path: str, token: str) -> int:
    """How many body bytes an SSE read of `path` sends before its first control frame (a cut
    there loses the first batch's control frame: the reader must reconnect and read it again)."""
    import http.client
    from urllib.parse import urlsplit

    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        body = b""
        while b"event: control" not in body:
            chunk = response.read1(65536)
            if not chunk:
                raise AssertionError(f"no control frame in {body!r}")
            body += chunk
        return body.index(b"event: control")
    finally:
        conn.close()
