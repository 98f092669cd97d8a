"""The generated structure functions against a slow reference: for any input, every field holds
what the lenient rules say (the input's value when it has the declared JSON type, else the
default), whichever fields are present, null, mistyped or rare; plus what their speed rests on
(instances hold only the fields read, defaults come from the class, functions are generated on
first use) and the lazy `flue.models` namespace."""

from __future__ import annotations

import ast
import copy
import importlib
import pickle
import types
import typing
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import flue.models
import flue.testing
from flue._models import base
from flue._models.base import LENIENT, register_model, structure_fn, to_camel
from flue.errors import ProtocolError
from flue.models import (
    EVENT_TYPES,
    LogEvent,
    RunRecord,
    SerializedError,
    SubmissionSettledEvent,
    TurnEvent,
    UnknownEvent,
    event_from_dict,
    events_from_dicts,
    run_record_from_dict,
)
from tests.test_models import JSON, KEYS, event_dicts

ROOT = Path(__file__).resolve().parent.parent


def reference(cls: type, d: dict[str, Any], *, fixed: tuple[str, ...] = ()) -> Any:
    """`cls` built the slow, obvious way: through its attrs ``__init__``, field by field."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for a in attrs.fields(cls):
        if a.name == "raw" or a.name in fixed:
            continue
        key = to_camel(a.name)
        if key not in d:
            continue
        value, t = d[key], hints[a.name]
        if t in LENIENT:
            value = LENIENT[t][0](value, None)
        elif cls is UnknownEvent and a.name == "type":
            value = value if isinstance(value, str) else ""
        else:
            models = [x for x in typing.get_args(t) if attrs.has(x)]
            assert len(models) == 1, (cls, a.name, t)  # `Model | None` or `Model | str | None`
            if isinstance(value, dict):
                value = reference(models[0], value)
            elif not (str in typing.get_args(t) and isinstance(value, str)):
                value = None
        kwargs[a.name] = value
    return cls(**kwargs, raw=d)


def same_fields(built: Any, expected: Any) -> None:
    assert type(built) is type(expected)
    for a in attrs.fields(type(expected)):
        got, want = getattr(built, a.name), getattr(expected, a.name)
        if attrs.has(type(want)):
            same_fields(got, want)
        else:
            assert got == want and type(got) is type(want), (a.name, got, want)
    assert built == expected


@settings(max_examples=500)
@given(event_dicts())
def test_events_read_like_the_reference(d: dict[str, Any]) -> None:
    cls = EVENT_TYPES.get(d["type"]) if isinstance(d["type"], str) else None
    expected = reference(cls or UnknownEvent, d, fixed=("type",) if cls else ())
    same_fields(event_from_dict(d), expected)
    same_fields(events_from_dicts([d])[0], expected)


CONTEXT = ["instanceId", "dispatchId", "session", "turnId", "agentName", "conversationId"]


@settings(max_examples=300)
@given(
    st.sampled_from(sorted(EVENT_TYPES)),
    st.dictionaries(st.sampled_from(["v", "eventIndex", "timestamp", "runId"]), JSON),
    st.dictionaries(st.sampled_from(CONTEXT), st.text(max_size=3) | JSON, min_size=1),
)
def test_rare_fields_are_read_whatever_the_common_ones_hold(
    type_: str, common: dict[str, Any], rare: dict[str, Any]
) -> None:
    # null or mistyped common fields, and fields of other types, must not hide a rare field
    d = {"type": type_, **common, **rare}
    same_fields(event_from_dict(d), reference(EVENT_TYPES[type_], d, fixed=("type",)))


@given(st.dictionaries(KEYS | st.sampled_from(["status", "endedAt", "workflowName"]), JSON))
def test_run_records_read_like_the_reference(d: dict[str, Any]) -> None:
    same_fields(run_record_from_dict(d), reference(RunRecord, d))


# -- the fast path: inputs holding exactly the required and common keys ------------------------


class _Str(str):
    """A str subclass: the general code accepts it (isinstance), the fast path must leave such
    a value to it rather than treat it differently."""


def _fast_keys(cls: type) -> list[tuple[str, Any]]:
    """(key, field type) of the fields the fast path reads (required and common: neither
    fixed, rare nor ``raw``)."""
    spec = base._SPECS[cls]
    hints = typing.get_type_hints(cls)
    return [
        (to_camel(a.name), hints[a.name])
        for a in attrs.fields(cls)
        if a.name != "raw" and a.name not in spec.fixed and a.name not in spec.rare
    ]


_TYPED: dict[Any, st.SearchStrategy[Any]] = {
    str | None: st.text(max_size=4),
    int | None: st.integers(),
    float | None: st.floats(allow_nan=False) | st.integers(),
    bool | None: st.booleans(),
    dict[str, Any] | None: st.dictionaries(st.text(max_size=3), JSON, max_size=2),
    list[Any] | None: st.lists(JSON, max_size=2),
}


def _value(t: Any) -> st.SearchStrategy[Any]:
    """Mostly a value of the field's JSON type (so that the fast path is taken), sometimes
    anything (null, mistyped, a str subclass, a nested object of any shape)."""
    typed = _TYPED.get(t)
    odd = JSON | st.text(max_size=3).map(_Str) | st.dictionaries(KEYS, JSON, max_size=4)
    if typed is None:
        return odd
    return st.one_of(typed, typed, typed, odd)


@st.composite
def _exact_inputs(draw: st.DrawFn) -> tuple[type, dict[str, Any]]:
    name = draw(st.sampled_from(sorted(EVENT_TYPES)))
    cls = EVENT_TYPES[name]
    d: dict[str, Any] = {"type": name}
    for key, t in _fast_keys(cls):
        d[key] = draw(_value(t))
    return cls, d


@settings(max_examples=600)
@given(_exact_inputs())
def test_the_fast_path_builds_what_the_general_code_builds(
    case: tuple[type, dict[str, Any]],
) -> None:
    cls, d = case
    same_fields(event_from_dict(d), reference(cls, d, fixed=("type",)))
    same_fields(events_from_dicts([d])[0], reference(cls, d, fixed=("type",)))
    # one more key of any kind (rare, unknown) or one fewer: the general code, same result
    extra = {**d, "instanceId": "i"}
    same_fields(event_from_dict(extra), reference(cls, extra, fixed=("type",)))
    fewer = dict(list(d.items())[:-1])
    same_fields(event_from_dict(fewer), reference(cls, fewer, fixed=("type",)))


def test_the_fast_path_is_taken_for_well_typed_events_only() -> None:
    d = {
        "type": "log",
        "v": 3,
        "eventIndex": 7,
        "timestamp": "t",
        "runId": "r",
        "level": "info",
        "message": "m",
        "attributes": {"a": 1},
    }
    build = structure_fn(LogEvent)
    calls: list[Any] = []
    real = build.__globals__["_fast_get"]

    def counted(o: Any) -> Any:
        calls.append(o)
        return real(o)

    build.__globals__["_fast_get"] = counted
    try:
        event = build(d)
        assert calls == [d] and vars(event) == {
            "raw": d,
            "v": 3,
            "event_index": 7,
            "timestamp": "t",
            "run_id": "r",
            "level": "info",
            "message": "m",
            "attributes": {"a": 1},
        }
        assert event == LogEvent(
            v=3,
            event_index=7,
            timestamp="t",
            run_id="r",
            level="info",
            message="m",
            attributes={"a": 1},
        )
        calls.clear()
        # same size, another key set: tried, then the general code reads the known keys
        swapped = {k: v for k, v in d.items() if k != "level"} | {"session": "s"}
        assert vars(build(swapped))["session"] == "s" and calls == [swapped]
        calls.clear()
        # a rare key, a subclass of dict, a str subclass, a bool for an int: not taken, or left
        for odd in (
            {**d, "taskId": "t"},
            type("D", (dict,), {})(d),
            {**d, "message": _Str("m")},
            {**d, "eventIndex": True},
        ):
            same_fields(build(odd), reference(LogEvent, odd, fixed=("type",)))
        assert all(c is not d for c in calls)
        # a required field: the fast path cannot skip its check
        with pytest.raises(ProtocolError, match="box has no valid 'name'"):
            register_model(_Box2, label="box")({"name": 5, "size": 1})
    finally:
        build.__globals__["_fast_get"] = real


@attrs.frozen(kw_only=True, slots=False)
class _Box2:
    name: str
    size: int | None = None
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


def test_an_instance_holds_only_what_it_read() -> None:
    d = {"type": "log", "v": 3, "level": "info", "message": 5, "session": "s", "x": 1}
    event = event_from_dict(d)
    assert vars(event) == {"raw": d, "v": 3, "level": "info", "session": "s"}
    # every other field reads its default from the class, as hand-built instances hold it
    full = LogEvent(v=3, level="info", session="s")
    assert event == full and hash(event) == hash(full) and repr(event) == repr(full)
    assert event.message is None and event.type == "log" and event.run_id is None
    assert attrs.asdict(event, recurse=False) == {**attrs.asdict(full, recurse=False), "raw": d}
    assert attrs.evolve(event, message="m").message == "m"
    for clone in (pickle.loads(pickle.dumps(event)), copy.deepcopy(event), copy.copy(event)):
        assert clone == event and clone.raw == d and clone.message is None


def test_nested_and_union_fields() -> None:
    turn = event_from_dict(
        {"type": "turn", "usage": {"input": 1, "cost": {"total": 0.5}}, "request": "x"}
    )
    assert isinstance(turn, TurnEvent) and turn.request is None
    assert turn.usage is not None and turn.usage.cost is not None and turn.usage.cost.total == 0.5
    settled = event_from_dict({"type": "submission_settled", "error": {"message": "m"}})
    assert isinstance(settled, SubmissionSettledEvent)
    assert settled.error == SerializedError(message="m")
    assert event_from_dict({"type": "submission_settled", "error": "text"}).error == "text"  # type: ignore[union-attr]


@attrs.frozen(kw_only=True, slots=False)
class _Box:
    name: str
    items: list[Any] = attrs.field(factory=list)
    tags: tuple[str, ...] = ()
    raw: dict[str, Any] = attrs.field(factory=dict, repr=False, eq=False)


def _items(v: Any, _: Any = None) -> list[Any]:
    return list(v) if isinstance(v, list) else []


def test_functions_are_generated_on_first_use_and_factories_are_not_shared() -> None:
    build = register_model(_Box, label="box", hooks={"items": _items, "tags": lambda v, _: ()})
    assert _Box not in base._BUILT  # registering generates nothing
    a, b = build({"name": "a"}), build({"name": "b", "items": [1]})
    assert _Box in base._BUILT and structure_fn(_Box) is base._BUILT[_Box]
    assert a.items == [] and b.items == [1] and a.tags == ()
    assert build({"name": "c"}).items is not a.items  # a new list per instance
    with pytest.raises(ProtocolError, match="box has no valid 'name'"):
        build({"items": []})
    with pytest.raises(ProtocolError, match="box must be a JSON object, got list"):
        build([])


def test_many_unknown_types_do_not_grow_the_dispatch_table() -> None:
    from flue._models import convert

    for i in range(3 * convert._MAX_UNKNOWN):
        event = event_from_dict({"type": f"new_type_{i}", "v": 3})
        assert isinstance(event, UnknownEvent) and event.type == f"new_type_{i}"
    known = sum(1 for t in convert._BUILD if t in EVENT_TYPES)
    assert len(convert._BUILD) - known <= convert._MAX_UNKNOWN


def _type_checking_imports(path: Path) -> dict[str, str]:
    """name -> module of the ``from flue... import`` statements under ``if TYPE_CHECKING:``."""
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom) and (stmt.module or "").startswith("flue"):
                    found.update((alias.name, stmt.module or "") for alias in stmt.names)
    return found


@pytest.mark.parametrize(
    ("module", "path"),
    [
        (flue.models, "flue/models.py"),
        (flue, "flue/__init__.py"),
        (flue.testing, "flue/testing/__init__.py"),
    ],
)
def test_lazy_names_match_what_type_checkers_see(module: types.ModuleType, path: str) -> None:
    # `_LAZY` is read from the re-export lines at import: the names are listed once
    lazy: dict[str, str] = module._LAZY  # type: ignore[attr-defined]
    declared = _type_checking_imports(ROOT / path)
    assert lazy == declared
    assert set(lazy) <= set(module.__all__)
    for name, where in lazy.items():
        assert getattr(module, name) is getattr(importlib.import_module(where), name), name
