"""Issue 11 item 6: batches with a valid CRC but malformed records are refused.

Each defect is built from a batch kafka-python encodes, then rewritten with a
correct batchLength and CRC, so that only the records section is wrong. The
codes are Kafka's: INVALID_RECORD for what ``DefaultRecord.readFrom`` and the
record iterator reject, MESSAGE_TOO_LARGE for a batch that would inflate past
the bound (our policy: Kafka sets none).
"""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib

import pytest
from crc32c import crc32c
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch

from broker.recordbatch import zigzag
from broker.storage import errors
from broker.storage.batch import HEADER_SIZE, max_decompressed_bytes, validate_produce_records
from broker.storage.compression import (
    CorruptCompressedData,
    DecompressedTooLarge,
    decompress,
)
from broker.storage.config import LogConfig
from broker.storage.errors import KafkaStorageError
from broker.storage.record_check import walk_records
from tests.storage.batches import GZIP, LZ4, NONE, SNAPPY, ZSTD, build_batch

NOW = 1_700_000_000_000
CONFIG = LogConfig()
CODECS = [GZIP, SNAPPY, LZ4, ZSTD]


def record(
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    *,
    offset_delta: int = 0,
    headers: bytes = b"\x00",
    length_delta: int = 0,
) -> bytes:
    """One encoded record; `headers` is the raw headers part (count + headers)."""
    body = b"\x00" + zigzag(0) + zigzag(offset_delta)
    body += zigzag(-1) if key is None else zigzag(len(key)) + key
    body += zigzag(-1) if value is None else zigzag(len(value)) + value
    body += headers
    return zigzag(len(body) + length_delta) + body


def batch_of(section: bytes, count: int, compression: int = NONE) -> bytes:
    """A batch with this records section (compressed with `compression`),
    header fields consistent with `count`, and a correct length and CRC."""
    from broker.admin import compress

    payload = compress(compression, section) if compression else section
    header = bytearray(build_batch(1, timestamp=NOW)[:HEADER_SIZE])
    struct.pack_into(">i", header, 8, HEADER_SIZE - 12 + len(payload))
    struct.pack_into(">h", header, 21, compression)
    struct.pack_into(">i", header, 23, count - 1)  # lastOffsetDelta
    struct.pack_into(">i", header, 57, count)  # recordsCount
    data = bytes(header) + payload
    return data[:17] + struct.pack(">I", crc32c(data[21:])) + data[21:]


def code(data: bytes, config: LogConfig = CONFIG) -> int:
    with pytest.raises(KafkaStorageError) as exc:
        validate_produce_records(data, config, NOW)
    return exc.value.error_code


TWO = record(offset_delta=0) + record(offset_delta=1)


@pytest.mark.parametrize("compression", [NONE, *CODECS])
def test_well_formed_sections_pass(compression: int) -> None:
    validate_produce_records(batch_of(TWO, 2, compression), CONFIG, NOW)
    headers = b"\x04" + b"\x02h" + b"\x02v" + b"\x02g" + b"\x01"  # ("h", "v"), ("g", null)
    section = record(None, None, headers=headers) + record(b"", b"x" * 300, offset_delta=1)
    validate_produce_records(batch_of(section, 2, compression), CONFIG, NOW)
    # kafka-python's batches (keys, values, a header each) pass too.
    validate_produce_records(build_batch(50, timestamp=NOW, compression=compression), CONFIG, NOW)


FRAMING = [
    ("more records declared than present", TWO, 3),
    ("fewer records declared than present", TWO, 1),
    ("a record longer than the batch", record(length_delta=40), 1),
    ("a negative record length", zigzag(-3) + record()[1:], 1),
    ("trailing bytes after the last record", TWO + b"\x00\x00\x00", 2),
    ("a record length varint that never ends", b"\xff" * 6 + record(), 1),
    ("a record shorter than its fields", record(length_delta=-2) + b"\x00\x00", 1),
    ("an empty records section", b"", 1),
]


