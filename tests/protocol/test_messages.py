"""The messages a client sends to a Flue 2.x agent and their wire form: pure, no sockets.
Every refusal is one the 2.0.3 server makes too (``parseDeliveredMessage``), made before
anything is sent."""

from __future__ import annotations

import base64
import json
from typing import Any

import attrs
import pytest

import flue
import flue.models
from flue import ImageAttachment, InvalidArgumentError, Signal, UserMessage
from flue._protocol.messages import wire_attachment, wire_message

PNG = b"\x89PNG\r\n\x1a\n\x00"
PNG64 = base64.b64encode(PNG).decode()


def test_a_str_is_a_user_message() -> None:
    assert wire_message("Hi") == {"kind": "user", "body": "Hi"}
    assert wire_message("") == {"kind": "user", "body": ""}
    assert wire_message(UserMessage(body="Hi")) == {"kind": "user", "body": "Hi"}
    assert UserMessage("Hi") == UserMessage(body="Hi")  # positional too
    assert Signal("t", "b", {"a": "1"}, "tag") == Signal(
        type="t", body="b", attributes={"a": "1"}, tag_name="tag"
    )
    assert ImageAttachment(PNG, "image/png") == ImageAttachment(data=PNG, mime_type="image/png")


def test_a_user_message_with_attachments() -> None:
    message = UserMessage(
        body="look",
        attachments=[
            ImageAttachment(data=PNG, mime_type="image/png", filename="a.png"),
            ImageAttachment(data=PNG64, mime_type="image/png"),
            {"type": "image", "data": PNG64, "mimeType": "image/jpeg", "filename": "b.jpg"},
            {"data": bytearray(PNG), "mime_type": "image/gif"},  # the Python spelling
        ],
    )
    assert all(isinstance(a, ImageAttachment) for a in message.attachments)
    assert wire_message(message) == {
        "kind": "user",
        "body": "look",
        "attachments": [
            {"type": "image", "data": PNG64, "mimeType": "image/png", "filename": "a.png"},
            {"type": "image", "data": PNG64, "mimeType": "image/png"},
            {"type": "image", "data": PNG64, "mimeType": "image/jpeg", "filename": "b.jpg"},
            {"type": "image", "data": PNG64, "mimeType": "image/gif"},
        ],
    }
    json.dumps(wire_message(message))  # all JSON


def test_attachments_are_frozen_copies() -> None:
    buffer = bytearray(PNG)
    attachment = ImageAttachment(data=buffer, mime_type="image/png")
    buffer[0] = 0
    assert attachment.data == PNG and isinstance(attachment.data, bytes)
    items = [attachment]
    message = UserMessage(body="x", attachments=items)
    items.clear()
    assert message.attachments == (attachment,)
    assert UserMessage(body="x", attachments=(a for a in [attachment])).attachments == (attachment,)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        message.body = "y"  # type: ignore[misc]


@pytest.mark.parametrize(
    "data",
    [PNG64, PNG64.rstrip("="), f" {PNG64[:4]}\n{PNG64[4:]} ", "AAAA", "AA==", "AA"],
)
def test_base64_the_server_decodes(data: str) -> None:
    # atob's forgiving base64: whitespace ignored, padding optional
    assert wire_attachment(ImageAttachment(data=data, mime_type="image/png"))["data"] == data


def test_a_signal() -> None:
    assert wire_message(Signal(type="ping", body="pong")) == {
        "kind": "signal",
        "type": "ping",
        "body": "pong",
    }
    attributes = {"issue": "42", "repo": "flue"}
    signal = Signal(type="webhook", body="", attributes=attributes, tag_name="gh.event-1")
    attributes["issue"] = "changed"  # the signal holds its own copy
    assert wire_message(signal) == {
        "kind": "signal",
        "type": "webhook",
        "body": "",
        "attributes": {"issue": "42", "repo": "flue"},
        "tagName": "gh.event-1",
    }
    assert wire_message(Signal(type="t", body="b", attributes={}))["attributes"] == {}
    assert hash(signal) == hash(Signal(type="webhook", body="", tag_name="gh.event-1"))


