"""Python client for Flue's workflow-run API: blocking (`FlueClient`) and asyncio
(`AsyncFlueClient`), one API in two flavours.

The clients (and the other classes) are imported lazily, so a blocking program never imports
`aiohttp`, an asyncio program never imports `requests`, and ``import flue`` is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flue import errors as _errors
from flue._lazy import DEPENDENCY_HINT, lazy_attributes, reexports
from flue._protocol.params import OFFSET_NOW as OFFSET_NOW
from flue._protocol.params import OFFSET_START as OFFSET_START
from flue._protocol.params import LiveMode as LiveMode
from flue.errors import *  # noqa: F403  (the exception tree: its names are in flue.errors.__all__)

if TYPE_CHECKING:  # the lazy names, one per line: type checkers and `_LAZY` below read them
    from flue._async._agents import AsyncAgents as AsyncAgents
    from flue._async._client import AsyncFlueClient as AsyncFlueClient
    from flue._async._conversation import AsyncConversation as AsyncConversation
    from flue._async._observe import AsyncConversationObserver as AsyncConversationObserver
    from flue._async._stream import AsyncBatchStream as AsyncBatchStream
    from flue._async._stream import AsyncRunStream as AsyncRunStream
    from flue._models.conversation import Admission as Admission
    from flue._models.messages import ImageAttachment as ImageAttachment
    from flue._models.messages import Signal as Signal
    from flue._models.messages import UserMessage as UserMessage
    from flue._models.replies import Reply as Reply
    from flue._protocol.batches import Batch as Batch
    from flue._protocol.hooks import RequestInfo as RequestInfo
    from flue._protocol.hooks import ResponseInfo as ResponseInfo
    from flue._protocol.runref import RunRef as RunRef
    from flue._settings import RetryPolicy as RetryPolicy
    from flue._settings import Timeout as Timeout
    from flue._sync._agents import Agents as Agents
    from flue._sync._client import FlueClient as FlueClient
    from flue._sync._conversation import Conversation as Conversation
    from flue._sync._observe import ConversationObserver as ConversationObserver
    from flue._sync._stream import BatchStream as BatchStream
    from flue._sync._stream import RunStream as RunStream

__version__ = "0.1.0"


# Loaded on first access: ``import flue`` costs flue.errors and the parameter constants alone
# (no attrs, no HTTP library), so ``flue --help`` and a program that needs one part stay cheap.
# name -> module: the re-exports above, read from this file's source (the one list)
_LAZY = reexports(globals())

# the public names, made from the lists above (the errors', the constants, `_LAZY`'s)
__all__ = sorted(
    [*_errors.__all__, "OFFSET_NOW", "OFFSET_START", "LiveMode", "__version__", *_LAZY]
)


__getattr__, __dir__ = lazy_attributes("flue", _LAZY, globals(), DEPENDENCY_HINT)
