"""The lenient field checks, the generator of model structure functions, and the cattrs converter.

How this works: every model field is optional and typed with one of a few "lenient" types
(``str | None``, ``int | None``, ``float | None``, ``bool | None``, ``dict[str, Any] | None``,
``list[Any] | None``, ``Any``, ``SomeModel | None``...). Reading a field keeps the value when it
has the declared JSON type and leaves the default otherwise, so building a model from a dict
never raises: a missing, renamed or retyped field reads as its default (``None``), and the
untouched input dict is kept on the model as ``raw``.

`register_model` only records a class: the structure function of a class is generated (Python
source, compiled once) the first time something is built with it, so importing a models module
costs the attrs classes alone, and a program pays only for the models it builds. The generated
code reads each camelCase key with one ``dict.get``, applies the lenient check inline for the
primitive types (the same rules as the `LENIENT` hooks; a test holds them equal), calls a hook
for anything else (a nested model's own generated function, or a hook given to `register_model`
or `register_hook`), and sets the instance's ``__dict__`` in one go. That ``__dict__`` holds only
the fields that were read; every other field falls back to its default, which `register_model`
sets on the class (attribute look-up finds it there). An input holding exactly the usual keys,
each of its type (what a server sends), takes a fast path first: one `operator.itemgetter` call,
the same checks in one expression, one dict display. On 20,000 log events this takes about
0.8 µs per event (1.0 without the fast path), against 1.3-1.9 µs for filling all ~20 fields of
each event, and 2.3 µs for
attrs' frozen ``__init__`` (one ``object.__setattr__`` per field) or for cattrs' own generated
hook (see ``BENCHMARKS.md`` and ``scripts/bench_models.py``). Models are therefore attrs classes
without slots. Equality, hash, ``repr``, pickling, ``attrs.evolve`` and ``attrs.asdict`` read
attributes, so they see the defaults like any other value.

The cattrs `converter` (``flue.models.converter``) is built on first use, with every hook known
by then and every model registered later: ``converter.structure(d, LogEvent)`` builds the same
model as the model's own function, and importing cattrs is not paid by programs that never ask
for it. A field type without an inline check, a model or a registered hook (none in flue's own
models) is handed to the converter's hook for that type.
"""

from __future__ import annotations

import operator
import re
import types
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
from attrs import AttrsInstance

from flue.errors import ProtocolError

if TYPE_CHECKING:
    from cattrs import Converter

__all__ = [
    "LENIENT",
    "get_converter",
    "register_hook",
    "register_model",
    "structure_fn",
    "to_camel",
]

T = TypeVar("T", bound=AttrsInstance)
Hook = Callable[[Any, Any], Any]

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


# Field type -> (hook, the same test inlined in generated code on the value ``x``). Every test
# is false for ``None``, which is what ``dict.get`` gives for an absent key.
LENIENT: dict[Any, tuple[Hook, str]] = {
    str | None: (_opt_str, "isinstance(x, _str)"),
    int | None: (_opt_int, "x.__class__ is _int"),
    float | None: (_opt_float, "x.__class__ is _float or x.__class__ is _int"),
    bool | None: (_opt_bool, "x is True or x is False"),
    dict[str, Any] | None: (_opt_dict, "isinstance(x, _dict)"),
    list[Any] | None: (_opt_list, "isinstance(x, _list)"),
    Any: (_any, "True"),
}

_CAMEL = re.compile(r"_([a-z0-9])")


