"""Install the built wheel into a fresh virtual environment and use it as a user would.

    python scripts/check_wheel.py DIST_DIR

Run by ``nox -s wheel`` after ``python -m build`` and ``twine check``. Everything runs from a
temporary folder, so ``import flue`` can only find the installed wheel. Exits non-zero (with
the failing step) when anything is wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER_PROJECT = ROOT / "tests" / "wheel" / "user_project"
TOKEN = "wheel-check-token"
TEST_DEPS = ["pytest>=8", "pytest-asyncio>=0.24"]


def run(*args: str | Path, env: dict[str, str] | None = None, cwd: Path) -> str:
    proc = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )
    if proc.returncode != 0:
        sys.exit(
            f"FAILED ({proc.returncode}): {' '.join(map(str, args))}\n{proc.stdout}\n{proc.stderr}"
        )
    return proc.stdout


METADATA_PROBE = """
import importlib.metadata as md, json, pathlib, flue, flue.testing.pytest_plugin
dist = md.distribution("flue-client")
files = {str(f) for f in dist.files or ()}
print(json.dumps({
    "file": flue.__file__,
    "version": dist.version,
    "license": any(f.endswith("licenses/LICENSE") for f in files),
    "py_typed": (pathlib.Path(flue.__file__).parent / "py.typed").exists(),
    "scripts": [e.name for e in dist.entry_points if e.group == "console_scripts"],
    "pytest11": [e.value for e in dist.entry_points if e.group == "pytest11"],
    "classifiers": dist.metadata.get_all("Classifier"),
    "requires": dist.requires,
}))
"""


def check_metadata(python: Path, venv_dir: Path, cwd: Path) -> None:
    info = json.loads(run(python, "-c", METADATA_PROBE, cwd=cwd))
    problems = []
    if not Path(info["file"]).resolve().is_relative_to(venv_dir.resolve()):
        problems.append(f"flue imported from {info['file']}, not from the wheel")
    if not info["license"]:
        problems.append("no LICENSE in the wheel's metadata")
    if not info["py_typed"]:
        problems.append("no py.typed")
    if info["scripts"] != ["flue"]:
        problems.append(f"console scripts {info['scripts']}")
    if info["pytest11"] != ["flue.testing.pytest_plugin"]:
        problems.append(f"pytest11 entry points {info['pytest11']}")
    for needed in ("Typing :: Typed", "Framework :: AsyncIO", "Framework :: Pytest"):
        if needed not in (info["classifiers"] or []):
            problems.append(f"classifier {needed!r} missing")
    if problems:
        sys.exit("FAILED metadata: " + "; ".join(problems))
    print(f"metadata: flue-client {info['version']} from the wheel, {len(info['requires'])} deps")


def start_server(python: Path, cwd: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    command = ["-m", "flue.testing", "--host", "127.0.0.1", "--port", "0", "--token", TOKEN]
    server = subprocess.Popen(
        [str(python), *command, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    assert server.stdout is not None
    line = server.stdout.readline()
    if "serving on " not in line:
        server.kill()
        sys.exit(f"FAILED: python -m flue.testing printed {line!r}; {server.stderr.read()}")
    return server, line.rsplit(" ", 1)[1].strip()


def run_examples(bindir: Path, url: str, cwd: Path) -> None:
    env = {**os.environ, "FLUE_BASE_URL": url, "FLUE_TOKEN": TOKEN}
    env.pop("PYTHONPATH", None)
    python = bindir / "python"
    for example in ("blocking_script.py", "async_service.py"):
        out = run(python, ROOT / "examples" / example, env=env, cwd=cwd)
        print(f"example {example}: {len(out.splitlines())} lines")
    # the installed command: invoke prints the bare run id, which the tail example then reads
    run_id = run(
        bindir / "flue",
        "workflows",
        "invoke",
        "emit",
        "--input",
        '{"count": 7}',
        env=env,
        cwd=cwd,
    ).strip()
    if not run_id.startswith("run_") or len(run_id.split()) != 1:
        sys.exit(f"FAILED: flue workflows invoke printed {run_id!r}, not a run id")
    out = run(
        python, ROOT / "examples" / "resumable_tail.py", run_id, cwd / "ckpt", env=env, cwd=cwd
    )
    types = [line.split()[1] for line in out.splitlines()]
    if types[0] != "run_start" or types[-1] != "run_end" or types.count("log") != 7:
        sys.exit(f"FAILED: resumable_tail printed {types}")
    print(f"example resumable_tail.py: {len(types)} events of {run_id} via `flue workflows invoke`")


def run_conversation_example(python: Path, url: str, cwd: Path) -> None:
    """examples/conversation.py against `python -m flue.testing --line 2` (Flue 2.x)."""
    env = {**os.environ, "FLUE_BASE_URL": url, "FLUE_TOKEN": TOKEN}
    env.pop("PYTHONPATH", None)
    out = run(python, ROOT / "examples" / "conversation.py", "/api/chat/wheel-1", env=env, cwd=cwd)
    if "reply: echo: Hello there" not in out or "repeat deduplicated: True" not in out:
        sys.exit(f"FAILED: examples/conversation.py printed:\n{out}")
    print(f"example conversation.py (Flue 2.x fake): {len(out.splitlines())} lines")


def run_user_tests(python: Path, cwd: Path) -> None:
    project = cwd / "user_project"
    shutil.copytree(USER_PROJECT, project)
    for mode in ("strict", "auto"):
        out = run(
            python,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            f"asyncio_mode={mode}",
            "-W",
            "error::pytest.PytestUnraisableExceptionWarning",
            cwd=project,
        )
        summary = out.strip().splitlines()[-1]
        if "passed" not in summary or any(w in summary for w in ("failed", "skipped", "error")):
            sys.exit(f"FAILED: user tests (asyncio_mode={mode}): {summary}")
        print(f"user tests, asyncio_mode={mode}: {summary}")


def main() -> int:
    dist = Path(sys.argv[1]).resolve()
    wheels = sorted(dist.glob("flue_client-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"FAILED: expected one flue_client wheel in {dist}, found {wheels}")
    with tempfile.TemporaryDirectory(prefix="flue-wheel-") as tmp:
        work = Path(tmp)
        venv_dir = work / "venv"
        venv.create(venv_dir, with_pip=True)
        bindir = venv_dir / "bin"
        python = bindir / "python"
        run(python, "-m", "pip", "install", "--quiet", wheels[0], *TEST_DEPS, cwd=work)
        check_metadata(python, venv_dir, work)
        server, url = start_server(python, work)
        try:
            run_examples(bindir, url, work)
        finally:
            server.terminate()
            server.wait(timeout=10)
        server, url = start_server(python, work, "--line", "2", "--mount", "/api/chat")
        try:
            run_conversation_example(python, url, work)
        finally:
            server.terminate()
            server.wait(timeout=10)
        run_user_tests(python, work)
    print("wheel check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
