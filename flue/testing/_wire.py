# Wire details shared by the fake's handlers: JSON as JavaScript's JSON.stringify writes it,
# the security headers Flue puts on stream responses and errors, and Flue's error envelopes
# ({"error": {"type", "message", "details", "meta"?}}) with the statuses and prose of a real
# Flue 1.0.0-beta.5 server.

from __future__ import annotations

import json
from typing import Any

from ._send import Reply

__all__ = [
    "SECURITY_HEADERS",
    "action_input_validation",
    "dumps",
    "error_reply",
    "internal_error",
    "invalid_json",
    "invalid_request",
    "json_reply",
    "method_not_allowed",
    "route_not_found",
    "run_not_found",
    "unsupported_media_type",
    "workflow_not_found",
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


def dumps(value: Any) -> bytes:
    """Compact JSON, non-ASCII kept as is (like ``JSON.stringify``)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(status: int, value: Any) -> Reply:
    """A JSON answer with only a content type, as Flue sends run records and receipts."""
    return Reply(status, [("content-type", "application/json")], dumps(value))


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


def workflow_not_found(name: str) -> Reply:
    """404 ``workflow_not_found``."""
    return error_reply(
        404,
        "workflow_not_found",
        f'Workflow "{name}" is not registered.',
        "Verify the workflow name is correct.",
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


def internal_error() -> Reply:
    """500 ``internal_error``: any unexpected failure (e.g. ``?wait=result`` on a failed run)."""
    return error_reply(
        500,
        "internal_error",
        "An internal error occurred.",
        "The server encountered an unexpected error while handling this request.",
    )
