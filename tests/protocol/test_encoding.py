"""The Content-Encoding decoder: scripted compressed bytes, split at every boundary, bounded
output, sync-flushed streams, corrupt, cut and unknown encodings."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from flue._protocol.encoding import ACCEPT_ENCODING, BodyDecoder, decoder_for
from flue.errors import ProtocolError

PAYLOAD = b"".join(b'{"type":"log","message":"event %d"}\n' % i for i in range(200))


def compress(data: bytes, coding: str) -> bytes:
    if coding == "gzip":
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)  # "deflate" as some servers send it
    return raw.compress(data) + raw.flush()


def drain(decoder: BodyDecoder, max_bytes: int = 1 << 20) -> bytes:
    out = []
    while chunk := decoder.read(max_bytes):
        assert len(chunk) <= max_bytes
        out.append(chunk)
    return b"".join(out)


def decode_in_pieces(decoder: BodyDecoder, pieces: list[bytes], max_bytes: int = 1 << 20) -> bytes:
    out = []
    for piece in pieces:
        decoder.feed(piece)
        out.append(drain(decoder, max_bytes))
    return b"".join(out)


def test_accept_encoding_lists_only_what_is_decoded() -> None:
    assert ACCEPT_ENCODING == "gzip, deflate"


@pytest.mark.parametrize("header", [None, "", "identity", " Identity , identity"])
def test_no_decoder_for_an_unencoded_body(header: str | None) -> None:
    assert decoder_for(header, where="u") is None


@pytest.mark.parametrize(
    ("header", "coding"),
    [("gzip", "gzip"), ("x-gzip", "gzip"), ("GZIP", "gzip"), ("deflate", "deflate"),
     ("identity, gzip", "gzip")],
)  # fmt: skip
def test_decoder_for_known_codings(header: str, coding: str) -> None:
    decoder = decoder_for(header, where="u")
    assert decoder is not None and decoder.coding == coding


@pytest.mark.parametrize("header", ["br", "zstd", "compress", "gzip, gzip", "deflate, gzip"])
def test_unknown_or_stacked_codings_are_a_protocol_error(header: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decoder_for(header, where="http://h/runs/r")
    text = str(info.value)
    assert repr(header) in text and "http://h/runs/r" in text and "gzip, deflate" in text


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_decodes_split_at_every_boundary(coding: str) -> None:
    body = PAYLOAD[:700]
    wire = compress(body, coding)
    name = "deflate" if coding == "raw-deflate" else coding
    for cut in range(len(wire) + 1):
        decoder = BodyDecoder(name, where="u")
        assert decode_in_pieces(decoder, [wire[:cut], wire[cut:]]) == body
        assert decoder.complete
    decoder = BodyDecoder(name, where="u")  # one byte at a time
    assert decode_in_pieces(decoder, [wire[i : i + 1] for i in range(len(wire))]) == body
    assert decoder.complete


def test_output_never_exceeds_what_was_asked() -> None:
    decoder = BodyDecoder("gzip", where="u")
    decoder.feed(gzip.compress(PAYLOAD))
    sizes = []
    while chunk := decoder.read(100):
        sizes.append(len(chunk))
    assert max(sizes) == 100 and sum(sizes) == len(PAYLOAD) and decoder.complete


def test_a_bomb_is_handed_out_in_bounded_pieces() -> None:
    inflated = 128 * 1024 * 1024
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    wire = b"".join(packer.compress(zeros) for _ in range(inflated // len(zeros))) + packer.flush()
    assert len(wire) < inflated // 500
    decoder = BodyDecoder("gzip", where="u")
    tracemalloc.start()
    try:
        decoder.feed(wire)
        total = 0
        while chunk := decoder.read(65536):
            total += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == inflated and decoder.complete
    # the compressed input (kept as the unconsumed tail) plus one 64 KiB piece at a time
    assert peak < 2 * len(wire) + 4 * 65536, peak


def test_sync_flushed_stream_yields_each_part_as_soon_as_it_arrives() -> None:
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    events = [b"event: data\ndata:[%d]\n\n" % i for i in range(5)]
    decoder = BodyDecoder("gzip", where="u")
    for event in events:
        decoder.feed(packer.compress(event) + packer.flush(zlib.Z_SYNC_FLUSH))
        assert drain(decoder) == event  # nothing held back until the next part
        assert not decoder.complete  # the stream has not ended
    decoder.feed(packer.flush())
    assert drain(decoder) == b"" and decoder.complete


def test_several_gzip_members_are_one_body() -> None:
    wire = gzip.compress(b"first ") + gzip.compress(b"second")
    for cut in range(len(wire) + 1):
        decoder = BodyDecoder("gzip", where="u")
        assert decode_in_pieces(decoder, [wire[:cut], wire[cut:]]) == b"first second"
        assert decoder.complete


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_padding_after_the_end_is_ignored(coding: str) -> None:
    decoder = BodyDecoder(coding, where="u")
    assert decode_in_pieces(decoder, [compress(b"abc", coding), b"\x00\x00\n", b"junk"]) == b"abc"
    assert decoder.complete


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_a_cut_body_is_not_complete(coding: str) -> None:
    wire = compress(PAYLOAD, coding)
    decoder = BodyDecoder(coding, where="u")
    partial = decode_in_pieces(decoder, [wire[: len(wire) // 2]])
    assert PAYLOAD.startswith(partial) and not decoder.complete
    assert BodyDecoder(coding, where="u").complete  # no body at all (204, HEAD) is fine
    one_byte = BodyDecoder(coding, where="u")
    one_byte.feed(wire[:1])
    assert one_byte.read(10) == b"" and not one_byte.complete


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_corrupt_data_is_a_protocol_error(coding: str) -> None:
    wire = bytearray(compress(PAYLOAD, coding))
    wire[len(wire) // 2] ^= 0xFF
    decoder = BodyDecoder(coding, where="http://h/runs/r")
    with pytest.raises(ProtocolError) as info:
        decode_in_pieces(decoder, [bytes(wire)])
    assert "corrupt" in str(info.value) and "http://h/runs/r" in str(info.value)
    not_gzip = BodyDecoder("gzip", where="u")
    not_gzip.feed(b'[{"plain":"json"}]')
    with pytest.raises(ProtocolError):
        not_gzip.read(100)


def test_unknown_coding_name_is_refused_by_the_constructor() -> None:
    with pytest.raises(ValueError):
        BodyDecoder("br", where="u")
