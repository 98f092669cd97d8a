# Flue 2.x wire details of the fake: the delivered-input body (`{kind: "user", ...}` or
# `{kind: "signal", ...}` plus `initialData`, `uid`, `idempotencyKey`), validated as a 2.x
# server does (unknown fields ignored; the specific reasons a real server gives for an image
# too large, a reserved signal type, a bad tag name, a bad uid or key; the one generic reason
# otherwise), and the 2.x error answers: the app's plain-text 404, `stream_not_found`,
# `agent_instance_not_found`, `agent_instance_exists`, `submission_conflict`,
# `stream_offset_gone` and a 500 `internal_error` carrying an error ref (in the body and the
# `flue-error-ref` header).

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from flue._models.messages import RESERVED_SIGNAL_TYPES

from ._agent_state import ulid
from ._send import Reply
from ._store import MISSING
from ._wire import dumps, error_reply, images_problem, internal_error, invalid_request, json_body

__all__ = [
    "RESERVED_SIGNAL_TYPES",
    "instance_exists",
    "instance_not_found",
    "internal_error_with_ref",
    "offset_gone",
    "parse_input",
    "plain_not_found",
    "submission_conflict",
    "wait_result_refused",
]

GENERIC_REASON = (
    'Delivered messages must be { kind: "user", body: string, attachments?: attachment[] } or '
    '{ kind: "signal", type: string, body: string, attributes?: Record<string, string>, '
    "tagName?: string }."
)
_MAX_KEY = 256
_TAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


def plain_not_found() -> Reply:
    """The app's own 404 for a path no route serves (Hono's default)."""
    return Reply(404, [("content-type", "text/plain; charset=UTF-8")], b"404 Not Found")


def instance_not_found(instance: str) -> Reply:
    return error_reply(
        404,
        "agent_instance_not_found",
        f'Agent instance "{instance}" was not found.',
        "No instance with this id and uid exists. The id may be wrong, or the instance was "
        "re-created and this uid names its previous incarnation. Send without a uid to deliver "
        "unconditionally.",
    )


def instance_exists(instance: str, uid: str) -> Reply:
    return error_reply(
        409,
        "agent_instance_exists",
        f'Agent instance "{instance}" already exists.',
        f'Continue it with uid "{uid}", or pick a fresh id to create.',
        meta={"uid": uid},
    )


def submission_conflict(submission_id: str) -> Reply:
    return error_reply(
        409,
        "submission_conflict",
        "This idempotency key already names a different submission.",
        "The key names the delivery, not the outcome: retry the identical payload to converge "
        "on the existing submission, or use a fresh key to deliver something new.",
        meta={"submissionId": submission_id},
    )


def offset_gone(offset: str, next_offset: str, name: str, instance: str) -> Reply:
    return error_reply(
        416,
        "stream_offset_gone",
        f'Stream offset "{offset}" is beyond the current head of "agents/{name}/{instance}".',
        "The stream is shorter than the requested resume offset — it was likely reset since "
        "the offset was checkpointed. Re-read the conversation history and resume from its "
        "offset.",
        meta={"offset": offset, "nextOffset": next_offset},
    )


def wait_result_refused() -> Reply:
    return invalid_request(
        "Agent prompts are fire-and-forget and do not support `?wait=result`. Await completion "
        "with the SDK client's `wait()`, or read the conversation stream (GET this URL)."
    )


def internal_error_with_ref(log: list[str], cause: str) -> Reply:
    """A 500 ``internal_error`` with a fresh error ref, logged (``"<ref> <cause>"``) in ``log``
    as a real server logs the ref with the failure."""
    ref = f"err_{ulid()}"
    log.append(f"{ref} {cause}")
    reply = internal_error(headers=[("flue-error-ref", ref)])
    body = json.loads(reply.body or b"{}")
    body["error"]["ref"] = ref
    reply.body = dumps(body)
    return reply


def _message(value: Any) -> dict[str, Any] | str:
    """The validated message, or the reason it is refused."""
    if not isinstance(value, dict) or not isinstance(value.get("body"), str):
        return GENERIC_REASON
    kind = value.get("kind")
    if kind == "user":
        out: dict[str, Any] = {"kind": "user", "body": value["body"]}
        if "attachments" not in value:
            return out
        attachments = value["attachments"]
        problem = images_problem(attachments, GENERIC_REASON)
        if problem is not None:
            return problem
        keep = ("type", "data", "mimeType", "filename")
        out["attachments"] = [{k: image[k] for k in keep if k in image} for image in attachments]
        return out
    if kind != "signal" or not isinstance(value.get("type"), str):
        return GENERIC_REASON
    type_ = value["type"]
    if type_ in RESERVED_SIGNAL_TYPES:
        return (
            f'Signal type "{type_}" is framework-reserved vocabulary (the runtime\'s own '
            "narration and recovery signals) — use an application-specific type."
        )
    attributes = value.get("attributes", {})
    if not type_ or not isinstance(attributes, dict):
        return GENERIC_REASON
    if not all(isinstance(v, str) for v in attributes.values()):
        return GENERIC_REASON
    signal: dict[str, Any] = {"kind": "signal", "type": type_, "body": value["body"]}
    if "attributes" in value:
        signal["attributes"] = dict(attributes)
    if "tagName" in value:
        tag = value["tagName"]
        if not isinstance(tag, str):
            return GENERIC_REASON
        if not _TAG_NAME.fullmatch(tag):
            return (
                'Signal message "tagName" must be a valid XML tag name (letters, digits, "_", '
                '"-", "."; must not start with a digit, "-", or ".").'
            )
        signal["tagName"] = tag
    return signal


def parse_input(request: web.Request, body: bytes) -> dict[str, Any] | Reply:
    """The delivered input (``message`` and the given ``initialData``/``uid``/
    ``idempotencyKey``), or the error answer."""
    value = json_body(request, body)
    if isinstance(value, Reply):
        return value
    if value is MISSING:
        return invalid_request(GENERIC_REASON)
    parsed: dict[str, Any] = {}
    if isinstance(value, dict):
        if "uid" in value:
            if value["uid"] is not None and not isinstance(value["uid"], str):
                return invalid_request(
                    "`uid` must be a string (continue only that incarnation) or null (create "
                    "only when fresh)."
                )
            parsed["uid"] = value["uid"]
        if value.get("initialData") is not None:
            parsed["initialData"] = value["initialData"]
    message = _message(value)
    if isinstance(message, str):
        return invalid_request(message)
    if isinstance(value, dict) and "idempotencyKey" in value:
        key = value["idempotencyKey"]
        if not isinstance(key, str) or not key:
            return invalid_request(
                "`idempotencyKey` must be a non-empty string naming this delivery."
            )
        if len(key) > _MAX_KEY:
            return invalid_request(f"`idempotencyKey` must be at most {_MAX_KEY} characters.")
        parsed["idempotencyKey"] = key
    parsed["message"] = message
    return parsed
