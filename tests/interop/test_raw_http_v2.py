"""The raw-HTTP Flue 2.x conversation tests of ``tests/testing`` against the real 2.x server.

They are written against a ``v2_target`` fixture (``tests.testing.test_raw_http_v2.V2Target``);
here it is the real server of ``conftest.py`` (2.0.3 or 2.1.0: the interop app's agent
``Assistant`` at ``/agents/assistant`` and ``/api/chat``, a router over no registered agent at
``/api/unregistered``), so the fake (``FlueTestServer(line="2")``) and the real server are held
to the same 24 tests. Line ``"2"`` only (``flue_lines``): deselected for the 1.0 releases.
"""

from __future__ import annotations

import time

import pytest

from tests.testing.test_raw_http_v2 import *  # noqa: F403
from tests.testing.test_raw_http_v2 import V2Target
from tools.flue_servers.nginx import NginxFront
from tools.flue_servers.server import RealFlueServer

pytestmark = pytest.mark.flue_lines("2")


def _give_the_long_poll_a_moment(_url: str) -> None:
    # A real server does not say when a read waits; a long-poll there waits up to 30 s, so a
    # moment's head start is enough for it to be waiting (were it not, the test still holds:
    # the read then answers the appended chunks at once).
    time.sleep(0.2)


@pytest.fixture
def v2_target(
    target: RealFlueServer | NginxFront,
    real_flue_server: RealFlueServer,
    agents_mount: str,
    conversation_mount: str,
) -> V2Target:
    """The real 2.x server (overrides the fake of ``tests/testing``)."""
    return V2Target(
        url=target.url,
        token=target.token,
        kind="real",
        agents_mount=agents_mount,
        conversation_mount=conversation_mount,
        unregistered_mount=f"{target.url}{real_flue_server.mounts['unregistered']}",
        log_tail=lambda: real_flue_server.log_tail(limit=None),
        wait_for_reader=_give_the_long_poll_a_moment,
    )
