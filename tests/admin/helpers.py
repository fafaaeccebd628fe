"""Shared steps of the admin tests: an in-process node, topics with configs, produce, fetch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kafka.record.memory_records import MemoryRecords

from broker.node import Node
from broker.partitions import Partition
from broker.storage.batch import split_batches
from broker.wire.generated.create_topics_request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from broker.wire.generated.incremental_alter_configs_request import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from tests.broker.helpers import call, make_node

TOPIC = 2


async def started_node(tmp_path: Path, *overrides: str) -> Node:
    node = make_node(tmp_path, *overrides)
    await node.register([("127.0.0.1", 9092)])
    return node


async def create(
    node: Node, name: str, configs: dict[str, str] | None = None, partitions: int = 1
) -> Any:
    """CreateTopics v7; the topic's result."""
    topic = CreatableTopic(
        name,
        partitions,
        1,
        configs=[CreatableTopicConfig(k, v) for k, v in (configs or {}).items()],
    )
    response = await call(node, 19, 7, CreateTopicsRequest(topics=[topic], timeout_ms=1000))
    return response.topics[0]


async def set_configs(node: Node, name: str, **configs: str | None) -> Any:
    """IncrementalAlterConfigs v1 SET (or DELETE for None); the resource's result."""
    changes = [
        AlterableConfig(key.replace("_", "."), 0 if value is not None else 1, value)
        for key, value in configs.items()
    ]
    body = IncrementalAlterConfigsRequest(resources=[AlterConfigsResource(TOPIC, name, changes)])
    response = await call(node, 44, 1, body)
    return response.responses[0]


async def produce(
    node: Node, topic: str, batch: bytes, *, acks: int = -1, partition: int = 0, version: int = 9
) -> Any:
    """Produce one batch; the partition's result (None for acks=0)."""
    body = ProduceRequest(
        None,
        acks,
        5000,
        [TopicProduceData(topic, partition_data=[PartitionProduceData(partition, batch)])],
    )
    response = await call(node, 0, version, body)
    return None if response is None else response.responses[0].partition_responses[0]


async def fetch(node: Node, topic: str, offset: int = 0, partition: int = 0) -> Any:
    body = FetchRequest(
        max_wait_ms=0,
        min_bytes=0,
        topics=[
            FetchTopic(
                topic,
                partitions=[
                    FetchPartition(partition, fetch_offset=offset, partition_max_bytes=1 << 24)
                ],
            )
        ],
    )
    response = await call(node, 1, 12, body)
    return response.responses[0].partitions[0]


def values(records: Any) -> list[bytes | None]:
    """Every record value in a records blob, decoded by kafka-python."""
    out: list[bytes | None] = []
    mr = MemoryRecords(bytes(records))
    while (batch := mr.next_batch()) is not None:
        out += [r.value for r in batch]
    return out


def codecs(records: Any) -> list[int]:
    """The compression codec (attributes bits 0-2) of each stored batch."""
    return [h.compression for _pos, h in split_batches(memoryview(bytes(records)))]


def partition(node: Node, topic: str, index: int = 0) -> Partition:
    part = node.replicas.get(topic, index)
    assert part is not None
    return part


def stored_codecs(data_dir: Path, topic: str, index: int = 0) -> list[int]:
    """The codec of every data batch in a partition's segment files, read from disk."""
    out: list[int] = []
    for path in sorted((data_dir / f"{topic}-{index}").glob("*.log")):
        batches = split_batches(memoryview(path.read_bytes()))
        out += [h.compression for _pos, h in batches if not h.is_control]
    return out
