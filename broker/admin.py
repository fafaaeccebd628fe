"""Node-level operations behind the admin APIs, and the topic settings produce obeys.

Theory of operation
-------------------
The admin handlers stay thin: each decodes its request, calls one function
here with the :class:`~broker.node.Node`, and writes the outcome (Kafka error
codes included) into its response. Metadata changes go through the pure
controller (records out) and the metadata quorum (append, fsync, replay);
partition-level changes (DeleteRecords) go to the partition's log under its
append lock, so they never interleave with a flush running in a worker
thread.

The produce path asks :func:`produce_settings` for a topic's effective
``acks.min``, ``min.insync.replicas`` and ``compression.type``: computed once
per topic image and broker config and cached, since a produce must not
rebuild a topic's whole config map. :func:`recompress` rewrites a client
batch whose codec differs from the topic's ``compression.type``: the records
section is decompressed and compressed again (records are self-delimiting, so
they are never parsed one by one) and the header is rebuilt with the new
codec bits, length and CRC32C; every other header field is kept.

(The batch rewrite lives here rather than in ``broker/storage`` only because
this module is the admin issue's; it is pure and can move as it is.)
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from crc32c import crc32c

from broker.api.leader_hints import missing_partition_error
from broker.config import KEYS as BROKER_KEYS
from broker.controller import topic_configs
from broker.controller.controller import (
    ConfigAlteration,
    ConfigResult,
    PartitionsSpec,
    TopicResult,
)
from broker.controller.image import BROKER_RESOURCE, TOPIC_RESOURCE, TopicImage
from broker.errors import ErrorCode
from broker.storage import errors as storage_errors
from broker.storage.batch import (
    ATTRIBUTES_OFFSET,
    COMPRESSION_MASK,
    CRC_OFFSET,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    split_batches,
)
from broker.storage.errors import KafkaStorageError
from broker.storage.records import GZIP, LZ4, NONE, SNAPPY, ZSTD, decompress

if TYPE_CHECKING:
    from broker.config import BrokerConfig
    from broker.node import Node
    from broker.partitions import Partition

# DeleteRecords: an offset of -1 means "up to the high watermark".
HIGH_WATERMARK: Final = -1


def broker_properties(node: Node) -> dict[str, Any]:
    """The broker's properties as topic defaults see them."""
    values = dict(node.config.values)
    values["retention_ms"] = node.config.retention_ms
    values["segment_ms"] = node.config.segment_ms
    return values


# -- configs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DescribeOutcome:
    error: ErrorCode
    message: str | None
    configs: list[topic_configs.DescribedConfig]


def describe_configs(
    node: Node, resource_type: int, name: str, keys: Collection[str] | None
) -> DescribeOutcome:
    """DescribeConfigs of one resource: a topic, or this broker."""
    if resource_type == TOPIC_RESOURCE:
        topic = node.image.topics.get(name)
        if topic is None:
            return DescribeOutcome(
                ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"Topic '{name}' does not exist.", []
            )
        described = topic_configs.describe_topic(topic.configs, broker_properties(node), keys)
        return DescribeOutcome(ErrorCode.NONE, None, described)
    if resource_type == BROKER_RESOURCE:
        if name == "":
            # Cluster-wide dynamic defaults: none can be set yet.
            return DescribeOutcome(ErrorCode.NONE, None, [])
        if name != str(node.node_id):
            return DescribeOutcome(
                ErrorCode.INVALID_REQUEST,
                f"Unexpected broker id, expected {node.node_id} or empty string, "
                f"but received {name}",
                [],
            )
        return DescribeOutcome(ErrorCode.NONE, None, describe_broker(node.config, keys))
    return DescribeOutcome(
        ErrorCode.INVALID_REQUEST, f"Unsupported resource type {resource_type}", []
    )