def refused(build: Any, *words: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        build()
    for word in words:
        assert word in str(info.value), str(info.value)


def test_wire_message_refuses_other_values() -> None:
    refused(lambda: wire_message(5), "str, a flue.UserMessage or a flue.Signal", "int")  # type: ignore[arg-type]
    refused(lambda: wire_message(None), "NoneType")  # type: ignore[arg-type]
    refused(
        lambda: wire_message({"kind": "user", "body": "x"}),  # type: ignore[arg-type]
        "instead of a dict",
    )
    refused(lambda: wire_message(b"bytes"), "bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"body": 5}, ("body must be a str", "int")),
        ({"body": None}, ("body must be a str",)),
        ({"body": "x", "attachments": "abc"}, ("attachments must be a list", "str")),
        ({"body": "x", "attachments": {"data": "AA"}}, ("attachments must be a list", "dict")),
        ({"body": "x", "attachments": 3}, ("attachments must be a list", "int")),
        ({"body": "x", "attachments": [3]}, ("attachments[0]", "flue.ImageAttachment", "int")),
        ({"body": "x", "attachments": [{"mimeType": "image/png"}]}, ("attachments[0]", "data")),
        ({"body": "x", "attachments": [{"type": "file", "data": "AA", "mimeType": "a/b"}]},
         ("['type'] must be 'image'",)),
        ({"body": "x", "attachments": [{"data": "AA", "mimeType": "a/b", "mime": 1}]},
         ("unknown keys ['mime']",)),
        ({"body": "x", "attachments": [{"data": "AA", "mimeType": "a", "mime_type": "a"}]},
         ("both 'mimeType' and 'mime_type'",)),
        ({"body": "x", "attachments": [{"data": "AA"}]}, ("attachments[0]", "mime_type")),
        ({"body": "x", "attachments": [{"data": "%%%", "mimeType": "image/png"}]},
         ("attachments[0]", "base64")),
        ({"body": "x", "attachments": [{"data": PNG64, "mimeType": "i", "filename": 3}]},
         ("attachments[0]", "filename must be a str or None")),
    ],
)  # fmt: skip
def test_user_message_refusals(kwargs: dict[str, Any], words: tuple[str, ...]) -> None:
    refused(lambda: UserMessage(**kwargs), *words)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"data": 5, "mime_type": "image/png"}, ("bytes or a base64 str", "int")),
        ({"data": None, "mime_type": "image/png"}, ("bytes or a base64 str",)),
        ({"data": b"", "mime_type": "image/png"}, ("empty",)),
        ({"data": "  ", "mime_type": "image/png"}, ("empty",)),
        ({"data": "not base64!", "mime_type": "image/png"}, ("base64",)),
        ({"data": "A", "mime_type": "image/png"}, ("base64",)),  # a length of 4n + 1
        ({"data": "AA=A", "mime_type": "image/png"}, ("base64",)),  # padding inside
        ({"data": "AAA==", "mime_type": "image/png"}, ("base64",)),
        ({"data": "AA-_", "mime_type": "image/png"}, ("base64",)),  # the URL-safe alphabet
        ({"data": "AAé=", "mime_type": "image/png"}, ("base64",)),
        ({"data": PNG, "mime_type": ""}, ("mime_type",)),
        ({"data": PNG, "mime_type": None}, ("mime_type",)),
        ({"data": PNG, "mime_type": "image/png", "filename": b"a.png"}, ("filename", "bytes")),
    ],
)
def test_image_attachment_refusals(kwargs: dict[str, Any], words: tuple[str, ...]) -> None:
    refused(lambda: ImageAttachment(**kwargs), *words)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"type": "", "body": "x"}, ("must not be empty",)),
        ({"type": None, "body": "x"}, ("signal type must be a str", "NoneType")),
        ({"type": 3, "body": "x"}, ("signal type must be a str", "int")),
        ({"type": "instructions", "body": "x"}, ("'instructions' is reserved",)),
        ({"type": "submission_aborted", "body": "x"}, ("reserved",)),
        ({"type": "t", "body": 1}, ("body must be a str",)),
        ({"type": "t", "body": "x", "attributes": [("a", "b")]}, ("dict of str to str", "list")),
        ({"type": "t", "body": "x", "attributes": "a=b"}, ("dict of str to str", "str")),
        ({"type": "t", "body": "x", "attributes": {"n": 1}}, ("'n' must have a str value", "int")),
        ({"type": "t", "body": "x", "attributes": {"n": None}}, ("'n' must have a str value",)),
        ({"type": "t", "body": "x", "attributes": {1: "a"}}, ("names must be str", "int")),
        ({"type": "t", "body": "x", "tag_name": ""}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": "1tag"}, ("XML tag name", "'1tag'")),
        ({"type": "t", "body": "x", "tag_name": "-tag"}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": ".tag"}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": "a b"}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": "a>"}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": "tag\n"}, ("XML tag name",)),
        ({"type": "t", "body": "x", "tag_name": 5}, ("tag_name must be a str", "int")),
    ],
)  # fmt: skip
def test_signal_refusals(kwargs: dict[str, Any], words: tuple[str, ...]) -> None:
    refused(lambda: Signal(**kwargs), *words)


def test_refusals_hold_for_evolve_too() -> None:
    signal = Signal(type="t", body="b")
    refused(lambda: attrs.evolve(signal, type=""), "must not be empty")
    assert attrs.evolve(signal, tag_name="_ok").tag_name == "_ok"


def test_every_reserved_type_is_refused() -> None:
    from flue._models.messages import RESERVED_SIGNAL_TYPES

    assert "memory" in RESERVED_SIGNAL_TYPES and "compaction" in RESERVED_SIGNAL_TYPES
    for name in RESERVED_SIGNAL_TYPES:
        refused(lambda name=name: Signal(type=name, body=""), "reserved")
    assert Signal(type="Memory", body="").type == "Memory"  # case matters, as on the server


def test_public_names() -> None:
    assert flue.UserMessage is flue.models.UserMessage is UserMessage
    assert flue.Signal is flue.models.Signal is Signal
    assert flue.ImageAttachment is flue.models.ImageAttachment is ImageAttachment
    assert "InvalidArgumentError" in flue.__all__
