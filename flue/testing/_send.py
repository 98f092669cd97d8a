# Writing answers onto the wire, with the response-rewriting faults applied on the way.
#
# Handlers build a `Reply`: status, ordered headers and either a whole body or an async iterator
# of SSE `Frame`s. `send` turns it into an aiohttp response. Without a fault (or with one that
# only edits headers or the body) a plain `web.Response` is returned; faults that cut, stall or
# corrupt the body make `send` write the bytes by hand and, for `drop_after`/`stall`, abort the
# connection.
#
# With a `Compression`, a body is compressed (gzip or deflate) when the request's
# Accept-Encoding allows it, as a compressing proxy would: after the faults that change the
# body, before those that cut the bytes on the wire. SSE is compressed only when asked, with a
# sync flush after every frame so that each event can be decoded as soon as it arrives.

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import zlib
from collections.abc import AsyncGenerator, Callable
from typing import Any, Literal

import attrs
from aiohttp import web
from multidict import CIMultiDict

from ._faults import Fault

__all__ = ["Compression", "Frame", "Reply", "encode_frame", "send"]

_CORRUPT_JSON = b'[{"type": "log", "v": 3,, oops'
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@attrs.define
class Frame:
    """One SSE frame: ``event`` is "data" or "control"; ``None`` makes it a comment."""

    event: str | None
    data: str


