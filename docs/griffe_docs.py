"""Griffe extensions for the docs build (`mkdocs.yml` loads them; nothing here ships).

`ComputedExports`: ``flue`` and ``flue.models`` make their ``__all__`` from their table of lazily
imported names (their one list of public names), which griffe cannot evaluate: their exports are
taken from the imported modules, before the other extensions look at them.

`SphinxRoles`: a few docstrings (flue.testing) use Sphinx roles such as :class:`FlueTestServer`
and end a paragraph with ``::`` before an indented example; mkdocstrings reads Markdown, where
those show as raw ``:class:FlueTestServer`` and a stray colon. The roles become inline code and
``::`` becomes ``:`` (the indented block below already renders as code).

`InlinePrivateAliases`: a type alias defined in a private module and documented nowhere (the
transports' ``Session`` and ``Verify``, which differ between the flavours; ``Mode`` of
flue.testing) says nothing in a signature; each one used in an annotation is replaced by what it
stands for, so the reference shows ``session: requests.Session | None`` and ``verify: bool |
str`` for the blocking client and the aiohttp types for the asyncio one.

`PublicPages`: what a public page shows is the public API. A paragraph of a module docstring
that is about the implementation (it names a private name such as ``_LAZY`` or
``flue._models``, or ``TYPE_CHECKING``) is left out; and every class whose docstring has no
``Attributes:`` section gets one listing its public data attributes with their types (attrs
fields and annotated class attributes carry no docstring of their own, and would otherwise not be
shown at all).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from griffe import Attribute, Class, Expr, ExprName, Extension, Function, Module, Object

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|data|mod|attr|exc|obj|const):`~?([^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)


class ComputedExports(Extension):
    """Takes the exports of the modules with a computed ``__all__`` from the modules themselves."""

    MODULES = ("flue", "flue.models", "flue.testing")

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        import importlib

        for path in self.MODULES:
            module = pkg if path == pkg.path else pkg.modules_collection.get_member(path)
            if isinstance(module, Module):
                module.exports = list(importlib.import_module(path).__all__)

    on_package_loaded = on_package  # the hook's name before griffe 2


class SphinxRoles(Extension):
    """Rewrites Sphinx roles in every docstring griffe loads."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None:
            docstring.value = _LITERAL.sub(":", _ROLE.sub(r"`\1`", docstring.value))


class InlinePrivateAliases(Extension):
    """Replaces type aliases from private modules by their value in function signatures."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        self._exported = _exported(pkg)
        self._walk(pkg)

    on_package_loaded = on_package  # the hook's name before griffe 2

    def _walk(self, obj: Object) -> None:
        for member in obj.members.values():
            if member.is_alias:
                continue
            if isinstance(member, Function):
                for parameter in member.parameters:
                    parameter.annotation = self._inline(parameter.annotation)
                member.returns = self._inline(member.returns)
            elif isinstance(member, Object) and (member.is_module or member.is_class):
                self._walk(member)

    def _inline(self, expr: Any, depth: int = 0) -> Any:
        if not isinstance(expr, Expr) or depth > 5:
            return expr
        if isinstance(expr, ExprName):
            target = self._private_alias(expr)
            return expr if target is None else self._inline(target.value, depth + 1)
        for field in dataclasses.fields(expr):
            if field.name == "parent":
                continue
            value = getattr(expr, field.name)
            if isinstance(value, Expr):
                setattr(expr, field.name, self._inline(value, depth))
            elif isinstance(value, list):
                setattr(expr, field.name, [self._inline(item, depth) for item in value])
        return expr

    def _private_alias(self, name: ExprName) -> Attribute | None:
        """The module-level alias `name` refers to, if it lives in a private module and is
        not itself documented under a public name (like `flue.testing.AuthHook`)."""
        parent = name.parent
        if not isinstance(parent, Object):
            return None
        try:
            target = parent.modules_collection[name.canonical_path]
            if target.is_alias:
                target = target.final_target
        except Exception:  # unknown or unresolvable: leave the annotation as written
            return None
        if not isinstance(target, Attribute) or not isinstance(target.value, Expr):
            return None
        if not isinstance(target.parent, Module) or target.path in self._exported:
            return None
        return target if any(p.startswith("_") for p in target.path.split(".")) else None


# a paragraph naming a private module or name (`_LAZY`, ``flue._models``) or TYPE_CHECKING
_INTERNAL = re.compile(r"`+(?:[\w.]*\._|_)[A-Za-z]\w*|TYPE_CHECKING")
_ATTRIBUTES_SECTION = re.compile(r"^(?:Attributes|Members):\s*$", re.MULTILINE)


class PublicPages(Extension):
    """Leaves implementation notes out of module docstrings; adds attribute tables."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        self._walk(pkg)

    on_package_loaded = on_package  # the hook's name before griffe 2

    def _walk(self, obj: Object) -> None:
        if isinstance(obj, Module) and obj.docstring is not None:
            paragraphs = obj.docstring.value.split("\n\n")
            kept = [p for p in paragraphs if not _INTERNAL.search(p)]
            obj.docstring.value = "\n\n".join(kept)
        if isinstance(obj, Class):
            self._attribute_table(obj)
        for member in obj.members.values():
            if not member.is_alias and isinstance(member, (Module, Class)):
                self._walk(member)

    @staticmethod
    def _attribute_table(cls: Class) -> None:
        if cls.docstring is None or _ATTRIBUTES_SECTION.search(cls.docstring.value):
            return
        names = [
            name
            for name, member in cls.members.items()
            if not member.is_alias
            and isinstance(member, Attribute)
            and not name.startswith("_")
            and member.docstring is None
        ]
        if names:
            lines = "\n".join(f"    {name}: " for name in names)
            cls.docstring.value = f"{cls.docstring.value.rstrip()}\n\nAttributes:\n{lines}"


def _exported(pkg: Module) -> set[str]:
    """Paths of the objects that public modules re-export."""
    found: set[str] = set()

    def visit(module: Module) -> None:
        for member in module.members.values():
            if member.is_alias:
                found.add(member.target_path)
            elif isinstance(member, Module) and not member.name.startswith("_"):
                visit(member)

    visit(pkg)
    return found
