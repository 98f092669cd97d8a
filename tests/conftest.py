"""Shared fixtures: a fake Flue server in a background thread, usable by both flavours."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flue.testing import FlueTestServer

TOKEN = "tok-secret-123"


@pytest.fixture
def server() -> Iterator[FlueTestServer]:
    """A fake Flue server with a bearer token, short long-poll window and fast SSE timers."""
    with FlueTestServer.running_in_thread(
        token=TOKEN, long_poll_timeout=1.0, sse_keepalive=1.0, sse_heartbeat=0.5, seed=1
    ) as srv:
        yield srv


@pytest.fixture
def other_server() -> Iterator[FlueTestServer]:
    """A second server (another origin), without auth."""
    with FlueTestServer.running_in_thread(long_poll_timeout=1.0) as srv:
        yield srv
