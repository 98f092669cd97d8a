"""Every Python block of the README (and of the docs' home page) runs as written (issue 25): the
quick start on its own, the "against your application" blocks with FLUE_BASE_URL pointing at
flue.testing, and the test function of "Testing your own code" called like pytest would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from flue.testing import FlueTestServer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
HOME = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "index.md").read_text("utf-8"), re.S)


@pytest.fixture(scope="module")
def app() -> Any:
    with FlueTestServer.running_in_thread() as server:
        yield server


@pytest.mark.parametrize(
    "name, block",
    [(f"README.md block {i}", b) for i, b in enumerate(BLOCKS)]
    + [(f"docs/index.md block {i}", b) for i, b in enumerate(HOME)],
)
def test_every_python_block_runs(
    name: str, block: str, app: FlueTestServer, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("FLUE_BASE_URL", app.url)
    monkeypatch.delenv("FLUE_TOKEN", raising=False)
    namespace: dict[str, Any] = {"__name__": "__readme__"}
    exec(compile(block, name, "exec"), namespace)
    for name, value in namespace.items():
        if name.startswith("test_") and callable(value):
            value()
    assert capsys.readouterr().out or any(n.startswith("test_") for n in namespace)


def test_the_quick_start_is_first_and_self_contained() -> None:
    first = BLOCKS[0]
    assert "FlueTestServer.running_in_thread()" in first and "my-app.example" not in first
    assert len(README.read_text(encoding="utf-8").splitlines()) < 300
