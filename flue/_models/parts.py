"""The parts of an agent conversation's messages: text, reasoning, files, tool calls and (Flue
2.x) named data parts, built leniently like every model (`flue._models.base`).

`part_from_dict` never raises: an unknown or missing ``type`` (or a non-object) gives an
`UnknownPart` keeping the raw value; a ``type`` ``"data-<name>"`` gives a `DataPart`.
"""

from __future__ import annotations

from typing import Any, TypeAlias, cast

import attrs

from flue._models.base import register_hook, register_model
from flue.errors import ProtocolError

__all__ = [
    "DataPart",
    "FilePart",
    "Part",
    "ReasoningPart",
    "TextPart",
    "ToolPart",
    "UnknownPart",
    "part_from_dict",
    "parts_from_list",
]


@attrs.frozen(kw_only=True, slots=False)
class TextPart:
    """Assistant or user text; ``state`` is ``"streaming"`` while deltas arrive, then
    ``"done"``."""

    type: str = "text"
    text: str = ""
    state: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ReasoningPart:
    """Model reasoning ("thinking") text; ``state`` as for `TextPart`."""

    type: str = "reasoning"
    text: str = ""
    state: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class FilePart:
    """An attachment (an image sent with a prompt...). ``url`` is filled in by the client for a
    recorded attachment (one with an ``id``): the agent's attachments route, which an agent
    serves only when it opts in (else that URL answers 404)."""

    type: str = "file"
    media_type: str | None = None
    id: str | None = None
    size: int | None = None
    url: str | None = None
    filename: str | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class ToolPart:
    """A tool call (``"dynamic-tool"``): ``state`` is ``"input-available"``, then
    ``"output-available"`` (with ``output``) or ``"output-error"`` (with ``error_text``).
    ``duration_ms`` is how long the tool ran (Flue 2.x, once the outcome is known)."""

    type: str = "dynamic-tool"
    tool_name: str | None = None
    tool_call_id: str | None = None
    state: str | None = None
    input: Any = None
    output: Any = None
    error_text: str | None = None
    duration_ms: float | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


@attrs.frozen(kw_only=True, slots=False)
class DataPart:
    """A named data part an agent streams to its clients (Flue 2.x ``useDataWriter``): on the
    wire ``{"type": "data-<name>", "data": ...}``. ``name`` identifies the part within its
    message (a later write of the same name replaces ``data`` in place); ``type`` is
    ``"data-<name>"``."""

    name: str = ""
    data: Any = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)

    @property
    def type(self) -> str:
        """``"data-<name>"``, the part's JSON ``type``."""
        return f"data-{self.name}"


_DATA_PREFIX = "data-"


def _data_part(d: Any, _: Any = None) -> DataPart:
    kind = d.get("type") if isinstance(d, dict) else None
    if not isinstance(kind, str) or not kind.startswith(_DATA_PREFIX):
        raise ProtocolError(f"a data part needs a type 'data-<name>', got {kind!r}")
    return DataPart(name=kind[len(_DATA_PREFIX) :], data=d.get("data"), raw=d)


register_hook(DataPart, _data_part)


@attrs.frozen(kw_only=True, slots=False)
class UnknownPart:
    """A part of a ``type`` this version does not know (everything is in ``raw``)."""

    type: str = ""
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


Part: TypeAlias = TextPart | ReasoningPart | FilePart | ToolPart | DataPart | UnknownPart

_PART_BUILD = {
    "text": register_model(TextPart, fixed=("type",), hooks={"text": lambda v, _: _text(v)}),
    "reasoning": register_model(
        ReasoningPart, fixed=("type",), hooks={"text": lambda v, _: _text(v)}
    ),
    "file": register_model(FilePart, fixed=("type",)),
    "dynamic-tool": register_model(ToolPart, fixed=("type",)),
}


def _text(v: Any) -> str:
    return v if isinstance(v, str) else ""


def part_from_dict(d: Any) -> Part:
    """One part; an unknown or missing ``type`` (or a non-object) gives an `UnknownPart`."""
    if not isinstance(d, dict):
        return UnknownPart(type="", raw={"value": d})
    kind = d.get("type")
    build = _PART_BUILD.get(kind) if isinstance(kind, str) else None
    if build is None:
        if isinstance(kind, str) and kind.startswith(_DATA_PREFIX):
            return _data_part(d)
        return UnknownPart(type=kind if isinstance(kind, str) else "", raw=d)
    return cast(Part, build(d))


def parts_from_list(v: Any, _: Any = None) -> tuple[Part, ...]:
    """The parts of a message from its JSON ``parts`` (a non-list gives no parts)."""
    return tuple(part_from_dict(p) for p in v) if isinstance(v, list) else ()
