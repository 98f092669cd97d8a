"""Python client for Flue's workflow-run API: blocking (`FlueClient`) and asyncio
(`AsyncFlueClient`), one API in two flavours.

The clients (and the other classes) are imported lazily, so a blocking program never imports
`aiohttp`, an asyncio program never imports `requests`, and ``import flue`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flue._lazy import DEPENDENCY_HINT, load
from flue._protocol.params import OFFSET_NOW, OFFSET_START, LiveMode
from flue.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    ConnectionLostError,
    FlueError,
    FlueExecutionError,
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
    from flue._async._agents import AsyncAgents
    from flue._async._client import AsyncFlueClient
    from flue._async._conversation import AsyncConversation
    from flue._async._observe import AsyncConversationObserver
    from flue._async._stream import AsyncBatchStream, AsyncRunStream
    from flue._models.conversation import Admission
    from flue._models.messages import ImageAttachment, Signal, UserMessage
    from flue._models.replies import Reply
    from flue._protocol.batches import Batch
    from flue._protocol.hooks import RequestInfo, ResponseInfo
    from flue._protocol.runref import RunRef
    from flue._settings import RetryPolicy, Timeout
    from flue._sync._agents import Agents
    from flue._sync._client import FlueClient
    from flue._sync._conversation import Conversation
    from flue._sync._observe import ConversationObserver
    from flue._sync._stream import BatchStream, RunStream

__version__ = "0.1.0"

__all__ = [
    "OFFSET_NOW",
    "OFFSET_START",
    "APIError",
    "Admission",
    "Agents",
    "AsyncAgents",
    "AsyncBatchStream",
    "AsyncConversation",
    "AsyncConversationObserver",
    "AsyncFlueClient",
    "AsyncRunStream",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchStream",
    "ConflictError",
    "ConnectError",
    "ConnectionLostError",
    "Conversation",
    "ConversationObserver",
    "FlueClient",
    "FlueError",
    "FlueExecutionError",
    "FlueTimeoutError",
    "ImageAttachment",
    "InvalidArgumentError",
    "LiveMode",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "ProxyAuthenticationError",
    "ProxyError",
    "RateLimitError",
    "RedirectError",
    "Reply",
    "RequestInfo",
    "ResponseInfo",
    "RetryPolicy",
    "RunNotFoundError",
    "RunRef",
    "RunStream",
    "ServerError",
    "Signal",
    "TLSError",
    "Timeout",
    "TooManyRedirectsError",
    "TransportError",
    "UserMessage",
    "WorkflowNotFoundError",
    "__version__",
]

# Loaded on first access: ``import flue`` costs flue.errors and the parameter constants alone
# (no attrs, no HTTP library), so ``flue --help`` and a program that needs one part stay cheap.
_LAZY = {
    "Batch": "flue._protocol.batches",
    "RequestInfo": "flue._protocol.hooks",
    "ResponseInfo": "flue._protocol.hooks",
    "RunRef": "flue._protocol.runref",
    "RetryPolicy": "flue._settings",
    "Timeout": "flue._settings",
    "FlueClient": "flue._sync._client",
    "BatchStream": "flue._sync._stream",
    "RunStream": "flue._sync._stream",
    "AsyncFlueClient": "flue._async._client",
    "AsyncBatchStream": "flue._async._stream",
    "AsyncRunStream": "flue._async._stream",
    "Agents": "flue._sync._agents",
    "ConversationObserver": "flue._sync._observe",
    "AsyncAgents": "flue._async._agents",
    "AsyncConversationObserver": "flue._async._observe",
    "Conversation": "flue._sync._conversation",
    "AsyncConversation": "flue._async._conversation",
    "Admission": "flue._models.conversation",
    "ImageAttachment": "flue._models.messages",
    "Signal": "flue._models.messages",
    "UserMessage": "flue._models.messages",
    "Reply": "flue._models.replies",
}


def __getattr__(name: str) -> Any:
    return load(
        "flue",
        _LAZY,
        name,
        globals(),
        DEPENDENCY_HINT,
    )


def __dir__() -> list[str]:
    return sorted(__all__)
