"""Every public name is documented, and the two flavours expose the same API."""

from __future__ import annotations

import inspect
import typing
from types import ModuleType
from typing import Any

import flue
import flue.errors
import flue.models
import flue.testing
from flue._async import _client as async_client
from flue._async import _stream as async_stream
from flue._sync import _client as sync_client
from flue._sync import _stream as sync_stream


def _public(module: ModuleType) -> list[tuple[str, Any]]:
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return [(n, getattr(module, n)) for n in names]


def _undocumented(name: str, obj: Any) -> list[str]:
    missing: list[str] = []
    if typing.get_origin(obj) is not None:
        # a type alias such as `Callable[...]` (a class on Python 3.10) documents itself
        return missing
    if (inspect.isclass(obj) or inspect.isfunction(obj)) and not (obj.__doc__ or "").strip():
        missing.append(name)
    if inspect.isclass(obj):
        for attr, member in vars(obj).items():
            if attr.startswith("_"):
                continue
            func = member.fget if isinstance(member, property) else member
            if isinstance(func, (classmethod, staticmethod)):
                func = func.__func__
            if inspect.isfunction(func) and not (func.__doc__ or "").strip():
                missing.append(f"{name}.{attr}")
    return missing


def test_every_public_name_has_a_docstring() -> None:
    missing: list[str] = []
    for module in (flue, flue.errors, flue.models, flue.testing):
        for name, obj in _public(module):
            missing += _undocumented(f"{module.__name__}.{name}", obj)
    for module in (async_client, async_stream, sync_client, sync_stream):
        for name in module.__all__:
            missing += _undocumented(f"{module.__name__}.{name}", getattr(module, name))
    assert missing == []


def _methods(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_") or n in ("__iter__", "__aiter__")}


def test_flavours_have_identical_method_names() -> None:
    pairs = [
        (flue.FlueClient, flue.AsyncFlueClient),
        (sync_client.Runs, async_client.AsyncRuns),
        (sync_client.Workflows, async_client.AsyncWorkflows),
        (sync_client.Streams, async_client.AsyncStreams),
        (flue.RunStream, flue.AsyncRunStream),
        (flue.BatchStream, flue.AsyncBatchStream),
    ]
    for sync_cls, async_cls in pairs:
        s = _methods(sync_cls) - {"__iter__", "close"}
        a = _methods(async_cls) - {"__aiter__", "aclose", "close"}
        assert s == a, (sync_cls, s ^ a)
        for name in s:
            if inspect.isfunction(getattr(sync_cls, name, None)):
                sig_s = inspect.signature(getattr(sync_cls, name))
                sig_a = inspect.signature(getattr(async_cls, name))
                assert list(sig_s.parameters) == list(sig_a.parameters), name


def test_lazy_names_resolve() -> None:
    for name in flue.__all__:
        assert getattr(flue, name) is not None


def test_a_failing_lazy_import_says_why(monkeypatch: Any) -> None:
    # a module that imports but lacks the name stands in for an incompatible dependency, whose
    # AttributeError would otherwise become a bare "cannot import name 'FlueClient'"
    import sys

    monkeypatch.setitem(sys.modules, "flue._sync._client", ModuleType("flue._sync._client"))
    monkeypatch.delitem(vars(flue), "FlueClient", raising=False)
    try:
        from flue import FlueClient  # noqa: F401
    except ImportError as exc:
        assert "flue.FlueClient could not be imported" in str(exc)
        assert "has no attribute 'FlueClient'" in str(exc)
        assert isinstance(exc.__cause__, AttributeError)
    else:
        raise AssertionError("the import should have failed")
