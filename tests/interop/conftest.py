"""Fixtures for the interop tests: a real Flue 1.0.0-beta.5 server (Node) on 127.0.0.1.

Every test collected under ``tests/interop`` is marked ``interop``; the default pytest options
deselect that marker, so run these with ``pytest -m interop tests/interop``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.realserver import RealFlueServer

_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="session")
def real_flue_server() -> Iterator[RealFlueServer]:
    """One real server for the whole session (provisioned and built on first use)."""
    with RealFlueServer() as server:
        yield server


@pytest.fixture
def target(real_flue_server: RealFlueServer) -> Iterator[RealFlueServer]:
    """The server under test (``.url`` without trailing slash, ``.token``, ``.kind``).

    Overrides the fake-server ``target`` of ``tests/testing`` for tests collected here.
    """
    if not real_flue_server.running:
        pytest.fail("the real Flue server died:\n" + real_flue_server.log_tail())
    yield real_flue_server
