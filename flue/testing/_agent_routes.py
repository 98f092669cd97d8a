# The `/agents/...` routes of the fake server, in Flue 1.0.0-beta.9's order of checks.
#
# `route` is called by `FakeFlueApp.handle` for every path under `/agents/`. It splits the path
# like Flue's Hono routes (`/agents/:name/:id`, `.../abort`, `.../attachments/:attachmentId`,
# anything else `route_not_found`), then checks as Flue does: the `?wait` query (prompt POST
# only), the method, an unknown agent (404 `agent_not_found`), the agent's auth hook, and only
# then the request itself. Reads: `view=history` (the default) answers the snapshot;
# `view=updates` answers the chunks after `offset` in catch-up, long-poll (waits on the
# conversation's change event; `200 []` after the window) or SSE (data and control frames, a
# heartbeat comment while idle, never `streamClosed`). An offset past the head answers 500.

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from ._conversations import AgentRegistry, Conversation, abort_instance, submit
from ._reads import ReadConfig, wait_either
from ._send import Frame, Reply
from ._wire import (
    SECURITY_HEADERS,
    dumps,
    error_reply,
    invalid_json,
    invalid_request,
    method_not_allowed,
    route_not_found,
    unsupported_media_type,
)

__all__ = [
    "OFFSET_RE",
    "AgentRoute",
    "format_seq",
    "page",
    "parse_agent_path",
    "stream_url",
    "updates_query",
]

OFFSET_RE = re.compile(r"[0-9]+_([0-9]+)")
_PAYLOAD_REASON = (
    'Direct agent requests must use JSON object body { "message": string, "images"?: image[] }.'
)
_MAX_IMAGE = 14 * 1024 * 1024
_READ_LIMIT = 100


def parse_agent_path(raw_path: str) -> tuple[str, str, str, str | None] | None:
    """``(name, id, kind, attachment_id)`` of an agent path; kind is "agent", "abort" or
    "attachment"; ``None`` when the path matches no agent route."""
    segments = raw_path.split("/")[2:]
    if len(segments) < 2 or not segments[0] or not segments[1]:
        return None
    name, instance = unquote(segments[0]), unquote(segments[1])
    rest = segments[2:]  # Hono's routes are strict: a trailing slash matches none of them
    if not rest:
        return name, instance, "agent", None
    if rest == ["abort"]:
        return name, instance, "abort", None
    if len(rest) == 2 and rest[0] == "attachments" and rest[1]:
        return name, instance, "attachment", unquote(rest[1])
    return None


def agent_not_found(name: str) -> Reply:
    return error_reply(
        404,
        "agent_not_found",
        f'Agent "{name}" is not registered.',
        "Verify the agent name is correct.",
    )


def stream_not_found(name: str, instance: str) -> Reply:
    return error_reply(
        404,
        "stream_not_found",
        f'Event stream "agents/{name}/{instance}" was not found.',
        "Streams are created when their agent instance receives its first prompt or their "
        "workflow run starts.",
    )


def _stream_store_failure(name: str, instance: str) -> Reply:
    return error_reply(
        500,
        "conversation_stream_store_failure",
        "The canonical conversation stream operation could not be completed.",
        "The conversation stream remains unchanged when the operation was rejected.",
        meta={
            "operation": "read",
            "path": f"agents/{name}/{instance}",
            "reason": "Read offset is beyond the canonical stream head.",
        },
    )


def _settlement_error(outcome: str, error: dict[str, Any]) -> Reply:
    if outcome == "aborted" or error.get("type") in ("operation_failed",):
        return error_reply(500, error["type"], error["message"], error.get("details", ""))
    return error_reply(
        500,
        "internal_error",
        "An internal error occurred.",
        "The server encountered an unexpected error while handling this request.",
    )


def _json(value: Any, headers: list[tuple[str, str]] | None = None, status: int = 200) -> Reply:
    return Reply(status, [("content-type", "application/json"), *(headers or [])], dumps(value))


