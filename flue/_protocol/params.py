"""Caller-supplied read parameters: offsets, `tail` and `live`.

Everything here validates input from the caller before any request is built, raising
`InvalidArgumentError` (a `ValueError`) with a message that says what to pass instead. Offsets
are opaque: we check only that one is a non-empty string, and never parse or build one.
"""

from __future__ import annotations

import enum
from typing import Literal

from flue.errors import InvalidArgumentError

__all__ = [
    "OFFSET_NOW",
    "OFFSET_START",
    "LiveArg",
    "LiveMode",
    "check_offset",
    "check_run_id",
    "check_tail",
    "normalize_live",
]

OFFSET_START = "-1"
"""Read from the beginning of the stream."""

OFFSET_NOW = "now"
"""Read from the current tail: only what is appended after the request."""


class LiveMode(str, enum.Enum):
    """How a stream keeps reading once it is up to date."""

    LONG_POLL = "long-poll"
    SSE = "sse"


LiveArg = bool | Literal["long-poll", "sse"] | LiveMode


def check_offset(offset: object) -> str:
    """Return `offset` if it is a usable offset string, else raise `InvalidArgumentError`."""
    if not isinstance(offset, str):
        raise InvalidArgumentError(
            f"offset must be a string ('-1', 'now' or an offset returned by the server), "
            f"got {type(offset).__name__}"
        )
    if not offset:
        raise InvalidArgumentError(
            "offset must not be empty: pass '-1' to read from the start, 'now' for new events "
            "only, or a checkpoint saved from stream.offset"
        )
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in offset):
        raise InvalidArgumentError("offset contains control characters; pass it back unchanged")
    return offset


def check_tail(tail: object) -> int | None:
    """Validate `tail` (None or an int >= 1; bools are refused)."""
    if tail is None:
        return None
    if isinstance(tail, bool) or not isinstance(tail, int):
        raise InvalidArgumentError(
            f"tail must be an integer >= 1 (the number of most recent events), "
            f"got {type(tail).__name__} {tail!r}"
        )
    if tail < 1:
        raise InvalidArgumentError(f"tail must be >= 1, got {tail}; omit it to read every event")
    return tail


def normalize_live(live: object) -> LiveMode | None:
    """Map the `live` argument to a `LiveMode`, or None for a catch-up-only read."""
    if live is False or live is None:
        return None
    if live is True:
        return LiveMode.LONG_POLL
    if isinstance(live, LiveMode):
        return live
    if isinstance(live, str):
        for mode in LiveMode:
            if live == mode.value:
                return mode
    raise InvalidArgumentError(f"live must be True, False, 'long-poll' or 'sse', got {live!r}")


def check_run_id(run_id: object) -> str:
    """Validate a run id: a non-empty string other than "." and "..", sent as one
    percent-encoded path segment."""
    if not isinstance(run_id, str) or not run_id:
        raise InvalidArgumentError(f"run_id must be a non-empty string, got {run_id!r}")
    if run_id in (".", ".."):
        # percent-encoding leaves dots alone, and URL libraries resolve "/runs/.." to "/"
        raise InvalidArgumentError(f"run_id {run_id!r} is not a valid run id")
    return run_id