def to_camel(name: str) -> str:
    """``event_index`` -> ``eventIndex``: the JSON key of a snake_case attribute."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


def _not_an_object(name: str, o: object) -> ProtocolError:
    return ProtocolError(f"{name} must be a JSON object, got {type(o).__name__}")


def _missing(name: str, key: str) -> ProtocolError:
    return ProtocolError(f"{name} has no valid {key!r}")


@attrs.frozen
class _Spec:
    label: str | None
    fixed: tuple[str, ...]
    rare: tuple[str, ...]
    hooks: dict[str, Hook]


_SPECS: dict[type, _Spec] = {}  # registered models
_BUILT: dict[type, Callable[[Any], Any]] = {}  # their generated structure functions
_HOOKS: dict[Any, Hook] = {}  # hooks of other field types (`register_hook`)
_converter: Converter | None = None


def register_model(
    cls: type[T],
    *,
    label: str | None = None,
    fixed: tuple[str, ...] = (),
    rare: tuple[str, ...] = (),
    hooks: dict[str, Hook] | None = None,
) -> Callable[[Any], T]:
    """Register `cls` and return its structure hook (generated on its first call).

    `cls` is a frozen attrs class without slots with a ``raw`` field. A field without a default
    is required: its absence, or a value of another type, raises `ProtocolError`. Fields in
    `fixed` are not read from the input: they keep their class default (an event's ``type``,
    already known from dispatch). Fields in `rare` are looked for only when the input has keys
    left over after the others, which saves a look-up per absent key on the common path. `hooks`
    overrides the hook of some fields. The hook raises `ProtocolError` for a non-dict (naming
    `label`); as the hook of a ``cls | None`` field, a non-dict reads as ``None``.

    The returned hook looks the generated function up on each call; a hot loop should call
    ``structure_fn(cls)`` once and use what it returns.
    """
    if "__slots__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} must be an attrs class with slots=False")
    if not attrs.has(cls) or "raw" not in attrs.fields_dict(cls):
        raise TypeError(f"{cls.__name__} must be an attrs class with a raw field")
    for a in attrs.fields(cls):
        if a.default is not attrs.NOTHING and not isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
            setattr(cls, a.name, a.default)  # what a field that the input did not set reads
    _SPECS[cls] = _Spec(label, tuple(fixed), tuple(rare), dict(hooks or {}))
    _BUILT.pop(cls, None)

    def structure(o: Any, _: Any = None) -> T:
        return (_BUILT.get(cls) or structure_fn(cls))(o)  # type: ignore[no-any-return]

    structure.__name__ = f"structure_{cls.__name__}"
    structure.__doc__ = f"Build a `{cls.__name__}` from a decoded JSON object."
    if _converter is not None:
        _register_on(_converter, cls)
    return structure


def register_hook(t: Any, hook: Hook) -> None:
    """Use `hook` for model fields of type `t` (and in the converter, for `t`)."""
    _HOOKS[t] = hook
    if _converter is not None:
        _converter.register_structure_hook(t, hook)


def structure_fn(cls: type[T]) -> Callable[[Any], T]:
    """The generated structure function of the registered model `cls` (generated now if this
    is its first use)."""
    built = _BUILT.get(cls)
    if built is None:
        built = _generate(cls, _SPECS[cls])
        _BUILT[cls] = built  # a race generates twice: the same function, harmless
    return built


def _lenient(cls: Any) -> Hook:
    strict: Callable[[Any], Any] = structure_fn(cls)

    def lenient(v: Any, _: Any = None) -> Any:
        return strict(v) if isinstance(v, dict) else None

    return lenient


def _field_hook(t: Any) -> Hook:
    """The hook of a field type that has no inline check."""
    hook = _HOOKS.get(t)
    if hook is not None:
        return hook
    if t in _SPECS:
        strict: Callable[[Any], Any] = structure_fn(t)

        def required(v: Any, _: Any = None) -> Any:
            return strict(v)

        return required
    args = typing.get_args(t)
    if (
        typing.get_origin(t) in (typing.Union, types.UnionType)
        and len(args) == 2
        and args[1] is type(None)
        and args[0] in _SPECS
    ):
        return _lenient(args[0])
    return get_converter().get_structure_hook(t)


def _generate(cls: type[T], spec: _Spec) -> Callable[[Any], T]:
    hints = typing.get_type_hints(cls)
    label = spec.label or cls.__name__
    ns: dict[str, Any] = {
        "_cls": cls,
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
    lines = [f"def structure_{name}(o, _=None):"]
    slow = [
        "    if not isinstance(o, _dict):",
        f"        raise _err({label!r}, o)",
        "    d = {'raw': o}",
    ]
    required: list[str] = []
    common: list[str] = []
    later: list[str] = []
    fixed_keys: list[str] = []
    # for the fast path: (key, attribute, test on `x` or None, value expression on `x`) of the
    # required fields and of the common ones
    fast_required: list[tuple[str, str, str | None, str]] = []
    fast: list[tuple[str, str, str | None, str]] = []
    factories = 0  # fields that `d` holds whether or not the input had them
    for a in attrs.fields(cls):
        if a.name == "raw":
            continue
        key = to_camel(a.name)
        default = a.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            ns[f"_f_{a.name}"] = default.factory
        if a.name in spec.fixed:
            fixed_keys.append(key)
            continue
        t = hints[a.name]
        if default is attrs.NOTHING:
            check = LENIENT[t | None][1]
            required += [
                f"    x = o.get({key!r})",
                f"    if not ({check}):",
                f"        raise _missing({label!r}, {key!r})",
                f"    d[{a.name!r}] = x",
            ]
            fast_required.append((key, a.name, check, "x"))
            continue
        is_rare = a.name in spec.rare
        out, i = (later, "        ") if is_rare else (common, "    ")
        entry: tuple[str, str, str | None, str]
        inline = None if a.name in spec.hooks else LENIENT.get(t)
        if inline is not None and default is None:
            # every inline check is false for None: an absent key keeps the default
            test = "x is not None" if inline[1] == "True" else inline[1]
            out += [f"{i}x = o.get({key!r})", f"{i}if {test}: d[{a.name!r}] = x"]
            entry = (key, a.name, test, "x")
        elif inline is not None:
            out += [f"{i}if {key!r} in o:", f"{i}    x = o[{key!r}]"]
            out.append(f"{i}    if {inline[1]}: d[{a.name!r}] = x")
            entry = (key, a.name, None if inline[1] == "True" else inline[1], "x")
        else:
            ns[f"_h_{a.name}"] = spec.hooks.get(a.name) or _field_hook(t)
            ns[f"_t_{a.name}"] = t
            out += [
                f"{i}if {key!r} in o:",
                f"{i}    d[{a.name!r}] = _h_{a.name}(o[{key!r}], _t_{a.name})",
            ]
            entry = (key, a.name, None, f"_h_{a.name}(x, _t_{a.name})")
        if not is_rare:
            fast.append(entry)
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if is_rare:
                raise TypeError(f"{name}.{a.name}: a rare field cannot have a factory default")
            out += [f"{i}if {a.name!r} not in d: d[{a.name!r}] = _f_{a.name}()"]
            factories += 1
    lines += _fast_path(fast_required + fast, fixed_keys, ns) + slow + required + common
    if later:
        # `d` holds ``raw``, the factory fields and one entry per input key read so far (fewer
        # when a value was null or mistyped, which only costs the look-ups below): when the
        # input has more keys, some may be rare fields.
        known = " + ".join([f"len(d) - {1 + factories}", *(f"({k!r} in o)" for k in fixed_keys)])
        lines += [f"    if len(o) > {known}:", *later]
    lines += [
        "    self = _new(_cls)",
        "    _set(self, '__dict__', d)",
        "    return self",
    ]
    source = "\n".join(lines)
    exec(compile(source, f"<flue structure {name}>", "exec"), ns)
    built: Callable[[Any], T] = ns[f"structure_{name}"]
    built.__doc__ = source  # the generated source, for debugging
    return built


def _fast_path(
    fast: list[tuple[str, str, str | None, str]], fixed_keys: list[str], ns: dict[str, Any]
) -> list[str]:
    """The lines that build the model in one go when the input is a plain dict holding exactly
    the required and common keys (and the fixed ones), every value passing its check: one
    `operator.itemgetter` call and one dict display instead of a look-up and a store per field.
    Anything else (a key absent, null or mistyped, a rare or unknown key, a dict subclass) falls
    through to the general code below, which would set the very same fields: the tests are the
    general code's, and the hooks run in the same order on the same values."""
    keys = [key for key, *_ in fast] + fixed_keys
    if len(keys) < 2:  # itemgetter of one key returns the value, not a tuple
        return []
    ns["_fast_get"] = operator.itemgetter(*keys)
    names = [f"x{n}" for n in range(len(fast))] + ["_"] * len(fixed_keys)
    tests = [
        f"({_X.sub(f'x{n}', test)})" for n, (_, _, test, _) in enumerate(fast) if test is not None
    ]
    values = ", ".join(
        ["'raw': o"]
        + [f"{attr!r}: {_X.sub(f'x{n}', value)}" for n, (_, attr, _, value) in enumerate(fast)]
    )
    return [
        f"    if o.__class__ is _dict and len(o) == {len(keys)}:",
        "        try:",
        f"            {', '.join(names)} = _fast_get(o)",
        "        except KeyError:",
        "            pass",
        "        else:",
        f"            if {' and '.join(tests) or 'True'}:",
        "                self = _new(_cls)",
        f"                _set(self, '__dict__', {{{values}}})",
        "                return self",
    ]


