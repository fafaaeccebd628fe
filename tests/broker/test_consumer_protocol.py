"""KIP-848 APIs answered as Kafka 4.1 answers them with only the classic protocol enabled.

Captured from a real Kafka 4.1.2 with ``group.coordinator.rebalance.protocols=classic``:
ApiVersions lists ConsumerGroupHeartbeat (68) and ConsumerGroupDescribe (69)
at 0-1, a heartbeat gets UNSUPPORTED_VERSION, and a describe gets
UNSUPPORTED_VERSION for each group asked for. compat/test_consumer_protocol.py
runs the real clients.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from broker.errors import ErrorCode
from broker.node import Node
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.consumer_group_describe_request import ConsumerGroupDescribeRequest
from broker.wire.generated.consumer_group_heartbeat_request import (
    ConsumerGroupHeartbeatRequest,
    TopicPartitions,
)
from tests.broker.helpers import call, make_node


@pytest.fixture
async def node(tmp_path: Path) -> Node:
    n = make_node(tmp_path)
    await n.register([("127.0.0.1", 9092)])
    return n


async def test_api_versions_advertises_the_consumer_protocol_apis(node: Node) -> None:
    response = await call(node, 18, 3, ApiVersionsRequest("t", "1"))
    advertised = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
    assert advertised[68] == (0, 1)
    assert advertised[69] == (0, 1)


@pytest.mark.parametrize("version", [0, 1])
async def test_heartbeat_is_unsupported_version(node: Node, version: int) -> None:
    body = ConsumerGroupHeartbeatRequest(
        group_id="g",
        member_id=str(uuid.uuid4()),
        member_epoch=0,
        rebalance_timeout_ms=30_000,
        subscribed_topic_names=["t"],
        subscribed_topic_regex="t.*" if version else None,
        topic_partitions=[TopicPartitions(uuid.uuid4(), [0, 1])],
    )
    response = await call(node, 68, version, body)
    assert response.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert "group.protocol=classic" in response.error_message
    assert response.assignment is None


@pytest.mark.parametrize("version", [0, 1])
async def test_describe_is_unsupported_version_per_group(node: Node, version: int) -> None:
    response = await call(node, 69, version, ConsumerGroupDescribeRequest(["a", "b"]))
    assert [(g.group_id, g.error_code) for g in response.groups] == [
        ("a", ErrorCode.UNSUPPORTED_VERSION),
        ("b", ErrorCode.UNSUPPORTED_VERSION),
    ]
