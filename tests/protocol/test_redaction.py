"""Redaction keeps messages readable (issue 25): a secret is replaced where a credential can
stand, never inside unrelated words, and still never shows in an error's str, repr, args or
log records (docs/security.md, "Redaction")."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

import flue.errors
from flue import AsyncFlueClient, FlueClient, RunNotFoundError
from flue._protocol.responses import api_error
from flue._protocol.secrets import REDACTED, Secrets, redact, scrub_text
from flue.errors import APIError, FlueError, FlueExecutionError
from flue.testing import FlueTestServer

LONG = "tok-0123456789abcdef"  # a real token's length: replaced wherever it occurs


def every_error(text: str, value: Any) -> list[FlueError]:
    """One error of every public class, each of its texts carrying `text` / `value`."""
    errors: list[FlueError] = []
    for name in flue.errors.__all__:
        cls = getattr(flue.errors, name)
        if issubclass(cls, APIError):
            errors.append(
                cls(
                    text,
                    status=400,
                    error_type=text,
                    details={"token": value, "list": [value, text]},
                    body=text,
                    meta={"uid": value},
                    ref=value,
                )
            )
        elif cls is FlueExecutionError:
            errors.append(
                cls(target="agent_submission", target_id=value, failure="failed", error=text)
            )
        else:
            errors.append(cls(text))
    return errors


def shown(error: BaseException) -> list[str]:
    texts = [str(error), repr(error), repr(error.args), "".join(traceback.format_exception(error))]
    if isinstance(error, APIError):
        texts += [error.message, error.body, repr(error.details), repr(error.meta)]
        texts += [str(error.ref), str(error.error_type)]
    if isinstance(error, FlueExecutionError):
        texts += [error.target_id, repr(error.error)]
    return texts


# -- the two examples of the issue: unrelated words stay readable ----------------------------


def test_a_short_token_inside_a_word_or_identifier_is_left_alone() -> None:
    url = "GET http://127.0.0.1:1/runs/run_x?offset=-1"
    assert scrub_text(url, {"run"}) == url  # was "/<redacted>s/<redacted>_x"


def test_a_short_token_that_is_an_ordinary_word_leaves_the_hint_readable() -> None:
    body = b'{"error":{"type":"run_not_found","message":"Run not found."}}'
    error = api_error(404, {}, body, url="http://h/runs/run_1", now=0.0, run_id="run_1")
    assert isinstance(error, RunNotFoundError)
    redact(error, {"wrong"})
    assert "a missing or wrong token" in str(error)  # was "a missing or <redacted> token"
    assert "run_1" in str(error)


# -- where a credential stands, a short token is replaced --------------------------------------

SHORT = "wrong"
CREDENTIAL_POSITIONS = [
    "wrong",  # a whole value
    "  wrong\n",
    "invalid token: wrong",
    "Authorization:wrong",
    "GET http://h/runs/r?access_token=wrong&x=1",
    "GET http://h/runs/r?sig=wrong",
    '{"token": "wrong", "n": 1}',
    "token='wrong'",
]


@pytest.mark.parametrize("text", CREDENTIAL_POSITIONS)
def test_a_short_token_is_replaced_where_a_credential_stands(text: str) -> None:
    scrubbed = scrub_text(text, {SHORT})
    assert REDACTED in scrubbed
    assert scrub_text(scrubbed, {SHORT}) == scrubbed  # nothing left in a credential position


def test_a_short_token_never_shows_as_a_credential_in_any_error() -> None:
    text = " | ".join(CREDENTIAL_POSITIONS) + " | a missing or wrong token, run_wrong"
    for error in every_error(text, SHORT):
        redact(error, {SHORT})
        for shown_text in shown(error):
            assert scrub_text(shown_text, {SHORT}) == shown_text, (type(error), shown_text)
        assert "a missing or wrong token, run_wrong" in str(error) or isinstance(
            error, FlueExecutionError
        )


# -- a token of a real length never shows at all -----------------------------------------------


def test_a_long_token_never_shows_in_any_error_even_inside_other_text() -> None:
    text = f"x{LONG}y /runs/{LONG}_1 Bearer {LONG} ?t={LONG}&u=1 {{'k': '{LONG}'}}"
    for error in every_error(text, LONG):
        try:
            raise error from ValueError(f"cause {LONG}")
        except FlueError as caught:
            redact(caught, {LONG})
        for shown_text in shown(error):
            assert LONG not in shown_text, (type(error), shown_text)
        assert error.__cause__ is None  # the leaking cause was cut


def test_log_records_are_scrubbed_by_the_same_rule(caplog: pytest.LogCaptureFixture) -> None:
    secrets = Secrets(LONG, "run")
    caplog.set_level(logging.DEBUG, logger="flue")
    logging.getLogger("flue").warning("GET %s failed", f"/runs/run_x?token={LONG}")
    logging.getLogger("flue").warning("retry: token=run")
    assert secrets() == {LONG, "run"}
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        f"GET /runs/run_x?token={REDACTED} failed",
        f"retry: token={REDACTED}",
    ]


# -- both flavours, end to end against flue.testing --------------------------------------------


@pytest.fixture
def secured() -> Any:
    # a wrong token is answered 404 like a missing run, as Flue does
    with FlueTestServer.running_in_thread(token="the-right-token", unauthorized_status=404) as s:
        yield s


def check(error: BaseException, token: str) -> None:
    assert isinstance(error, RunNotFoundError), repr(error)
    assert "a missing or wrong token" in str(error)
    for text in shown(error):
        assert scrub_text(text, {token}) == text


def test_blocking_client_short_token_errors_stay_readable(secured: FlueTestServer) -> None:
    for token in ("wrong", "run"):
        with (
            FlueClient(secured.url, token=token) as client,
            pytest.raises(RunNotFoundError) as caught,
        ):
            client.runs.get("run_x")
        check(caught.value, token)
        assert "run_x" in str(caught.value)


async def test_asyncio_client_short_token_errors_stay_readable(secured: FlueTestServer) -> None:
    for token in ("wrong", "run"):
        async with AsyncFlueClient(secured.url, token=token) as client:
            with pytest.raises(RunNotFoundError) as caught:
                await client.runs.get("run_x")
        check(caught.value, token)
        assert "run_x" in str(caught.value)


# -- no field left out, and no escape hides a secret --------------------------------------------


def test_every_public_attribute_and_note_of_an_error_is_scrubbed() -> None:
    class Later(APIError):  # a field added one day to some error: covered without a list
        def __init__(self, message: str, **kwargs: Any) -> None:
            super().__init__(message, status=400)
            self.extra = kwargs

    error = Later(f"m {LONG}", code=LONG, nested=[(LONG, 1)])
    error.__notes__ = [f"note {LONG}"]  # what add_note() does (Python 3.11+)
    error._mark = "refused"  # private marks are the package's own: kept as they are
    redact(error, {LONG})
    assert all(LONG not in text for text in [*shown(error), repr(error.extra), *error.__notes__])
    assert error.extra == {"code": REDACTED, "nested": [(REDACTED, 1)]}
    assert error._mark == "refused" and error.status == 400


@pytest.mark.parametrize(
    "written",
    [
        '{"message": "tok-0123456789abcdef"}',
        '{"message": "tok-0123456789abcde\\u0066"}',
        '{"message": "\\u0074ok-0123456789ABCDEF"}',  # another secret: left alone
    ],
)
def test_a_secret_written_with_json_escapes_is_found(written: str) -> None:
    scrubbed = scrub_text(written, {LONG})
    assert (scrubbed == '{"message": "<redacted>"}') is ("ABCDEF" not in written)


def test_escaped_slashes_follow_the_same_rule_as_the_secret() -> None:
    assert scrub_text('{"a": "x\\/y/z-0123"}', {"x/y/z-0123"}) == '{"a": "<redacted>"}'
    assert scrub_text('{"a": "t\\/k"}', {"t/k"}) == '{"a": "<redacted>"}'
    assert scrub_text("see t\\/k there", {"t/k"}) == "see t\\/k there"  # prose: left alone