class AgentRoute:
    """The agent routes over the app's state (see the module comment)."""

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

    async def route(self, request: web.Request, rec: Any) -> Reply | web.StreamResponse:
        parsed = parse_agent_path(rec.raw_path)
        if parsed is None:
            return route_not_found(rec.method, rec.raw_path)
        name, instance, kind, attachment = parsed
        agent = self.app.agents.get(name)
        if kind == "attachment":
            if agent is None or not agent.attachments:
                return route_not_found(rec.method, rec.raw_path)
            if rec.method != "GET":
                return method_not_allowed(rec.method, ["GET"])
            refusal = await self.authorize(rec)
            if refusal is not None:
                return refusal
            return self.attachment(name, instance, attachment or "")
        if kind == "abort":
            if rec.method != "POST":
                return method_not_allowed(rec.method, ["POST"])
            if agent is None:
                return agent_not_found(name)
            refusal = await self.authorize(rec)
            if refusal is not None:
                return refusal
            conv = self.app.conversations.get((name, instance))
            return _json({"aborted": abort_instance(conv)})
        if rec.method == "POST":
            waits = rec.query_values("wait")
            if waits and waits != ["result"]:
                received = json.dumps(waits[0], ensure_ascii=False) if len(waits) == 1 else "Array"
                return invalid_request(
                    'Invalid query parameters: wait: Invalid type: Expected "result" but '
                    f"received {received}"
                )
        elif rec.method not in ("GET", "HEAD"):
            return method_not_allowed(rec.method, ["GET", "HEAD", "POST"])
        if agent is None:
            return agent_not_found(name)
        refusal = await self.authorize(rec)
        if refusal is not None:
            return refusal
        if rec.method == "POST":
            return await self._prompt(request, rec, agent, name, instance)
        conv = self.app.conversations.get((name, instance))
        if rec.method == "HEAD":
            if conv is None:
                reply = stream_not_found(name, instance)
                return Reply(reply.status, reply.headers)
            return Reply(
                200,
                [
                    ("content-type", "application/json"),
                    ("cache-control", "no-store"),
                    ("Stream-Next-Offset", conv.offset),
                    ("Stream-Up-To-Date", "true"),
                    *SECURITY_HEADERS,
                ],
            )
        return await self._read(rec, name, instance, conv)

    # -- prompt -------------------------------------------------------------------------------

    async def _prompt(
        self, request: web.Request, rec: Any, agent: Any, name: str, instance: str
    ) -> Reply:
        payload = _parse_payload(request, rec.body)
        if isinstance(payload, Reply):
            return payload
        message, images = payload
        conv = self.app.conversations.get((name, instance))
        before = conv.offset if conv is not None else "-1"
        if conv is None:
            conv = Conversation(name, instance)
            self.app.conversations[(name, instance)] = conv
        sub = submit(conv, agent, message, images, self.app.tasks)
        url = stream_url(request)
        if rec.query_values("wait"):
            outcome, value = await asyncio.shield(sub.outcome)
            if outcome != "completed":
                return _settlement_error(outcome, value)
            body = {
                "result": value,
                "streamUrl": url,
                "offset": before,
                "submissionId": sub.submission_id,
            }
            return _json(body)
        offset = conv.offset
        body = {"streamUrl": url, "offset": offset, "submissionId": sub.submission_id}
        return _json(body, [("Location", url), ("Stream-Next-Offset", offset)], 202)

    # -- attachments --------------------------------------------------------------------------

    def attachment(self, name: str, instance: str, attachment_id: str) -> Reply:
        conv: Conversation | None = self.app.conversations.get((name, instance))
        if conv is None:
            return stream_not_found(name, instance)
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

    # -- reads --------------------------------------------------------------------------------

    async def _read(self, rec: Any, name: str, instance: str, conv: Conversation | None) -> Reply:
        views = rec.query_values("view")
        view = views[0] if views else "history"
        if view == "history":
            if any(rec.query_values(key) for key in ("offset", "tail", "live")) or any(
                key in ("offset", "tail", "live") for key, _ in rec.query
            ):
                return invalid_request(
                    "History reads do not accept offset, tail, or live parameters."
                )
            if conv is None:
                return stream_not_found(name, instance)
            snapshot = conv.snapshot()
            headers = [
                ("content-type", "application/json"),
                ("cache-control", "no-store"),
                ("Stream-Next-Offset", snapshot["offset"]),
                ("Stream-Up-To-Date", "true"),
                *SECURITY_HEADERS,
            ]
            return Reply(200, headers, dumps(snapshot))
        if view != "updates":
            return invalid_request("Invalid agent conversation view. Use history or updates.")
        query = updates_query(rec)
        if isinstance(query, Reply):
            return query
        offset, live = query
        if conv is None:
            return stream_not_found(name, instance)
        start = -1 if offset == "-1" else int(offset.split("_", 1)[1])
        if start > conv.head:
            return _stream_store_failure(name, instance)
        if live == "sse":
            headers = [
                ("content-type", "text/event-stream"),
                ("cache-control", "no-cache"),
                *SECURITY_HEADERS,
            ]
            return Reply(200, headers, frames=self.sse(conv, start))
        items, next_offset, up_to_date = page(conv, start)
        if live == "long-poll" and next_offset is None:
            change = conv.changed
            if await wait_either(change, self.config.long_poll_timeout, self.stopping) == "data":
                items, next_offset, up_to_date = page(conv, start)
        headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            ("Stream-Next-Offset", next_offset or format_seq(start)),
        ]
        if up_to_date:
            headers.append(("Stream-Up-To-Date", "true"))
        return Reply(200, [*headers, *SECURITY_HEADERS], dumps(items))

    async def sse(self, conv: Conversation, start: int) -> AsyncGenerator[Frame, None]:
        loop = asyncio.get_running_loop()
        heartbeat = self.config.sse_heartbeat
        next_beat = loop.time() + heartbeat if heartbeat else math.inf  # Flue's setInterval
        current = start
        while not self.stopping.is_set():
            items, next_offset, up_to_date = page(conv, current)
            if items:
                yield Frame("data", dumps(items).decode())
            if next_offset is not None:
                current = int(next_offset.split("_", 1)[1])
            control: dict[str, Any] = {"streamNextOffset": next_offset or format_seq(current)}
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


