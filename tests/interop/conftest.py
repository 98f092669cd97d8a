"""Fixtures for the interop tests: a real Flue server (Node) on 127.0.0.1.

The Flue release comes from ``$FLUE_INTEROP_VERSION`` (``beta5`` = 1.0.0-beta.5, the default,
or ``beta9`` = 1.0.0-beta.9; see ``realserver.FLUE_VERSIONS``); ``nox -s interop`` runs the
suite once per release.

Every test collected under ``tests/interop`` is marked ``interop``; the default pytest options
deselect that marker, so run these with ``pytest -m interop tests/interop``. Nothing here may
be skipped (a skip is turned into a failure), and the run ends with a line counting the interop
tests per flavour (async client, sync client, raw HTTP) and naming the Flue release that served
them, for the CI log.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.interop.realserver import (
    FLUE_VERSIONS,
    VERSION_ENV,
    ProvisionError,
    RealFlueServer,
    installed_flue_version,
    resolve_flue_version,
)

_HERE = Path(__file__).resolve().parent
_VERSION = pytest.StashKey[str]()
_SERVED_BY = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_VERSION] = resolve_flue_version()
    except ProvisionError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> str:
    version = config.stash[_VERSION]
    return f"interop: Flue {FLUE_VERSIONS[version]} (${VERSION_ENV}={version})"


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
    config = terminalreporter.config
    served_by = config.stash.get(_SERVED_BY, None)
    if served_by is None:
        served_by = f"Flue {FLUE_VERSIONS[config.stash[_VERSION]]} (server not started)"
    parts = []
    for outcome, per in counts.items():
        detail = ", ".join(f"{f}: {per.get(f, 0)}" for f in ("async", "sync", "raw-http"))
        parts.append(f"{sum(per.values())} {outcome} ({detail})")
    terminalreporter.write_line(f"interop against {served_by}: " + "; ".join(parts))


@pytest.fixture(scope="session")
def real_flue_server(pytestconfig: pytest.Config) -> Iterator[RealFlueServer]:
    """One real server for the whole session (provisioned and built on first use)."""
    with RealFlueServer(flue_version=pytestconfig.stash[_VERSION]) as server:
        assert server.app_dir is not None
        installed = sorted(set(installed_flue_version(server.app_dir).values()), key=str)
        pytestconfig.stash[_SERVED_BY] = "Flue " + ", ".join(map(str, installed))
        yield server


@pytest.fixture
def target(real_flue_server: RealFlueServer) -> Iterator[RealFlueServer]:
    """The server under test (``.url`` without trailing slash, ``.token``, ``.kind``).

    Overrides the fake-server ``target`` of ``tests/testing`` for tests collected here.
    """
    if not real_flue_server.running:
        pytest.fail("the real Flue server died:\n" + real_flue_server.log_tail())
    yield real_flue_server
