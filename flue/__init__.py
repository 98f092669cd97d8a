"""Python client for Flue's workflow-run API: blocking (`FlueClient`) and asyncio
(`AsyncFlueClient`), one API in two flavours.

The clients are imported lazily, so a blocking program never imports `aiohttp` and an asyncio
program never imports `requests`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flue._lazy import load
from flue._protocol.batches import Batch
from flue._protocol.params import OFFSET_NOW, OFFSET_START, LiveMode
from flue._settings import RetryPolicy, Timeout
from flue.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    ConnectionLostError,
    FlueError,
    FlueTimeoutError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProxyAuthenticationError,
    ProxyError,
    RateLimitError,
    RedirectError,
    RunNotFoundError,
    ServerError,
    TLSError,
    TooManyRedirectsError,
    TransportError,
    WorkflowNotFoundError,
)

if TYPE_CHECKING:
    from flue._async._client import AsyncFlueClient
    from flue._async._stream import AsyncBatchStream, AsyncRunStream
    from flue._sync._client import FlueClient
    from flue._sync._stream import BatchStream, RunStream

__version__ = "0.1.0"

__all__ = [
    "OFFSET_NOW",
    "OFFSET_START",
    "APIError",
    "AsyncBatchStream",
    "AsyncFlueClient",
    "AsyncRunStream",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchStream",
    "ConflictError",
    "ConnectError",
    "ConnectionLostError",
    "FlueClient",
    "FlueError",
    "FlueTimeoutError",
    "InvalidArgumentError",
    "LiveMode",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyAuthenticationError",
    "ProxyError",
    "RateLimitError",
    "RedirectError",
    "RetryPolicy",
    "RunNotFoundError",
    "RunStream",
    "ServerError",
    "TLSError",
    "Timeout",
    "TooManyRedirectsError",
    "TransportError",
    "WorkflowNotFoundError",
    "__version__",
]

_LAZY = {
    "FlueClient": "flue._sync._client",
    "BatchStream": "flue._sync._stream",
    "RunStream": "flue._sync._stream",
    "AsyncFlueClient": "flue._async._client",
    "AsyncBatchStream": "flue._async._stream",
    "AsyncRunStream": "flue._async._stream",
}


def __getattr__(name: str) -> Any:
    return load(
        "flue",
        _LAZY,
        name,
        globals(),
        "Check that flue's dependencies meet the versions it declares "
        "(pip install --upgrade flue-client).",
    )


def __dir__() -> list[str]:
    return sorted(__all__)
