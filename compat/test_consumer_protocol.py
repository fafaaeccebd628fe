"""KIP-848 consumers (``group.protocol=consumer``) against a broker that has only classic groups.

Until issue 11 item 14 the broker did not advertise ConsumerGroupHeartbeat
(key 68): the Java client and librdkafka then waited for an assignment that
never came, polling empty batches with nothing logged on either side. Now
the broker answers key 68 as Apache Kafka 4.1 does with
``group.coordinator.rebalance.protocols=classic``: advertised, and every
heartbeat answered UNSUPPORTED_VERSION, which both clients treat as fatal.
Each test polls for at most ``DEADLINE_S`` and expects that error, well
before it: a consumer that hangs fails its test with "no error".

The broker logs who tried to join (``consumer_group_heartbeat``).
"""

from __future__ import annotations

import time

import pytest

from compat.broker_process import BrokerProcess
from compat.kafka.java_client import JAVA, java_driver
from compat.suite import ClientError

__all__ = ["java_driver"]

DEADLINE_S = 20.0
LOGGED = "with the consumer group protocol"


def test_java_consumer_protocol_fails_fast(broker: BrokerProcess, topic: str) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 1)
    start = broker.log_position()
    handle = JAVA.consumer(
        broker.bootstrap, **{"group.id": f"{topic}-g", "group.protocol": "consumer"}
    )
    try:
        JAVA.call("consumer.subscribe", id=handle, topics=[topic])
        began = time.monotonic()
        error: ClientError | None = None
        while error is None and time.monotonic() - began < DEADLINE_S:
            try:
                JAVA.poll(handle, 500)
            except ClientError as exc:
                error = exc
        assert error is not None, f"no error after {DEADLINE_S:.0f} s of polling"
        print(f"java consumer failed after {time.monotonic() - began:.1f} s: {error}")
        assert error.error == "UNSUPPORTED_VERSION", error
        assert "does not support the new CONSUMER group protocol" in error.detail, error
    finally:
        JAVA.call("consumer.close", id=handle)
    assert LOGGED in broker.output_since(start)


def test_librdkafka_consumer_protocol_fails_fast(broker: BrokerProcess, topic: str) -> None:
    confluent_kafka = pytest.importorskip("confluent_kafka")
    JAVA.create_topic(broker.bootstrap, topic, 1)
    start = broker.log_position()
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": broker.bootstrap,
            "group.id": f"{topic}-g",
            "group.protocol": "consumer",
        }
    )
    try:
        consumer.subscribe([topic])
        began = time.monotonic()
        error = None
        while error is None and time.monotonic() - began < DEADLINE_S:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is not None:
                error = msg.error()
        assert error is not None, f"no error after {DEADLINE_S:.0f} s of polling"
        print(f"librdkafka consumer failed after {time.monotonic() - began:.1f} s: {error.str()}")
        # librdkafka raises its own _FATAL error naming the API and Kafka's error.
        assert error.code() == confluent_kafka.KafkaError._FATAL, error
        assert "ConsumerGroupHeartbeat fatal error" in error.str(), error
        assert "API version not supported" in error.str(), error
    finally:
        consumer.close()
    assert LOGGED in broker.output_since(start)
