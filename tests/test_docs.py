"""The defaults the API reference states are the defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path

from flue import RetryPolicy, Timeout

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_config_page_states_the_real_defaults() -> None:
    text = (DOCS / "api" / "config.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block is not None
    stated = [
        eval(expr, {"RetryPolicy": RetryPolicy, "Timeout": Timeout})
        for expr in re.split(r"\n(?=\w)", block.group(1).strip())
    ]
    assert stated == [RetryPolicy(), Timeout()]
