# What the agent routes of both flavours share (`_agent_routes.AgentRoute` for beta.9,
# `_agent_routes_v2.V2Route` for 2.x): reading a conversation, its attachments and the 202
# receipt of a delivery.
#
# `ConversationRoutes.read` answers a GET in the order both flavours check: the view
# (`view=history`, the default, takes no offset, tail or live; `view=updates` exactly one valid
# offset and an optional `live` of long-poll or sse), then an unknown conversation, then an
# offset past the head. History answers the snapshot; updates the chunks after `offset` (at
# most 100 batches) in catch-up, long-poll (waits on the conversation's change event, counted
# for `AgentHandle.wait_for_readers`; the empty page after the window) or SSE (data and control
# frames, a heartbeat comment while idle, never `streamClosed`). What differs is a subclass's:
# its read headers, its 404 and offset-past-head answers, and on 2.x the `stream-checkpoint`
# chunk that starts every updates answer and SSE stream.

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import unquote

import attrs
from aiohttp import web

from ._agent_state import Conversation
from ._conversations import AgentRegistry
from ._reads import ReadConfig, wait_either, wait_for_change
from ._send import Frame, Reply
from ._store import format_offset, parse_offset
from ._wire import SECURITY_HEADERS, dumps, error_reply, invalid_request, json_reply

__all__ = ["ConversationRoutes", "accepted", "instance_route", "page", "read_query", "stream_url"]

_READ_LIMIT = 100
_SSE_HEADERS = [
    ("content-type", "text/event-stream"),
    ("cache-control", "no-cache"),
    *SECURITY_HEADERS,
]


def instance_route(segments: list[str]) -> tuple[str, str, str | None] | None:
    """``(instance id, kind, attachment id)`` of the path segments below an agent (``{id}``,
    ``{id}/abort``, ``{id}/attachments/{attachmentId}``; kind is ``"conversation"``,
    ``"abort"`` or ``"attachment"``), ``None`` when no route serves them (Hono's routes are
    strict: a trailing slash matches none of them)."""
    if not segments or not segments[0]:
        return None
    instance, rest = unquote(segments[0]), segments[1:]
    if not rest:
        return instance, "conversation", None
    if rest == ["abort"]:
        return instance, "abort", None
    if len(rest) == 2 and rest[0] == "attachments" and rest[1]:
        return instance, "attachment", unquote(rest[1])
    return None


def read_query(rec: Any) -> Reply | tuple[str, int, str | None] | None:
    """``None`` for a history read (the default view); for ``view=updates`` its ``offset``, the
    sequence number it names and ``live``; or the 400 that beta.9 and 2.x alike answer."""
    views = rec.query_values("view")
    view = views[0] if views else "history"
    if view == "history":
        if any(key in ("offset", "tail", "live") for key, _ in rec.query):
            return invalid_request("History reads do not accept offset, tail, or live parameters.")
        return None
    if view != "updates":
        return invalid_request("Invalid agent conversation view. Use history or updates.")
    if any(key == "tail" for key, _ in rec.query):
        return invalid_request("Update streams do not accept tail.")
    offsets = rec.query_values("offset")
    if len(offsets) != 1:
        return invalid_request("Exactly one offset is required.")
    start = parse_offset(offsets[0])
    if start is None:
        return invalid_request("Invalid offset format.")
    lives = rec.query_values("live")
    live = lives[0] if lives else None
    if live is not None and live not in ("long-poll", "sse"):
        return invalid_request("Invalid live mode. Use long-poll or sse.")
    return offsets[0], start, live


def page(conv: Conversation, start: int) -> tuple[list[dict[str, Any]], int, bool]:
    """Chunks of the batches after ``start`` (at most 100 batches), the sequence number of the
    last batch read (``start`` when none) and whether that reached the head."""
    last = max(start, min(conv.head, start + _READ_LIMIT))
    items: list[dict[str, Any]] = []
    for seq in range(start + 1, last + 1):
        items.extend(conv.chunks(seq))
    return items, last, last >= conv.head


def stream_url(request: web.Request) -> str:
    """The request's URL without its query, the path as sent (percent-encoding kept)."""
    return f"{request.scheme}://{request.host}{request.raw_path.split('?', 1)[0]}"


def accepted(request: web.Request, offset: str, submission_id: str, **extra: Any) -> Reply:
    """The 202 receipt of a delivery: the stream's URL, the offset before it, its submission
    (and the flavour's ``extra`` fields)."""
    url = stream_url(request)
    body = {"streamUrl": url, "offset": offset, "submissionId": submission_id, **extra}
    return json_reply(202, body, [("Location", url), ("Stream-Next-Offset", offset)])


