"""What each entry point imports: ``flue --help`` and ``import flue`` no HTTP library, no attrs,
no model; the CLI's and the library's ``runs get`` no event, agent or conversation model, no
cattrs and no asyncio/aiohttp. Module sets, checked in fresh interpreters (import *times* are
measured by ``benchmarks/imports.py``, never by tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flue.testing import FlueTestServer
from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent

# what the command line and the library load only for the features that need them
HEAVY = (
    "aiohttp",
    "asyncio",
    "cattrs",
    "msgspec",
    "flue._async",
    "flue._models.events",
    "flue._models.records",
    "flue._models.conversation",
    "flue._cli.render",
    "flue._cli.agents",
    "flue.testing",
)
# the machinery of streams (readers, SSE, batches): a one-shot call does not need it
STREAMS = (
    "flue._sync._stream",
    "flue._protocol.reader",
    "flue._protocol.sse",
    "flue._protocol.batches",
    "flue._protocol.actions",
)
NO_HTTP = ("requests", "urllib3", "http.client", "ssl", "attr", "attrs", "flue._models")


def _modules(code: str, *argv: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running `code` (stdout is free)."""
    program = (
        "import sys, json\n"
        f"{code}\n"
        "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", program, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "FLUE_TOKEN": TOKEN},  # the servers of the tests want it
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stderr.rsplit("\nMODULES ", 1)[1]
    return set(json.loads(line))


def _loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


CLI = (
    "import runpy\n"
    "sys.argv = ['flue', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('flue', run_name='__main__')\n"
    "except SystemExit as exc:\n"
    "    assert exc.code in (0, None), exc.code\n"
)


def test_help_imports_no_client() -> None:
    modules = _modules(CLI, "--help")
    assert "flue._cli.main" in modules  # the check sees what ran
    assert _loaded(modules, HEAVY + NO_HTTP) == []
    for sub in (["runs", "--help"], ["runs", "get", "--help"], ["workflows", "--help"]):
        assert _loaded(_modules(CLI, *sub), HEAVY + NO_HTTP) == [], sub


def test_import_flue_is_light() -> None:
    modules = _modules("import flue, flue.models")
    assert _loaded(modules, HEAVY + NO_HTTP + ("flue._sync",)) == []


@pytest.fixture
def finished_run(server: FlueTestServer) -> str:
    run = server.create_run(workflow="emit")
    server.append(run, [{"type": "log", "level": "info", "message": "m"}])
    server.end_run(run, result={"ok": True})
    return str(run)


def test_cli_runs_get_needs_no_event_model(server: FlueTestServer, finished_run: str) -> None:
    modules = _modules(CLI, "--base-url", server.url, "runs", "get", finished_run)
    assert "requests" in modules and "flue._models.runs" in modules  # it did read the record
    assert _loaded(modules, HEAVY + STREAMS) == []


def test_library_runs_get_needs_no_event_model(server: FlueTestServer, finished_run: str) -> None:
    code = (
        "import flue\n"
        "with flue.FlueClient(sys.argv[1]) as client:\n"
        "    record = client.runs.get(sys.argv[2])\n"
        "    assert record.status == 'completed', record\n"
        "    assert client.workflows is not None and client.streams is not None\n"
    )
    modules = _modules(code, server.url, finished_run)
    assert _loaded(modules, HEAVY + STREAMS) == []


def test_reading_events_loads_the_event_classes_only(
    server: FlueTestServer, finished_run: str
) -> None:
    code = (
        "import flue\n"
        "with flue.FlueClient(sys.argv[1]) as client:\n"
        "    events = client.runs.events(sys.argv[2])\n"
        "    assert [e.type for e in events] == ['run_start', 'log', 'run_end'], events\n"
    )
    modules = _modules(code, server.url, finished_run)
    assert "flue._models.events" in modules  # the check sees a model import when there is one
    assert _loaded(modules, STREAMS) == sorted(STREAMS)
    assert _loaded(modules, HEAVY) == [
        "flue._models.events",
        "flue._models.records",  # nested models of events (usage, errors)
    ]
