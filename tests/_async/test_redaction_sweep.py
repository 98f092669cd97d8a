"""No credential shows in any error a server answer produces (issue 24, docs/security.md
"Redaction"): a flue.testing server answers every status with the credential it was sent echoed
in one field of Flue's error envelope at a time (``type``, ``message``, ``details``, ``meta``,
``ref``, ``code``, the ``flue-error-ref`` header), as JSON writes it plainly or with escapes
(``\\/``, ``\\u0074``: an encoder's choice, not the server's intent). Whatever the call (a run
record, a prompt that may become a `FlueExecutionError`, a stream read), the token given as
``token=`` or as a credential header must not show in the error's str, repr, args, traceback,
any attribute, nor in a log record, by the documented rule (`scrub_text` finds nothing)."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import pytest

from flue import AsyncFlueClient, FlueError, RetryPolicy
from flue._protocol.secrets import scrub_text
from flue.testing import Fault, FlueTestServer

LONG = "tok/0123456789+abc=="  # a base64 token: its "/" is what `\/`-escaping encoders change
SHORT = "t/k9"  # replaced only where a credential stands
CREDENTIALS = {
    "token": lambda t: {"token": t},
    "authorization": lambda t: {"headers": {"Authorization": f"Bearer {t}"}},
    "api-key": lambda t: {"headers": {"X-Api-Key": t}},
}
FIELDS = ("type", "message", "details", "meta", "ref", "code", "header")
STATUSES = (400, 401, 403, 404, 409, 422, 429, 500, 503)
# 429 and 5xx are retried once: the retry's log record is checked too
ONCE_MORE = RetryPolicy(initial_delay=0.001, max_delay=0.001, jitter=False, max_attempts=2)


@pytest.fixture(scope="module")
def echoing() -> Iterator[FlueTestServer]:
    with FlueTestServer.running_in_thread() as srv:
        yield srv


def escaped(text: str) -> str:
    """`text` as an encoder that escapes "/" (PHP, org.json) and one that writes \\u writes it."""
    return f"\\u{ord(text[0]):04x}" + text[1:].replace("/", "\\/")


def answer(status: int, field: str, echo: str, *, escape: bool, kind: str = "") -> Fault:
    """`status` with `echo` in `field` of the error envelope (the rest plain and harmless)."""
    error: dict[str, Any] = {"type": kind or "invalid_request", "message": "Refused."}
    headers = {}
    if field == "header":
        headers["flue-error-ref"] = echo
    elif field in ("details", "meta"):
        error[field] = {"got": echo, "list": [echo]}
    else:
        error[field] = echo
    body = json.dumps({"error": error})
    if escape:
        body = body.replace(json.dumps(echo)[1:-1], escaped(echo))
    return Fault.status(status, body=body, headers=headers)


def shown(error: BaseException) -> list[str]:
    """Every text of `error` a program or a log may show."""
    texts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    for value in vars(error).values():
        texts += [str(value), repr(value)]
    return texts


def leaks(error: BaseException, records: list[logging.LogRecord], secret: str) -> list[str]:
    texts = shown(error) + [record.getMessage() for record in records]
    return [text for text in texts if scrub_text(text, {secret}) != text]


async def failures(client: AsyncFlueClient, run_id: str) -> list[tuple[str, FlueError]]:
    """The error of each kind of call, against whatever fault the server is told to answer."""
    found: list[tuple[str, FlueError]] = []
    try:
        await client.runs.get(run_id)
    except FlueError as exc:
        found.append(("runs.get", exc))
    try:
        await client.agents.prompt("helper", "c1", "hi")
    except FlueError as exc:
        found.append(("agents.prompt", exc))
    try:
        async with client.runs.stream(run_id, live=False) as stream:
            async for _ in stream:
                pass
    except FlueError as exc:
        found.append(("runs.stream", exc))
    return found


@pytest.mark.parametrize("escape", [False, True], ids=["plain", "escaped"])
@pytest.mark.parametrize("secret", [LONG, SHORT], ids=["long", "short"])
@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_no_error_field_shows_the_credential(
    echoing: FlueTestServer,
    caplog: pytest.LogCaptureFixture,
    credential: str,
    secret: str,
    escape: bool,
) -> None:
    server = echoing
    caplog.set_level(logging.DEBUG)
    run_id = str(server.create_run(workflow="w"))
    kwargs: Any = CREDENTIALS[credential](secret)
    echoes = [secret, f"Bearer {secret}"]  # the credential, and the header value as sent
    problems: list[str] = []
    classes: set[str] = set()
    async with AsyncFlueClient(server.url, retry=ONCE_MORE, **kwargs) as client:
        # first (a 400 makes the client take the server for Flue 2.x, which prompts without
        # ?wait=result): a prompt's submission that failed or was aborted, a FlueExecutionError
        cases = [
            (s, f, e, kind)
            for s in (409, 500)
            for f in FIELDS
            if f != "type"
            for e in echoes
            for kind in ("operation_failed", "submission_aborted")
        ]
        cases += [(s, f, e, "") for s in STATUSES for f in FIELDS for e in echoes]
        for status, field, echo, kind in cases:
            server.faults.clear()
            server.faults.add(answer(status, field, echo, escape=escape, kind=kind))
            caplog.clear()
            for call, error in await failures(client, run_id):
                classes.add(type(error).__name__)
                for text in leaks(error, caplog.records, secret):
                    problems.append(f"{status} {field}={echo!r} {call} {error!r}: {text!r}")
    server.faults.clear()
    assert {"BadRequestError", "RateLimitError", "ServerError", "FlueExecutionError"} <= classes
    assert problems == [], "\n".join(problems[:5])
