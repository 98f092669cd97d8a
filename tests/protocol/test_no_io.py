"""The protocol core does no I/O: walk the imports of every module under flue/_protocol."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "flue" / "_protocol"

FORBIDDEN = {
    "requests", "aiohttp", "asyncio", "socket", "ssl", "urllib3", "http", "httpx",
    "select", "selectors", "threading", "subprocess", "multiprocessing", "trio", "anyio",
}  # fmt: skip


def _imports(path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno))
            found += [(f"{node.module}.{alias.name}", node.lineno) for alias in node.names]
        if isinstance(node, ast.Attribute) and node.attr == "sleep":
            found.append(("<call of .sleep>", node.lineno))
    return found


def _module_file(name: str) -> Path | None:
    parts = name.split(".")
    if parts[0] != "flue":
        return None
    for candidate in (
        ROOT.joinpath(*parts).with_suffix(".py"),
        ROOT.joinpath(*parts, "__init__.py"),
    ):
        if candidate.exists():
            return candidate
    return None


def test_protocol_imports_no_io_modules() -> None:
    todo = sorted(PROTOCOL.glob("*.py"))
    seen: set[Path] = set()
    problems = []
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name, line in _imports(path):
            top = name.split(".")[0]
            if top in FORBIDDEN or name == "<call of .sleep>":
                problems.append(f"{path.relative_to(ROOT)}:{line} uses {name}")
            internal = _module_file(name)
            if internal is not None:
                # flue modules reachable from the core must be I/O-free too (and not a transport)
                assert "_transports" not in internal.parts, f"{path} imports a transport"
                todo.append(internal)
    assert len(seen) >= 8
    assert problems == []


def test_walker_catches_an_io_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom asyncio import sleep\nimport time\ntime.sleep(1)\n")
    names = {name for name, _ in _imports(bad)}
    assert "socket" in names and "asyncio" in names and "<call of .sleep>" in names


def test_protocol_package_imports_without_http_libraries() -> None:
    import subprocess

    code = (
        "import sys\n"
        "import flue._protocol.reader, flue._protocol.sse, flue._protocol.retry\n"
        "bad = [m for m in ('requests', 'aiohttp', 'asyncio', 'socket') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
