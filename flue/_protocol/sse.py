"""Incremental Server-Sent-Events decoder (WHATWG event-stream parsing), sans-IO.

How it works: `SSEDecoder.feed()` takes body chunks as they arrive and returns the events that
became complete. It works on bytes: a chunk is cut into lines with one C-level ``split`` (after
turning CRLF and lone CR into LF, only when the chunk holds a CR at all), so the cost per byte is
a few memchr/memcpy passes however the body is chunked. The unterminated tail of a chunk is kept
as a list of pieces and joined once when its line ends, so a long line arriving in many small
chunks is neither re-scanned nor copied repeatedly. Field values stay bytes until they are used:
``data`` and ``event`` are decoded once per dispatched event, ``id`` when it is set. A CR that
ends one chunk may be followed by the LF of the same line end in the next chunk; a flag drops
that LF.

Deliberate choices: UTF-8 is decoded strictly (invalid bytes raise `ProtocolError` instead of
becoming U+FFFD, so corrupt data is an error rather than silently altered text); only ``\\r`` and
``\\n`` end lines, never U+2028/U+2029/U+0085; the bytes buffered for one event are capped.
"""

from __future__ import annotations

import attrs

from flue.errors import InvalidArgumentError, ProtocolError

__all__ = ["SSEDecoder", "SSEEvent"]

_BOM = b"\xef\xbb\xbf"
_LF = 10
_CR = 13
# Decoded event types that recur in every Flue stream; saves a decode per event.
_KNOWN_TYPES = {b"": "message", b"message": "message", b"data": "data", b"control": "control"}


@attrs.frozen(kw_only=True)
class SSEEvent:
    """One dispatched Server-Sent Event.

    Attributes:
        event: the event type; ``"message"`` when no (or an empty) ``event:`` field was given.
        data: the ``data:`` lines of the event joined with ``"\\n"``.
        id: the last event id in effect when the event was dispatched (it persists across
            events, as in WHATWG); None if no ``id:`` field was ever accepted.
        retry: the value of the last valid ``retry:`` field of this event, else None.
    """

    event: str
    data: str
    id: str | None
    retry: int | None


