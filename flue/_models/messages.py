"""What a client sends to a Flue 2.x agent: a user message (with image attachments) or a signal.

Each class checks its values when it is built and raises `flue.errors.InvalidArgumentError`
for a wrong one, so a message that exists can be sent; `flue._protocol.messages.wire_message`
turns one into the JSON fields of the request body. The checks are the server's (Flue 2.0.3
``parseDeliveredMessage``), made before anything is sent: a signal ``type`` is a non-empty
string outside the framework's reserved names, a ``tag_name`` is an XML name, attribute keys
and values are strings, image data is bytes or base64 text. The size of image data (the
server takes up to 14 MiB of base64 per image) is left to the server.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from flue.errors import InvalidArgumentError

__all__ = ["RESERVED_SIGNAL_TYPES", "ImageAttachment", "Signal", "UserMessage"]

#: Signal types the Flue 2.0.3 server keeps for its own messages (a signal of one is a 400).
RESERVED_SIGNAL_TYPES = frozenset(
    {
        "resources",
        "instructions",
        "environment",
        "stream_interrupted",
        "stream_continued",
        "submission_aborted",
        "submission_interrupted",
        "compaction",
        "memory",
    }
)

_TAG_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*")
_WHITESPACE = str.maketrans("", "", " \t\n\f\r")


def _type_name(value: object) -> str:
    return type(value).__name__


def _valid_base64(text: str) -> bool:
    """Whether the server's ``atob`` decodes `text` (WHATWG forgiving-base64: ASCII
    whitespace ignored, padding optional)."""
    text = text.translate(_WHITESPACE)
    if len(text) % 4 == 0:
        text = text[:-2] if text.endswith("==") else text.removesuffix("=")
    return len(text) % 4 != 1 and _BASE64.fullmatch(text) is not None


def _as_data(value: bytes | bytearray | memoryview | str) -> bytes | str:
    # a bytearray or memoryview is copied, so the attachment cannot change after the check
    return bytes(value) if isinstance(value, bytearray | memoryview) else value


def _check_data(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bytes):
        if not value:
            raise InvalidArgumentError("an image attachment's data is empty")
        return
    if not isinstance(value, str):
        raise InvalidArgumentError(
            f"an image attachment's data must be bytes or a base64 str, got {_type_name(value)}"
        )
    if not value.strip():
        raise InvalidArgumentError("an image attachment's data is empty")
    if not _valid_base64(value):
        raise InvalidArgumentError(
            "an image attachment's data str must be base64 (pass bytes to have them encoded)"
        )


def _check_mime_type(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidArgumentError(
            f"an image attachment needs a mime_type such as 'image/png', got {value!r}"
        )


def _check_optional_str(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidArgumentError(
            f"{attribute.name} must be a str or None, got {_type_name(value)}"
        )


@attrs.frozen(slots=False)
class ImageAttachment:
    """An image sent with a `UserMessage`.

    ``data`` is the image's bytes (sent base64-encoded) or a str already base64-encoded;
    ``mime_type`` its media type (``"image/png"``...); ``filename`` the original file name, if
    any (shown on the message's file part). A wrong value raises `InvalidArgumentError`.
    """

    data: bytes | str = attrs.field(converter=_as_data, validator=_check_data)
    mime_type: str = attrs.field(validator=_check_mime_type)
    filename: str | None = attrs.field(default=None, validator=_check_optional_str)

    @property
    def base64_data(self) -> str:
        """``data`` as base64 text (a str ``data`` as given)."""
        data = self.data
        return base64.b64encode(data).decode("ascii") if isinstance(data, bytes) else data


_ATTACHMENT_KEYS = frozenset({"type", "data", "mimeType", "mime_type", "filename"})


def _attachment(item: object, index: int) -> ImageAttachment:
    if isinstance(item, ImageAttachment):
        return item
    where = f"attachments[{index}]"
    if not isinstance(item, Mapping):
        raise InvalidArgumentError(
            f"{where} must be a flue.ImageAttachment or a dict like {{'type': 'image', "
            f"'data': <base64 str>, 'mimeType': 'image/png'}}, got {_type_name(item)}"
        )
    unknown = sorted(str(k) for k in item if k not in _ATTACHMENT_KEYS)
    if unknown:
        raise InvalidArgumentError(
            f"{where} has unknown keys {unknown} (known: type, data, mimeType, filename)"
        )
    kind = item.get("type", "image")
    if kind != "image":
        raise InvalidArgumentError(f"{where}['type'] must be 'image', got {kind!r}")
    if "mimeType" in item and "mime_type" in item:
        raise InvalidArgumentError(f"{where} has both 'mimeType' and 'mime_type'")
    if "data" not in item:
        raise InvalidArgumentError(f"{where} has no 'data'")
    mime_type = item.get("mimeType", item.get("mime_type"))
    try:
        return ImageAttachment(
            data=item["data"], mime_type=mime_type, filename=item.get("filename")
        )
    except InvalidArgumentError as exc:
        raise InvalidArgumentError(f"{where}: {exc}") from None


def _as_attachments(
    value: Iterable[ImageAttachment | Mapping[str, Any]],
) -> tuple[ImageAttachment, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise InvalidArgumentError(
            "attachments must be a list of flue.ImageAttachment (or image dicts), got "
            f"{_type_name(value)}"
        )
    return tuple(_attachment(item, i) for i, item in enumerate(value))


def _check_body(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"a message body must be a str, got {_type_name(value)}")


@attrs.frozen(slots=False)
class UserMessage:
    """A user's chat message: its text ``body`` and image ``attachments``.

    ``attachments`` takes `ImageAttachment` values or dicts as the TypeScript SDK takes them,
    ``{"type": "image", "data": <base64 str or bytes>, "mimeType": "image/png",
    "filename"?: ...}`` (``type`` may be left out, ``mime_type`` may spell ``mimeType``); they
    are kept as a tuple of `ImageAttachment`. A plain ``str`` sent as a message is the same
    as ``UserMessage(body=...)``. A wrong value raises `InvalidArgumentError`.
    """

    body: str = attrs.field(validator=_check_body)
    attachments: tuple[ImageAttachment, ...] = attrs.field(default=(), converter=_as_attachments)


def _check_signal_type(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidArgumentError(f"a signal type must be a str, got {_type_name(value)}")
    if not value:
        raise InvalidArgumentError("a signal type must not be empty")
    if value in RESERVED_SIGNAL_TYPES:
        raise InvalidArgumentError(
            f"the signal type {value!r} is reserved for Flue's own messages; use a type of "
            "your application's"
        )


def _as_attributes(value: Mapping[str, str] | None) -> dict[str, str] | None:
    # a copy, so the signal cannot change after the check (a non-mapping is refused below)
    return dict(value) if isinstance(value, Mapping) else value


def _check_attributes(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidArgumentError(
            f"signal attributes must be a dict of str to str, got {_type_name(value)}"
        )
    for key, item in value.items():
        if not isinstance(key, str):
            raise InvalidArgumentError(
                f"signal attribute names must be str, got {key!r} ({_type_name(key)})"
            )
        if not isinstance(item, str):
            raise InvalidArgumentError(
                f"signal attribute {key!r} must have a str value, got {_type_name(item)}"
            )


def _check_tag_name(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidArgumentError(f"tag_name must be a str or None, got {_type_name(value)}")
    if _TAG_NAME.fullmatch(value) is None:
        raise InvalidArgumentError(
            f"tag_name must be an XML tag name (letters, digits, '_', '-', '.'; not starting "
            f"with a digit, '-' or '.'), got {value!r}"
        )


@attrs.frozen(slots=False)
class Signal:
    """A structured event delivered to an agent (Flue 2.x): a webhook, a schedule, a message
    from another surface the agent takes part in.

    ``type`` names the event (non-empty, not one of `RESERVED_SIGNAL_TYPES`); ``body`` is its
    text; ``attributes`` string key/value details; ``tag_name`` the XML tag the agent's model
    sees it wrapped in (the server's default is ``signal``). In the conversation it appears as
    a ``system`` message. A wrong value raises `InvalidArgumentError`.
    """

    type: str = attrs.field(validator=_check_signal_type)
    body: str = attrs.field(validator=_check_body)
    attributes: dict[str, str] | None = attrs.field(
        default=None, converter=_as_attributes, validator=_check_attributes, hash=False
    )
    tag_name: str | None = attrs.field(default=None, validator=_check_tag_name)
