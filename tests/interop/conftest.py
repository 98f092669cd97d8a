"""Fixtures for the interop tests: a real Flue server (Node) on 127.0.0.1.

The Flue release comes from ``$FLUE_INTEROP_VERSION`` (``beta5`` = 1.0.0-beta.5, the default,
``beta9`` = 1.0.0-beta.9, ``v2_0_3`` = @flue/runtime 2.0.3, ``v2_1_0`` = 2.1.0; see
``RELEASES`` in ``tools/flue_servers/releases.py``); ``nox -s interop`` runs the suite once per
release. Agents exist only in the beta9 and 2.x apps, so modules named ``test_*agents*.py`` are
not collected for beta5 (``pytest_ignore_collect``).

Lines: a release belongs to the line ``"1.0"`` (workflow runs; beta.9 adds agents at
``/agents/{name}/{id}``) or ``"2"`` (no runs; agent conversations wherever the app mounts
them). Each test says which lines it applies to with the marker ``flue_lines``, on the test, its
class or its module (``pytestmark = pytest.mark.flue_lines("2")``; ``flue_lines("1.0", "2")``
for both); a test without it applies to ``"1.0"`` only. Tests for another line than the
release's are deselected at collection, never skipped, and counted in the summary line.

The topology comes from ``$FLUE_INTEROP_TOPOLOGY``: ``direct`` (the default) gives the tests the
server itself on ``http://127.0.0.1``; ``nginx`` puts nginx in front of it
(``tools.flue_servers.nginx.NginxFront``: TLS from a local CA, gzip, unbuffered SSE,
``proxy_read_timeout`` 10 s), and ``target.client_options`` carries the CA (``verify=``) for
clients. ``nox -s interop_nginx`` runs the client suites of both flavours that way, plus the
tests marked ``nginx`` (``_async/test_nginx_real.py``), which run only in that topology. The
raw-HTTP tests (everything outside ``_async``/``_sync``) check the Flue server's own bytes and
headers, so they run only in the direct topology; the summary line says how many each topology
left out. nginx missing in the nginx topology is a usage error, never a skip.

Fixtures: ``target`` (the server under test, or nginx in front of it: ``.url``, ``.token``,
``.client_options``), ``real_flue_server`` (the :class:`RealFlueServer` itself: ``.line``,
``.mounts``, ``.fake_model``, ...), ``flue_line`` (``"1.0"`` or ``"2"``), and for agent
conversations ``agents_mount`` (``{target.url}/agents/assistant``: beta9 and 2.x),
``conversation_mount`` (``{target.url}/api/chat``, the 2.x app's own mount of the same agent)
and ``conversation_url`` (a fresh conversation's URL under ``conversation_mount``). Append
``/{conversation id}`` to a mount for a conversation URL; every request needs
``Authorization: Bearer {target.token}``.

Every test collected under ``tests/interop`` is marked ``interop``; the default pytest options
deselect that marker, so run these with ``pytest -m interop tests/interop``. Nothing here may
be skipped (a skip is turned into a failure), and the run ends with a line counting the interop
tests per flavour (async client, sync client, raw HTTP) and naming the Flue release that served
them, for the CI log.
"""

from __future__ import annotations

import fnmatch
import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tools.flue_servers.nginx import NginxFront, NginxUnavailable, find_nginx
from tools.flue_servers.provision import describe_installed
from tools.flue_servers.releases import (
    FLUE_LINES,
    FLUE_VERSIONS,
    VERSION_ENV,
    ProvisionError,
    release_has_agents,
    release_line,
    resolve_flue_version,
)
from tools.flue_servers.server import RealFlueServer

_HERE = Path(__file__).resolve().parent
_VERSION = pytest.StashKey[str]()
_SERVED_BY = pytest.StashKey[str]()
_TOPOLOGY = pytest.StashKey[str]()
_LEFT_OUT = pytest.StashKey[list[str]]()

#: The lines a test without the ``flue_lines`` marker applies to.
DEFAULT_LINES = ("1.0",)

#: Environment variable selecting how the tests reach the server (a key of TOPOLOGIES).
TOPOLOGY_ENV = "FLUE_INTEROP_TOPOLOGY"
TOPOLOGIES = {
    "direct": "the Flue server itself, plain HTTP on 127.0.0.1",
    "nginx": "nginx in front of the Flue server (TLS, gzip, proxy_read_timeout 10 s)",
}
#: nginx's proxy_read_timeout in the nginx topology: a typical value below Flue's 30 s
#: long-poll window and 15 s SSE heartbeat.
NGINX_READ_TIMEOUT = 10.0
#: proxy_read_timeout of the second nginx (`recycling_front`), which cuts idle reads quickly so
#: a test sees several recycles in a few seconds.
RECYCLE_READ_TIMEOUT = 2.0


