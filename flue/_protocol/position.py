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

from typing import TYPE_CHECKING

from flue._protocol.params import OFFSET_NOW, OFFSET_START
from flue.errors import InvalidArgumentError

if TYPE_CHECKING:
    from flue._protocol.batches import Decode
    from flue._protocol.delivery import Delivery

__all__ = ["check_resume", "exact_start", "format_position", "parse_position", "position_in"]

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


def exact_start(offset: str, tail: int | None) -> bool:
    """True when a checkpoint names a fixed place to count items from."""
    return offset != OFFSET_NOW and not (offset == OFFSET_START and tail is not None)


def check_resume(skip: int, *, offset: str, tail: int | None, decode: Decode) -> None:
    """Refuse a count without a fixed start: from ``"now"``, from ``"-1"`` with `tail`, and on
    byte streams (whose chunks are not items)."""
    if not skip or (exact_start(offset, tail) and decode != "bytes"):
        return
    if decode == "bytes":
        what = "a byte stream (they resume per batch)"
    elif tail is not None and offset == OFFSET_START:
        what = "a read with tail (the last events move as the run grows)"
    else:
        what = f"offset {offset!r}"
    raise InvalidArgumentError(
        f"a position counting {skip} item(s) cannot resume {what}; pass the position as the "
        "stream returned it, with the same options"
    )


def position_in(delivery: Delivery, handed: int, *, tail: int | None, decode: Decode) -> str:
    """The exact position after `handed` items of the batch being delivered (0: before it, or
    between batches).

    Where a count has no fixed start (``"now"`` or ``"-1"`` with `tail` until the first batch
    is whole, and inside a batch of a byte stream) it is the checkpoint with ``+0``, as good as
    the offset and no better.
    """
    batch = delivery.delivering
    if batch is None:
        if handed:
            raise RuntimeError("position(handed) with no batch being delivered")
        return format_position(delivery.offset, delivery.skip)
    if not 0 <= handed <= len(batch.items):
        raise ValueError(f"handed={handed} is outside a batch of {len(batch.items)}")
    if handed == len(batch.items) and (batch.items or batch.skipped) and not batch.partial:
        return format_position(batch.next_offset, 0)  # the whole batch: exact everywhere
    if not exact_start(delivery.offset, tail) or (decode == "bytes" and handed):
        return format_position(delivery.offset, 0)
    return format_position(delivery.offset, batch.skipped + handed)
