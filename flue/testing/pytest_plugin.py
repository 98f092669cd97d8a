"""pytest fixtures for testing code that talks to Flue, backed by :class:`FlueTestServer`.

Installed with the package (entry point ``pytest11: flue``), so the fixtures are available in
every test suite once ``flue`` is installed:

``flue_server`` (async, needs pytest-asyncio)
    A server running on the test's event loop::

        async def test_reads(flue_server):
            run = flue_server.create_run(workflow="demo")
            flue_server.end_run(run, result={"ok": True})
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{flue_server.url}/runs/{run}?meta") as resp:
                    assert (await resp.json())["status"] == "completed"

``flue_server_thread`` (sync; alias ``flue_server_sync``)
    A server on its own loop in a daemon thread, for blocking clients::

        def test_reads(flue_server_thread):
            run = flue_server_thread.create_run()
            assert requests.get(f"{flue_server_thread.url}/runs/{run}").status_code == 200

Both serve agents too (the demo ``assistant``, and any added with ``add_agent``)::

    def test_agent(flue_server_thread):
        flue_server_thread.add_agent("bot", reply=lambda prompt: "hi " + prompt.message)
        url = f"{flue_server_thread.url}/agents/bot/c1?wait=result"
        assert requests.post(url, json={"message": "Ada"}).json()["result"]["text"] == "hi Ada"

``flue_server_v2`` (async) and ``flue_server_v2_thread`` (sync; alias ``flue_server_v2_sync``)
    The same, speaking Flue 2.x (``FlueTestServer(line="2")``): no workflow runs; the demo
    agent's conversations at ``/agents/assistant/{id}``, other mounts with ``add_agent(...,
    mount="/api/chat")``; use ``client.conversation(url)``::

        def test_conversation(flue_server_v2_thread):
            with FlueClient(flue_server_v2_thread.url) as client:
                conv = client.conversation("/agents/assistant/c1")
                assert conv.prompt("hi").text == "echo: hi"

All are function-scoped and stopped after the test. Configure them with the
``flue_server`` marker, whose keyword arguments go to :class:`FlueTestServer` (``line`` is set
by the ``_v2`` fixtures)::

    @pytest.mark.flue_server(token="secret", page_size=5, long_poll_timeout=0.2)
    def test_paging(flue_server_thread): ...
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ._server import FlueTestServer

__all__ = [
    "flue_server",
    "flue_server_sync",
    "flue_server_thread",
    "flue_server_v2",
    "flue_server_v2_sync",
    "flue_server_v2_thread",
    "pytest_configure",
]

try:
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - only without pytest-asyncio (then asyncio_mode=auto)
    from pytest import fixture as _async_fixture  # type: ignore[no-redef]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``flue_server`` marker."""
    config.addinivalue_line(
        "markers",
        "flue_server(**kwargs): keyword arguments for the flue_server* fixtures' FlueTestServer",
    )


def _options(request: pytest.FixtureRequest) -> dict[str, Any]:
    marker = request.node.get_closest_marker("flue_server")
    return dict(marker.kwargs) if marker is not None else {}


@_async_fixture
async def flue_server(request: pytest.FixtureRequest) -> AsyncIterator[FlueTestServer]:
    """A :class:`FlueTestServer` running on the test's event loop (stopped afterwards)."""
    from ._server import FlueTestServer  # aiohttp is imported only once a fixture runs

    async with FlueTestServer(**_options(request)) as server:
        yield server


@pytest.fixture
def flue_server_thread(request: pytest.FixtureRequest) -> Iterator[FlueTestServer]:
    """A :class:`FlueTestServer` running in a background thread, for sync tests."""
    from ._server import FlueTestServer

    with FlueTestServer.running_in_thread(**_options(request)) as server:
        yield server


@pytest.fixture
def flue_server_sync(flue_server_thread: FlueTestServer) -> FlueTestServer:
    """Alias of ``flue_server_thread``."""
    return flue_server_thread


@_async_fixture
async def flue_server_v2(request: pytest.FixtureRequest) -> AsyncIterator[FlueTestServer]:
    """A Flue 2.x :class:`FlueTestServer` (``line="2"``) on the test's event loop."""
    from ._server import FlueTestServer

    async with FlueTestServer(**{**_options(request), "line": "2"}) as server:
        yield server


@pytest.fixture
def flue_server_v2_thread(request: pytest.FixtureRequest) -> Iterator[FlueTestServer]:
    """A Flue 2.x :class:`FlueTestServer` (``line="2"``) in a background thread."""
    from ._server import FlueTestServer

    with FlueTestServer.running_in_thread(**{**_options(request), "line": "2"}) as server:
        yield server


@pytest.fixture
def flue_server_v2_sync(flue_server_v2_thread: FlueTestServer) -> FlueTestServer:
    """Alias of ``flue_server_v2_thread``."""
    return flue_server_v2_thread
