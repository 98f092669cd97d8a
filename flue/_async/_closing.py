# ``async with`` for what leaving the block releases (streams, observers): one definition.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["AsyncClosing"]


class AsyncClosing:
    """Leaving an ``async with`` block calls `aclose()`; the target is the object itself."""

    async def aclose(self) -> None:
        """Release what the object holds."""
        raise NotImplementedError

    async def __aenter__(self: _T) -> _T:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


_T = TypeVar("_T", bound=AsyncClosing)  # the `with` target keeps its own class
