"""Malformed records in a batch whose CRC is right: our broker against Apache Kafka 4.1.2.

Each case is one hand-built record batch v2 (CRC computed over the bad
records, so only the records are wrong) produced to a fresh partition of
both brokers; the error codes must be the same. Uncompressed and gzip
batches both: Kafka's LogValidator reads every record of either
(``DefaultRecord.readFrom``), and so must we (issue 11 item 6: an
uncompressed batch used to get a framing walk only, so a record whose key
ran into its value, or with a negative header count, was stored, and every
consumer then stopped at it).
"""

from __future__ import annotations

import gzip
import time

from crc32c import crc32c

from broker.recordbatch import bytes_field, zigzag
from broker.storage.batch import HEADER
from broker.wire.generated.create_topics_request import CreatableTopic
from compat.kafka.differential import Duo
from compat.kafka.fixtures import kafka
from compat.test_kafka_differential import (
    _create,
    _partition_errors,
    _produce,
    _setup_produce,
    duo,
    name,
    versions,
)

__all__ = ["duo", "kafka", "name", "versions"]

NONE = 0
CORRUPT_MESSAGE = 2
INVALID_TIMESTAMP = 32
INVALID_RECORD = 87
GZIP = 1


def record(
    offset_delta: int,
    key: bytes | None = b"k",
    value: bytes | None = b"v",
    *,
    ts_delta: int = 0,
    headers: list[tuple[bytes | None, bytes | None]] | None = None,
    header_count: int | None = None,
    body: bytes | None = None,
    length_delta: int = 0,
) -> bytes:
    """One record v2; ``body`` replaces the fields, ``length_delta`` lies about the length."""
    if body is None:
        hs = headers or []
        body = (
            b"\0" + zigzag(ts_delta) + zigzag(offset_delta) + bytes_field(key) + bytes_field(value)
        )
        body += zigzag(len(hs) if header_count is None else header_count)
        for hk, hv in hs:
            body += bytes_field(hk) + bytes_field(hv)
    return zigzag(len(body) + length_delta) + body


def batch(
    records: list[bytes], timestamp: int, *, count: int | None = None, codec: int = 0
) -> bytes:
    """A batch around raw ``records``, its CRC right; ``count`` lies about how many."""
    n = len(records) if count is None else count
    payload = b"".join(records)
    if codec == GZIP:
        payload = gzip.compress(payload)
    header = HEADER.pack(
        0, 49 + len(payload), -1, 2, 0, codec, n - 1, timestamp, timestamp, -1, -1, -1, n
    )
    crc = crc32c(header[21:] + payload)
    return header[:17] + crc.to_bytes(4, "big") + header[21:] + payload


def cases() -> dict[str, list[bytes]]:
    ok = [record(0), record(1), record(2)]
    return {
        "sound": ok,
        "offset deltas 0 2 1": [record(0), record(2), record(1)],
        "offset deltas 0 0 0": [record(0), record(0), record(0)],
        "offset deltas 1 2 3": [record(1), record(2), record(3)],
        "key length past the record": [record(0), record(1, body=b"\0\0\2" + zigzag(9) + b"k"
                                                         + bytes_field(b"v") + b"\0"), record(2)],
        "value length past the record": [record(0), record(1, body=b"\0\0\2" + bytes_field(b"k")
                                                           + zigzag(9) + b"v\0"), record(2)],
        "fields end before the length": [record(0), record(1, length_delta=2) + b"\0\0", record(2)],
        "negative header count": [record(0), record(1, header_count=-1), record(2)],
        "header count past the record": [record(0), record(1, header_count=5), record(2)],
        "null header key": [record(0), record(1, headers=[(None, b"v")]), record(2)],
        "header value past the record": [record(0), record(1, body=b"\0\0\2" + bytes_field(b"k")
                                                           + bytes_field(b"v") + zigzag(1) + bytes_field(b"h")
                                                           + zigzag(9) + b"v"), record(2)],
        "varint of 6 bytes": [record(0), record(1, body=b"\0\0\2\x81\x80\x80\x80\x80\x00"),
                              record(2)],
        "negative record length": [record(0), zigzag(-3) + b"\0\0\2", record(2)],
        "too few records": ok[:2],
        "record past the end": [record(0), record(1), record(2, length_delta=5)],
        "trailing bytes": [*ok, b"\0\0"],
        "timestamp delta 2 h ahead": [record(0), record(1, ts_delta=7_200_000), record(2)],
        "timestamp delta 2 days back": [record(0), record(1, ts_delta=-172_800_000), record(2)],
    }  # fmt: skip


# Known differences (docs/compat.md), as (ours, Kafka's):
# - a compressed batch whose inner offsets are not 0, 1, 2: Kafka refuses it
#   but answers UNKNOWN_SERVER_ERROR; ours INVALID_RECORD. (Uncompressed:
#   neither checks them.)
# - a compressed batch whose last record's length runs 5 bytes past the
#   decompressed section: Kafka's skip-key-value reader accepts and stores it
#   (its consumers then fail reading it); ours refuses it.
UNKNOWN_SERVER_ERROR = -1
KNOWN = {
    "gzip: offset deltas 0 2 1": ([INVALID_RECORD], [UNKNOWN_SERVER_ERROR]),
    "gzip: offset deltas 0 0 0": ([INVALID_RECORD], [UNKNOWN_SERVER_ERROR]),
    "gzip: offset deltas 1 2 3": ([INVALID_RECORD], [UNKNOWN_SERVER_ERROR]),
    "gzip: record past the end": ([INVALID_RECORD], [NONE]),
}


def test_malformed_records_get_kafkas_error(duo: Duo, versions: dict[str, int], name: str) -> None:
    v = min(versions["Produce"], 12)
    now = int(time.time() * 1000)
    table = cases()
    _create(duo, versions, CreatableTopic(name=name, num_partitions=1, replication_factor=1))
    _setup_produce(duo, _produce(name, 0, batch([record(0)], now)))
    got: dict[str, tuple[list[int], list[int]]] = {}
    for codec in (0, GZIP):
        for label, records in table.items():
            count = 3 if label == "too few records" else None
            request = _produce(name, 0, batch(records, now, count=count,
                                              codec=codec))  # fmt: skip
            pair = duo.send(request, v)
            got[f"{'gzip' if codec else 'none'}: {label}"] = (
                _partition_errors(pair.ours),
                _partition_errors(pair.kafka),
            )
    differ = {label: pair for label, pair in got.items() if pair[0] != pair[1]}
    assert differ == KNOWN
    assert got["none: sound"] == ([NONE], [NONE])
