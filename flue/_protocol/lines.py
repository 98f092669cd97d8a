"""Which Flue line a server speaks for agent conversations, learnt from what it says.

How it works: Flue 1.0 (beta.9) and Flue 2.x serve conversations at URLs of the same shape but
with different request bodies and replies (docs/agents.md has the table). The client never
guesses the line from a version string and never spends a request on finding out: every answer
it reads anyway says which line wrote it.

* a 202 admission carries ``uid`` on 2.x only (`line_of_admission`);
* a history snapshot carries ``incarnation`` on 2.x only (`line_of_history`);
* 2.x starts every updates answer with a ``stream-checkpoint`` chunk (`is_checkpoint`);
* 2.x refuses ``?wait=result`` with ``400 invalid_request``; beta.9 refuses the 2.x body with a
  ``400`` naming its own body (`rejected_beta9_body`).

`ServerLines` remembers what was learnt per origin (scheme, host, port): the mounts of one
application share its line. Until something is learnt, requests are built to work on both
lines where that is possible (a plain user message carries both bodies' fields; each line
ignores the other's) and in the 2.x form otherwise.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = [
    "LINE_1",
    "LINE_2",
    "ServerLine",
    "ServerLines",
    "is_checkpoint",
    "line_of_admission",
    "line_of_history",
    "rejected_beta9_body",
    "rejected_wait_result",
]

ServerLine = Literal["1.0", "2"]
LINE_1: ServerLine = "1.0"
LINE_2: ServerLine = "2"

# what beta.9 answers (400 invalid_request) to a body without its `message` string
_BETA9_BODY_REASON = 'JSON object body { "message": string'


def line_of_admission(doc: Any) -> ServerLine | None:
    """The line of a 202 admission document (None when it is not an admission)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("submissionId"), str):
        return None
    return LINE_2 if "uid" in doc else LINE_1


def line_of_history(doc: Any) -> ServerLine | None:
    """The line of a history snapshot document (None when it is not one)."""
    if not isinstance(doc, dict) or "messages" not in doc:
        return None
    return LINE_2 if isinstance(doc.get("incarnation"), str) else LINE_1


def is_checkpoint(item: Any) -> bool:
    """True for 2.x's ``stream-checkpoint`` chunk (it has no position and no content)."""
    return isinstance(item, dict) and item.get("type") == "stream-checkpoint"


def rejected_beta9_body(status: int, details: Any) -> bool:
    """True when a 400 is beta.9 refusing a body that is not ``{"message": ...}`` (its
    ``invalid_request`` says why in ``details``)."""
    return status == 400 and isinstance(details, str) and _BETA9_BODY_REASON in details


def rejected_wait_result(status: int, error_type: str | None) -> bool:
    """True when a 400 is 2.x refusing ``?wait=result`` (2.x has no waiting prompt)."""
    return status == 400 and error_type == "invalid_request"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ServerLines:
    """The line learnt for each origin a client talks to (a later lesson replaces an earlier
    one: a server can be redeployed on another line). One dict item set per lesson, so tasks
    and threads sharing a client need no lock."""

    def __init__(self) -> None:
        self._lines: dict[str, ServerLine] = {}

    def get(self, url: str) -> ServerLine | None:
        """What is known of the server behind `url` (None: nothing yet)."""
        return self._lines.get(_origin(url))

    def learn(self, url: str, line: ServerLine | None) -> None:
        """Remember `line` for the server behind `url` (None is ignored)."""
        if line is not None:
            self._lines[_origin(url)] = line
