"""A failed Produce partition answers as Kafka 4.1 does: log start offset and
record errors (compat/test_kafka_differential.py::test_produce compares them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.record.default_records import DefaultRecordBatchBuilder

from broker.errors import ErrorCode
from broker.node import Node
from broker.wire.generated.create_topics_request import CreatableTopic, CreateTopicsRequest
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from tests.broker.helpers import call, client_batch, make_node

HOUR_MS = 3_600_000


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    n = make_node(tmp_path, "num.partitions=1")
    await n.register([("127.0.0.1", 9092)])
    response = await call(
        n, 19, 7, CreateTopicsRequest(topics=[CreatableTopic("t", 1, 1)], timeout_ms=1000)
    )
    assert response.topics[0].error_code == 0
    return n


async def produce(node: Node, batch: bytes) -> Any:
    body = ProduceRequest(
        None, -1, 5000, [TopicProduceData("t", partition_data=[PartitionProduceData(0, batch)])]
    )
    return (await call(node, 0, 9, body)).responses[0].partition_responses[0]


def batch_at(*timestamps: int) -> bytes:
    builder = DefaultRecordBatchBuilder(2, 0, False, -1, -1, -1, 1 << 20)
    for i, ts in enumerate(timestamps):
        builder.append(i, ts, None, b"v%d" % i, [])
    return bytes(builder.build())


async def test_invalid_timestamp_lists_the_records_at_fault(node: Node) -> None:
    now = node.clock.now_ms()
    got = await produce(node, batch_at(now, now + 10 * HOUR_MS, now, now + 20 * HOUR_MS))
    assert got.error_code == ErrorCode.INVALID_TIMESTAMP
    assert (got.base_offset, got.log_start_offset) == (-1, 0)
    assert [e.batch_index for e in got.record_errors] == [1, 3]
    assert got.record_errors[0].batch_index_error_message.startswith(
        f"Timestamp {now + 10 * HOUR_MS} of message with offset 1 is out of range."
    )


async def test_failures_carry_the_log_start_offset_unless_never_appended(node: Node) -> None:
    assert (await produce(node, client_batch([b"a"]))).error_code == 0
    sequence_gap = client_batch([b"x"], producer_id=7, producer_epoch=0, base_sequence=0)
    assert (await produce(node, sequence_gap)).error_code == 0
    gap = await produce(
        node, client_batch([b"y"], producer_id=7, producer_epoch=0, base_sequence=5)
    )
    assert gap.error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert (gap.log_start_offset, gap.record_errors) == (0, [])
    corrupt = bytearray(client_batch([b"z"]))
    corrupt[-1] ^= 0xFF
    bad_crc = await produce(node, bytes(corrupt))
    assert bad_crc.error_code == ErrorCode.CORRUPT_MESSAGE
    assert bad_crc.log_start_offset == -1
