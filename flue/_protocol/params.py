"""Caller-supplied read parameters: offsets, `tail`, `live`, and extra query parameters.

Everything here validates input from the caller before any request is built, raising
`InvalidArgumentError` (a `ValueError`) with a message that says what to pass instead. Offsets
are opaque: we check only that one is a non-empty string, and never parse or build one.

Extra query parameters (the ``params=`` option) are merged like httpx merges them: the
client's, then the call's on top (a call's key replaces the client's key of that name, and a
call's ``None`` removes it); they are sent after the protocol's own parameters, and the names
the protocol owns (`RESERVED_PARAMS`) are refused.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any, Literal

from flue.errors import InvalidArgumentError

__all__ = [
    "OFFSET_NOW",
    "OFFSET_START",
    "RESERVED_PARAMS",
    "LiveArg",
    "LiveMode",
    "check_offset",
    "check_run_id",
    "check_tail",
    "merge_params",
    "normalize_live",
    "query_pairs",
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


RESERVED_PARAMS = frozenset({"offset", "live", "cursor", "tail", "meta", "wait"})
"""Query parameter names the client sends itself; ``params=`` may not set them."""


def _param_value(name: str, value: object, source: str) -> str:
    if isinstance(value, bool):  # before int: True is an int
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return str(value)
    raise InvalidArgumentError(
        f"{source}: the value of {name!r} must be a str, int, finite float, bool, None, or a "
        f"list of those, got {type(value).__name__} {value!r}"
    )


def query_pairs(params: object, *, source: str = "params") -> dict[str, list[str]]:
    """Validate one ``params`` mapping; return each name's values (``[]`` for ``None``).

    A list or tuple value repeats the name; bools are sent as ``true``/``false``.
    """
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(
            f"{source} must be a dict of query parameters (or a callable returning one), got "
            f"{type(params).__name__}"
        )
    out: dict[str, list[str]] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(
                f"{source}: query parameter names must be non-empty strings, got {name!r}"
            )
        if name in RESERVED_PARAMS:
            raise InvalidArgumentError(
                f"{source} sets {name!r}, a query parameter the client sends itself "
                f"({', '.join(sorted(RESERVED_PARAMS))}); remove it, and use the call's own "
                "arguments (offset=, live=, tail=, wait=) instead"
            )
        values: Any = value if isinstance(value, (list, tuple)) else [value]
        out[name] = [_param_value(name, v, source) for v in values if v is not None]
    return out


def merge_params(
    client: Mapping[str, list[str]] | None, call: Mapping[str, list[str]] | None
) -> list[tuple[str, str]]:
    """The query pairs to send: the client's, with the call's replacing names it also sets."""
    merged = dict(client or {})
    merged.update(call or {})
    return [(name, value) for name, values in merged.items() for value in values]
