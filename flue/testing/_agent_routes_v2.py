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
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ._agent_routes import AgentRoute, format_seq, page, stream_url, updates_query
from ._conversations import AgentRegistry, Conversation, abort_instance
from ._conversations_v2 import Refused, admit
from ._reads import ReadConfig, wait_either
from ._send import Frame, Reply
from ._wire import SECURITY_HEADERS, dumps, invalid_request, method_not_allowed
from ._wire_v2 import (
    instance_exists,
    instance_not_found,
    internal_error_with_ref,
    offset_gone,
    parse_input,
    plain_not_found,
    stream_not_found_v2,
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


def _json(value: Any, headers: list[tuple[str, str]] | None = None, status: int = 200) -> Reply:
    return Reply(status, [("content-type", "application/json"), *(headers or [])], dumps(value))


def _read_headers(next_offset: str, up_to_date: bool) -> list[tuple[str, str]]:
    headers = [*_READ_HEADERS, ("stream-next-offset", next_offset)]
    if up_to_date:
        headers.append(("stream-up-to-date", "true"))
    return [*headers, ("x-content-type-options", "nosniff")]


def match(mounts: Mounts, raw_path: str) -> tuple[str, str, str, str | None] | None:
    """``(mount, instance id, kind, attachment id)`` of a path under a mount; kind is
    ``"conversation"``, ``"abort"`` or ``"attachment"``; ``None`` when no route serves it."""
    for mount in sorted(mounts, key=len, reverse=True):
        if not raw_path.startswith(mount + "/"):
            continue
        segments = raw_path[len(mount) + 1 :].split("/")
        if not segments[0]:
            return None
        instance = unquote(segments[0])
        rest = segments[1:]
        if not rest:
            return mount, instance, "conversation", None
        if rest == ["abort"]:
            return mount, instance, "abort", None
        if len(rest) == 2 and rest[0] == "attachments" and rest[1]:
            return mount, instance, "attachment", unquote(rest[1])
        return None
    return None


class V2Route:
    """Every route of a Flue 2.x fake (see the module comment)."""

    def __init__(
        self,
        registry: AgentRegistry,
        config: ReadConfig,
        stopping: asyncio.Event,
        authorize: Callable[[Any], Awaitable[web.StreamResponse | None]],
    ) -> None:
        self.app = registry
        self.config = config
        self.stopping = stopping
        self.authorize = authorize
        self.mounts: Mounts = {}
        self.error_log: list[str] = []
        self.beta = AgentRoute(registry, config, stopping, authorize)  # its SSE and attachments

    def mode(self, method: str, raw_path: str, query: tuple[tuple[str, str], ...]) -> str:
        """The fault-matching mode of a request (see ``_faults``)."""
        found = match(self.mounts, raw_path)
        if found is None or found[2] != "conversation":
            return "other"
        if method == "POST":
            return "invoke"
        if method == "HEAD":
            return "head"
        if ("view", "updates") not in query:
            return "other"
        live = [value for key, value in query if key == "live"]
        if live and live[0] == "sse":
            return "sse"
        return "long-poll" if live and live[0] == "long-poll" else "catch-up"

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
            return _json({"aborted": abort_instance(conv)})
        if kind == "attachment":
            if rec.method != "GET":
                return method_not_allowed(rec.method, ["GET"])
            if name is None or conv is None:
                return stream_not_found_v2(shown, instance)
            return self.beta.attachment(name, instance, attachment or "")
        if rec.method not in ("GET", "HEAD", "POST"):
            return method_not_allowed(rec.method, ["GET", "HEAD", "POST"])
        if rec.method == "POST":
            return self._deliver(request, rec, name, instance)
        if conv is None:
            reply = stream_not_found_v2(shown, instance)
            return Reply(reply.status, reply.headers) if rec.method == "HEAD" else reply
        if rec.method == "HEAD":
            return Reply(200, _read_headers(conv.offset, True))
        return await self._read(rec, conv)

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
        url = stream_url(request)
        body: dict[str, Any] = {
            "streamUrl": url,
            "offset": answer.offset,
            "submissionId": answer.submission_id,
            "uid": answer.uid,
        }
        if answer.deduplicated:
            body["deduplicated"] = True
        return _json(body, [("Location", url), ("Stream-Next-Offset", answer.offset)], 202)

    async def _read(self, rec: Any, conv: Conversation) -> Reply:
        views = rec.query_values("view")
        view = views[0] if views else "history"
        if view == "history":
            if any(key in ("offset", "tail", "live") for key, _ in rec.query):
                return invalid_request(
                    "History reads do not accept offset, tail, or live parameters."
                )
            snapshot = conv.history()
            return Reply(200, _read_headers(snapshot["offset"], True), dumps(snapshot))
        if view != "updates":
            return invalid_request("Invalid agent conversation view. Use history or updates.")
        query = updates_query(rec)
        if isinstance(query, Reply):
            return query
        offset, live = query
        start = -1 if offset == "-1" else int(offset.split("_", 1)[1])
        if start > conv.head:
            return offset_gone(offset, conv.offset, conv.agent, conv.instance_id)
        if live == "sse":
            headers = [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
                *SECURITY_HEADERS,
            ]
            return Reply(200, headers, frames=self._sse(conv, start))
        items, next_offset, up_to_date = page(conv, start)
        if live == "long-poll" and next_offset is None:
            change = conv.changed
            with conv.waiting_changed:
                conv.waiting += 1
                conv.waiting_changed.notify_all()
            try:
                timeout = self.config.long_poll_timeout
                if await wait_either(change, timeout, self.stopping) == "data":
                    items, next_offset, up_to_date = page(conv, start)
            finally:
                with conv.waiting_changed:
                    conv.waiting -= 1
        body = dumps([conv.checkpoint(), *items])
        return Reply(200, _read_headers(next_offset or format_seq(start), up_to_date), body)

    async def _sse(self, conv: Conversation, start: int) -> AsyncGenerator[Frame, None]:
        yield Frame("data", dumps([conv.checkpoint()]).decode())
        async for frame in self.beta.sse(conv, start):
            yield frame