class SSEDecoder:
    """Turns the bytes of a ``text/event-stream`` body into `SSEEvent`s, chunk by chunk.

    Feed every chunk to `feed()` and ``b""`` once at the end of the body; an event that was not
    ended by a blank line before then is discarded. Text is decoded as strict UTF-8: invalid
    bytes in a value that is used (``data``, ``event``, ``id``) raise `ProtocolError` rather than
    being replaced by U+FFFD. Comments and ignored fields are never decoded.

    ``max_event_size`` caps the bytes held for one event (its unfinished line plus the data
    collected so far); exceeding it raises `ProtocolError`, so memory stays bounded even when a
    server never ends a line. After any `ProtocolError` the decoder is unusable.
    """

    def __init__(self, *, max_event_size: int = 64 * 1024 * 1024) -> None:
        if max_event_size < 1:
            raise InvalidArgumentError(f"max_event_size must be positive, got {max_event_size}")
        self._max = max_event_size
        self._partial: list[bytes] = []  # pieces of the unterminated last line
        self._partial_len = 0
        self._data: list[bytes] = []  # data values of the event being assembled
        self._data_len = 0  # their lengths plus one separator each
        self._type = b""
        self._retry: int | None = None
        self._last_id: str | None = None
        self._skip_lf = False  # the previous chunk ended in CR: its LF may start this one
        self._head: bytes | None = b""  # bytes held while a BOM may still be arriving
        self._ended = False
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes currently held for the event being assembled (for memory checks)."""
        return self._partial_len + self._data_len + (len(self._head) if self._head else 0)

    def unfinished_data(self) -> bytes | None:
        """The data of a ``data`` event not ended yet (a cut inside it), else None."""
        if self._type != b"data":
            return None
        parts = list(self._data)
        partial = b"".join(self._partial)
        if partial.startswith(b"data:"):
            parts.append(partial[6:] if partial[5:6] == b" " else partial[5:])
        return b"\n".join(parts) if parts else None

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Take the next chunk of the body (``b""`` at its end); return the completed events."""
        if self._failed:
            raise ProtocolError("the SSE decoder already failed; it cannot take more data")
        if self._ended:
            if data:
                raise ProtocolError("SSE data fed after the end of the body")
            return []
        if not data:
            self._end()
            return []
        try:
            return self._feed(data)
        except ProtocolError:
            self._fail()
            raise

    def _end(self) -> None:
        self._ended = True
        self._partial = []
        self._partial_len = 0
        self._data = []
        self._data_len = 0
        self._head = None

    def _fail(self) -> None:
        self._end()
        self._failed = True

    def _feed(self, data: bytes) -> list[SSEEvent]:
        if self._head is not None:
            data = self._head + data
            if len(data) < 3 and _BOM.startswith(data):
                self._head = data
                return []
            self._head = None
            if data.startswith(_BOM):
                data = data[3:]
                if not data:
                    return []
        if self._skip_lf:
            self._skip_lf = False
            if data[0] == _LF:
                data = data[1:]
                if not data:
                    return []
        if b"\r" in data:
            self._skip_lf = data[-1] == _CR
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

        lines = data.split(b"\n")
        tail = lines.pop()
        cap = self._max
        if not lines:
            self._partial.append(tail)
            self._partial_len += len(tail)
            self._check_partial()
            return []
        if self._partial:
            self._partial.append(lines[0])
            lines[0] = b"".join(self._partial)
            self._partial = []
            self._partial_len = 0
        # Every line here is at most as long as the old partial plus this chunk, so below the cap
        # the per-line size check can be skipped.
        check = self._data_len + len(lines[0]) + len(data) > cap

        events: list[SSEEvent] = []
        parts = self._data
        append = parts.append
        data_len = self._data_len
        etype, retry, last_id = self._type, self._retry, self._last_id
        try:
            for line in lines:
                if not line:
                    if parts:
                        raw = parts[0] if len(parts) == 1 else b"\n".join(parts)
                        parts.clear()
                        data_len = 0
                        events.append(
                            SSEEvent(
                                event=_KNOWN_TYPES.get(etype) or etype.decode(),
                                data=raw.decode(),
                                id=last_id,
                                retry=retry,
                            )
                        )
                    etype, retry = b"", None
                    continue
                if check and len(line) + data_len > cap:
                    self._too_big()
                if line.startswith(b"data:"):
                    value = line[6:] if line[5:6] == b" " else line[5:]
                    append(value)
                    data_len += len(value) + 1
                    continue
                # A comment (":...") has the empty field name, which matches nothing below.
                name, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    append(value)
                    data_len += len(value) + 1
                elif name == b"event":
                    etype = value
                elif name == b"id":
                    if b"\0" not in value:
                        last_id = value.decode()
                elif name == b"retry" and value.isdigit():  # ASCII digits only, for bytes
                    try:
                        retry = int(value)
                    except ValueError:  # more digits than int() converts: ignore the field
                        pass
        except UnicodeDecodeError as exc:
            raise ProtocolError(
                f"SSE stream is not valid UTF-8 ({exc.reason} at byte {exc.start} of a value): "
                f"{exc.object[max(0, exc.start - 20) : exc.start + 20]!r}"
            ) from exc
        self._data_len = data_len
        self._type, self._retry, self._last_id = etype, retry, last_id
        if tail:
            self._partial = [tail]
            self._partial_len = len(tail)
            self._check_partial()
        return events

    def _check_partial(self) -> None:
        if self._partial_len + self._data_len > self._max:
            self._too_big()

    def _too_big(self) -> None:
        raise ProtocolError(
            f"SSE event exceeded max_event_size={self._max} bytes without ending; "
            "the server may be sending a line that never ends"
        )
