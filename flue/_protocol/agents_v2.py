"""Agent conversations on Flue 2.x: the send body, and the body for a server whose line is not
known yet.

How it works: 2.x takes ``{"kind": "user", "body", "attachments"?}`` or ``{"kind": "signal",
"type", "body", "attributes"?, "tagName"?}`` (`flue._protocol.messages.wire_message`) plus the
reserved siblings ``initialData``, ``uid`` (a string: continue only that incarnation; ``null``:
create only) and ``idempotencyKey``. There is no waiting prompt (``?wait=result`` is a 400):
a reply is read by following the stream to the settlement, then reading the history.

`send_body` builds the body for the line learnt so far (`flue._protocol.lines`):

* 2.x: the 2.x body;
* beta.9: ``{"message", "images"?}``; a signal or an option beta.9 cannot honour is an
  `InvalidArgumentError` before anything is sent;
* unknown: a plain user message (a ``str`` or a `UserMessage` without attachments, no option)
  carries both bodies' fields, ``{"kind": "user", "body": m, "message": m}``, which each line
  accepts (both ignore unknown fields); anything else is sent in the 2.x form, and a beta.9
  server's 400 for it is answered by `send_body` again with the line now known.
"""

from __future__ import annotations

import json
from typing import Any

from flue._models.messages import Signal, UserMessage
from flue._protocol.agents_beta9 import beta9_body
from flue._protocol.http import HttpRequest, json_post
from flue._protocol.lines import LINE_1, LINE_2, ServerLine
from flue._protocol.messages import wire_message
from flue.errors import InvalidArgumentError

__all__ = ["build_send_request", "send_body"]

_MAX_KEY = 256


def _options(
    initial_data: Any, uid: str | None, create_only: bool, idempotency_key: str | None
) -> dict[str, Any]:
    siblings: dict[str, Any] = {}
    if initial_data is not None:
        siblings["initialData"] = initial_data
    if uid is not None and create_only:
        raise InvalidArgumentError("uid= and create_only=True exclude each other")
    if uid is not None:
        if not isinstance(uid, str) or not uid:
            raise InvalidArgumentError(f"uid must be a non-empty string, got {uid!r}")
        if initial_data is not None:
            raise InvalidArgumentError(
                "uid= continues an existing conversation, so initial_data= (which only seeds "
                "a new one) cannot go with it"
            )
        siblings["uid"] = uid
    elif create_only:
        siblings["uid"] = None
    if idempotency_key is not None:
        if not isinstance(idempotency_key, str) or not idempotency_key:
            raise InvalidArgumentError("idempotency_key must be a non-empty string")
        if len(idempotency_key) > _MAX_KEY:
            raise InvalidArgumentError(
                f"idempotency_key is at most {_MAX_KEY} characters, got {len(idempotency_key)}"
            )
        siblings["idempotencyKey"] = idempotency_key
    return siblings


_OPTION_NAMES = {
    "initialData": "initial_data=",
    "uid": "uid= / create_only=",
    "idempotencyKey": "idempotency_key=",
}


def send_body(
    message: object,
    *,
    line: ServerLine | None,
    initial_data: Any = None,
    uid: str | None = None,
    create_only: bool = False,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """The JSON body that sends `message` to a server of `line` (module comment)."""
    siblings = _options(initial_data, uid, create_only, idempotency_key)
    if not isinstance(message, str | UserMessage | Signal):
        raise InvalidArgumentError(
            "message must be a str, a flue.UserMessage or a flue.Signal, got "
            f"{type(message).__name__}"
        )
    wire = wire_message(message)  # validates the message whatever the line
    if line == LINE_1:
        if isinstance(message, Signal):
            raise InvalidArgumentError(
                "this server speaks Flue 1.0 (beta.9), which has no signal messages; send a "
                "str or a flue.UserMessage"
            )
        if siblings:
            names = ", ".join(_OPTION_NAMES[k] for k in siblings)
            raise InvalidArgumentError(
                f"this server speaks Flue 1.0 (beta.9), which cannot honour {names} "
                "(they are Flue 2.x options)"
            )
        images = [{k: v for k, v in a.items() if k != "type"} for a in wire.get("attachments", ())]
        return beta9_body(wire["body"], images or None)
    if line == LINE_2 or siblings or isinstance(message, Signal) or wire.get("attachments"):
        return {**siblings, **wire}
    return {**wire, "message": wire["body"]}  # both lines accept it


def build_send_request(url: str, body: dict[str, Any]) -> HttpRequest:
    """``POST {conversation}`` with `body` (a value JSON cannot carry, such as a set or NaN in
    ``initial_data``, is an `InvalidArgumentError`)."""
    try:
        data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"the message or initial_data cannot be sent as JSON: {exc}"
        ) from None
    return json_post(url, data)
