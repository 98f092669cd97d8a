"""The message fields of a Flue 2.x send body.

How it works: `wire_message` maps a ``str``, a `UserMessage` or a `Signal` to the JSON object
the server takes as the message (the request body holds it beside ``initialData``, ``uid`` and
``idempotencyKey``, added by the caller): ``{"kind": "user", "body", "attachments"?}`` or
``{"kind": "signal", "type", "body", "attributes"?, "tagName"?}``, leaving out what is absent.
The classes check their values when built (`flue._models.messages`), so only the kind of
`message` is checked here.
"""

from __future__ import annotations

from typing import Any

from flue._models.messages import ImageAttachment, Signal, UserMessage
from flue.errors import InvalidArgumentError

__all__ = ["wire_attachment", "wire_message"]


def wire_attachment(attachment: ImageAttachment) -> dict[str, Any]:
    """``{"type": "image", "data": <base64>, "mimeType", "filename"?}``."""
    wire = {"type": "image", "data": attachment.base64_data, "mimeType": attachment.mime_type}
    if attachment.filename is not None:
        wire["filename"] = attachment.filename
    return wire


def wire_message(message: str | UserMessage | Signal) -> dict[str, Any]:
    """The JSON fields of `message` (module comment); anything else than a ``str``, a
    `UserMessage` or a `Signal` is an `InvalidArgumentError`."""
    if isinstance(message, str):
        return {"kind": "user", "body": message}
    if isinstance(message, UserMessage):
        wire: dict[str, Any] = {"kind": "user", "body": message.body}
        if message.attachments:
            wire["attachments"] = [wire_attachment(a) for a in message.attachments]
        return wire
    if isinstance(message, Signal):
        wire = {"kind": "signal", "type": message.type, "body": message.body}
        if message.attributes is not None:
            wire["attributes"] = dict(message.attributes)
        if message.tag_name is not None:
            wire["tagName"] = message.tag_name
        return wire
    hint = ""
    if isinstance(message, dict):
        hint = " (build a flue.UserMessage or a flue.Signal instead of a dict)"
    raise InvalidArgumentError(
        "message must be a str, a flue.UserMessage or a flue.Signal, got "
        f"{type(message).__name__}{hint}"
    )
