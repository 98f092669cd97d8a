"""The one entry point for tests, lint, type checks, codegen drift, demo and benchmarks."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True

PROTOCOL_COVERAGE = 95


@nox.session
def tests(session: nox.Session) -> None:
    """Unit, protocol and client tests (both flavours) with branch coverage."""
    session.install("-e", ".[test]")
    session.run("coverage", "erase")
    # `coverage run` (not pytest-cov): the installed pytest11 plugin imports flue before
    # pytest-cov would start measuring
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run(
        "coverage",
        "report",
        "--include=flue/_protocol/*",
        f"--fail-under={PROTOCOL_COVERAGE}",
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, ruff format, mypy --strict and the _async -> _sync codegen drift check."""
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("python", "scripts/unasync.py", "--check")


@nox.session
def interop(session: nox.Session) -> None:
    """Our raw-HTTP and client suites against a real Flue 1.0.0-beta.5 server (needs npm)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.interop.realserver", "--provision-only")
    session.run("pytest", "-m", "interop", "tests/interop", *session.posargs)


@nox.session
def demo(session: nox.Session) -> None:
    """The main job: stream a live demo run from the embedded flue.testing server."""
    session.install("-e", ".")
    session.run("flue", "demo", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """The API reference site (mkdocs-material + mkdocstrings), warnings as errors."""
    session.install("-e", ".", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.25")
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
    session.install("-e", ".", "matplotlib", "psutil", "durable-streams==0.1.0")
    session.run("python", "-m", "tests.interop.realserver", "--provision-only")
    session.run("python", "-m", "benchmarks.run", *session.posargs)


@nox.session
def soak(session: nox.Session) -> None:
    """Reliability soak: the chaos, crash/resume and bad-input scenarios over random seeds for a
    bounded time (default 600 s; ``nox -s soak -- --soak 3600``), failing on any lost event."""
    session.install("-e", ".[test]")
    args = session.posargs or ["--soak", "600"]
    session.run("python", "scripts/reliability_report.py", *args)