def updates_query(rec: Any) -> Reply | tuple[str, str | None]:
    """The ``offset`` and ``live`` of a ``view=updates`` read, or the 400 that beta.9 and 2.x
    alike answer for a bad one."""
    if any(key == "tail" for key, _ in rec.query):
        return invalid_request("Update streams do not accept tail.")
    offsets = rec.query_values("offset")
    if len(offsets) != 1:
        return invalid_request("Exactly one offset is required.")
    offset = offsets[0]
    if offset != "-1" and not OFFSET_RE.fullmatch(offset):
        return invalid_request("Invalid offset format.")
    lives = rec.query_values("live")
    live = lives[0] if lives else None
    if live is not None and live not in ("long-poll", "sse"):
        return invalid_request("Invalid live mode. Use long-poll or sse.")
    return offset, live


def format_seq(seq: int) -> str:
    return "-1" if seq < 0 else f"{0:016d}_{seq:016d}"


def page(conv: Conversation, start: int) -> tuple[list[dict[str, Any]], str | None, bool]:
    """Chunks of the batches after ``start`` (at most 100 batches), the offset of the last
    batch read (``None`` when none) and whether that reached the head."""
    last = min(conv.head, start + _READ_LIMIT)
    items: list[dict[str, Any]] = []
    for seq in range(start + 1, last + 1):
        items.extend(conv.chunks(seq))
    return items, (format_seq(last) if last > start else None), last >= conv.head


def stream_url(request: web.Request) -> str:
    """The request's URL without its query, the path as sent (percent-encoding kept)."""
    return f"{request.scheme}://{request.host}{request.raw_path.split('?', 1)[0]}"


def _parse_payload(request: web.Request, body: bytes) -> tuple[str, list[dict[str, Any]]] | Reply:
    length = request.headers.get("Content-Length")
    ctype = request.headers.get("Content-Type")
    empty = (length is not None and length.strip() == "0") or (length is None and ctype is None)
    if not empty and (ctype is None or "application/json" not in ctype.lower()):
        return unsupported_media_type(ctype)
    text = "" if empty else body.decode("utf-8", "replace")
    if not text.strip():
        return invalid_request(_PAYLOAD_REASON)

    def reject(name: str) -> Any:
        raise ValueError(f"Unexpected token {name!r}")

    try:
        payload = json.loads(text, parse_constant=reject)
    except ValueError as exc:
        return invalid_json(str(exc))
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return invalid_request(_PAYLOAD_REASON)
    images = payload.get("images", [])
    if "images" in payload and not isinstance(images, list):
        return invalid_request(_PAYLOAD_REASON)
    for image in images:
        ok = (
            isinstance(image, dict)
            and image.get("type") == "image"
            and isinstance(image.get("data"), str)
            and isinstance(image.get("mimeType"), str)
            and isinstance(image.get("filename", ""), str)
        )
        if not ok:
            return invalid_request(_PAYLOAD_REASON)
        if len(image["data"]) > _MAX_IMAGE:
            return invalid_request(f"Image data exceeds the {_MAX_IMAGE} character limit.")
        try:
            base64.b64decode(image["data"] + "===", validate=False)
        except binascii.Error:
            return invalid_request(_PAYLOAD_REASON)
    return payload["message"], images
