"""The one entry point for tests, lint, type checks, codegen drift, demo and benchmarks."""

from __future__ import annotations

import glob

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PROTOCOL_COVERAGE = 95


PYTHONS = ["3.10", "3.11", "3.12", "3.13"]


# coverage is measured on one Python, in one process (`coverage run`, not pytest-cov: the
# installed pytest11 plugin imports flue before pytest-cov would start measuring); the other
# Pythons run the same suite in parallel workers (most tests wait on timers, not the CPU)
COVERAGE_PYTHON = "3.11"
WORKERS = "4"


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Unit, protocol and client tests (both flavours) on every supported Python (``nox -s
    tests-3.11`` for one); branch coverage of the protocol core on 3.11."""
    session.install("-e", ".[test]")
    if session.python != COVERAGE_PYTHON:
        session.run("pytest", "-n", WORKERS, *session.posargs)
        return
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run(
        "coverage",
        "report",
        "--include=flue/_protocol/*",
        f"--fail-under={PROTOCOL_COVERAGE}",
    )


@nox.session(python=PYTHONS[0])
def lowest(session: nox.Session) -> None:
    """The unit suite with the LOWEST versions every runtime and test dependency allows
    (``uv pip install --resolution lowest-direct``), on the lowest supported Python."""
    session.install("uv>=0.4")
    session.run(
        "uv",
        "pip",
        "install",
        "--python",
        session.virtualenv.location,
        "--reinstall",
        "--resolution",
        "lowest-direct",
        "-e",
        ".[test]",
    )
    session.run("uv", "pip", "list", "--python", session.virtualenv.location)
    session.run("pytest", "-q", "-n", WORKERS, *session.posargs)


@nox.session
def wheel(session: nox.Session) -> None:
    """Build sdist + wheel, ``twine check`` them, install the wheel in a clean venv and use it:
    the examples against ``python -m flue.testing`` and a user-style pytest-plugin test file."""
    session.install("build>=1.2", "twine>=6.1")
    dist = session.create_tmp() + "/dist"
    session.run("python", "-c", f"import shutil; shutil.rmtree({dist!r}, ignore_errors=True)")
    session.run("python", "-m", "build", "--outdir", dist)
    built = sorted(glob.glob(f"{dist}/*"))
    session.run("twine", "check", "--strict", *built)
    session.run("python", "scripts/check_wheel.py", dist)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, ruff format, mypy --strict, the _async -> _sync codegen drift check, and the typed
    user programs of tests/typed under both mypy --strict and pyright (strict)."""
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("python", "scripts/unasync.py", "--check")
    # what users' type checkers see: each flavour as a strictly typed program (`assert_type`)
    session.run("mypy", "--strict", "tests/typed")
    session.run(
        "pyright",  # PyPI `pyright[nodejs]`: bundled pyright and Node, no download
        "--pythonpath",
        f"{session.bin}/python",
        "--pythonversion",
        "3.10",
        "tests/typed",  # `# pyright: strict` in each file
        env={"PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"},  # no "newer version?" query to PyPI
    )


# keys of tools/flue_servers/releases.py FLUE_VERSIONS: two 1.0 releases, two 2.x (@flue/runtime)
FLUE_RELEASES = ["beta5", "beta9", "v2_0_3", "v2_1_0"]


@nox.session
@nox.parametrize("flue", FLUE_RELEASES, ids=FLUE_RELEASES)
def interop(session: nox.Session, flue: str) -> None:
    """Our raw-HTTP and client suites against a real Flue server, once per supported release
    (1.0.0-beta.5, 1.0.0-beta.9, 2.0.3, 2.1.0; ``nox -s "interop(v2_1_0)"`` for one): the
    tests marked for that release's line (tests/interop/conftest.py). Needs npm."""
    session.install("-e", ".[test]")
    env = {"FLUE_INTEROP_VERSION": flue, "FLUE_INTEROP_TOPOLOGY": "direct"}
    session.run("python", "-m", "tools.flue_servers", "--provision-only", env=env)
    session.run("pytest", "-m", "interop", "tests/interop", *session.posargs, env=env)


@nox.session
def interop_nginx(session: nox.Session) -> None:
    """The client suites of both flavours through nginx in front of a real Flue 1.0.0-beta.9
    (TLS from a local CA, gzip, unbuffered SSE, proxy_read_timeout 10 s;
    tools/flue_servers/nginx.py), plus the recycling tests of
    tests/interop/_async/test_nginx_real.py. Needs npm and nginx (Debian ``nginx-light``); the
    raw-HTTP tests are left to ``interop``."""
    session.install("-e", ".[test]")
    env = {"FLUE_INTEROP_VERSION": "beta9", "FLUE_INTEROP_TOPOLOGY": "nginx"}
    session.run("python", "-m", "tools.flue_servers", "--provision-only", env=env)
    session.run("pytest", "-m", "interop", "tests/interop", *session.posargs, env=env)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: stream a live demo run from the embedded flue.testing server."""
    session.install("-e", ".")
    session.run("flue", "demo", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The API reference site (mkdocs-material + mkdocstrings), warnings as errors."""
    session.install(
        "-e",
        ".",
        "mkdocs-material>=9.5",
        "mkdocstrings>=1.0",
        "mkdocstrings-python>=2.0",  # heading/toc_label, show_overloads, extension paths
        "ruff>=0.6",  # mkdocstrings formats the separate signatures with it
    )
    session.run(
        "mkdocs", "build", "--strict", "--site-dir", "site", env={"NO_MKDOCS_2_WARNING": "1"}
    )


@nox.session
def codegen(session: nox.Session) -> None:
    """Regenerate flue/_sync (and tests/_sync) from the async sources."""
    session.install("-e", ".[lint]")
    session.run("python", "scripts/unasync.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks side by side (real Flue server, TS SDK, raw baselines): BENCHMARKS.md.

    ``nox -s bench -- --quick`` for a short run; other arguments go to benchmarks/run.py.
    """
    # [speed]: the msgspec rows of the catch-up table (the other rows use the stdlib decoder)
    session.install("-e", ".[speed]", "matplotlib", "psutil", "durable-streams==0.1.0")
    session.run("python", "-m", "tools.flue_servers", "--provision-only")
    # the observe section runs Flue 2.0.3 and its @flue/sdk (benchmarks/observe.py)
    session.run(
        "python", "-m", "tools.flue_servers", "--provision-only", "--flue-version", "v2_0_3"
    )
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Reliability soak: the chaos, crash/resume, cut and bad-input scenarios over random seeds
    for a bounded time (default 600 s; ``nox -s soak -- --soak 3600``), failing on any lost
    event (or, in the cut scenarios, any duplicate or give-up)."""
    session.install("-e", ".[test]")
    args = session.posargs or ["--soak", "600"]
    session.run("python", "scripts/reliability_report.py", *args)
