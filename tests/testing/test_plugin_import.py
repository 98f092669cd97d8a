"""The pytest plugin is loaded by every pytest run of a project that installs flue: it must not
import aiohttp (or requests) until one of its fixtures is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("aiohttp", "requests")


def _loaded_after(code: str) -> list[str]:
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import sys
        print(",".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return [name for name in out.strip().split(",") if name]


def test_importing_the_plugin_imports_no_http_library() -> None:
    assert _loaded_after("import flue.testing.pytest_plugin") == []
    assert _loaded_after("import flue.testing") == []


def test_using_a_name_from_flue_testing_imports_aiohttp() -> None:
    # the control: the probe does see aiohttp once the fake server is really needed
    assert _loaded_after("from flue.testing import FlueTestServer") == ["aiohttp"]


def test_a_pytest_run_that_uses_no_fixture_imports_no_http_library(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
            import sys

            def test_nothing_heavy():
                assert "aiohttp" not in sys.modules
                assert "requests" not in sys.modules
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # the plugin was loaded (its marker is registered), yet nothing heavy was imported
    markers = subprocess.run(
        [sys.executable, "-m", "pytest", "--markers", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "flue_server(**kwargs)" in markers.stdout