@attrs.define
class Reply:
    """A response before it is written: a whole ``body`` or a stream of SSE ``frames``."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes | None = None
    frames: AsyncGenerator[Frame, None] | None = None


@attrs.frozen
class Compression:
    """How the server compresses: ``coding`` for JSON (and other whole) bodies, and SSE too
    when ``sse`` is set."""

    coding: Literal["gzip", "deflate"]
    sse: bool = False


def _accepted(request: web.BaseRequest, coding: str) -> bool:
    """True when the request's Accept-Encoding allows `coding` (q=0 refuses it)."""
    allowed: dict[str, float] = {}
    for item in request.headers.get("Accept-Encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if name.strip():
            allowed[name.strip().lower()] = quality
    return allowed.get(coding, allowed.get("*", 0.0)) > 0


def _compressor(coding: str) -> Callable[[bytes, bool], bytes]:
    """``pack(data, last)``: compressed bytes for `data`, flushed so that the receiver can
    decode everything so far (the stream finished when `last`)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS if coding == "gzip" else 15)

    def pack(data: bytes, last: bool) -> bytes:
        return packer.compress(data) + packer.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    return pack


def _coding_for(
    request: web.BaseRequest, reply: Reply, compression: Compression | None
) -> str | None:
    if compression is None or reply.status in (204, 304) or request.method == "HEAD":
        return None
    if reply.frames is not None and not compression.sse:
        return None
    return compression.coding if _accepted(request, compression.coding) else None


def encode_frame(frame: Frame) -> bytes:
    """Frame bytes as Flue writes them: ``event: X``, ``data:`` lines without a space."""
    if frame.event is None:
        return f": {frame.data}\n\n".encode()
    lines = "\n".join(f"data:{line}" for line in _LINE_BREAK.split(frame.data))
    return f"event: {frame.event}\n{lines}\n\n".encode()


def _abort(request: web.BaseRequest) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


async def _silence(seconds: float | None, stopping: asyncio.Event) -> bool:
    """Wait ``seconds`` (forever when ``None``) or until the server stops; True if it elapsed."""
    try:
        await asyncio.wait_for(stopping.wait(), seconds)
    except asyncio.TimeoutError:
        return True
    return False


class _FrameRewriter:
    """Applies the frame-level faults to an SSE stream."""

    def __init__(self, fault: Fault | None) -> None:
        self.fault = fault
        self.counts = {"data": 0, "control": 0}
        self.corrupted = False

    def __call__(self, frame: Frame) -> Frame:
        fault = self.fault
        if fault is None or frame.event not in self.counts:
            return frame
        nth = self.counts[frame.event]
        self.counts[frame.event] += 1
        if fault.kind == "malformed_sse" and frame.event == fault.frame and nth == fault.nth:
            return Frame(frame.event, fault.data)
        if fault.kind == "corrupt_json" and frame.event == "data" and not self.corrupted:
            self.corrupted = True
            return Frame("data", (fault.body or _CORRUPT_JSON).decode("utf-8", "replace"))
        if fault.kind == "missing_next_offset" and frame.event == "control":
            payload: Any = json.loads(frame.data)
            payload.pop("streamNextOffset", None)
            return Frame("control", json.dumps(payload, separators=(",", ":")))
        return frame


async def send(
    request: web.BaseRequest,
    reply: Reply,
    fault: Fault | None,
    stopping: asyncio.Event,
    compression: Compression | None = None,
) -> web.StreamResponse:
    """Write ``reply`` with ``fault`` (a response-rewriting one, or ``None``) applied."""
    kind = fault.kind if fault is not None else None
    headers = CIMultiDict(reply.headers)
    if kind == "missing_next_offset":
        headers.popall("Stream-Next-Offset", None)
    coding = _coding_for(request, reply, compression)
    if compression is not None:
        headers.add("Vary", "Accept-Encoding")
    if coding is not None and (reply.frames is not None or reply.body):
        headers["Content-Encoding"] = coding
    if reply.frames is not None:
        pack = _compressor(coding) if coding is not None else None
        return await _send_frames(request, reply, headers, fault, stopping, pack)

    body = reply.body
    if body is not None and fault is not None and kind == "corrupt_json":
        body = fault.body if fault.body is not None else _CORRUPT_JSON
    if body is not None and fault is not None and kind == "truncate":
        body = body[: fault.nbytes]
    if body and coding is not None:
        body = _compressor(coding)(body, True)
    if fault is None or kind not in ("drop_after", "stall"):
        return web.Response(status=reply.status, headers=headers, body=body)

    resp = web.StreamResponse(status=reply.status, headers=headers)
    if body is not None:
        resp.content_length = len(body)
    await resp.prepare(request)
    data = body or b""
    head, rest = data[: fault.nbytes], data[fault.nbytes :]
    if head:
        await resp.write(head)
    if kind == "drop_after" or not await _silence(fault.seconds, stopping):
        _abort(request)
        return resp
    if rest:
        await resp.write(rest)
    await resp.write_eof()
    return resp


async def _send_frames(
    request: web.BaseRequest,
    reply: Reply,
    headers: CIMultiDict[str],
    fault: Fault | None,
    stopping: asyncio.Event,
    pack: Callable[[bytes, bool], bytes] | None = None,
) -> web.StreamResponse:
    assert reply.frames is not None
    resp = web.StreamResponse(status=reply.status, headers=headers)
    await resp.prepare(request)
    rewrite = _FrameRewriter(fault)
    kind = fault.kind if fault is not None else None
    budget = (
        fault.nbytes if fault is not None and kind in ("drop_after", "truncate", "stall") else -1
    )

    async def cut(chunk: bytes) -> bool:
        """Write ``chunk`` within the byte budget; False once the body must stop."""
        nonlocal budget
        assert fault is not None
        if len(chunk) < budget:
            budget -= len(chunk)
            await resp.write(chunk)
            return True
        if budget:
            await resp.write(chunk[:budget])
        rest, budget = chunk[budget:], -1
        if kind == "drop_after":
            _abort(request)
            return False
        if kind == "truncate":
            await resp.write_eof()
            return False
        if not await _silence(fault.seconds, stopping):
            _abort(request)
            return False
        if rest:
            await resp.write(rest)
        return True

    async with contextlib.aclosing(reply.frames) as frames:
        if budget == 0 and not await cut(b""):
            return resp
        async for frame in frames:
            chunk = encode_frame(rewrite(frame))
            if pack is not None:
                chunk = pack(chunk, False)
            if budget >= 0:
                if not await cut(chunk):
                    return resp
            else:
                await resp.write(chunk)
    if pack is not None:
        await resp.write(pack(b"", True))
    await resp.write_eof()
    return resp
