"""One produce-then-consume round trip per client, with the client's security settings."""

from __future__ import annotations

import time
import uuid
from typing import Any

import confluent_kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from compat.kafka.java_client import JAVA


def round_trip_kafka_python(bootstrap: str, config: dict[str, Any]) -> None:
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
    try:
        meta = producer.send(topic, b"secured", partition=0).get(timeout=15)
    finally:
        producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, **config)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        got: list[bytes] = []
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            for records in consumer.poll(500).values():
                got += [r.value for r in records]
        assert got == [b"secured"]
    finally:
        consumer.close()


def round_trip_confluent(bootstrap: str, config: dict[str, Any]) -> None:
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    errors: list[Any] = []
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "error_cb": errors.append, **config}
    )
    delivered: list[Any] = []
    producer.produce(topic, b"secured", partition=0, on_delivery=lambda e, m: delivered.append(e))
    assert producer.flush(15) == 0
    assert delivered == [None], errors
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            **config,
        }
    )
    try:
        consumer.assign([confluent_kafka.TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 15
        message = None
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error():
                message = None
        assert message is not None and message.value() == b"secured"
    finally:
        consumer.close()


def round_trip_java(bootstrap: str, config: dict[str, str]) -> None:
    topic = f"sec-{uuid.uuid4().hex[:8]}"
    producer = JAVA.producer(bootstrap, **config)
    try:
        offsets = JAVA.call(
            "producer.send",
            id=producer,
            topic=topic,
            records=[{"partition": 0, "key": None, "value": "c2VjdXJlZA==", "headers": []}],
        )
    finally:
        JAVA.call("producer.close", id=producer)
    consumer = JAVA.consumer(bootstrap, **config)
    try:
        JAVA.call("consumer.assign", id=consumer, topic=topic, partitions=[0], seek={"0": 0})
        got: list[Any] = []
        deadline = time.monotonic() + 15
        while not got and time.monotonic() < deadline:
            got = JAVA.poll(consumer)
        assert offsets == [0]
        assert [r.value for r in got] == [b"secured"]
    finally:
        JAVA.call("consumer.close", id=consumer)


def round_trip_aiokafka(bootstrap: str, config: dict[str, Any]) -> None:
    """aiokafka: ``config`` as its keyword arguments (``ssl_context`` for TLS)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.structs import TopicPartition as AioPartition

    topic = f"sec-{uuid.uuid4().hex[:8]}"

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **config)
        await producer.start()
        try:
            meta = await producer.send_and_wait(topic, b"secured", partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, **config)
        await consumer.start()
        try:
            tp = AioPartition(topic, 0)
            consumer.assign([tp])
            consumer.seek(tp, meta.offset)
            got: list[bytes] = []
            deadline = time.monotonic() + 15
            while not got and time.monotonic() < deadline:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got += [r.value for r in records if r.value is not None]
            return got
        finally:
            await consumer.stop()

    async def bounded() -> list[bytes]:
        async with asyncio.timeout(40):
            return await run()

    assert asyncio.run(bounded()) == [b"secured"]
