"""Decompress a batch's records section, never past an output limit.

A compressed batch is small on the wire and may be huge once inflated: 32 KB
of zstd can hold 1 GiB of zeros. Every decompressor here therefore produces
output in bounded steps and stops with `DecompressedTooLarge` as soon as the
total passes ``limit``, so a zip bomb costs at most ``limit`` bytes (plus one
step) of memory and the time to produce them, never its full size.

The formats are the ones Kafka's clients write in the records section:

* gzip (1): a gzip stream; concatenated members are read as one stream, as
  Java's GZIPInputStream does.
* snappy (2): either one raw snappy block, or xerial framing (snappy-java,
  which Kafka's Java client uses): a 16-byte header, then blocks of
  ``[int32 length][raw snappy block]``. A raw block starts with its
  uncompressed length as a varint, checked against the limit before the
  block is decompressed (the codec would allocate that much at once).
* lz4 (3): an LZ4 frame.
* zstd (4): zstd frames.

Anything that does not decode (bad magic, a corrupt or truncated stream) is
`CorruptCompressedData`. Both errors are `ValueError`s; the caller maps them
to Kafka error codes.
"""

from __future__ import annotations

import zlib
from typing import Final

NONE: Final = 0
GZIP: Final = 1
SNAPPY: Final = 2
LZ4: Final = 3
ZSTD: Final = 4

XERIAL_MAGIC: Final = b"\x82SNAPPY\x00"
XERIAL_HEADER_SIZE: Final = 16  # magic (8), version (4), compatible version (4)
_GZIP_MAGIC: Final = b"\x1f\x8b"

# Most output produced per step by gzip and lz4 (which take an output limit),
# so that the output so far and one step are all that is ever held.
_OUTPUT_STEP: Final = 1 << 20
# Compressed bytes handed to zstd per step. A zstd RLE block turns 4 bytes
# into up to 128 KiB, so 256 input bytes yield at most ~8 MiB per step.
_ZSTD_STEP: Final = 256


class CorruptCompressedData(ValueError):
    """The records section does not decompress with the batch's codec."""


class DecompressedTooLarge(ValueError):
    """The records section inflates past the allowed size."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"decompresses to more than {limit} bytes")
        self.limit = limit


def decompress(codec: int, data: bytes | memoryview, limit: int) -> bytes | bytearray:
    """The decompressed records section; at most ``limit`` bytes, or an error."""
    if codec == NONE:
        if len(data) > limit:
            raise DecompressedTooLarge(limit)
        return bytes(data)
    try:
        if codec == GZIP:
            return _gunzip(data, limit)
        if codec == SNAPPY:
            return _unsnappy(bytes(data), limit)
        if codec == LZ4:
            return _unlz4(data, limit)
        if codec == ZSTD:
            return _unzstd(data, limit)
    except (CorruptCompressedData, DecompressedTooLarge):
        raise
    except Exception as exc:  # each codec library raises its own error type
        raise CorruptCompressedData(f"does not decompress: {exc}") from exc
    raise CorruptCompressedData(f"unknown compression type {codec}")


def _gunzip(data: bytes | memoryview, limit: int) -> bytearray:
    out = bytearray()
    pending = bytes(data)
    while True:
        inflater = zlib.decompressobj(wbits=31)  # 16 + MAX_WBITS: gzip header and trailer
        while not inflater.eof:
            chunk = inflater.decompress(pending, min(_OUTPUT_STEP, limit + 1 - len(out)))
            out += chunk
            if len(out) > limit:
                raise DecompressedTooLarge(limit)
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise CorruptCompressedData("truncated gzip stream")
        pending = inflater.unused_data
        # Another member follows, or trailing bytes that Java's reader ignores.
        if not pending.startswith(_GZIP_MAGIC):
            return out


def _raw_snappy_length(block: bytes) -> int:
    """The uncompressed length a raw snappy block declares (unsigned varint)."""
    value = shift = 0
    for position in range(min(len(block), 5)):
        byte = block[position]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value
        shift += 7
    raise CorruptCompressedData("bad snappy length preamble")


def _unsnappy(data: bytes, limit: int) -> bytes | bytearray:
    import cramjam

    if not data.startswith(XERIAL_MAGIC):
        if _raw_snappy_length(data) > limit:
            raise DecompressedTooLarge(limit)
        return bytes(cramjam.snappy.decompress_raw(data))
    out = bytearray()
    position = XERIAL_HEADER_SIZE
    while position < len(data):
        if position + 4 > len(data):
            raise CorruptCompressedData("truncated xerial snappy block length")
        length = int.from_bytes(data[position : position + 4], "big")
        position += 4
        if position + length > len(data):
            raise CorruptCompressedData("xerial snappy block runs past the data")
        block = data[position : position + length]
        if len(out) + _raw_snappy_length(block) > limit:
            raise DecompressedTooLarge(limit)
        out += bytes(cramjam.snappy.decompress_raw(block))
        position += length
    return out


def _unlz4(data: bytes | memoryview, limit: int) -> bytearray:
    import lz4.frame

    decompressor = lz4.frame.LZ4FrameDecompressor()
    out = bytearray()
    pending: bytes | memoryview = data
    while not decompressor.eof:
        chunk = decompressor.decompress(pending, max_length=min(_OUTPUT_STEP, limit + 1 - len(out)))
        out += chunk
        if len(out) > limit:
            raise DecompressedTooLarge(limit)
        pending = b""
        if not chunk and decompressor.needs_input:
            raise CorruptCompressedData("truncated lz4 frame")
    return out


def _unzstd(data: bytes | memoryview, limit: int) -> bytearray:
    import zstandard

    view = memoryview(data)
    out = bytearray()
    decompressor = zstandard.ZstdDecompressor().decompressobj()
    start = 0
    pending: bytes | memoryview = b""
    while start < len(view) or pending:
        if not pending:
            pending = view[start : start + _ZSTD_STEP]
            start += _ZSTD_STEP
        out += decompressor.decompress(pending)
        if len(out) > limit:
            raise DecompressedTooLarge(limit)
        pending = b""
        if decompressor.eof:
            # Frames may follow one another; each needs a fresh decompressor.
            pending = decompressor.unused_data
            if not pending and start >= len(view):
                return out
            decompressor = zstandard.ZstdDecompressor().decompressobj()
    raise CorruptCompressedData("truncated zstd frame")
