"""Agent conversations on the wire: the conversation URL, the requests of the agent routes, and
what a settled submission means.

How it works: a conversation is addressed by its URL, ``{base}/agents/{name}/{id}`` (each
segment percent-encoded, so neither can climb out of ``/agents/``); every request below takes
that URL, not the name and id, so a client given a conversation URL directly would use them
unchanged. Prompts ``POST`` the URL (``?wait=result`` to wait), the history is ``GET
?view=history``, the live chunks are the Durable Streams stream ``?view=updates``, an abort is
``POST /abort``. `settlement_result` turns the ``submission-settled`` chunk of a submission into
its result, or the `FlueExecutionError` to raise.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from flue._models.chunks import SubmissionSettledChunk
from flue._models.conversation import AgentResult, agent_result_from_value
from flue._protocol.http import HttpRequest, RequestKind
from flue.errors import FlueExecutionError, InvalidArgumentError

__all__ = [
    "absent_delay",
    "build_abort_request",
    "build_history_request",
    "build_prompt_request",
    "conversation_url",
    "execution_error_from_api",
    "settlement_result",
    "updates_url",
]

_JSON = {"Accept": "application/json"}


def _segment(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(f"{what} must be a non-empty string, got {value!r}")
    if value in (".", ".."):  # percent-encoding leaves dots alone; URL libraries resolve them
        raise InvalidArgumentError(f"{value!r} is not a valid {what}")
    return quote(value, safe="")


def conversation_url(base: str, name: str, conversation_id: str) -> str:
    """``{base}/agents/{name}/{id}``, both segments percent-encoded."""
    agent = _segment("agent name", name)
    return f"{base}/agents/{agent}/{_segment('conversation id', conversation_id)}"


def updates_url(url: str) -> str:
    """The stream of a conversation's chunks (``?view=updates``; a ``view`` already in the URL
    is replaced)."""
    base, _, query = url.partition("?")
    kept = [p for p in query.split("&") if p and not p.startswith("view=")]
    return f"{base}?{'&'.join([*kept, 'view=updates'])}"


def _image(image: object, index: int) -> dict[str, Any]:
    if not isinstance(image, Mapping):
        raise InvalidArgumentError(
            f"images[{index}] must be a dict like {{'data': <bytes or base64 str>, "
            f"'mimeType': 'image/png'}}, got {type(image).__name__}"
        )
    out = {str(k): v for k, v in image.items()}
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


def build_prompt_request(
    url: str, message: object, *, images: Sequence[object] | None = None, wait: bool
) -> HttpRequest:
    """``POST {conversation}`` with ``{"message", "images"?}`` (``?wait=result`` to wait).

    Images are dicts ``{"data", "mimeType", "filename"?}``; ``data`` may be bytes (sent base64).
    """
    if not isinstance(message, str):
        raise InvalidArgumentError(f"message must be a string, got {type(message).__name__}")
    body: dict[str, Any] = {"message": message}
    if images is not None:
        if isinstance(images, str | bytes) or not isinstance(images, Sequence):
            raise InvalidArgumentError("images must be a list of image dicts")
        body["images"] = [_image(image, i) for i, image in enumerate(images)]
    return HttpRequest(
        method="POST",
        url=f"{url}?wait=result" if wait else url,
        kind=RequestKind.INVOKE,
        headers={"Content-Type": "application/json", **_JSON},
        body=json.dumps(body, separators=(",", ":")).encode(),
    )


def build_history_request(url: str) -> HttpRequest:
    """``GET {conversation}?view=history``: the whole conversation and its offset."""
    return HttpRequest(
        method="GET", url=f"{url}?view=history", kind=RequestKind.META, headers=_JSON
    )


def build_abort_request(url: str) -> HttpRequest:
    """``POST {conversation}/abort``: stop the work under way and queued."""
    return HttpRequest(method="POST", url=f"{url}/abort", kind=RequestKind.META, headers=_JSON)


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


def absent_delay(attempt: int) -> float:
    """Seconds to wait before reading the history of a conversation that does not exist yet
    again: 0.25 s doubling to 5 s (attempt 0 is the first wait)."""
    return min(0.25 * float(2 ** min(attempt, 10)), 5.0)
