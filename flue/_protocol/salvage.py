"""The complete items of a JSON array whose text was cut (the failure path of a read).

A catch-up page, a long-poll answer and an SSE data frame each hold one JSON array of items,
and the data at an offset never changes: when the connection is cut inside one, the items
already received whole are as good as if the array had ended there. `complete_items()` reads
them one by one with the standard library's ``raw_decode`` and keeps an item only when a ``,``
or ``]`` follows it (a number cut short, ``12`` of ``123``, parses too). It runs only after a
cut, so the happy path pays nothing. `flue._protocol.delivery` hands them out, resumes from the
exact position and checks them on the re-read.

`Cuts` says what a cut means for the retry limits: one that moved the position is progress
(the backoff and the attempt count start again); one that brought bytes but no new item, at a
new place, is retried at once without being counted (the server keeps sending: waiting
would not take the next connection further); one that brought
nothing, or the same bytes at the same place again, or that timed out, counts; and the same
cut at the same place `SAME_CUTS` times in a row (a proxy's response size limit) ends the read
at once.
"""

from __future__ import annotations

import enum
import json
from typing import TYPE_CHECKING, Any

from flue._protocol.position import format_position
from flue.errors import ConnectionLostError, FlueError, FlueTimeoutError

if TYPE_CHECKING:
    from flue._protocol.delivery import Delivery

__all__ = ["SAME_CUTS", "Cut", "Cuts", "complete_items"]

SAME_CUTS = 3  # the same cut at the same place this many times in a row ends the read

_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _text(prefix: bytes) -> str | None:
    """`prefix` as text, without a character cut in two at its end (None: not UTF-8)."""
    try:
        return prefix.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":
            return None
        return prefix[: exc.start].decode("utf-8", errors="strict")


def complete_items(prefix: bytes, *, objects_only: bool) -> list[Any]:
    """The items of the array that `prefix` starts, each one followed by ``,`` or ``]``.

    Stops at the first item that is cut, malformed, or (with `objects_only`) not an object:
    what follows is left to the re-read, which reports any real error.
    """
    text = _text(prefix)
    if text is None:
        return []
    end = len(text)
    index = _skip_space(text, 0)
    if index >= end or text[index] != "[":
        return []
    items: list[Any] = []
    index = _skip_space(text, index + 1)
    while index < end and text[index] != "]":
        try:
            item, after = _DECODER.raw_decode(text, index)
        except ValueError:
            break
        after = _skip_space(text, after)
        if after >= end or text[after] not in ",]":
            break  # maybe cut short: only a delimiter proves the item whole
        if objects_only and type(item) is not dict:
            break
        items.append(item)
        if text[after] == "]":
            break
        index = _skip_space(text, after + 1)
    return items


def _skip_space(text: str, index: int) -> int:
    end = len(text)
    while index < end and text[index] in _SPACE:
        index += 1
    return index


class Cut(enum.Enum):
    """What a cut means for the retry limits (the module comment)."""

    MOVED = "moved"
    COUNTED = "counted"
    UNCOUNTED = "uncounted"


class Cuts:
    """The cuts of one read, in a row at the same place with no item complete."""

    def __init__(self) -> None:
        self._same = 0
        self._last: tuple[str, int, int] | None = None

    def reset(self) -> None:
        """The read made progress."""
        self._same = 0

    def judge(self, delivery: Delivery, items: list[Any], received: int, error: FlueError) -> Cut:
        """Queue what the cut answer brought (`Delivery.salvage`) and judge the cut; raises
        the error that ends the read (a changed re-read, or the same cut once too often)."""
        if delivery.salvage(items):
            return Cut.MOVED
        if not received or isinstance(error, FlueTimeoutError):
            return Cut.COUNTED  # nothing arrived, or too slowly: an ordinary failed attempt
        place = (delivery.offset, delivery.skip, received)
        self._same = self._same + 1 if place == self._last else 1
        self._last = place
        if self._same < SAME_CUTS:
            return Cut.COUNTED if self._same > 1 else Cut.UNCOUNTED
        at = format_position(delivery.offset, delivery.skip)
        lost = ConnectionLostError(
            f"{error}; the connection was cut {self._same} times in a row after the same "
            f"{received} bytes of the answer at position {at!r}, with no item complete: "
            "something on the way (a proxy's response size limit?) cuts it there, and retrying "
            "cannot help"
        )
        lost.__cause__ = error
        raise lost
