# The functions a caller hands the client (``headers`` and ``params`` factories, event hooks,
# ``on_event``), called the same way everywhere: in the asyncio client a plain or an ``async``
# function, in the blocking one a plain function only (an ``async`` one is refused, saying what
# to use).
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, cast

from flue._protocol.hooks import is_async_callable
from flue._protocol.params import query_pairs
from flue.errors import InvalidArgumentError

__all__ = ["ASYNC_CALLBACKS", "Params", "call_user", "check_params", "resolve_headers"]

Params = Mapping[str, Any] | Callable[[], Any]
"""The ``params`` option: a dict of query parameters, or a callable returning one."""


async def call_user(function: Any, *args: Any) -> Any:
    """Call a caller-supplied function, awaiting its result when it is awaitable (asyncio
    client); the blocking client cannot run an ``async`` one, and says so."""
    value = function(*args)
    if not inspect.isawaitable(value):
        return value
    if ASYNC_CALLBACKS:
        return await value
    close = getattr(value, "close", None)
    if close is not None:
        close()  # a coroutine never awaited would warn
    raise InvalidArgumentError(
        f"{getattr(function, '__name__', function)!r} is an async function; the blocking "
        "FlueClient calls plain functions only (use AsyncFlueClient, or a plain function)"
    )


# True in the asyncio client, whose callbacks may be `async`; False in the generated twin
ASYNC_CALLBACKS = inspect.iscoroutinefunction(call_user)


async def resolve_headers(factory: Any) -> dict[str, str]:
    """Evaluate the ``headers`` option: a dict, or a callable returning one."""
    if factory is None:
        return {}
    value = await call_user(factory) if callable(factory) else factory
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"headers must be a dict or a callable returning a dict, got {type(value).__name__}"
        )
    return {str(k): str(v) for k, v in value.items()}


def check_params(params: object, source: str) -> Params | None:
    """Validate a ``params`` option now when it is a dict (a callable is checked per call)."""
    if params is not None and not callable(params):
        query_pairs(params, source=source)
    elif not ASYNC_CALLBACKS and is_async_callable(params):
        raise InvalidArgumentError(
            f"{source} is an async function; the blocking FlueClient calls plain functions "
            "only (use AsyncFlueClient, or a plain function)"
        )
    return cast("Params | None", params)