@attrs.define(eq=False)
class ConversationRoutes:
    """Conversation reads over the app's state (see the module comment); a flavour's routes
    subclass it."""

    app: AgentRegistry
    config: ReadConfig
    stopping: asyncio.Event
    authorize: Callable[[Any], Awaitable[web.StreamResponse | None]]

    checkpoint: ClassVar[bool] = False
    """Whether updates answers and SSE streams start with the ``stream-checkpoint`` chunk."""

    def read_headers(self, next_offset: str, up_to_date: bool) -> list[tuple[str, str]]:
        """The headers of a JSON read (and of HEAD)."""
        raise NotImplementedError

    def stream_missing(self, name: str, instance: str) -> Reply:
        """The 404 for a conversation that does not exist."""
        raise NotImplementedError

    def offset_past_head(self, offset: str, conv: Conversation) -> Reply:
        """The answer for an updates read from an offset past the head."""
        raise NotImplementedError

    def head(self, name: str, instance: str, conv: Conversation | None) -> Reply:
        if conv is None:
            reply = self.stream_missing(name, instance)
            return Reply(reply.status, reply.headers)
        return Reply(200, self.read_headers(conv.offset, True))

    async def read(self, rec: Any, name: str, instance: str, conv: Conversation | None) -> Reply:
        query = read_query(rec)
        if isinstance(query, Reply):
            return query
        if conv is None:
            return self.stream_missing(name, instance)
        if query is None:
            snapshot = conv.history()
            return Reply(200, self.read_headers(snapshot["offset"], True), dumps(snapshot))
        offset, start, live = query
        if start > conv.head:
            return self.offset_past_head(offset, conv)
        if live == "sse":
            return Reply(200, _SSE_HEADERS, frames=self.sse(conv, start))
        items, last, up_to_date = page(conv, start)
        if live == "long-poll" and last == start:
            timeout = self.config.long_poll_timeout
            if await wait_for_change(conv, conv.changed, timeout, self.stopping) == "data":
                items, last, up_to_date = page(conv, start)
        if self.checkpoint:
            items = [conv.checkpoint(), *items]
        return Reply(200, self.read_headers(format_offset(last), up_to_date), dumps(items))

    async def sse(self, conv: Conversation, current: int) -> AsyncGenerator[Frame, None]:
        if self.checkpoint:
            yield Frame("data", dumps([conv.checkpoint()]).decode())
        loop = asyncio.get_running_loop()
        heartbeat = self.config.sse_heartbeat
        next_beat = loop.time() + heartbeat if heartbeat else math.inf  # Flue's setInterval
        while not self.stopping.is_set():
            items, current, up_to_date = page(conv, current)
            if items:
                yield Frame("data", dumps(items).decode())
            control: dict[str, Any] = {"streamNextOffset": format_offset(current)}
            if up_to_date:
                control["upToDate"] = True
            yield Frame("control", dumps(control).decode())
            if not up_to_date:
                continue
            # Idle: heartbeats on their own schedule; after the window a re-read (and so
            # another control frame, before a heartbeat due at the same moment).
            deadline = loop.time() + self.config.long_poll_timeout
            while conv.head <= current:
                now = loop.time()
                if now >= deadline:
                    break
                if now >= next_beat:
                    while heartbeat and next_beat <= now:
                        next_beat += heartbeat
                    yield Frame(None, "heartbeat")
                    continue
                change = conv.changed
                window = min(deadline, next_beat) - now
                if await wait_either(change, window, self.stopping) == "data":
                    break
                if self.stopping.is_set():
                    return

    def attachment(
        self, name: str, instance: str, conv: Conversation | None, attachment_id: str
    ) -> Reply:
        if conv is None:
            return self.stream_missing(name, instance)
        stored = conv.attachments.get(attachment_id)
        if stored is None:
            return error_reply(
                404,
                "attachment_not_found",
                f'Attachment "{attachment_id}" was not found.',
                "The attachment id may be incorrect, or it belongs to a conversation other than "
                "the default one.",
            )
        part, data = stored
        headers = [
            ("content-type", part["mediaType"]),
            ("content-length", str(len(data))),
            ("content-disposition", "inline"),
            ("cache-control", "private, max-age=31536000, immutable"),
            ("content-security-policy", "sandbox"),
            *SECURITY_HEADERS,
        ]
        return Reply(200, headers, data)
