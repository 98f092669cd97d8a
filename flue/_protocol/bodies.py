"""The body of the answer being read: a page or an error (bytes, capped) or an SSE stream
(decoded into batches as it arrives), and what each holds when its connection is cut.

`flue._protocol.reader.ReadMachine` owns one at a time; a new response starts a new one and a
dropped connection discards it.
"""

from __future__ import annotations

from typing import Any

from flue._protocol.batches import Batch, Decode, SSEBatcher
from flue._protocol.salvage import complete_items
from flue._protocol.sse import SSEDecoder

__all__ = ["Body", "SSEBody"]


class Body:
    """The bytes of a page or an error answer, up to `cap` (`over` says when it was passed)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.received = 0
        self._chunks: list[bytes] = []

    @property
    def over(self) -> bool:
        return self.received > self.cap

    def add(self, data: bytes) -> None:
        self._chunks.append(data)
        self.received += len(data)

    def bytes(self) -> bytes:
        """Everything received so far (joined once; the body is kept for a cut check)."""
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return self._chunks[0] if self._chunks else b""

    def cut_items(self, *, objects_only: bool) -> list[Any]:
        """The complete items of a page cut short (`flue._protocol.salvage`)."""
        return complete_items(self.bytes(), objects_only=objects_only)


class SSEBody:
    """An SSE body: its decoder and the pairing of its frames into batches."""

    def __init__(
        self,
        *,
        decode: Decode,
        base64_data: bool,
        objects_only: bool,
        max_event_size: int,
        max_pending: int,
    ) -> None:
        self.received = 0
        self.finished = False  # the body ended (b"")
        self._objects_only = objects_only
        self._decoder = SSEDecoder(max_event_size=max_event_size)
        self._batcher = SSEBatcher(
            decode=decode,
            base64_data=base64_data,
            objects_only=objects_only,
            max_pending=max_pending,
        )

    @property
    def buffered(self) -> int:
        """Bytes the decoder holds for the event being assembled (for memory checks)."""
        return self._decoder.buffered

    def feed(self, data: bytes) -> list[Batch]:
        """The batches completed by `data` (``b""`` at the end); raises `ProtocolError`."""
        self.received += len(data)
        if not data:
            self.finished = True
        batches = []
        for event in self._decoder.feed(data):
            batch = self._batcher.push(event)
            if batch is not None:
                batches.append(batch)
        return batches

    def discard(self) -> None:
        self._batcher.discard_pending()

    def cut_items(self) -> list[Any] | None:
        """The complete items of the data frames a cut connection was carrying (None: it was
        cut between frames, no answer was cut short)."""
        items = list(self._batcher.pending_items())
        data = self._decoder.unfinished_data()
        if data is not None:
            items += complete_items(data, objects_only=self._objects_only)
        elif not items:
            return None
        return items
