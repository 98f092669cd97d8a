"""The one cattrs converter, its lenient field hooks, and the generator of model hooks.

How this works: every model field is optional and typed with one of a few "lenient" types
(``str | None``, ``int | None``, ``float | None``, ``bool | None``, ``dict[str, Any] | None``,
``list[Any] | None``, ``Any``, ``SomeModel | None``...). The converter's hook for each returns the
value when it has the declared JSON type and ``None`` otherwise, so building a model from a dict
never raises: a missing, renamed or retyped field reads as ``None``, and the untouched input dict
is kept on the model as ``raw``.

`register_model` generates one structure function per class, registers it on the converter and
returns it. The generated code reads each camelCase key present, applies the lenient check
inline for the primitive types (the same rules as the hooks below; a test holds them equal) and
calls the converter's hook for anything else, then fills the instance's ``__dict__`` in one go.
Writing it here rather than through ``cattrs.gen.make_dict_structure_fn`` makes event reads
about 2.5x faster: attrs' frozen ``__init__`` sets fields one ``object.__setattr__`` at a time and
cattrs calls a hook per field (see ``scripts/bench_models.py``). Models are therefore attrs
classes without slots.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from attrs import AttrsInstance
from cattrs import Converter

from flue.errors import ProtocolError

__all__ = ["converter", "register_model", "to_camel"]

T = TypeVar("T", bound=AttrsInstance)

converter = Converter(detailed_validation=False, forbid_extra_keys=False)
"""The converter that builds every `flue` model from decoded JSON."""

_NUMBER = (int, float)


def _opt_str(v: Any, _: Any = None) -> str | None:
    return v if isinstance(v, str) else None


def _opt_int(v: Any, _: Any = None) -> int | None:
    # ``type(v) is int`` rather than isinstance: JSON ``true`` must not read as 1.
    return v if type(v) is int else None


def _opt_float(v: Any, _: Any = None) -> float | None:
    return v if type(v) in _NUMBER else None


def _opt_bool(v: Any, _: Any = None) -> bool | None:
    return v if v is True or v is False else None


def _opt_dict(v: Any, _: Any = None) -> dict[str, Any] | None:
    return v if isinstance(v, dict) else None


def _opt_list(v: Any, _: Any = None) -> list[Any] | None:
    return v if isinstance(v, list) else None


def _any(v: Any, _: Any = None) -> Any:
    return v


# Field type -> (converter hook, the same test inlined in generated code on the value ``x``).
LENIENT: dict[Any, tuple[Callable[[Any, Any], Any], str]] = {
    str | None: (_opt_str, "isinstance(x, _str)"),
    int | None: (_opt_int, "x.__class__ is _int"),
    float | None: (_opt_float, "x.__class__ is _float or x.__class__ is _int"),
    bool | None: (_opt_bool, "x is True or x is False"),
    dict[str, Any] | None: (_opt_dict, "isinstance(x, _dict)"),
    list[Any] | None: (_opt_list, "isinstance(x, _list)"),
    Any: (_any, "True"),
}
for _t, (_hook, _) in LENIENT.items():
    if _t is not Any:
        converter.register_structure_hook(_t, _hook)

_CAMEL = re.compile(r"_([a-z0-9])")


def to_camel(name: str) -> str:
    """``event_index`` -> ``eventIndex``: the JSON key of a snake_case attribute."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _not_an_object(name: str, o: object) -> ProtocolError:
    return ProtocolError(f"{name} must be a JSON object, got {type(o).__name__}")


def _missing(name: str, key: str) -> ProtocolError:
    return ProtocolError(f"{name} has no valid {key!r}")


def register_model(
    cls: type[T],
    *,
    label: str | None = None,
    fixed: tuple[str, ...] = (),
    rare: tuple[str, ...] = (),
    hooks: dict[str, Callable[[Any, Any], Any]] | None = None,
) -> Callable[[Any], T]:
    """Generate, register (for `cls` and ``cls | None``) and return the structure hook of `cls`.

    `cls` is a frozen attrs class without slots with a ``raw`` field. A field without a default
    is required: its absence, or a value of another type, raises `ProtocolError`. Fields in
    `fixed` are not read from the input: they keep their class default (an event's ``type``,
    already known from dispatch). Fields in `rare` are looked for only when the input has keys
    left over after the others, which saves a lookup per absent key on the common path. `hooks`
    overrides the hook of some fields. The hook raises `ProtocolError` for a non-dict (naming
    `label`); the ``cls | None`` hook turns a non-dict into ``None``.
    """
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} must be an attrs class with slots=False")
    hints = typing.get_type_hints(cls)
    hooks = hooks or {}
    defaults: dict[str, Any] = {}
    ns: dict[str, Any] = {
        "_cls": cls,
        "_defaults": defaults,
        "_new": object.__new__,
        "_set": object.__setattr__,
        "_err": _not_an_object,
        "_missing": _missing,
        "_str": str,
        "_int": int,
        "_float": float,
        "_dict": dict,
        "_list": list,
    }
    name = cls.__name__
    lines = [
        f"def structure_{name}(o, _=None):",
        "    if not isinstance(o, _dict):",
        f"        raise _err({label or name!r}, o)",
        "    d = _defaults.copy()",
    ]
    if rare:
        lines.append("    n = 0")  # how many input keys the common fields account for
    common: list[str] = []
    later: list[str] = []
    for a in attrs.fields(cls):
        if a.default is not attrs.NOTHING and not isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
            defaults[a.name] = a.default
        if a.name == "raw":
            continue
        if a.name in fixed:
            if rare:
                lines.append(f"    if {to_camel(a.name)!r} in o: n += 1")
            continue
        is_rare = a.name in rare
        out, i = (later, "        ") if is_rare else (common, "    ")
        key = to_camel(a.name)
        t = hints[a.name]
        if a.default is attrs.NOTHING:
            check = LENIENT[t | None][1]
            common += [
                f"    x = o.get({key!r})",
                f"    if not ({check}):",
                f"        raise _missing({label or name!r}, {key!r})",
                f"    d[{a.name!r}] = x",
            ]
            if rare:
                common.append("    n += 1")
            continue
        out += [f"{i}if {key!r} in o:", f"{i}    x = o[{key!r}]"]
        if rare and not is_rare:
            out.append(f"{i}    n += 1")
        inline = None if a.name in hooks else LENIENT.get(t)
        if inline is not None and inline[1] == "True":
            out.append(f"{i}    d[{a.name!r}] = x")
        elif inline is not None:
            out.append(f"{i}    if {inline[1]}: d[{a.name!r}] = x")
        else:
            ns[f"_h_{a.name}"] = hooks.get(a.name) or converter.get_structure_hook(t)
            ns[f"_t_{a.name}"] = t
            out.append(f"{i}    d[{a.name!r}] = _h_{a.name}(x, _t_{a.name})")
    lines += common
    if later:
        lines += ["    if len(o) > n:", *later]
    lines += [
        "    d['raw'] = o",
        "    self = _new(_cls)",
        "    _set(self, '__dict__', d)",
        "    return self",
    ]
    exec(compile("\n".join(lines), f"<flue structure {name}>", "exec"), ns)
    strict: Callable[..., T] = ns[f"structure_{name}"]
    strict.__doc__ = "\n".join(lines)  # the generated source, for debugging

    def lenient(v: Any, _: Any = None) -> T | None:
        return strict(v) if isinstance(v, dict) else None

    converter.register_structure_hook(cls, strict)
    converter.register_structure_hook(cls | None, lenient)
    return strict
