# What the resources, streams and observers of a client use of it (`ClientHost`), and the
# client's ``params`` option, checked the same way for the client and for one call.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from flue._protocol.hooks import is_async_callable
from flue._protocol.lines import ServerLines
from flue._protocol.params import LiveArg, query_pairs
from flue._transports._aiohttp import AsyncTransport, call_user
from flue.errors import InvalidArgumentError, Secrets

if TYPE_CHECKING:  # the stream machinery is imported by the first stream
    from flue._async._stream import AsyncBatchStream
    from flue._protocol.batches import Decode
    from flue._protocol.http import HttpRequest
    from flue._protocol.reader import ReadMachine

__all__ = ["ASYNC_CALLBACKS", "ClientHost", "Params", "check_params"]

Params = Mapping[str, Any] | Callable[[], Any]
"""The ``params`` option: a dict of query parameters, or a callable returning one."""

# True in the asyncio client, whose callbacks may be `async`; False in the generated twin
ASYNC_CALLBACKS = inspect.iscoroutinefunction(call_user)


class ClientHost(Protocol):
    """What the resources (`runs`, `workflows`, `streams`, `agents`) and the observers use of
    a client (`AsyncFlueClient`): its settings, its one-shot calls and its readers."""

    base_url: str
    catchup: Literal["get", "sse"]
    _transport: AsyncTransport
    _secrets: Secrets
    _lines: ServerLines

    async def _call_json(
        self,
        request: HttpRequest,
        *,
        run_id: str | None = ...,
        workflow: str | None = ...,
        idempotent: bool = ...,
        wait: bool = ...,
    ) -> Any: ...

    def _reader(
        self,
        url: str,
        *,
        offset: str,
        tail: int | None,
        live: LiveArg,
        decode: Decode = ...,
        objects_only: bool = ...,
        run_id: str | None = ...,
    ) -> ReadMachine: ...

    def _batch_stream(
        self, reader: ReadMachine, *, params: Params | None = ...
    ) -> AsyncBatchStream: ...


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
