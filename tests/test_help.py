"""``help(FlueClient)`` and ``help(FlueClient.__init__)`` describe every constructor argument."""

from __future__ import annotations

import inspect
import pydoc
import re

import pytest

from flue import AsyncFlueClient, FlueClient

CLIENTS = [FlueClient, AsyncFlueClient]


def described(text: str) -> dict[str, str]:
    """``name: description`` entries of the rendered Args section (continuation lines joined)."""
    args = text.split("Args:", 1)[1].split("Raises:", 1)[0]
    entries: dict[str, str] = {}
    name = None
    for line in args.splitlines():
        line = line.lstrip(" |")
        found = re.match(r"(\w+): (.+)", line)
        if found and found[1] not in entries and found[1].isidentifier():
            name = found[1]
            entries[name] = found[2]
        elif name is not None and line.strip():
            entries[name] += " " + line.strip()
    return entries


@pytest.mark.parametrize("cls", CLIENTS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("target", ["class", "__init__"])
def test_help_describes_every_argument(cls: type, target: str) -> None:
    obj = cls if target == "class" else cls.__init__  # type: ignore[misc]
    text = pydoc.render_doc(obj, renderer=pydoc.plaintext)
    assert "Initialize self.  See help(type(self))" not in text
    parameters = [p for p in inspect.signature(cls).parameters]
    assert len(parameters) == 13
    entries = described(text)
    for name in parameters:
        assert name in entries, f"help({cls.__name__}) does not describe {name!r}"
        assert len(entries[name]) >= 30, (name, entries[name])
    assert "no limit" in entries["timeout"] and "fail_fast" in entries["retry"]
    assert entries["base_url"].startswith("the application's URL")