@pytest.mark.parametrize("compression", [NONE, *CODECS])
@pytest.mark.parametrize(("name", "section", "count"), FRAMING, ids=[f[0] for f in FRAMING])
def test_malformed_framing_is_invalid_record(
    compression: int, name: str, section: bytes, count: int
) -> None:
    assert code(batch_of(section, count, compression)) == errors.INVALID_RECORD, name


# Defects inside a record whose length is right: found by the full walk, in
# compressed and (since issue 11's remainder) uncompressed batches alike.
INNER = [
    ("a key longer than its record", record(b"k" * 5)[:4] + zigzag(40) + record(b"k" * 5)[5:]),
    ("an offsetDelta varint of 6 bytes", zigzag(9) + b"\x00\x00" + b"\xff" * 5 + b"\x01\x02"),
    ("a negative headers count", record(headers=zigzag(-2))),
    ("a null header key", record(headers=b"\x02" + zigzag(-1) + b"\x02v")),
    ("more headers than bytes", record(headers=zigzag(50))),
]


@pytest.mark.parametrize("compression", [NONE, *CODECS])
@pytest.mark.parametrize(("name", "section"), INNER, ids=[i[0] for i in INNER])
def test_malformed_fields_are_invalid_record(compression: int, name: str, section: bytes) -> None:
    assert code(batch_of(section, 1, compression)) == errors.INVALID_RECORD, name


@pytest.mark.parametrize(("name", "section"), INNER, ids=[i[0] for i in INNER])
def test_full_walk_finds_inner_defects(name: str, section: bytes) -> None:
    assert walk_records(section, 1).problem is not None, name


