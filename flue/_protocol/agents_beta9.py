"""Agent conversations on Flue 1.0 (beta.9): what differs from 2.x on the wire.

How it works: a prompt ``POST``s ``{"message": str, "images"?: [...]}`` to the conversation URL
(``?wait=result`` answers once the submission settled, with its ``result``); a settled
submission's ``submission-settled`` chunk carries the ``result`` (``text``, ``usage``,
``model``). `settlement_result` turns it into an `AgentResult`, or the `FlueExecutionError`
to raise; `execution_error_from_api` does the same for a ``?wait=result`` error answer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

from flue._models.chunks import SubmissionSettledChunk
from flue._models.conversation import AgentResult, agent_result_from_value
from flue._protocol.http import HttpRequest, json_post
from flue.errors import FlueExecutionError, InvalidArgumentError

__all__ = [
    "beta9_body",
    "build_prompt_request",
    "execution_error_from_api",
    "image",
    "settlement_result",
]


def image(value: object, index: int) -> dict[str, Any]:
    """One image as beta.9 (and 2.x, with ``type``) take it: ``mime_type`` renamed
    ``mimeType``, bytes ``data`` base64-encoded, ``type`` set to ``"image"``."""
    if not isinstance(value, Mapping):
        raise InvalidArgumentError(
            f"images[{index}] must be a dict like {{'data': <bytes or base64 str>, "
            f"'mimeType': 'image/png'}}, got {type(value).__name__}"
        )
    out = {str(k): v for k, v in value.items()}
    if "mime_type" in out and "mimeType" not in out:
        out["mimeType"] = out.pop("mime_type")
    data = out.get("data")
    if isinstance(data, bytes | bytearray | memoryview):
        out["data"] = base64.b64encode(bytes(data)).decode("ascii")
    elif not isinstance(data, str):
        raise InvalidArgumentError(f"images[{index}]['data'] must be bytes or a base64 string")
    if not isinstance(out.get("mimeType"), str):
        raise InvalidArgumentError(f"images[{index}] needs a 'mimeType' such as 'image/png'")
    out.setdefault("type", "image")
    return out


def beta9_body(message: object, images: Sequence[object] | None = None) -> dict[str, Any]:
    """``{"message", "images"?}``: images are dicts ``{"data", "mimeType", "filename"?}``;
    ``data`` may be bytes (sent base64)."""
    if not isinstance(message, str):
        raise InvalidArgumentError(f"message must be a string, got {type(message).__name__}")
    body: dict[str, Any] = {"message": message}
    if images is not None:
        if isinstance(images, str | bytes) or not isinstance(images, Sequence):
            raise InvalidArgumentError("images must be a list of image dicts")
        body["images"] = [image(item, i) for i, item in enumerate(images)]
    return body


def build_prompt_request(
    url: str, message: object, *, images: Sequence[object] | None = None, wait: bool
) -> HttpRequest:
    """``POST {conversation}`` with `beta9_body` (``?wait=result`` to wait)."""
    body = beta9_body(message, images)
    data = json.dumps(body, separators=(",", ":")).encode()
    return json_post(f"{url}?wait=result" if wait else url, data)


def settlement_result(chunk: SubmissionSettledChunk) -> AgentResult:
    """The result of a settled submission; `FlueExecutionError` for a failed or aborted one
    (``failure`` is the outcome; an outcome this version does not know counts as failed)."""
    submission_id = chunk.submission_id or ""
    if chunk.outcome == "completed":
        return agent_result_from_value(chunk.result)
    failure = "aborted" if chunk.outcome == "aborted" else "failed"
    raise FlueExecutionError(
        target="agent_submission", target_id=submission_id, failure=failure, error=chunk.error
    )


# error types of a ``?wait=result`` prompt whose submission did not complete
_PROMPT_FAILURES = {"submission_aborted": "aborted", "operation_failed": "failed"}


def execution_error_from_api(
    error_type: str | None, details: Any, body: str
) -> FlueExecutionError | None:
    """The `FlueExecutionError` for a ``?wait=result`` prompt answered with the error of a
    submission that ran and did not complete (None for any other error)."""
    failure = _PROMPT_FAILURES.get(error_type or "")
    if failure is None:
        return None
    submission_id = ""
    if isinstance(details, Mapping):
        value = details.get("submissionId")
        submission_id = value if isinstance(value, str) else ""
    try:
        envelope = json.loads(body)
    except ValueError:
        envelope = None
    error = envelope.get("error") if isinstance(envelope, dict) else None
    return FlueExecutionError(
        target="agent_submission", target_id=submission_id, failure=failure, error=error
    )
