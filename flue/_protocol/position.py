"""Per-item resume positions: ``"<offset>+<n>"``.

A stream's checkpoint (its offset) moves per batch, so resuming from it re-delivers the items
of the batch in flight. Data at an offset never changes, so "the offset, plus the number of
items already handed out after it" names the place between two items exactly: a position is
that pair written as one opaque string, ``f"{offset}+{n}"``. Resuming from it reads from the
offset and drops the first ``n`` items read there (`flue._protocol.delivery` does, and fails
when fewer than ``n`` items are there: it never skips a different item).

Offsets are opaque and may contain ``+``: a position splits at its LAST ``+``, whose tail is
always the decimal count. docs/resume.md is the user's guide.
"""

from __future__ import annotations

from flue.errors import InvalidArgumentError

__all__ = ["format_position", "parse_position"]

# a count longer than this is no count this client wrote (a batch holds at most ~100 items)
_MAX_DIGITS = 12


def format_position(offset: str, handed: int) -> str:
    """The position after `handed` items read from `offset`."""
    return f"{offset}+{handed}"


def parse_position(position: object) -> tuple[str, int]:
    """The offset and the count of a position string (`InvalidArgumentError` if it is none)."""
    if not isinstance(position, str):
        raise InvalidArgumentError(
            f"position must be a string saved from a stream's .position, got "
            f"{type(position).__name__}"
        )
    offset, plus, count = position.rpartition("+")
    if (
        not plus
        or not offset
        or not count
        or len(count) > _MAX_DIGITS
        or not (count.isascii() and count.isdigit())
    ):
        raise InvalidArgumentError(
            f"position {position[:120]!r} is not a position saved from a stream's .position "
            "(they look like '<offset>+<n>'); to start from an offset, pass offset= instead"
        )
    return offset, int(count)
