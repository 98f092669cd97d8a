"""Fixtures of the flue.testing tests.

``target`` is the server under test for the raw-HTTP contract tests (``test_raw_http.py``): an
object with ``.url`` (no trailing slash), ``.token`` (send ``Authorization: Bearer <token>``
when set) and ``.kind`` (``"fake"`` or ``"real"``). Here it is a token-protected
:class:`~flue.testing.FlueTestServer` shared by the session; ``tests/interop`` overrides it with
a real Flue server. Setting ``FLUE_TARGET_URL`` (and ``FLUE_TARGET_TOKEN``) points it at an
already running real server instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import attrs
import pytest

from flue.testing import FlueTestServer
from flue.testing.pytest_plugin import (  # noqa: F401 - fixtures, also when the plugin is not installed
    flue_server,
    flue_server_sync,
    flue_server_thread,
    flue_server_v2,
    flue_server_v2_sync,
    flue_server_v2_thread,
    pytest_configure,
)

FAKE_TOKEN = "test-token-0123"


@attrs.frozen
class Target:
    """A server under test."""

    url: str
    token: str | None
    kind: str


@pytest.fixture(scope="session")
def _fake_target() -> Iterator[Target]:
    url = os.environ.get("FLUE_TARGET_URL")
    if url:
        yield Target(url.rstrip("/"), os.environ.get("FLUE_TARGET_TOKEN") or None, "real")
        return
    with FlueTestServer.running_in_thread(token=FAKE_TOKEN) as server:
        yield Target(server.url, FAKE_TOKEN, "fake")


@pytest.fixture
def target(_fake_target: Target) -> Target:
    """The server under test (see the module docstring)."""
    return _fake_target