def resolve_topology() -> str:
    given = os.environ.get(TOPOLOGY_ENV, "").strip() or "direct"
    if given not in TOPOLOGIES:
        choices = ", ".join(f"{name} ({what})" for name, what in TOPOLOGIES.items())
        raise pytest.UsageError(f"{TOPOLOGY_ENV} is {given!r}; use one of: {choices}.")
    return given


def pytest_configure(config: pytest.Config) -> None:
    try:
        config.stash[_VERSION] = resolve_flue_version()
    except ProvisionError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_TOPOLOGY] = resolve_topology()
    config.addinivalue_line(
        "markers", "nginx: runs only in the nginx topology ($FLUE_INTEROP_TOPOLOGY=nginx)"
    )
    config.addinivalue_line(
        "markers",
        "flue_releases(*names): the releases (beta5, beta9, ...) the test runs on; the others "
        "deselect it",
    )
    config.addinivalue_line(
        "markers",
        "direct: runs only in the direct topology (the test puts its own proxy in front of "
        "the server)",
    )
    config.addinivalue_line(
        "markers",
        "flue_lines(*lines): the Flue lines ('1.0', '2') an interop test applies to; the "
        "others deselect it (default: '1.0' only)",
    )
    if config.stash[_TOPOLOGY] == "nginx":
        try:
            find_nginx()  # fail at once, not in every test
        except NginxUnavailable as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Agent tests (modules named ``test_*agents*.py`` here, ``_async``/``_sync`` included)
    are collected only for a release whose app has agents (beta9): not collected at all
    otherwise, rather than skipped (a skip fails the run, see below)."""
    if (
        collection_path.suffix == ".py"
        and fnmatch.fnmatch(collection_path.name, "test_*agents*.py")
        and _HERE in collection_path.resolve().parents
        and not release_has_agents(config.stash[_VERSION])
    ):
        return True
    return None


def pytest_report_header(config: pytest.Config) -> str:
    version = config.stash[_VERSION]
    topology = config.stash[_TOPOLOGY]
    return (
        f"interop: Flue {FLUE_VERSIONS[version]} (${VERSION_ENV}={version}, line "
        f"{release_line(version)}), topology {topology} (${TOPOLOGY_ENV}): {TOPOLOGIES[topology]}"
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.interop)
    # The release's line, then the topology, decide which interop tests apply (module
    # docstring); the rest are deselected, and counted in the summary line.
    version = config.stash[_VERSION]
    line = release_line(version)
    topology = config.stash[_TOPOLOGY]
    kept: list[pytest.Item] = []
    other_line: list[pytest.Item] = []
    other_topology: list[pytest.Item] = []
    for item in items:
        if not _is_interop(item.path):
            kept.append(item)
        elif line not in _lines_of(item) or not _for_release(item, version):
            other_line.append(item)
        else:
            needs_nginx = item.get_closest_marker("nginx") is not None
            direct = _flavour(item.nodeid) == "raw-http" or item.get_closest_marker("direct")
            applies = not needs_nginx if topology == "direct" else not direct
            (kept if applies else other_topology).append(item)
    notes: list[str] = []
    if other_line:
        notes.append(
            f"{len(other_line)} deselected for Flue line {line} (marked for other lines or "
            "releases; "
            f"unmarked tests are for line {' and '.join(DEFAULT_LINES)})"
        )
    if other_topology:
        why = {
            "direct": "tests marked nginx need the nginx topology",
            "nginx": "raw-HTTP tests check the Flue server's own bytes, and tests marked "
            "direct put their own proxy in front of it, so they run only direct",
        }[topology]
        notes.append(f"{len(other_topology)} deselected in topology {topology} ({why})")
    if notes:
        config.stash[_LEFT_OUT] = notes
        config.hook.pytest_deselected(items=other_line + other_topology)
        items[:] = kept


def _for_release(item: pytest.Item, version: str) -> bool:
    """False when the test's ``flue_releases`` marker names other releases only (a test whose
    wire is the same on every release of its line runs on one of them)."""
    marker = item.get_closest_marker("flue_releases")
    if marker is None:
        return True
    unknown = [name for name in marker.args if name not in FLUE_VERSIONS]
    if not marker.args or unknown:
        raise pytest.UsageError(f"{item.nodeid}: flue_releases{marker.args!r} names {unknown}")
    return version in marker.args


def _lines_of(item: pytest.Item) -> tuple[str, ...]:
    """The lines an interop test applies to: its closest ``flue_lines`` marker, else
    DEFAULT_LINES. A marker naming no line, or an unknown one, is a usage error."""
    marker = item.get_closest_marker("flue_lines")
    if marker is None:
        return DEFAULT_LINES
    lines = tuple(marker.args)
    unknown = [line for line in lines if line not in FLUE_LINES]
    if not lines or unknown or marker.kwargs:
        raise pytest.UsageError(
            f"{item.nodeid}: flue_lines{lines!r} names {unknown or 'no line'}; use one or more "
            f"of {', '.join(map(repr, FLUE_LINES))} as positional arguments."
        )
    return lines


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
    notes = config.stash.get(_LEFT_OUT, None)
    if notes is not None:
        parts.extend(notes)
    terminalreporter.write_line(f"interop against {served_by}: " + "; ".join(parts))


@pytest.fixture(scope="session")
def real_flue_server(pytestconfig: pytest.Config) -> Iterator[RealFlueServer]:
    """One real server for the whole session (provisioned and built on first use)."""
    with RealFlueServer(flue_version=pytestconfig.stash[_VERSION]) as server:
        assert server.app_dir is not None
        pytestconfig.stash[_SERVED_BY] = describe_installed(server.app_dir, server.flue_version)
        yield server


@pytest.fixture(scope="session")
def interop_target(
    real_flue_server: RealFlueServer, pytestconfig: pytest.Config
) -> Iterator[RealFlueServer | NginxFront]:
    """What the tests talk to in this session's topology: the server, or nginx in front of it."""
    if pytestconfig.stash[_TOPOLOGY] == "direct":
        yield real_flue_server
        return
    with NginxFront(real_flue_server, read_timeout=NGINX_READ_TIMEOUT) as front:
        served_by = pytestconfig.stash.get(_SERVED_BY, f"Flue {front.flue_release}")
        pytestconfig.stash[_SERVED_BY] = (
            f"{served_by} via nginx {front.nginx_version} (https, gzip, "
            f"proxy_read_timeout {front.read_timeout:g}s)"
        )
        yield front


