# The seams of a client, as typed protocols with public members only:
#
# * `ClientHost`: what the resources (`runs`, `workflows`, `streams`, `agents`, conversations),
#   the streams and the observers use of their client: its settings, its one path for requests
#   (`send`, `call_json`), its readers, waits and cancel tokens. One object per client
#   implements it (`ClientCore`, _core.py).
# * the transport protocol, with its response protocol: what that object uses of its transport.
#   Each flavour has its own (``async def`` or not), satisfied by its transport (aiohttp,
#   requests); mypy checks each where the client hands its transport to `ClientCore`.
# * `Reader`: the protocol core's stream state machine (`ReadMachine`), as a stream drives it.
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from flue._async._callbacks import Params
    from flue._protocol.batches import Decode
    from flue._protocol.http import HttpRequest
    from flue._protocol.lines import ServerLines
    from flue._protocol.params import LiveArg
    from flue._protocol.secrets import Secrets
    from flue._settings import RetryPolicy, Timeout
    from flue._transports._aiohttp import AsyncCancelToken
    from flue.errors import TransportError

__all__ = [
    "AsyncResponseProtocol",
    "AsyncTransportProtocol",
    "Cancellable",
    "ClientHost",
    "ClientSettings",
    "Reader",
]


class AsyncResponseProtocol(Protocol):
    """One response being read (`AsyncResponse`)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> Mapping[str, str]: ...

    async def read_chunk(self) -> bytes:
        """The next bytes of the decoded body as they arrive; ``b""`` at the end."""
        ...

    async def read_all(self, limit: int) -> bytes:
        """The whole decoded body; a `ProtocolError` past `limit` bytes."""
        ...

    async def close(self) -> None:
        """Release the connection."""
        ...

    def abort(self) -> None:
        """Close the connection at once (safe from another task or thread)."""
        ...

    def release(self) -> None:
        """Close from a finaliser."""
        ...


class AsyncTransportProtocol(Protocol):
    """What a client uses of its transport (`AsyncTransport`): HTTP, waits, cancel tokens."""

    async def open(
        self,
        request: HttpRequest,
        headers: Mapping[str, str],
        *,
        wait: bool = ...,
        token: AsyncCancelToken | None = ...,
    ) -> AsyncResponseProtocol:
        """Send a request; return once the response head has arrived."""
        ...

    def cancel_token(self) -> AsyncCancelToken:
        """A fresh cancel token."""
        ...

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        """Wait `seconds`, returning early once `token` is set."""
        ...

    async def close(self) -> None:
        """Close the HTTP session if the transport created it."""
        ...


class Reader(Protocol):
    """The protocol core's stream state machine, as a stream drives it."""

    @property
    def stream_url(self) -> str: ...
    @property
    def offset(self) -> str: ...
    @property
    def closed(self) -> bool: ...
    @property
    def up_to_date(self) -> bool: ...

    def next_action(self) -> object: ...
    def receive_response(self, status: int, headers: Mapping[str, str]) -> None: ...
    def receive_data(self, data: bytes) -> None: ...
    def receive_transport_error(self, error: TransportError) -> None: ...
    def batch_delivered(self) -> None: ...
    def position(self, handed: int = 0) -> str: ...
    def resume_after(self, skip: int) -> None: ...


class Cancellable(Protocol):
    """What a client stops when it closes (a stream)."""

    def cancel(self) -> None: ...


class ClientSettings(Protocol):
    """The settings of a client (`AsyncFlueClient`), read as they are at each use."""

    base_url: str
    timeout: Timeout
    retry: RetryPolicy
    catchup: Literal["get", "sse"]
    max_event_size: int


class ClientHost(Protocol):
    """What the resources, streams and observers of a client use of it."""

    @property
    def base_url(self) -> str:
        """The client's normalized base URL."""
        ...

    @property
    def catchup(self) -> Literal["get", "sse"]:
        """How `runs.events()` reads."""
        ...

    @property
    def closed(self) -> bool:
        """True once the client was closed."""
        ...

    @property
    def secrets(self) -> Secrets:
        """The credentials to redact from errors and logs."""
        ...

    @property
    def lines(self) -> ServerLines:
        """Which Flue line each server speaks, once it said so."""
        ...

    def cancel_token(self) -> AsyncCancelToken:
        """A fresh cancel token (for one stream or observer)."""
        ...

    async def sleep(self, seconds: float, token: AsyncCancelToken) -> None:
        """Wait `seconds`, returning early once `token` is set."""
        ...

    async def send(
        self, request: HttpRequest, token: AsyncCancelToken, *, params: Params | None = ...
    ) -> AsyncResponseProtocol:
        """Send `request` with the client's headers, query parameters (`params`: a call's
        own, merged over them) and event hooks; return once the response head arrived."""
        ...

    async def call_json(
        self,
        request: HttpRequest,
        *,
        run_id: str | None = ...,
        workflow: str | None = ...,
        idempotent: bool = ...,
        wait: bool = ...,
    ) -> Any:
        """Send a one-shot request with retries; return its decoded JSON body."""
        ...

    def reader(
        self,
        url: str,
        *,
        offset: str,
        tail: int | None,
        live: LiveArg,
        decode: Decode = ...,
        objects_only: bool = ...,
        run_id: str | None = ...,
    ) -> Reader:
        """A stream reader with the client's retry policy, limits and secrets."""
        ...

    def track(self, stream: Cancellable) -> None:
        """Check that the client is open, and cancel `stream` when it closes (held weakly)."""
        ...
