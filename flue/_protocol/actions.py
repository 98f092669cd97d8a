"""What the stream reader asks its driver to do (see `flue._protocol.reader`)."""

from __future__ import annotations

import enum
from typing import Final

import attrs

from flue._protocol.batches import Batch
from flue._protocol.http import HttpRequest

__all__ = ["NEED_DATA", "Action", "Deliver", "Done", "ReaderState", "SendRequest", "Sleep"]


class _NeedData:
    """Sentinel type: the reader needs more body bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()


@attrs.frozen(kw_only=True)
class SendRequest:
    """Send this request and report its response head."""

    request: HttpRequest


@attrs.frozen(kw_only=True)
class Deliver:
    """Hand this batch to the caller, then call `batch_delivered()`."""

    batch: Batch


@attrs.frozen(kw_only=True)
class Sleep:
    """Wait, then ask for the next action (a retry). `reason` says what failed."""

    seconds: float
    reason: str
    attempt: int


@attrs.frozen(kw_only=True)
class Done:
    """The stream is over: `closed` says whether the server ended it for good."""

    closed: bool


Action = SendRequest | Deliver | Sleep | Done | _NeedData


class ReaderState(enum.Enum):
    """Where the reader stands; the reader's module comment has the transition table."""

    SEND = "send"
    AWAIT_RESPONSE = "await-response"
    JSON_BODY = "json-body"
    ERROR_BODY = "error-body"
    SSE_BODY = "sse-body"
    DELIVERING = "delivering"
    DONE = "done"
    ERROR = "error"