@pytest.fixture
def target(
    interop_target: RealFlueServer | NginxFront,
) -> Iterator[RealFlueServer | NginxFront]:
    """The server under test (``.url`` without trailing slash, ``.token``, ``.kind``,
    ``.client_options`` for a client: ``verify=`` in the nginx topology).

    Overrides the fake-server ``target`` of ``tests/testing`` for tests collected here.
    """
    if not interop_target.running:
        pytest.fail("the server under test died:\n" + interop_target.log_tail())
    yield interop_target


@pytest.fixture
def nginx_front(target: RealFlueServer | NginxFront) -> NginxFront:
    """The nginx topology's front (for the tests marked ``nginx``)."""
    if not isinstance(target, NginxFront):
        pytest.fail(f"this test needs {TOPOLOGY_ENV}=nginx")
    return target


@pytest.fixture(scope="session")
def recycling_front(real_flue_server: RealFlueServer) -> Iterator[NginxFront]:
    """A second nginx, configured like the first but with proxy_read_timeout
    RECYCLE_READ_TIMEOUT: it answers an idle long-poll 504 and cuts an idle SSE connection
    within seconds, so a test sees several recycles quickly."""
    with NginxFront(real_flue_server, read_timeout=RECYCLE_READ_TIMEOUT) as front:
        yield front


@pytest.fixture(scope="session")
def flue_line(pytestconfig: pytest.Config) -> str:
    """The line of the release under test: ``"1.0"`` or ``"2"``."""
    return release_line(pytestconfig.stash[_VERSION])


def _mount(target: RealFlueServer | NginxFront, server: RealFlueServer, which: str) -> str:
    path = server.mounts.get(which)
    if path is None:
        pytest.fail(
            f"Flue {server.flue_release} (line {server.line}) has no {which!r} mount; "
            f"mark the test flue_lines(...) for the lines that have one"
        )
    return target.url + path


@pytest.fixture
def agents_mount(target: RealFlueServer | NginxFront, real_flue_server: RealFlueServer) -> str:
    """``{target.url}/agents/assistant``, the agent at its ``/agents/{name}`` address (beta9
    and 2.x): append ``/{conversation id}``."""
    return _mount(target, real_flue_server, "agents")


@pytest.fixture
def conversation_mount(
    target: RealFlueServer | NginxFront, real_flue_server: RealFlueServer
) -> str:
    """``{target.url}/api/chat``, the 2.x app's own mount of the same agent (so
    ``{agents_mount}/c1`` and ``{conversation_mount}/c1`` are one conversation): append
    ``/{conversation id}``. 2.x only."""
    return _mount(target, real_flue_server, "conversation")


@pytest.fixture
def conversation_url(conversation_mount: str) -> str:
    """A fresh conversation's URL under ``conversation_mount`` (nothing sent to it yet)."""
    return f"{conversation_mount}/conv-{uuid.uuid4().hex[:12]}"
