# The `/agents/...` routes of the fake server, in Flue 1.0.0-beta.9's order of checks.
#
# `route` is called by `FakeFlueApp.handle` for every path under `/agents/`. It splits the path
# like Flue's Hono routes (`/agents/:name/:id`, `.../abort`, `.../attachments/:attachmentId`,
# anything else `route_not_found`), then checks as Flue does: the `?wait` query (prompt POST
# only), the method, an unknown agent (404 `agent_not_found`), the agent's auth hook, and only
# then the request itself. Reads are `_agent_reads.ConversationRoutes.read` with beta.9's
# headers and answers: an unknown conversation is 404 `stream_not_found`, an offset past the
# head 500 `conversation_stream_store_failure`.

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import attrs
from aiohttp import web

from ._agent_reads import ConversationRoutes, accepted, instance_route, stream_url
from ._agent_state import Conversation
from ._conversations import abort_instance, submit
from ._send import Reply
from ._wire import (
    SECURITY_HEADERS,
    error_reply,
    images_problem,
    internal_error,
    invalid_request,
    json_body,
    json_reply,
    method_not_allowed,
    not_registered,
    route_not_found,
    stream_not_found,
    wait_refused,
)

__all__ = ["AgentRoute", "parse_agent_path"]

_PAYLOAD_REASON = (
    'Direct agent requests must use JSON object body { "message": string, "images"?: image[] }.'
)


def parse_agent_path(raw_path: str) -> tuple[str, str, str, str | None] | None:
    """``(name, id, kind, attachment_id)`` of an agent path (``/agents/{name}/...``, kind as
    `instance_route` has it); ``None`` when the path matches no agent route."""
    segments = raw_path.split("/")[2:]
    found = instance_route(segments[1:]) if segments and segments[0] else None
    return None if found is None else (unquote(segments[0]), *found)


def _settlement_error(outcome: str, error: dict[str, Any]) -> Reply:
    if outcome == "aborted" or error.get("type") in ("operation_failed",):
        return error_reply(500, error["type"], error["message"], error.get("details", ""))
    return internal_error()


@attrs.define(eq=False)
class AgentRoute(ConversationRoutes):
    """The agent routes over the app's state (see the module comment)."""

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
        elif kind == "abort":
            if rec.method != "POST":
                return method_not_allowed(rec.method, ["POST"])
        elif rec.method == "POST":
            refused = wait_refused(rec.query_values("wait"))
            if refused is not None:
                return refused
        elif rec.method not in ("GET", "HEAD"):
            return method_not_allowed(rec.method, ["GET", "HEAD", "POST"])
        if agent is None:
            return not_registered("agent", name)
        refusal = await self.authorize(rec)
        if refusal is not None:
            return refusal
        conv = self.app.conversations.get((name, instance))
        if kind == "attachment":
            return self.attachment(name, instance, conv, attachment or "")
        if kind == "abort":
            return json_reply(200, {"aborted": abort_instance(conv)})
        if rec.method == "POST":
            return await self._prompt(request, rec, agent, name, instance)
        if rec.method == "HEAD":
            return self.head(name, instance, conv)
        return await self.read(rec, name, instance, conv)

    # -- what beta.9 answers ------------------------------------------------------------------

    def read_headers(self, next_offset: str, up_to_date: bool) -> list[tuple[str, str]]:
        headers = [
            ("content-type", "application/json"),
            ("cache-control", "no-store"),
            ("Stream-Next-Offset", next_offset),
        ]
        if up_to_date:
            headers.append(("Stream-Up-To-Date", "true"))
        return [*headers, *SECURITY_HEADERS]

    def stream_missing(self, name: str, instance: str) -> Reply:
        return stream_not_found(name, instance)

    def offset_past_head(self, offset: str, conv: Conversation) -> Reply:
        return error_reply(
            500,
            "conversation_stream_store_failure",
            "The canonical conversation stream operation could not be completed.",
            "The conversation stream remains unchanged when the operation was rejected.",
            meta={
                "operation": "read",
                "path": f"agents/{conv.agent}/{conv.instance_id}",
                "reason": "Read offset is beyond the canonical stream head.",
            },
        )

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
        if rec.query_values("wait"):
            outcome, value = await asyncio.shield(sub.outcome)
            if outcome != "completed":
                return _settlement_error(outcome, value)
            url = stream_url(request)
            body = {
                "result": value,
                "streamUrl": url,
                "offset": before,
                "submissionId": sub.submission_id,
            }
            return json_reply(200, body)
        return accepted(request, conv.offset, sub.submission_id)


def _parse_payload(request: web.Request, body: bytes) -> tuple[str, list[dict[str, Any]]] | Reply:
    payload = json_body(request, body)
    if isinstance(payload, Reply):
        return payload
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), str):
        return invalid_request(_PAYLOAD_REASON)
    images = payload.get("images", [])
    problem = images_problem(images, _PAYLOAD_REASON)
    if problem is not None:
        return invalid_request(problem)
    return payload["message"], images
