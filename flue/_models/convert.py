"""Event dispatch: decoded JSON objects in, event models out.

How this works: `_BUILD` maps each ``type`` string to the generated structure function of its
event class (`flue._models.events`, `flue._models.base`), filled on the first event of each
type: importing this module does not import the event classes, and a program generates the
functions of the types it reads and no others. Converting an event is a dict look-up on ``type``
and one call. The functions cannot raise on a dict (every field check is lenient), so the only
failure is a non-dict input, which is a `ProtocolError`. Anything with an unknown, missing or
unhashable ``type`` becomes an `UnknownEvent`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from flue._models.base import structure_fn
from flue.errors import ProtocolError

if TYPE_CHECKING:
    from flue._models.events import Event

__all__ = ["event_from_dict", "events_from_dicts"]

_Build = Callable[[Any], "Event"]

_BUILD: dict[str, _Build] = {}
"""Event ``type`` -> the structure function of its class, for the types read so far (and up to
`_MAX_UNKNOWN` unknown type strings, which map to `UnknownEvent`'s)."""

_MAX_UNKNOWN = 64  # a server inventing types cannot grow the table beyond this
_unknown_types = 0


def _builder(d: Any) -> _Build:
    """The structure function for `d` when `_BUILD` has none: generated for a known type,
    `UnknownEvent`'s for anything else (a non-dict included: it raises `ProtocolError`)."""
    global _unknown_types
    from flue._models.events import EVENT_TYPES, UnknownEvent

    kind = d.get("type") if isinstance(d, dict) else None
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    build = cast(_Build, structure_fn(cls or UnknownEvent))
    if not isinstance(kind, str):
        return build
    if cls is None:
        if _unknown_types >= _MAX_UNKNOWN:
            return build
        _unknown_types += 1
    _BUILD[kind] = build
    return build


def event_from_dict(d: dict[str, Any]) -> Event:
    """Build the event model for one decoded JSON object.

    Never fails on a dict: an unknown ``type`` gives an `UnknownEvent`, unknown fields are kept
    in ``raw``, missing or mistyped fields read as ``None``. A non-dict raises `ProtocolError`.
    """
    try:
        build = _BUILD[d["type"]]
    except (KeyError, TypeError, IndexError):  # first of its type, unknown, no type, not a dict
        build = _builder(d)
    return build(d)


def events_from_dicts(ds: list[dict[str, Any]]) -> list[Event]:
    """Build the event models for a list of decoded JSON objects (one batch of the stream).

    Same rules as `event_from_dict`; a non-list, or a non-dict item, raises `ProtocolError`.
    """
    if not isinstance(ds, list):
        raise ProtocolError(f"expected a JSON array of events, got {type(ds).__name__}")
    table = _BUILD
    out: list[Event] = []
    append = out.append
    # The functions check for a dict themselves; try/except costs nothing in CPython 3.11+
    # unless it catches: for the first event of a type, and for events without a known type.
    for d in ds:
        try:
            build = table[d["type"]]
        except (KeyError, TypeError, IndexError):
            build = _builder(d)
        append(build(d))
    return out
