"""Bad input: each misbehaving server ends in a typed error, with a useful message, in bounded
time (pytest-timeout bounds it far above the expected second or two; the report script records
the measured times)."""

from __future__ import annotations

import pytest

from flue import ProtocolError
from flue._protocol import progress
from tests.reliability._async.harness import provoke
from tests.reliability.badinput import CASES, Case
from tests.reliability.chaos import TOKEN
from tests.reliability.rawserver import RawServer


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_bad_input_ends_in_a_typed_error(case: Case, monkeypatch: pytest.MonkeyPatch) -> None:
    if "(instant" in case.name:
        # the server answers at once; what counts as "at once" is a duration, and on a loaded
        # machine the client may take longer than the 0.1 s threshold to look at the answer:
        # a threshold no run can reach keeps the case about the server, not the machine
        monkeypatch.setattr(progress, "MIN_WAIT", 30.0)
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
