# The agent routes of a Flue 2.x fake: the app mounts an agent's router at paths of its choice.
#
# `V2Route.route` serves every request of a line-"2" server. A path outside every mount, or a
# sub-path the router does not serve, is the app's plain-text 404 (as Hono answers). Under a
# mount (longest first) the app's auth runs first (as the app's own middleware on the mount
# does), then the router: `POST /{id}` (deliver; `?wait=result` is refused), `GET|HEAD /{id}`
# (history, or `view=updates` in catch-up, long-poll or SSE), `POST /{id}/abort`, `GET
# /{id}/attachments/{attachmentId}`, 405 with `Allow` for other methods. Conversations are
# keyed by the agent, not the mount: two mounts of one agent serve the same conversations.
# Every JSON updates answer starts with the `stream-checkpoint` chunk, and so does an SSE
# stream (its first data frame); a long-poll that times out answers `[checkpoint]`; an offset
# past the head is `416 stream_offset_gone`. A mount over no registered agent answers a
# delivery with a 500 carrying an error ref; any unexpected failure does the same.

from __future__ import annotations

import asyncio
import traceback
from typing import Any, ClassVar

import attrs
from aiohttp import web

from ._agent_reads import ConversationRoutes, accepted, instance_route
from ._agent_state import Conversation
from ._conversations import abort_instance
from ._conversations_v2 import Refused, admit
from ._faults import Mode, conversation_mode
from ._send import Reply
from ._wire import json_reply, method_not_allowed, stream_not_found
from ._wire_v2 import (
    instance_exists,
    instance_not_found,
    internal_error_with_ref,
    offset_gone,
    parse_input,
    plain_not_found,
    submission_conflict,
    wait_result_refused,
)

__all__ = ["Mounts", "V2Route"]

Mounts = dict[str, str | None]
"""Mount path (``/agents/assistant``, no trailing slash) -> agent name (``None``: a router
over a function that is no registered agent)."""

_READ_HEADERS = [
    ("cache-control", "no-store"),
    ("content-type", "application/json"),
    ("cross-origin-resource-policy", "cross-origin"),
]


def match(mounts: Mounts, raw_path: str) -> tuple[str, str, str, str | None] | None:
    """``(mount, instance id, kind, attachment id)`` of a path under a mount; kind is
    ``"conversation"``, ``"abort"`` or ``"attachment"``; ``None`` when no route serves it."""
    for mount in sorted(mounts, key=len, reverse=True):
        if raw_path.startswith(mount + "/"):
            found = instance_route(raw_path[len(mount) + 1 :].split("/"))
            return None if found is None else (mount, *found)
    return None


@attrs.define(eq=False)
class V2Route(ConversationRoutes):
    """Every route of a Flue 2.x fake (see the module comment)."""

    mounts: Mounts = attrs.field(factory=dict)
    error_log: list[str] = attrs.field(factory=list)
    checkpoint: ClassVar[bool] = True

    def mode(self, method: str, raw_path: str, query: tuple[tuple[str, str], ...]) -> Mode:
        """The fault-matching mode of a request (see ``_faults``)."""
        found = match(self.mounts, raw_path)
        if found is None or found[2] != "conversation":
            return "other"
        return conversation_mode(method, query)

    async def route(self, request: web.Request, rec: Any) -> Reply | web.StreamResponse:
        try:
            return await self._route(request, rec)
        except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            raise
        except Exception:
            return internal_error_with_ref(self.error_log, traceback.format_exc(limit=3))

    async def _route(self, request: web.Request, rec: Any) -> Reply | web.StreamResponse:
        found = match(self.mounts, rec.raw_path)
        if found is None:
            return plain_not_found()
        mount, instance, kind, attachment = found
        refusal = await self.authorize(rec)
        if refusal is not None:
            return refusal
        name = self.mounts[mount]
        conv = self.app.conversations.get((name, instance)) if name is not None else None
        shown = name or mount.rsplit("/", 1)[-1]
        if kind == "abort":
            if rec.method != "POST":
                return method_not_allowed(rec.method, ["POST"])
            return json_reply(200, {"aborted": abort_instance(conv)})
        if kind == "attachment":
            if rec.method != "GET":
                return method_not_allowed(rec.method, ["GET"])
            return self.attachment(shown, instance, conv, attachment or "")
        if rec.method not in ("GET", "HEAD", "POST"):
            return method_not_allowed(rec.method, ["GET", "HEAD", "POST"])
        if rec.method == "POST":
            return self._deliver(request, rec, name, instance)
        if rec.method == "HEAD":
            return self.head(shown, instance, conv)
        if conv is None:
            return self.stream_missing(shown, instance)
        return await self.read(rec, shown, instance, conv)

    # -- what 2.x answers ---------------------------------------------------------------------

    def read_headers(self, next_offset: str, up_to_date: bool) -> list[tuple[str, str]]:
        headers = [*_READ_HEADERS, ("stream-next-offset", next_offset)]
        if up_to_date:
            headers.append(("stream-up-to-date", "true"))
        return [*headers, ("x-content-type-options", "nosniff")]

    def stream_missing(self, name: str, instance: str) -> Reply:
        return stream_not_found(name, instance, runs=False)

    def offset_past_head(self, offset: str, conv: Conversation) -> Reply:
        return offset_gone(offset, conv.offset, conv.agent, conv.instance_id)

    def _deliver(self, request: web.Request, rec: Any, name: str | None, instance: str) -> Reply:
        if rec.query_values("wait"):
            return wait_result_refused()
        parsed = parse_input(request, rec.body)
        if isinstance(parsed, Reply):
            return parsed
        agent = self.app.agents.get(name) if name is not None else None
        if agent is None:
            return internal_error_with_ref(
                self.error_log, f"the router at {rec.raw_path} serves no registered agent"
            )
        answer = admit(self.app.conversations, agent, instance, parsed, self.app.tasks)
        if isinstance(answer, Refused):
            if answer.kind == "conflict":
                return submission_conflict(answer.value or "")
            if answer.kind == "exists":
                return instance_exists(instance, answer.value or "")
            return instance_not_found(instance)
        extra = {"deduplicated": True} if answer.deduplicated else {}
        return accepted(request, answer.offset, answer.submission_id, uid=answer.uid, **extra)
