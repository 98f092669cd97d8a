"""Fixtures for the interop tests: a real Flue 1.0.0-beta.5 server (Node) on 127.0.0.1.

Every test collected under ``tests/interop`` is marked ``interop``; the default pytest options
deselect that marker, so run these with ``pytest -m interop tests/interop``. Nothing here may
be skipped (a skip is turned into a failure), and the run ends with a line counting the interop
tests per flavour (async client, sync client, raw HTTP) for the CI log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.interop.realserver import RealFlueServer

_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)


def _is_interop(path: object) -> bool:
    return _HERE in Path(str(path)).resolve().parents


# Nothing here may be skipped: a skipped interop test would let CI pass without the real server
# having been exercised (a missing Node fails provisioning, and so the tests, loudly).
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if _is_interop(item.path) and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"interop tests must not be skipped; skip reason: {report.longrepr}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None]:
    outcome = yield
    report: pytest.CollectReport = outcome.get_result()
    if _is_interop(collector.path) and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"interop module must not be skipped; skip reason: {report.longrepr}"


_FLAVOURS = {"_async": "async", "_sync": "sync"}


def _flavour(nodeid: str) -> str:
    parts = nodeid.split("::", 1)[0].split("/")
    return next((_FLAVOURS[p] for p in parts if p in _FLAVOURS), "raw-http")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print how many interop tests ran, per flavour, so CI logs show the real server was used."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "xfailed", "xpassed", "skipped", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            if not nodeid.startswith("tests/interop/"):
                continue
            if outcome == "passed" and getattr(report, "when", "call") != "call":
                continue  # a passing test has passing setup/teardown reports too
            per = counts.setdefault(outcome, {})
            flavour = _flavour(nodeid)
            per[flavour] = per.get(flavour, 0) + 1
    if not counts:
        return
    parts = []
    for outcome, per in counts.items():
        detail = ", ".join(f"{f}: {per.get(f, 0)}" for f in ("async", "sync", "raw-http"))
        parts.append(f"{sum(per.values())} {outcome} ({detail})")
    terminalreporter.write_line("interop: " + "; ".join(parts))


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
