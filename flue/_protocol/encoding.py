"""Content-Encoding: which codings we ask for, and a bounded, incremental body decoder.

Both transports read the body undecoded and pass it through one `BodyDecoder`: compressed bytes
go in with `feed()` as they arrive, and `read(n)` hands out at most ``n`` decoded bytes at a
time (zlib's ``max_length``), keeping the rest of the input for the next call. However much a
small body would inflate to (a decompression bomb), no more than ``n`` decoded bytes exist at
once here; the caps on events and bodies are applied by the caller to the decoded bytes. Bytes
flushed by the sender (a proxy compressing an SSE stream with a sync flush after each event)
come out as soon as they are fed.

Only ``gzip`` (``x-gzip``) and ``deflate`` (zlib-wrapped, or raw as some servers send it) are
decoded: they need nothing beyond the standard library. ``identity`` is a no-op. Anything else,
or two codings stacked, is a `ProtocolError`.
"""

from __future__ import annotations

import zlib

from flue.errors import ProtocolError

__all__ = ["ACCEPT_ENCODING", "BodyDecoder", "decoder_for"]

ACCEPT_ENCODING = "gzip, deflate"
"""The ``Accept-Encoding`` both flavours send: exactly what `BodyDecoder` can decode."""

_GZIP_MAGIC = b"\x1f\x8b"
_ALIASES = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


def _codings(value: str) -> list[str]:
    codings = [c.strip().lower() for c in value.split(",")]
    return [c for c in codings if c not in ("", "identity")]


def decoder_for(content_encoding: str | None, *, where: str) -> BodyDecoder | None:
    """The decoder for a response's ``Content-Encoding`` value (all of its headers joined by
    commas); None when the body is not encoded. `where` names the response in messages."""
    codings = _codings(content_encoding or "")
    if not codings:
        return None
    if len(codings) == 1 and codings[0] in _ALIASES:
        return BodyDecoder(_ALIASES[codings[0]], where=where)
    raise ProtocolError(
        f"the response from {where} is compressed with Content-Encoding "
        f"{content_encoding!r}, which flue cannot decode (it asks for {ACCEPT_ENCODING!r} "
        "only); make the server or proxy send one of those, or no compression"
    )


class BodyDecoder:
    """Decodes one gzip or deflate body incrementally, never more than asked at a time."""

    def __init__(self, coding: str, *, where: str) -> None:
        if coding not in ("gzip", "deflate"):
            raise ValueError(f"unsupported coding {coding!r}")
        self.coding = coding
        self._where = where
        self._zlib: zlib._Decompress | None = None
        self._pending = b""  # input not yet handed to zlib (or held back by max_length)
        self._fed = False
        self._ignoring = False  # bytes after the end of the stream that are not a new member

    @property
    def complete(self) -> bool:
        """True when the input so far ends exactly at the end of a compressed stream (or there
        was no input at all); False means the body was cut short."""
        if not self._fed or self._ignoring:
            return True
        return self._zlib is not None and self._zlib.eof and not self._pending

    def feed(self, data: bytes) -> None:
        """Add compressed bytes (call once `read()` has returned ``b""``)."""
        if data and not self._ignoring:
            self._fed = True
            self._pending += data

    def read(self, max_bytes: int) -> bytes:
        """Up to `max_bytes` decoded bytes of the input fed so far; ``b""``: feed more."""
        while self._pending and not self._ignoring:
            if (self._zlib is None or self._zlib.eof) and not self._start():
                return b""
            decompressor = self._zlib
            assert decompressor is not None
            try:
                out = decompressor.decompress(self._pending, max_bytes)
            except zlib.error as exc:
                raise ProtocolError(
                    f"the {self.coding}-compressed response body from {self._where} is "
                    f"corrupt ({exc}); a server or proxy in between mangled it"
                ) from exc
            self._pending = (
                decompressor.unused_data if decompressor.eof else decompressor.unconsumed_tail
            )
            if out:
                return out
        return b""

    def _start(self) -> bool:
        """Set up zlib for the stream starting at the pending bytes; False: wait for more."""
        data = self._pending
        if self._zlib is not None:  # a stream ended and more bytes follow it
            if self.coding == "gzip" and data[:2] == _GZIP_MAGIC[: len(data)]:
                if len(data) < 2:
                    return False
            else:
                # padding or junk after the end (some servers add it): ignored, as curl does
                self._ignoring = True
                self._pending = b""
                return False
        if self.coding == "gzip":
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return True
        if len(data) < 2:
            return False
        # "deflate" means the zlib format, but some servers send raw deflate: the zlib
        # header is two bytes whose first names the method (8) and that divide by 31
        is_zlib = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS if is_zlib else -zlib.MAX_WBITS)
        return True
