"""The raw-HTTP ``offset=now`` long-poll tests of ``tests/testing`` against the real Flue server
(the tests there that build their own fake server are left out)."""

from __future__ import annotations

from tests.testing.test_raw_http_now import (  # noqa: F401
    test_now_long_poll_on_a_live_run_waits_for_the_next_append,
    test_now_long_poll_on_an_ended_run_answers_204_closed_at_once,
)
