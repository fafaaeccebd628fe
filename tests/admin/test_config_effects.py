"""Each topic config changes what the broker does: one test per config (or pair).

Every test sets the config and shows the behaviour it causes, against the
same produce without it, so it fails if the config is not wired through.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kafka.record.memory_records import MemoryRecords

from broker.errors import ErrorCode
from broker.node import Node
from broker.storage.batch import parse_header
from broker.storage.records import GZIP, LZ4, NONE, SNAPPY, ZSTD
from tests.admin.helpers import (
    codecs,
    create,
    fetch,
    partition,
    produce,
    set_configs,
    started_node,
    values,
)
from tests.broker.helpers import client_batch


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    return await started_node(tmp_path)


def now_ms() -> int:
    return int(time.time() * 1000)


async def fill(node: Node, topic: str, count: int, *, timestamp: int | None = None) -> None:
    for i in range(count):
        ts = now_ms() if timestamp is None else timestamp
        batch = client_batch([b"%04d" % i + b"." * 100], timestamp=ts)
        assert (await produce(node, topic, batch)).error_code == 0


# -- storage layout and retention ------------------------------------------------------


async def test_segment_bytes_rolls_segments_and_applies_after_alter(node: Node) -> None:
    await create(node, "small", {"segment.bytes": "1024"})
    await create(node, "plain")
    await fill(node, "small", 20)
    await fill(node, "plain", 20)
    assert len(partition(node, "small").log.segment_base_offsets) > 2
    assert len(partition(node, "plain").log.segment_base_offsets) == 1
    # Lowered on a live topic: the active segment rolls by the new limit at once.
    assert (await set_configs(node, "plain", segment_bytes="1024")).error_code == 0
    await fill(node, "plain", 2)
    assert len(partition(node, "plain").log.segment_base_offsets) == 2


async def test_segment_ms_rolls_by_record_time(node: Node) -> None:
    await create(node, "fast", {"segment.ms": "1000"})
    await create(node, "plain")
    for topic in ("fast", "plain"):
        for i in range(3):
            batch = client_batch([b"x"], timestamp=now_ms() - 60_000 + i * 5_000)
            assert (await produce(node, topic, batch)).error_code == 0
    assert len(partition(node, "fast").log.segment_base_offsets) == 3
    assert len(partition(node, "plain").log.segment_base_offsets) == 1


async def test_retention_bytes_deletes_oldest_segments(node: Node) -> None:
    await create(node, "capped", {"segment.bytes": "1024", "retention.bytes": "2048"})
    await create(node, "plain", {"segment.bytes": "1024"})
    await fill(node, "capped", 40)
    await fill(node, "plain", 40)
    for topic in ("capped", "plain"):
        part = partition(node, topic)
        part.log.delete_old_segments(now_ms(), part.high_watermark)
    assert partition(node, "capped").log.log_start_offset > 0
    assert partition(node, "capped").log.size_in_bytes <= 2048 + 1024
    assert partition(node, "plain").log.log_start_offset == 0


async def test_retention_ms_deletes_old_segments(node: Node) -> None:
    old = now_ms() - 60_000
    await create(node, "brief", {"segment.bytes": "1024", "retention.ms": "10000"})
    await create(node, "plain", {"segment.bytes": "1024"})
    await fill(node, "brief", 20, timestamp=old)
    await fill(node, "plain", 20, timestamp=old)
    for topic in ("brief", "plain"):
        part = partition(node, topic)
        part.log.delete_old_segments(now_ms(), part.high_watermark)
    assert partition(node, "brief").log.log_start_offset > 0
    assert partition(node, "plain").log.log_start_offset == 0


async def test_cleanup_policy_delete_only(node: Node) -> None:
    assert (await create(node, "t", {"cleanup.policy": "delete"})).error_code == 0
    result = await set_configs(node, "t", cleanup_policy="compact")
    assert result.error_code == ErrorCode.INVALID_CONFIG
    assert "compaction is not implemented" in result.error_message


async def test_empty_cleanup_policy_keeps_every_segment(node: Node) -> None:
    # Kafka: a policy without "delete" ignores retention.ms and retention.bytes.
    old = now_ms() - 60_000
    tight = {"segment.bytes": "1024", "retention.ms": "10000", "retention.bytes": "1024"}
    await create(node, "kept", tight)
    assert (await set_configs(node, "kept", cleanup_policy="")).error_code == 0
    await fill(node, "kept", 20, timestamp=old)
    part = partition(node, "kept")
    assert part.log.delete_old_segments(now_ms(), part.high_watermark) == 0
    assert part.log.log_start_offset == 0
    # Back to delete: the same retention now applies.
    assert (await set_configs(node, "kept", cleanup_policy="delete")).error_code == 0
    part = partition(node, "kept")
    assert part.log.delete_old_segments(now_ms(), part.high_watermark) > 0
    assert part.log.log_start_offset > 0


# -- what a produce may carry ----------------------------------------------------------


async def test_max_message_bytes(node: Node) -> None:
    await create(node, "tight", {"max.message.bytes": "200"})
    await create(node, "plain")
    batch = client_batch([b"x" * 300])
    assert (await produce(node, "tight", batch)).error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert (await produce(node, "plain", batch)).error_code == 0


async def test_message_timestamp_type_log_append_time(node: Node) -> None:
    await create(node, "lat", {"message.timestamp.type": "LogAppendTime"})
    await create(node, "plain")
    batch = client_batch([b"x"], timestamp=1_000_000)
    before = now_ms()
    lat = await produce(node, "lat", batch)
    assert lat.error_code == 0 and lat.log_append_time_ms >= before
    assert (await produce(node, "plain", client_batch([b"x"]))).log_append_time_ms == -1
    stored = parse_header(bytes((await fetch(node, "lat")).records))
    assert stored.is_log_append_time and stored.max_timestamp == lat.log_append_time_ms


async def test_message_timestamp_bounds(node: Node) -> None:
    await create(node, "strict", {
        "message.timestamp.before.max.ms": "60000",
        "message.timestamp.after.max.ms": "1000",
    })  # fmt: skip
    await create(node, "plain")
    old = client_batch([b"x"], timestamp=now_ms() - 3_600_000)
    future = client_batch([b"x"], timestamp=now_ms() + 60_000)
    for batch in (old, future):
        assert (await produce(node, "strict", batch)).error_code == ErrorCode.INVALID_TIMESTAMP
        assert (await produce(node, "plain", batch)).error_code == 0


# -- compression.type ------------------------------------------------------------------

CODEC_NAMES = {NONE: "uncompressed", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}


@pytest.mark.parametrize("target", [NONE, GZIP, SNAPPY, LZ4, ZSTD])
@pytest.mark.parametrize("sent", [NONE, GZIP, SNAPPY, LZ4, ZSTD])
async def test_compression_type_recompresses(node: Node, sent: int, target: int) -> None:
    await create(node, "t", {"compression.type": CODEC_NAMES[target]})
    payload = [b"value-%d-" % i + b"abc" * 50 for i in range(30)]
    batch = client_batch(
        payload,
        compression=sent,
        producer_id=5,
        producer_epoch=0,
        base_sequence=0,
        keys=[b"k%d" % i for i in range(30)],
    )
    result = await produce(node, "t", batch)
    assert result.error_code == 0, result.error_message
    records = bytes((await fetch(node, "t")).records)
    assert codecs(records) == [target]
    header = parse_header(records)
    assert (header.producer_id, header.base_sequence, header.last_offset_delta) == (5, 0, 29)
    mr = MemoryRecords(records)
    stored = mr.next_batch()
    assert stored is not None and stored.validate_crc()
    assert [(r.key, r.value, r.headers) for r in stored] == [
        (b"k%d" % i, v, [("h", b"v")]) for i, v in enumerate(payload)
    ]
    retry = await produce(node, "t", batch)  # idempotence still sees the same batch
    assert (retry.error_code, retry.base_offset) == (0, 0)


async def test_zip_bomb_to_a_recompressing_topic_is_refused_without_inflating(
    node: Node,
) -> None:
    """Issue 11 item 6: 1 GiB of zeros in 32 KB of zstd, sent to a topic whose
    compression.type makes the broker recompress, must not inflate whole."""
    import tracemalloc

    from tests.storage.test_record_validation import bomb_batch

    await create(node, "t", {"compression.type": "lz4"})
    bomb = bomb_batch(ZSTD)
    tracemalloc.start()
    try:
        result = await produce(node, "t", bomb)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.error_code == ErrorCode.MESSAGE_TOO_LARGE, result.error_message
    assert peak < 64 << 20, f"peak {peak >> 20} MiB"
    assert partition(node, "t").log.log_end_offset == 0


async def test_compression_type_producer_keeps_the_batch(node: Node) -> None:
    await create(node, "t")
    batch = client_batch([b"x" * 100], compression=GZIP)
    await produce(node, "t", batch)
    stored = bytes((await fetch(node, "t")).records)
    assert stored[16:] == batch[16:]  # only baseOffset/length/epoch are the broker's


async def test_compression_levels(node: Node) -> None:
    payload = [bytes(range(256)) * 4 + b"%d" % i for i in range(50)]
    sizes = {}
    for level in ("1", "9"):
        topic = f"gz{level}"
        await create(node, topic, {"compression.type": "gzip", "compression.gzip.level": level})
        await produce(node, topic, client_batch(payload))
        sizes[level] = len(bytes((await fetch(node, topic)).records))
    assert sizes["9"] < sizes["1"]


async def test_recompressed_batch_must_fit_max_message_bytes(node: Node) -> None:
    await create(node, "t", {"compression.type": "uncompressed", "max.message.bytes": "2000"})
    small_when_gzipped = client_batch([b"a" * 5000], compression=GZIP)
    assert len(small_when_gzipped) < 2000
    result = await produce(node, "t", small_when_gzipped)
    assert result.error_code == ErrorCode.MESSAGE_TOO_LARGE


async def test_broker_compression_type_is_the_default(tmp_path: Path) -> None:
    node = await started_node(tmp_path, "compression.type=zstd")
    await create(node, "t")
    await produce(node, "t", client_batch([b"x" * 200]))
    assert codecs((await fetch(node, "t")).records) == [ZSTD]
    assert values((await fetch(node, "t")).records) == [b"x" * 200]


# -- acks, replicas and fsync ------------------------------------------------------------


async def test_min_insync_replicas_refuses_acks_all(node: Node) -> None:
    await create(node, "t", {"min.insync.replicas": "2"})
    all_acks = await produce(node, "t", client_batch([b"x"]), acks=-1)
    assert all_acks.error_code == ErrorCode.NOT_ENOUGH_REPLICAS
    assert (await produce(node, "t", client_batch([b"x"]), acks=1)).error_code == 0
    assert partition(node, "t").log.log_end_offset == 1  # the refused batch was not appended
    await create(node, "strict", {"min.insync.replicas": "2", "acks.min": "all"})
    raised = await produce(node, "strict", client_batch([b"x"]), acks=1)
    assert raised.error_code == ErrorCode.NOT_ENOUGH_REPLICAS


async def test_write_caching_decides_whether_acks_all_waits_for_fsync(node: Node) -> None:
    await create(node, "durable")
    await create(node, "cached", {"write.caching": "true"})
    for topic in ("durable", "cached"):
        assert (await produce(node, topic, client_batch([b"x"]), acks=-1)).error_code == 0
    assert partition(node, "durable").log.recovery_point == 1
    assert partition(node, "cached").log.recovery_point == 0


async def test_acks_min_all_makes_weaker_acks_wait_for_fsync(node: Node) -> None:
    await create(node, "plain")
    await create(node, "strong", {"acks.min": "all"})
    for acks in (1, 0):
        for topic in ("plain", "strong"):
            response = await produce(node, topic, client_batch([b"x"]), acks=acks)
            assert response is None if acks == 0 else response.error_code == 0
    assert partition(node, "plain").log.recovery_point == 0
    assert partition(node, "strong").log.recovery_point == 2


async def test_flush_messages(node: Node) -> None:
    await create(node, "every3", {"flush.messages": "3", "write.caching": "true"})
    points = []
    for _ in range(6):
        await produce(node, "every3", client_batch([b"x"]), acks=1)
        points.append(partition(node, "every3").log.recovery_point)
    assert points == [0, 0, 3, 3, 3, 6]


async def test_flush_ms(node: Node) -> None:
    await create(node, "timed", {"flush.ms": "0", "write.caching": "true"})
    await create(node, "plain", {"write.caching": "true"})
    for topic in ("timed", "plain"):
        await produce(node, topic, client_batch([b"x"]), acks=1)
        # What the node's housekeeping does on its timer.
        partition(node, topic).log.maybe_flush(now_ms())
    assert partition(node, "timed").log.recovery_point == 1
    assert partition(node, "plain").log.recovery_point == 0


async def test_broker_log_defaults_apply_to_topics(tmp_path: Path) -> None:
    node = await started_node(
        tmp_path,
        "log.segment.bytes=4096",
        "log.retention.bytes=8192",
        "log.retention.minutes=3",
        "log.roll.hours=2",
        "log.message.timestamp.type=LogAppendTime",
        "log.flush.interval.messages=2",
        "message.max.bytes=3000",
    )
    await create(node, "t")
    config = partition(node, "t").log.config
    assert (config.segment_bytes, config.retention_bytes) == (4096, 8192)
    assert (config.retention_ms, config.segment_ms) == (180_000, 7_200_000)
    assert (config.message_timestamp_type, config.flush_messages) == ("LogAppendTime", 2)
    assert config.max_message_bytes == 3000
    await set_configs(node, "t", retention_bytes="100")
    assert partition(node, "t").log.config.retention_bytes == 100
    await set_configs(node, "t", retention_bytes=None)
    assert partition(node, "t").log.config.retention_bytes == 8192


async def test_unclean_leader_election_enable_true_is_refused(node: Node) -> None:
    # Unclean election is not implemented: true would be a promise the broker does
    # not keep, so it is refused by name; false is stored.
    assert (await create(node, "t", {"unclean.leader.election.enable": "maybe"})).error_code == (
        ErrorCode.INVALID_CONFIG
    )
    refused = await create(node, "t", {"unclean.leader.election.enable": "true"})
    assert refused.error_code == ErrorCode.INVALID_CONFIG
    assert "unclean leader election is not implemented" in (refused.error_message or "")
    assert "t" not in node.image.topics
    assert (await create(node, "t", {"unclean.leader.election.enable": "false"})).error_code == 0
    assert node.image.topics["t"].configs == {"unclean.leader.election.enable": "false"}
