"""The reply of one submission, read from a conversation's messages and settlements.

How it works: `select_reply` is a pure function, the rules of the TypeScript SDK's
``readSubmissionReply`` (``@flue/sdk`` 2.0.3), which the server's own ``read()`` follows too:

1. the last assistant message of the submission (``submission_id``);
2. else, when the submission's settlement names the submission whose reply answered it
   (``answered_by_submission_id``: a message sent while a reply was streaming joins that
   reply), the last assistant message of that one, or no reply when it has none;
3. else (no settlement, or one without that link, as on beta.9) the conversation's last
   assistant message.

The reply's text is its text parts joined by a blank line; its data parts are collected by
name, in order; its metadata is the message's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeGuard

from flue._models.conversation import Message, Settlement
from flue._models.parts import DataPart, TextPart
from flue._models.replies import Reply

__all__ = ["reply_message", "select_reply"]


def _last_assistant(messages: Sequence[Message], submission_id: str | None) -> Message | None:
    for message in reversed(messages):
        if message.role == "assistant" and (
            submission_id is None or message.submission_id == submission_id
        ):
            return message
    return None


def reply_message(
    messages: Sequence[Message], settlements: Sequence[Settlement], submission_id: str
) -> Message | None:
    """The message that replies to `submission_id` (module comment), or None."""
    own = _last_assistant(messages, submission_id)
    if own is not None:
        return own
    settlement = next((s for s in settlements if s.submission_id == submission_id), None)
    host = settlement.answered_by_submission_id if settlement is not None else None
    if host is not None:
        return _last_assistant(messages, host)
    return _last_assistant(messages, None)


def _is_text(part: object) -> TypeGuard[TextPart]:
    # a text part whose JSON has no string text is left out, as the SDK does
    return isinstance(part, TextPart) and (not part.raw or isinstance(part.raw.get("text"), str))


def select_reply(
    messages: Sequence[Message],
    settlements: Sequence[Settlement],
    submission_id: str,
    uid: str | None = None,
) -> Reply:
    """The `Reply` to `submission_id` (module comment): ``text`` ``""``, no data and no
    metadata when there is no reply message."""
    message = reply_message(messages, settlements, submission_id)
    parts = message.parts if message is not None else ()
    metadata = message.metadata if message is not None else None
    text = "\n\n".join(p.text for p in parts if _is_text(p))
    collected: dict[str, list[Any]] = {}
    for part in parts:
        if isinstance(part, DataPart):
            collected.setdefault(part.name, []).append(part.data)
    raw: dict[str, Any] = {"text": text, "data": collected}
    if metadata is not None:
        raw["metadata"] = metadata.raw
    raw["submissionId"] = submission_id
    if uid is not None:
        raw["uid"] = uid
    return Reply(
        submission_id=submission_id,
        text=text,
        data={name: tuple(values) for name, values in collected.items()},
        metadata=metadata,
        uid=uid,
        message=message,
        raw=raw,
    )
