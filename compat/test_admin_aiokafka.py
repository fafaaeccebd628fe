"""aiokafka's AIOKafkaAdminClient against a real broker process.

aiokafka speaks the older, non-flexible versions (CreateTopics v3,
DescribeConfigs v2, AlterConfigs v1, CreatePartitions v1, DeleteRecords v0/1)
and describes the cluster through Metadata. Topics with configs are created,
described with synonyms, altered (AlterConfigs replaces the whole set),
rejected when invalid and deleted; partitions are added and records deleted;
``compression.type`` recompression is checked on disk and by reading the
records back with AIOKafkaConsumer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from compat.broker_process import BrokerProcess
from tests.admin.helpers import stored_codecs

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
TIMEOUT_S = 20.0
T = TypeVar("T")

INVALID_CONFIG = 40
INVALID_PARTITIONS = 37
TOPIC_ALREADY_EXISTS = 36
DYNAMIC_TOPIC_CONFIG = 1


def run(broker: BrokerProcess, body: Callable[[AIOKafkaAdminClient], Awaitable[T]]) -> T:
    """Run ``body`` with a started admin client, on a fresh event loop, bounded."""

    async def main() -> T:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000)
        await admin.start()
        try:
            return await asyncio.wait_for(body(admin), TIMEOUT_S)
        finally:
            await admin.close()

    return asyncio.run(main())


async def configs_of(admin: AIOKafkaAdminClient, topic: str) -> dict[str, tuple[Any, ...]]:
    """``{name: (value, read_only, source, sensitive, synonyms)}`` from DescribeConfigs."""
    [response] = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True
    )
    [resource] = response.resources
    assert resource[0] == 0, resource[1]
    return {entry[0]: tuple(entry[1:]) for entry in resource[4]}


async def alter(
    admin: AIOKafkaAdminClient, topic: str, configs: dict[str, str]
) -> tuple[int, str | None]:
    responses = await admin.alter_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, configs)]
    )
    [(error_code, message, _type, _name)] = [r for resp in responses for r in resp.resources]
    return error_code, message


async def produce(
    bootstrap: str, topic: str, values: list[bytes], partition: int = 0, **kw: Any
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **kw)
    await producer.start()
    try:
        for value in values:
            await producer.send(topic, value, partition=partition)
        await producer.flush()
    finally:
        await producer.stop()


async def consume(
    bootstrap: str, topic: str, partition: int, count: int
) -> list[tuple[int, bytes]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        out: list[tuple[int, bytes]] = []
        while len(out) < count:
            batch = await consumer.getmany(tp, timeout_ms=500)
            out += [(r.offset, r.value) for r in batch.get(tp, [])]
        return out
    finally:
        await consumer.stop()


def test_topic_configs_lifecycle(broker: BrokerProcess, topic: str) -> None:
    async def body(admin: AIOKafkaAdminClient) -> None:
        created = await admin.create_topics(
            [NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})]
        )
        assert [e[1] for e in created.topic_errors] == [0]
        again = await admin.create_topics([NewTopic(topic, 2, 1)])
        assert [e[1] for e in again.topic_errors] == [TOPIC_ALREADY_EXISTS]
        bad = await admin.create_topics(
            [NewTopic(topic + ".c", 1, 1, topic_configs={"cleanup.policy": "compact"})]
        )
        [(_name, code, message)] = bad.topic_errors
        assert code == INVALID_CONFIG and "cleanup.policy" in message

        configs = await configs_of(admin, topic)
        value, read_only, source, _sensitive, synonyms = configs["retention.ms"]
        assert (value, read_only, source) == ("3600000", False, DYNAMIC_TOPIC_CONFIG)
        assert [s[0] for s in synonyms] == ["retention.ms", "log.retention.hours"]

        assert await alter(admin, topic, {"retention.bytes": "1048576"}) == (0, None)
        configs = await configs_of(admin, topic)
        assert configs["retention.bytes"][0] == "1048576"
        assert configs["retention.ms"][2] != DYNAMIC_TOPIC_CONFIG  # replaced, back to default
        code, message = await alter(admin, topic, {"min.insync.replicas": "0"})
        assert code == INVALID_CONFIG and "min.insync.replicas" in (message or "")

        deleted = await admin.delete_topics([topic])
        assert [e[1] for e in deleted.topic_error_codes] == [0]
        assert topic not in await admin.list_topics()

    run(broker, body)


def test_create_partitions_delete_records_cluster(broker: BrokerProcess, topic: str) -> None:
    async def body(admin: AIOKafkaAdminClient) -> None:
        await admin.create_topics([NewTopic(topic, 1, 1)])
        await admin.create_partitions({topic: NewPartitions(3)})
        with pytest.raises(KafkaError):
            await admin.create_partitions({topic: NewPartitions(2)})
        [described] = await admin.describe_topics([topic])
        assert len(described["partitions"]) == 3
        await produce(broker.bootstrap, topic, [b"v%d" % i for i in range(5)], partition=2)
        low = await admin.delete_records({TopicPartition(topic, 2): RecordsToDelete(3)})
        assert low == {TopicPartition(topic, 2): 3}
        assert await consume(broker.bootstrap, topic, 2, 2) == [(3, b"v3"), (4, b"v4")]
        cluster = await admin.describe_cluster()
        assert [(b["node_id"], b["port"]) for b in cluster["brokers"]] == [(1, broker.port)]
        assert cluster["controller_id"] == 1

    run(broker, body)


@pytest.mark.parametrize("target", sorted(CODECS))
def test_compression_type_recompresses(broker: BrokerProcess, topic: str, target: str) -> None:
    values = [b"record %d " % i * 20 for i in range(40)]

    async def body(admin: AIOKafkaAdminClient) -> list[tuple[int, bytes]]:
        await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"compression.type": target})]
        )
        await produce(broker.bootstrap, topic, values, linger_ms=50)
        return await consume(broker.bootstrap, topic, 0, len(values))

    read = run(broker, body)
    codecs = stored_codecs(broker.data_dir, topic)
    assert codecs and set(codecs) == {CODECS[target]}
    assert [v for _o, v in read] == values
