"""Names a package imports on first use (`flue`, `flue.models` and `flue.testing` keep heavy
modules out of ``import flue``, out of a run-record read and out of every pytest run)."""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DEPENDENCY_HINT", "lazy_attributes", "load", "reexports"]

# ``    from flue.x.y import Name as Name``: an indented (``if TYPE_CHECKING:``) re-export
_REEXPORT = re.compile(r"^[ \t]+from (flue[\w.]*) import (\w+) as \2[ \t]*(?:#.*)?$", re.M)

#: what to do when a name of `flue` or `flue.models` cannot be imported
DEPENDENCY_HINT = (
    "Check that flue's dependencies meet the versions it declares "
    "(pip install --upgrade flue-client)."
)


def load(
    package: str, modules: Mapping[str, str], name: str, namespace: dict[str, Any], hint: str
) -> Any:
    """Import `name` from its module in `modules`, cache it in `namespace` and return it.

    An AttributeError escaping a module ``__getattr__`` would turn into a bare "cannot import
    name" and hide the cause (e.g. an incompatible dependency): every failure becomes an
    ImportError that says what failed, and `hint` what to do.
    """
    module = modules.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except Exception as exc:
        raise ImportError(
            f"{package}.{name} could not be imported: {type(exc).__name__}: {exc}. {hint}"
        ) from exc
    namespace[name] = value
    return value


def reexports(namespace: Mapping[str, Any]) -> dict[str, str]:
    """name -> module of the package's ``TYPE_CHECKING`` re-exports (``from M import X as X``,
    one per line): the one list of its lazy names. Type checkers read those lines; at run time
    they are read from the package's source, so a name is added in one line.
    """
    name = namespace["__name__"]
    try:
        with open(namespace["__file__"], encoding="utf-8") as file:
            source: str | None = file.read()
    except (OSError, KeyError, TypeError):  # not a plain file (a zip archive, say)
        get_source = getattr(namespace.get("__loader__"), "get_source", None)
        source = get_source(name) if get_source is not None else None
    if source is None:  # installed without its .py files: nothing to read the names from
        raise ImportError(f"{name} needs its source file to list its names. {DEPENDENCY_HINT}")
    found = {attr: module for module, attr in _REEXPORT.findall(source)}
    if not found:
        raise ImportError(f"{name} re-exports no name: its source is not the one it was built from")
    return found


def lazy_attributes(
    package: str, modules: Mapping[str, str], namespace: dict[str, Any], hint: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` (`load` of a name of `modules`) and ``__dir__`` (the sorted
    ``__all__``) of a package whose names are imported on first access."""

    def __getattr__(name: str) -> Any:
        return load(package, modules, name, namespace, hint)

    def __dir__() -> list[str]:
        return sorted(namespace["__all__"])

    return __getattr__, __dir__
