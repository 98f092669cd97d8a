# Wire details shared by the fake's handlers (both flavours): JSON as JavaScript's
# JSON.stringify writes it, the security headers Flue puts on stream responses and errors, a
# request's JSON body as Flue's body parser takes it (415 for another content type, 400
# `invalid_json`), image objects as Flue validates them, and Flue's error envelopes
# ({"error": {"type", "message", "details", "meta"?}}) with the statuses and prose of a real
# Flue 1.0.0-beta.5 server.

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from aiohttp import web

from ._send import Reply
from ._store import MISSING

__all__ = [
    "MAX_IMAGE",
    "SECURITY_HEADERS",
    "action_input_validation",
    "dumps",
    "error_reply",
    "images_problem",
    "internal_error",
    "invalid_json",
    "invalid_request",
    "json_body",
    "json_reply",
    "method_not_allowed",
    "not_registered",
    "route_not_found",
    "run_not_found",
    "stream_not_found",
    "unsupported_media_type",
    "wait_refused",
]

SECURITY_HEADERS: list[tuple[str, str]] = [
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
]
_ERROR_HEADERS: list[tuple[str, str]] = [
    ("content-type", "application/json"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-resource-policy", "cross-origin"),
]
MAX_IMAGE = 14 * 1024 * 1024
"""Flue's limit on an image's base64 ``data``, in characters."""


def dumps(value: Any) -> bytes:
    """Compact JSON, non-ASCII kept as is (like ``JSON.stringify``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    """A JSON answer with a content type (and ``headers``), as Flue sends run records and
    receipts."""
    return Reply(status, [("content-type", "application/json"), *(headers or [])], dumps(value))


def json_body(request: web.BaseRequest, body: bytes) -> Any:
    """The request's JSON body as Flue's parser takes it: ``MISSING`` when there is none (no
    body, or only white space), else the parsed value, or the error ``Reply`` (415 for a body
    not sent as JSON, 400 ``invalid_json``)."""
    length = request.headers.get("Content-Length")
    ctype = request.headers.get("Content-Type")
    if (length is not None and length.strip() == "0") or (length is None and ctype is None):
        return MISSING
    if ctype is None or "application/json" not in ctype.lower():
        return unsupported_media_type(ctype)
    text = body.decode("utf-8", "replace")
    if not text.strip():
        return MISSING

    def reject(name: str) -> Any:
        raise ValueError(f"Unexpected token {name!r}")

    try:
        return json.loads(text, parse_constant=reject)
    except ValueError as exc:
        return invalid_json(str(exc))


def images_problem(images: Any, reason: str) -> str | None:
    """Why Flue refuses a request's list of images (``{type: "image", data, mimeType,
    filename?}``): ``reason`` (the request's generic one) for a wrong shape or data that is not
    base64, the size limit's own reason for too much data; ``None`` when they are fine."""
    if not isinstance(images, list):
        return reason
    for image in images:
        ok = (
            isinstance(image, dict)
            and image.get("type") == "image"
            and isinstance(image.get("data"), str)
            and isinstance(image.get("mimeType"), str)
            and isinstance(image.get("filename", ""), str)
        )
        if not ok:
            return reason
        if len(image["data"]) > MAX_IMAGE:
            return f"Image data exceeds the {MAX_IMAGE} character limit."
        try:
            base64.b64decode(image["data"] + "===", validate=False)
        except binascii.Error:
            return reason
    return None


def error_reply(
    status: int,
    type_: str,
    message: str,
    details: str,
    *,
    meta: dict[str, Any] | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """A Flue error envelope."""
    error: dict[str, Any] = {"type": type_, "message": message, "details": details}
    if meta is not None:
        error["meta"] = meta
    return Reply(status, [*_ERROR_HEADERS, *(headers or [])], dumps({"error": error}))


def _quoted_list(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items) if items else "(none)"


def run_not_found(run_id: str) -> Reply:
    """404 ``run_not_found`` (unknown, expired or not exposed run)."""
    return error_reply(
        404,
        "run_not_found",
        f'Run "{run_id}" was not found.',
        "Verify the run id is correct and its history is still available.",
    )


def stream_not_found(name: str, instance: str, *, runs: bool = True) -> Reply:
    """404 ``stream_not_found`` for an agent instance's conversation that does not exist
    (``runs``: the server has workflow runs, whose streams the details name too; 2.x has
    none)."""
    created = " or their workflow run starts" if runs else ""
    return error_reply(
        404,
        "stream_not_found",
        f'Event stream "agents/{name}/{instance}" was not found.',
        f"Streams are created when their agent instance receives its first prompt{created}.",
    )


def not_registered(kind: str, name: str) -> Reply:
    """404 ``<kind>_not_found`` for a name the app does not register (``kind``: ``"workflow"``,
    or on beta.9 ``"agent"``)."""
    return error_reply(
        404,
        f"{kind}_not_found",
        f'{kind.capitalize()} "{name}" is not registered.',
        f"Verify the {kind} name is correct.",
    )


def route_not_found(method: str, raw_path: str) -> Reply:
    """404 ``route_not_found`` for any path outside the Flue routes."""
    return error_reply(
        404,
        "route_not_found",
        f"No route matches {method} {raw_path}.",
        "Verify the request method and path are correct.",
    )


def method_not_allowed(method: str, allowed: list[str]) -> Reply:
    """405 ``method_not_allowed`` with ``Allow``."""
    return error_reply(
        405,
        "method_not_allowed",
        f"HTTP method {method} is not allowed on this endpoint.",
        f"This endpoint accepts {_quoted_list(allowed)} only.",
        headers=[("Allow", ", ".join(allowed))],
    )


def invalid_request(reason: str) -> Reply:
    """400 ``invalid_request``; ``reason`` goes to ``details``."""
    return error_reply(400, "invalid_request", "Request is malformed.", reason)


def wait_refused(waits: list[str]) -> Reply | None:
    """The 400 a beta.9 POST answers for a ``?wait`` other than ``wait=result`` (``waits``: its
    values), ``None`` when there is none."""
    if not waits or waits == ["result"]:
        return None
    received = json.dumps(waits[0], ensure_ascii=False) if len(waits) == 1 else "Array"
    return invalid_request(
        f'Invalid query parameters: wait: Invalid type: Expected "result" but received {received}'
    )


def invalid_json(parse_error: str) -> Reply:
    """400 ``invalid_json`` for an unparseable request body."""
    return error_reply(
        400,
        "invalid_json",
        "Request body is not valid JSON.",
        f"The JSON parser reported: {parse_error}\n"
        "Verify the body is well-formed JSON, or omit the body entirely if the request "
        "doesn't have a payload.",
    )


def unsupported_media_type(received: str | None) -> Reply:
    """415 ``unsupported_media_type`` for a body that is not sent as JSON."""
    first = (
        f'Received Content-Type: "{received}".' if received else "No Content-Type header was sent."
    )
    return error_reply(
        415,
        "unsupported_media_type",
        "Request body must be sent as application/json.",
        f"{first}\n"
        'Send the request body as JSON with the header "Content-Type: application/json", or '
        "omit the body entirely (and the Content-Type header) if the request doesn't have a "
        "payload.",
    )


def action_input_validation(issues: list[dict[str, Any]]) -> Reply:
    """500 ``action_input_validation``: Flue answers invalid workflow input this way."""
    return error_reply(
        500,
        "action_input_validation",
        'Action "workflow" input does not match the required schema.',
        "",
        meta={"action": "workflow", "issues": issues},
    )


def internal_error(*, headers: list[tuple[str, str]] | None = None) -> Reply:
    """500 ``internal_error``: any unexpected failure (e.g. ``?wait=result`` on a failed run)."""
    return error_reply(
        500,
        "internal_error",
        "An internal error occurred.",
        "The server encountered an unexpected error while handling this request.",
        headers=headers,
    )
