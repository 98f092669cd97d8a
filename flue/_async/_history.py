# What the conversation, the `agents` resource and the observer send to and read of an agent
# conversation: its one-shot calls (`call_conversation`: a 404 says what it means there), its
# history (`read_history`) and its updates stream (`updates_stream`).
# codegen: flue/_sync is generated from this file: edit here, then run `nox -s codegen`.

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from flue._async._host import ClientHost
from flue._models.conversation import ConversationSnapshot, snapshot_from_dict
from flue._protocol.agents import build_history_request, updates_url
from flue._protocol.conversation import state_from_snapshot
from flue._protocol.http import HttpRequest
from flue._protocol.lines import line_of_history
from flue._protocol.params import LiveMode
from flue.errors import NotFoundError, ProtocolError

if TYPE_CHECKING:  # the stream machinery is imported by the first stream
    from flue._async._stream import AsyncBatchStream

__all__ = ["call_conversation", "read_history", "updates_stream"]


async def call_conversation(client: ClientHost, request: HttpRequest, **kwargs: Any) -> Any:
    """`ClientHost.call_json` for a conversation: a 404 says what it means there."""
    try:
        return await client.call_json(request, **kwargs)
    except NotFoundError as exc:
        better = _not_found(exc)
        if better is exc:
            raise
        raise better from exc


async def read_history(client: ClientHost, url: str) -> ConversationSnapshot:
    """The history of the conversation at `url` (the line its server speaks learnt from it)."""
    doc = await call_conversation(client, build_history_request(url))
    if not isinstance(doc, dict):
        raise ProtocolError(f"the history of {url} is not a JSON object")
    client.lines.learn(url, line_of_history(doc))
    snapshot = snapshot_from_dict(doc)
    if snapshot.offset is None:
        raise ProtocolError(f"the history of {url} has no offset")
    messages = state_from_snapshot(snapshot, url).messages
    return attrs.evolve(snapshot, messages=messages)


_NOT_FOUND_HINTS = {
    "agent_not_found": " The application defines no agent of that name.",
    "stream_not_found": " This conversation does not exist yet: it starts with its first message.",
}


def _not_found(exc: NotFoundError) -> NotFoundError:
    hint = _NOT_FOUND_HINTS.get(exc.error_type or "")
    if hint is None:
        return exc
    return NotFoundError(
        exc.message + hint,
        status=exc.status,
        error_type=exc.error_type,
        details=exc.details,
        body=exc.body,
        retry_after=exc.retry_after,
        meta=exc.meta,
        ref=exc.ref,
    )


def updates_stream(
    client: ClientHost, url: str, *, offset: str, live: LiveMode
) -> AsyncBatchStream:
    """The ``view=updates`` stream of the conversation at `url`, from `offset`."""
    from flue._async._stream import AsyncBatchStream

    reader = client.reader(
        updates_url(url), offset=offset, tail=None, live=live, objects_only=False
    )
    return AsyncBatchStream(client, reader)
