"""Bad input: each misbehaving server ends in a typed error, with a useful message, in bounded
time (pytest-timeout bounds it far above the expected second or two; the report script records
the measured times)."""

from __future__ import annotations

import pytest

from flue import ProtocolError
from tests.reliability._async.harness import provoke
from tests.reliability.badinput import CASES, Case
from tests.reliability.chaos import TOKEN
from tests.reliability.rawserver import RawServer


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_ends_in_a_typed_error(case: Case) -> None:
    with RawServer(case.handler) as server:
        error, _ = await provoke(case, server.url)
    assert server.errors == []
    assert type(error) is case.error, repr(error)
    assert case.match in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    if isinstance(error, ProtocolError):
        # a protocol error is never retried: the server sent something we cannot use
        retried = [head for head in server.heads if b"live=" in head or case.call != "long-poll"]
        assert len(retried) <= 3