@pytest.mark.parametrize("compression", CODECS)
def test_payload_that_does_not_decompress_is_invalid_record(compression: int) -> None:
    from broker.admin import compress

    good = compress(compression, TWO * 50)
    for payload in (b"\x00not compressed at all\x00" * 4, good[: len(good) // 2]):
        data = bytearray(batch_of(TWO, 2, compression))
        data = data[:HEADER_SIZE] + payload
        struct.pack_into(">i", data, 8, len(data) - 12)
        struct.pack_into(">i", data, 23, 99)
        struct.pack_into(">i", data, 57, 100)
        struct.pack_into(">I", data, 17, crc32c(bytes(data[21:])))
        assert code(bytes(data)) == errors.INVALID_RECORD


# -- zip bombs ----------------------------------------------------------------------------

MiB = 1 << 20
ZEROS = bytes(MiB)


def zstd_bomb() -> bytes:
    """1 GiB of zeros in about 32 KB of zstd."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(compressor.compress(ZEROS) for _ in range(1024)) + compressor.flush()


def gzip_bomb() -> bytes:
    """900 MiB of zeros in about 950 KB: one gzip member of 1 MiB, repeated."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 31)
    member = deflater.compress(ZEROS) + deflater.flush()
    return member * 900


def lz4_bomb() -> bytes:
    """200 MiB of zeros in about 860 KB of lz4 frame."""
    import lz4.frame

    compressor = lz4.frame.LZ4FrameCompressor(block_size=lz4.frame.BLOCKSIZE_MAX64KB)
    frame: bytes = compressor.begin()
    frame += b"".join(compressor.compress(ZEROS) for _ in range(200))
    tail: bytes = compressor.flush()
    return frame + tail


def snappy_bomb() -> bytes:
    """A raw snappy block whose preamble claims 2 GiB (the codec would
    allocate that much before looking further)."""
    return bytes([0x80, 0x80, 0x80, 0x80, 0x08]) + b"\x00" * 64


BOMBS = {ZSTD: zstd_bomb, GZIP: gzip_bomb, LZ4: lz4_bomb, SNAPPY: snappy_bomb}


def bomb_batch(compression: int) -> bytes:
    payload = BOMBS[compression]()
    header = bytearray(build_batch(1, timestamp=NOW)[:HEADER_SIZE])
    struct.pack_into(">i", header, 8, HEADER_SIZE - 12 + len(payload))
    struct.pack_into(">h", header, 21, compression)
    data = bytes(header) + payload
    assert len(data) <= CONFIG.max_message_bytes
    return data[:17] + struct.pack(">I", crc32c(data[21:])) + data[21:]


@pytest.mark.parametrize("compression", [ZSTD, GZIP, LZ4, SNAPPY])
def test_zip_bomb_is_refused_without_inflating(compression: int) -> None:
    data = bomb_batch(compression)
    tracemalloc.start()
    try:
        assert code(data) == errors.MESSAGE_TOO_LARGE
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # At most the bound (32 MiB at the default max.message.bytes) and one
    # decompression step, never the bomb's size.
    limit = max_decompressed_bytes(CONFIG)
    assert peak < limit + 16 * MiB, f"peak {peak / MiB:.0f} MiB"


def test_bound_follows_max_message_bytes() -> None:
    # 33 KB of records, compressing to under 1 KB
    section = b"".join(record(value=bytes(100), offset_delta=i) for i in range(300))
    data = batch_of(section, 300, GZIP)
    validate_produce_records(data, LogConfig(max_message_bytes=2048), NOW)
    assert code(data, LogConfig(max_message_bytes=512)) == errors.MESSAGE_TOO_LARGE


def test_bounded_decompress_errors() -> None:
    assert decompress(GZIP, gzip.compress(b"ab") + gzip.compress(b"cd"), 4) == b"abcd"
    with pytest.raises(DecompressedTooLarge):
        decompress(GZIP, gzip.compress(b"abcde"), 4)
    with pytest.raises(CorruptCompressedData):
        decompress(GZIP, gzip.compress(b"abcde")[:-9], 100)
    with pytest.raises(CorruptCompressedData):
        decompress(7, b"", 100)


# -- the walks against kafka-python's decoder --------------------------------------------


def reference_reads(section: bytes, count: int) -> bool:
    """A plain transcription of Kafka's DefaultRecord.readFrom and the record
    iterator's end check: does the section hold exactly `count` records?"""

    def varint(pos: int, max_bytes: int) -> tuple[int, int]:
        raw = 0
        for i in range(max_bytes):
            byte = section[pos]
            pos += 1
            raw |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                return (raw >> 1) ^ -(raw & 1), pos
        raise ValueError("varint too long")

    pos = 0
    try:
        for _ in range(count):
            size, pos = varint(pos, 5)
            if size < 0 or len(section) - pos < size:
                return False
            start = pos
            pos += 1  # attributes: one byte
            _timestamp_delta, pos = varint(pos, 10)
            _offset_delta, pos = varint(pos, 5)
            for _field in ("key", "value"):
                length, pos = varint(pos, 5)
                if length > len(section) - pos:
                    return False
                pos += max(length, 0)
            headers, pos = varint(pos, 5)
            if headers < 0:
                return False
            for _ in range(headers):
                key_length, pos = varint(pos, 5)
                if key_length < 0 or key_length > len(section) - pos:
                    return False
                pos += key_length
                value_length, pos = varint(pos, 5)
                if value_length > len(section) - pos:
                    return False
                pos += max(value_length, 0)
            if pos - start != size:
                return False
    except (IndexError, ValueError):
        return False
    return pos == len(section)


def kafka_python_reads(section: bytes, count: int) -> bool:
    """Whether kafka-python's record decoder reads `count` records from the section."""
    try:
        batch = DefaultRecordBatch(batch_of(section, count))
        return sum(1 for _ in batch) == count
    except Exception:
        return False


def mutated(count: int, at: int, patch: bytes) -> bytearray:
    section = bytearray(
        b"".join(
            record(b"key%d" % i, b"v" * (i * 7), offset_delta=i, headers=b"\x02\x02h\x02v")
            for i in range(count)
        )
    )
    at %= len(section)
    section[at : at + len(patch)] = patch
    return section


MUTATION = (
    st.integers(min_value=1, max_value=4),
    st.integers(min_value=0, max_value=200),
    st.binary(min_size=1, max_size=3),
    st.integers(min_value=-1, max_value=1),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(*MUTATION)
def test_full_walk_matches_kafkas_record_reader(
    count: int, at: int, patch: bytes, count_delta: int
) -> None:
    """The full walk accepts a mutated section exactly when Kafka's reader
    would."""
    section = bytes(mutated(count, at, patch))
    declared = max(1, count + count_delta)
    full = walk_records(section, declared).problem
    assert (full is None) == reference_reads(section, declared), full


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    MUTATION[0],
    MUTATION[1],
    st.binary(min_size=1, max_size=3).map(lambda b: bytes(x & 0x7F for x in b)),
    MUTATION[3],
)
def test_what_the_full_walk_accepts_kafka_python_reads(
    count: int, at: int, patch: bytes, count_delta: int
) -> None:
    """With ASCII patches (kafka-python reads the attributes byte as a varint
    and header keys as strict UTF-8, where Kafka reads one byte and replaces
    bad UTF-8), what the full walk accepts, kafka-python decodes."""
    section = bytes(mutated(count, at, patch))
    declared = max(1, count + count_delta)
    if walk_records(section, declared).problem is None:
        assert kafka_python_reads(section, declared)


# What a real Kafka 4.1.2 answered (compat/test_record_validation.py runs both):
# a compressed batch's inner offsets must be 0, 1, 2..., an uncompressed
# batch's are not checked (the log assigns offsets from the batch header).
OUT_OF_ORDER = record(offset_delta=0) + record(offset_delta=2) + record(offset_delta=1)


def test_uncompressed_offset_deltas_are_not_checked() -> None:
    validate_produce_records(batch_of(OUT_OF_ORDER, 3), CONFIG, NOW)


@pytest.mark.parametrize("compression", CODECS)
def test_compressed_offset_deltas_must_count_from_zero(compression: int) -> None:
    assert code(batch_of(OUT_OF_ORDER, 3, compression)) == errors.INVALID_RECORD
    shifted = record(offset_delta=1) + record(offset_delta=2)
    assert code(batch_of(shifted, 2, compression)) == errors.INVALID_RECORD


def timed(*deltas: int) -> bytes:
    """Records with these timestampDeltas (the header says base NOW, max NOW)."""
    out = b""
    for i, delta in enumerate(deltas):
        body = b"\x00" + zigzag(delta) + zigzag(i) + zigzag(1) + b"k" + zigzag(1) + b"v\x00"
        out += zigzag(len(body)) + body
    return out


@pytest.mark.parametrize("compression", [NONE, *CODECS])
def test_every_records_timestamp_is_checked(compression: int) -> None:
    config = LogConfig(message_timestamp_after_max_ms=3_600_000)
    hour = 3_600_000
    assert code(batch_of(timed(0, 2 * hour, 0), 3, compression), config) == (
        errors.INVALID_TIMESTAMP
    )
    validate_produce_records(batch_of(timed(0, hour, -5 * hour), 3, compression), config, NOW)
    strict = LogConfig(message_timestamp_before_max_ms=hour)
    assert code(batch_of(timed(0, -2 * hour), 2, compression), strict) == errors.INVALID_TIMESTAMP


def test_three_byte_offset_and_timestamp_deltas() -> None:
    """Past 8,191 records, offsetDelta takes 3 bytes; past ~8 s, so does timestampDelta."""

    def section(offsets: list[int]) -> bytes:
        out = b""
        for i, offset in enumerate(offsets):
            body = b"\x00" + zigzag(i * 100) + zigzag(offset) + zigzag(-1) + zigzag(1) + b"v\x00"
            out += zigzag(len(body)) + body
        return out

    count = 9000
    offsets = list(range(count))
    walk = walk_records(section(offsets), count, offsets_in_order=True)
    assert walk == (None, 0, (count - 1) * 100)
    offsets[8500] = 8501
    assert len(zigzag(8500)) == 3
    problem = walk_records(section(offsets), count, offsets_in_order=True).problem
    assert problem is not None and "offsetDelta 8501" in problem
    assert walk_records(section(offsets), count).problem is None  # uncompressed: not checked
