"""The ``__consumer_offsets`` records, byte for byte as Kafka writes them.

Every record's key and value is an int16 version followed by the struct of
that version (Kafka's ``MessageUtil.toVersionPrefixedBytes``):

    key   = int16 key version | key struct
    value = int16 value version | value struct      (null value: tombstone)

The key version names the record type, as in Kafka:

    0, 1  OffsetCommitKey   (group, topic, partition)  - we write 1
    2     GroupMetadataKey  (group)
    3+    KIP-848 consumer-group records: not ours, skipped on replay

Values are written at the version Kafka 3.x writes: OffsetCommitValue v3
(v1 when the commit carried a retention time, the only version with
``expire_timestamp``), GroupMetadataValue v3. Every version 0-4 is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from broker.group.types import CommittedOffset, Record, TopicPartition
from broker.wire.codec import INT16, CorruptMessage, Writer
from broker.wire.generated import group_metadata_key as _gmk
from broker.wire.generated import group_metadata_value as _gmv
from broker.wire.generated import offset_commit_key as _ock
from broker.wire.generated import offset_commit_value as _ocv
from broker.wire.generated.group_metadata_key import GroupMetadataKey
from broker.wire.generated.group_metadata_value import GroupMetadataValue
from broker.wire.generated.offset_commit_key import OffsetCommitKey
from broker.wire.generated.offset_commit_value import OffsetCommitValue

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3


@dataclass(frozen=True, slots=True)
class OffsetKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupKey:
    group: str


def _prefixed(version: int, encode: Callable[[Any, Writer], None], struct: object) -> bytes:
    w = Writer()
    w.buf += INT16.pack(version)
    encode(struct, w)
    return w.getvalue()


def offset_commit_key(group: str, tp: TopicPartition) -> bytes:
    key = OffsetCommitKey(group=group, topic=tp[0], partition=tp[1])
    return _prefixed(OFFSET_COMMIT_KEY_VERSION, _ock.ENCODERS[0], key)


def offset_commit_value(committed: CommittedOffset) -> bytes:
    value = OffsetCommitValue(
        offset=committed.offset,
        leader_epoch=committed.leader_epoch,
        metadata=committed.metadata,
        commit_timestamp=committed.commit_timestamp_ms,
        expire_timestamp=-1
        if committed.expire_timestamp_ms is None
        else committed.expire_timestamp_ms,
    )
    version = (
        OFFSET_COMMIT_VALUE_VERSION
        if committed.expire_timestamp_ms is None
        else OFFSET_COMMIT_VALUE_VERSION_WITH_EXPIRY
    )
    return _prefixed(version, _ocv.ENCODERS[version], value)


def group_metadata_key(group: str) -> bytes:
    key = GroupMetadataKey(group=group)
    return _prefixed(GROUP_METADATA_KEY_VERSION, _gmk.ENCODERS[0], key)


def group_metadata_value(value: GroupMetadataValue) -> bytes:
    encode = _gmv.ENCODERS[GROUP_METADATA_VALUE_VERSION]
    return _prefixed(GROUP_METADATA_VALUE_VERSION, encode, value)


def offset_record(group: str, tp: TopicPartition, committed: CommittedOffset) -> Record:
    return Record(offset_commit_key(group, tp), offset_commit_value(committed))


def offset_tombstone(group: str, tp: TopicPartition) -> Record:
    return Record(offset_commit_key(group, tp), None)


def group_record(group: str, value: GroupMetadataValue) -> Record:
    return Record(group_metadata_key(group), group_metadata_value(value))


def group_tombstone(group: str) -> Record:
    return Record(group_metadata_key(group), None)


def _version(data: memoryview) -> int:
    if len(data) < 2:
        raise CorruptMessage("record shorter than its version prefix")
    (version,) = INT16.unpack_from(data, 0)
    return int(version)


def decode_key(key: bytes | memoryview) -> OffsetKey | GroupKey | None:
    """The key's record type and fields; None for record types we do not keep."""
    data = memoryview(key)
    version = _version(data)
    if version in (0, 1):
        ok, _ = _ock.DECODERS[0](data, 2)
        return OffsetKey(ok.group, ok.topic, ok.partition)
    if version == GROUP_METADATA_KEY_VERSION:
        gk, _ = _gmk.DECODERS[0](data, 2)
        return GroupKey(gk.group)
    if version < 0:
        raise CorruptMessage(f"negative key version {version}")
    return None


def decode_offset_value(value: bytes | memoryview) -> CommittedOffset:
    data = memoryview(value)
    version = _version(data)
    decode = _ocv.DECODERS.get(version)
    if decode is None:
        raise CorruptMessage(f"unknown OffsetCommitValue version {version}")
    v, _ = decode(data, 2)
    return CommittedOffset(
        offset=v.offset,
        leader_epoch=v.leader_epoch,
        metadata=v.metadata,
        commit_timestamp_ms=v.commit_timestamp,
        expire_timestamp_ms=None if v.expire_timestamp == -1 else v.expire_timestamp,
    )


def decode_group_value(value: bytes | memoryview) -> GroupMetadataValue:
    data = memoryview(value)
    version = _version(data)
    decode = _gmv.DECODERS.get(version)
    if decode is None:
        raise CorruptMessage(f"unknown GroupMetadataValue version {version}")
    v, _ = decode(data, 2)
    return v


def partition_for(group_id: str, num_partitions: int) -> int:
    """The ``__consumer_offsets`` partition that owns ``group_id``, as Kafka
    computes it: ``Utils.abs(groupId.hashCode()) % partitions``, with Java's
    ``String.hashCode`` over UTF-16 code units."""
    utf16 = group_id.encode("utf-16-be")
    h = 0
    for i in range(0, len(utf16), 2):
        h = (31 * h + ((utf16[i] << 8) | utf16[i + 1])) & 0xFFFFFFFF
    if h >= 0x80000000:
        h -= 0x100000000
    return (0 if h == -0x80000000 else abs(h)) % num_partitions
