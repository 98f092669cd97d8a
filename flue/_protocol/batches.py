"""Batches, and the pairing of SSE frames into batches.

A `Batch` is what one read step yields: items plus the offset to resume from after them.
Over SSE, ``event: data`` frames carry the items and the following ``event: control`` frame
carries the offset and flags; `SSEBatcher.push()` collects data frames until a control frame
arrives and then returns the whole batch (several data frames before one control frame are
merged). JSON streams hold a JSON array per data frame; byte streams hold raw text, which is
base64-decoded when the response said ``stream-sse-data-encoding: base64``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal

import attrs

from flue._protocol.responses import load_json, snippet
from flue._protocol.sse import SSEEvent
from flue.errors import ProtocolError

__all__ = ["Batch", "Decode", "SSEBatcher"]

Decode = Literal["json", "bytes"]


@attrs.frozen(kw_only=True)
class Batch:
    """One step of a stream read.

    Attributes:
        items: decoded JSON values (``decode="json"``) or byte chunks (``decode="bytes"``).
        next_offset: where a read resumes after these items: the checkpoint to save.
        up_to_date: this read reached the stream's current tail.
        closed: the stream has ended; no item will ever follow.
        cursor: the server's cursor, echoed on the next live request.
        skipped: items read at the start of this batch and dropped, because a stream resumed
            from a position had already handed them out (see `flue._protocol.position`).
        partial: the complete items of an answer whose connection was cut inside it (see
            `flue._protocol.salvage`); ``next_offset`` is where they were read from, the read
            resumes after them from the exact position.
    """

    items: list[Any]
    next_offset: str
    up_to_date: bool
    closed: bool
    cursor: str | None = None
    skipped: int = 0
    partial: bool = False

    @property
    def data(self) -> bytes:
        """The items of a byte stream, joined."""
        return b"".join(self.items)


class SSEBatcher:
    """Pairs SSE data frames with the control frame that follows them."""

    def __init__(
        self,
        *,
        decode: Decode = "json",
        base64_data: bool = False,
        objects_only: bool = True,
        max_pending: int | None = None,
    ) -> None:
        self._decode = decode
        self._base64 = base64_data
        self._objects_only = objects_only
        self._max_pending = max_pending
        self._items: list[Any] = []
        self._pending_bytes = 0
        self.control_frames = 0

    @property
    def pending(self) -> int:
        """Items received in data frames whose control frame has not arrived yet."""
        return len(self._items)

    def pending_items(self) -> list[Any]:
        """The items of the data frames whose control frame has not arrived yet."""
        return self._items if self._decode == "json" else []

    def discard_pending(self) -> None:
        """Drop items whose control frame never came (the connection broke)."""
        self._items = []
        self._pending_bytes = 0

    def push(self, event: SSEEvent) -> Batch | None:
        """Take one SSE event; return a batch when it was a control frame.

        The data frames waiting for their control frame are capped at ``max_pending`` bytes,
        like a read body: a server that never sends the control frame cannot exhaust memory.
        """
        if event.event == "data":
            self._pending_bytes += len(event.data)
            if self._max_pending is not None and self._pending_bytes > self._max_pending:
                raise ProtocolError(
                    f"the SSE stream sent more than {self._max_pending} bytes of data frames "
                    "without a control frame (the cap of a read body, max_body_size)"
                )
            self._add_data(event.data)
            return None
        if event.event == "control":
            return self._control(event.data)
        return None  # unknown event names are ignored

    def _add_data(self, data: str) -> None:
        if self._decode == "bytes":
            if self._base64:
                try:
                    raw = base64.b64decode("".join(data.split()), validate=True)
                except (binascii.Error, ValueError) as exc:
                    raise ProtocolError(
                        f"SSE data frame is not valid base64: {data[:80]!r}"
                    ) from exc
            else:
                raw = data.encode("utf-8")
            self._items.append(raw)
            return
        try:
            doc = load_json(data)
        except ValueError as exc:
            raise ProtocolError(
                f"SSE data frame is not valid JSON ({exc}); starts with {data[:120]!r}"
            ) from exc
        if type(doc) is not list:
            raise ProtocolError(f"SSE data frame is not a JSON array; starts with {data[:120]!r}")
        if self._objects_only:
            for item in doc:
                if type(item) is not dict:
                    raise ProtocolError(
                        f"SSE data frame holds a {type(item).__name__} where an event object "
                        "was expected"
                    )
        self._items.extend(doc)

    def _control(self, data: str) -> Batch:
        if not data.strip():
            raise ProtocolError("SSE control frame is empty; expected a JSON object")
        try:
            doc = load_json(data)
        except ValueError as exc:
            raise ProtocolError(
                f"SSE control frame is not valid JSON: {snippet(data.encode())!r}"
            ) from exc
        if not isinstance(doc, dict):
            raise ProtocolError(f"SSE control frame is not a JSON object: {data[:120]!r}")
        offset = doc.get("streamNextOffset")
        if not isinstance(offset, str) or not offset:
            raise ProtocolError(f"SSE control frame has no streamNextOffset: {data[:120]!r}")
        cursor = doc.get("streamCursor")
        self.control_frames += 1
        items, self._items = self._items, []
        self._pending_bytes = 0
        return Batch(
            items=items,
            next_offset=offset,
            # Flue's final frame says only streamClosed: the end is also the tail
            up_to_date=doc.get("upToDate") is True or doc.get("streamClosed") is True,
            closed=doc.get("streamClosed") is True,
            cursor=str(cursor) if cursor is not None else None,
        )
