# Text from a server, made safe to print on a terminal. A terminal acts on some characters
# instead of showing them: ESC starts sequences that move the cursor, clear the screen, retitle
# the window or write to the clipboard; CR and BS overwrite what was shown; C1 controls (U+0080
# to U+009F, among them the one-byte CSI) do what ESC does on many terminals; bidirectional
# overrides reorder what is shown. Each of them is written as the JSON escape ``\uXXXX``
# instead, which is visible text on a terminal and, inside a JSON string, decodes back to the
# same character, so one rule serves the human and the ``--json`` output. Newlines and tabs
# stay.

from __future__ import annotations

import re

__all__ = ["printable"]

_ACTIVE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def printable(text: str) -> str:
    """`text` with every character a terminal would act on written as ``\\uXXXX``."""
    return _ACTIVE.sub(_escape, text)