def describe_broker(
    config: BrokerConfig, keys: Collection[str] | None
) -> list[topic_configs.DescribedConfig]:
    """This broker's properties: read-only (set at start-up), with their sources."""
    out = []
    for key in BROKER_KEYS.values():
        if keys is not None and key.name not in keys:
            continue
        value, source = topic_configs.broker_property(key.name, config.values)
        doc = key.doc or ("Accepted for compatibility; no effect." if not key.effective else "")
        out.append(
            topic_configs.DescribedConfig(
                key.name,
                value,
                source,
                _broker_type(key.name, config.values.get(key.name)),
                doc,
                read_only=True,
                synonyms=(topic_configs.Synonym(key.name, value, source),),
            )
        )
    return out


def _broker_type(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return topic_configs.BOOLEAN
    if isinstance(value, int):
        return topic_configs.LONG if name.endswith((".ms", ".bytes")) else topic_configs.INT
    if isinstance(value, list):
        return topic_configs.LIST
    return topic_configs.STRING


async def alter_configs(
    node: Node, alterations: list[ConfigAlteration], *, incremental: bool, validate_only: bool
) -> list[ConfigResult]:
    results, records = node.controller.alter_configs(
        node.image, alterations, incremental=incremental
    )
    if not validate_only:
        await node.quorum.append(records)
    return results


async def create_partitions(
    node: Node, specs: list[PartitionsSpec], *, validate_only: bool
) -> list[TopicResult]:
    results, records = node.controller.create_partitions(node.image, specs)
    results, records = node.refuse_unhostable(results, records)
    if not validate_only:
        await node.quorum.append(records)
    return results


# -- partitions ------------------------------------------------------------------------


async def delete_records(node: Node, topic: str, index: int, offset: int) -> tuple[ErrorCode, int]:
    """DeleteRecords for one partition: (error, new log start offset)."""
    part = node.replicas.get(topic, index)
    if part is None:
        return missing_partition_error(node, topic, index), -1
    async with part.append_lock:
        target = part.high_watermark if offset == HIGH_WATERMARK else offset
        if target < 0 or target > part.high_watermark:
            return ErrorCode.OFFSET_OUT_OF_RANGE, -1
        try:
            part.log.advance_log_start_offset(target)
            await part.flush()  # the new log start offset is durable before the answer
        except KafkaStorageError as exc:
            return ErrorCode(exc.error_code), -1
        except OSError:
            return ErrorCode.KAFKA_STORAGE_ERROR, -1
        return ErrorCode.NONE, part.log.log_start_offset


@dataclass(frozen=True, slots=True)
class LogDirUsage:
    path: str
    total_bytes: int
    usable_bytes: int


def log_dir_usage(node: Node) -> LogDirUsage:
    path = os.path.abspath(node.config.data_dir)
    try:
        st = os.statvfs(path)
    except OSError:
        return LogDirUsage(path, -1, -1)
    return LogDirUsage(path, st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize)


def in_sync_replicas(node: Node, part: Partition) -> int:
    if part.group is not None:  # replicated: what its Raft leader sees
        return part.in_sync_replicas()
    topic = node.image.topics.get(part.topic)
    found = topic.partitions.get(part.index) if topic is not None else None
    return len(found.isr) if found is not None else 1


# -- what produce obeys ------------------------------------------------------------------

CODECS: Final = {
    "uncompressed": NONE,
    "none": NONE,
    "gzip": GZIP,
    "snappy": SNAPPY,
    "lz4": LZ4,
    "zstd": ZSTD,
}


@dataclass(frozen=True, slots=True)
class ProduceSettings:
    acks_min: int  # 0, 1 or -1 (all)
    min_insync_replicas: int
    codec: int | None  # None: keep the producer's
    level: int | None  # the codec's level; None: the codec's default

    def effective_acks(self, acks: int) -> int:
        """``acks`` raised to ``acks.min`` (-1, all, is the strongest)."""
        if acks == -1 or self.acks_min == 0:
            return acks
        if self.acks_min == -1:
            return -1
        return max(acks, self.acks_min)


_DEFAULT_SETTINGS: Final = ProduceSettings(0, 1, None, None)
_settings_cache: dict[str, tuple[TopicImage, Any, ProduceSettings]] = {}


def produce_settings(node: Node, part: Partition) -> ProduceSettings:
    topic = node.image.topics.get(part.topic)
    if topic is None:
        return _DEFAULT_SETTINGS
    cached = _settings_cache.get(topic.name)
    if cached is not None and cached[0] is topic and cached[1] is node.config:
        return cached[2]
    eff = topic_configs.effective(topic.configs, broker_properties(node))
    codec = CODECS.get(eff["compression.type"])
    level: int | None = None
    if codec == GZIP:
        level = int(eff["compression.gzip.level"])
    elif codec == LZ4:
        level = int(eff["compression.lz4.level"])
    elif codec == ZSTD:
        level = int(eff["compression.zstd.level"])
    acks_min = {"0": 0, "1": 1, "all": -1, "-1": -1}[eff["acks.min"]]
    settings = ProduceSettings(acks_min, int(eff["min.insync.replicas"]), codec, level)
    _settings_cache[topic.name] = (topic, node.config, settings)
    return settings


# -- recompression -----------------------------------------------------------------------

_XERIAL_HEADER: Final = b"\x82SNAPPY\x00" + (1).to_bytes(4, "big") + (1).to_bytes(4, "big")
_XERIAL_BLOCK: Final = 32 * 1024


def compress(codec: int, data: bytes, level: int | None = None) -> bytes:
    """The records section of a batch compressed as Kafka's clients expect it:
    a gzip stream, xerial-framed snappy (as the Java client writes it), an lz4
    frame of independent 64 KiB blocks, or a zstd frame."""
    if codec == NONE:
        return data
    if codec == GZIP:
        return gzip.compress(data, compresslevel=6 if level is None or level < 0 else level)
    if codec == SNAPPY:
        import cramjam

        out = bytearray(_XERIAL_HEADER)
        for start in range(0, len(data), _XERIAL_BLOCK):
            block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
            out += len(block).to_bytes(4, "big") + block
        return bytes(out)
    if codec == LZ4:
        import lz4.frame

        result: bytes = lz4.frame.compress(
            data,
            compression_level=9 if level is None else level,
            block_size=lz4.frame.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            store_size=False,
        )
        return result
    if codec == ZSTD:
        import zstandard

        compressed: bytes = zstandard.ZstdCompressor(level=3 if level is None else level).compress(
            data
        )
        return compressed
    raise ValueError(f"unknown compression type {codec}")


def recompress(
    records: memoryview, codec: int, level: int | None, max_message_bytes: int
) -> memoryview:
    """``records`` with every batch stored with ``codec``; batches already
    using it are kept as they are. Raises MESSAGE_TOO_LARGE when a rewritten
    batch exceeds ``max_message_bytes`` and CORRUPT_MESSAGE when a batch
    does not decompress."""
    batches = split_batches(records)
    if all(h.compression == codec for _pos, h in batches):
        return records
    out = bytearray()
    for position, header in batches:
        end = position + header.size_in_bytes
        if header.compression == codec:
            out += records[position:end]
            continue
        body = bytes(records[position + HEADER_SIZE : end])
        try:
            raw = decompress(header.compression, body)
        except Exception as exc:  # each codec raises its own error type
            raise KafkaStorageError(
                storage_errors.CORRUPT_MESSAGE, f"batch does not decompress: {exc}"
            ) from exc
        new_body = compress(codec, raw, level)
        size = HEADER_SIZE + len(new_body)
        if size > max_message_bytes:
            raise KafkaStorageError(
                storage_errors.MESSAGE_TOO_LARGE,
                f"batch of {size} bytes after recompression > max.message.bytes "
                f"{max_message_bytes}",
            )
        new_header = bytearray(
            HEADER.pack(
                header.base_offset,
                size - LOG_OVERHEAD,
                header.partition_leader_epoch,
                header.magic,
                0,
                (header.attributes & ~COMPRESSION_MASK) | codec,
                header.last_offset_delta,
                header.base_timestamp,
                header.max_timestamp,
                header.producer_id,
                header.producer_epoch,
                header.base_sequence,
                header.records_count,
            )
        )
        crc = crc32c(new_body, crc32c(memoryview(new_header)[ATTRIBUTES_OFFSET:]))
        new_header[CRC_OFFSET : CRC_OFFSET + 4] = crc.to_bytes(4, "big")
        out += new_header
        out += new_body
    return memoryview(out)