_X = re.compile(r"\bx\b")  # the value in a LENIENT test


# -- the cattrs converter ----------------------------------------------------------------------


def get_converter() -> Converter:
    """The cattrs converter that builds every `flue` model (built on first use)."""
    global _converter
    if _converter is None:
        from cattrs import Converter

        conv = Converter(detailed_validation=False, forbid_extra_keys=False)
        for t, (hook, _) in LENIENT.items():
            if t is not Any:
                conv.register_structure_hook(t, hook)
        _register_all(conv)
        _converter = conv
        # what another thread registered meanwhile (registering again is harmless); no lock:
        # flue._models is reachable from the protocol core, which imports no threading
        _register_all(conv)
    return _converter


def _register_all(conv: Converter) -> None:
    for t, hook in list(_HOOKS.items()):
        conv.register_structure_hook(t, hook)
    for cls in list(_SPECS):
        _register_on(conv, cls)


def _register_on(conv: Converter, cls: type) -> None:
    def strict(v: Any, _: Any = None) -> Any:
        return structure_fn(cls)(v)

    def lenient(v: Any, _: Any = None) -> Any:
        return structure_fn(cls)(v) if isinstance(v, dict) else None

    conv.register_structure_hook(cls, strict)
    conv.register_structure_hook(cls | None, lenient)


def __getattr__(name: str) -> Any:
    if name == "converter":
        return get_converter()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
