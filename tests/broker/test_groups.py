"""The group service shell: handlers -> coordinator tasks -> __consumer_offsets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from broker.clock import TrioClock
from broker.controller.controller import TopicSpec
from broker.errors import ErrorCode
from broker.node import Node
from broker.wire.generated.create_topics_request import CreatableTopic, CreateTopicsRequest
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from broker.wire.generated.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestTopic
from broker.wire.generated.sync_group_request import SyncGroupRequest, SyncGroupRequestAssignment
from tests.broker.helpers import call, make_node


def mock_clock_node(tmp_path: Path) -> Node:
    return make_node(
        tmp_path,
        "offsets.topic.num.partitions=3",
        "group.initial.rebalance.delay.ms=0",
        "group.min.session.timeout.ms=1000",
        clock=TrioClock(),
    )


def join(member_id: str = "", session_ms: int = 6000) -> JoinGroupRequest:
    return JoinGroupRequest(
        group_id="g",
        session_timeout_ms=session_ms,
        rebalance_timeout_ms=10_000,
        member_id=member_id,
        protocol_type="consumer",
        protocols=[JoinGroupRequestProtocol("range", b"\x00\x01")],
    )


async def join_and_sync(node: Node, session_ms: int = 6000) -> tuple[str, int]:
    first = await call(node, 11, 5, join(session_ms=session_ms))
    assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
    joined = await call(node, 11, 5, join(first.member_id, session_ms))
    assert joined.error_code == 0 and joined.leader == joined.member_id
    sync = SyncGroupRequest(
        group_id="g",
        generation_id=joined.generation_id,
        member_id=joined.member_id,
        assignments=[SyncGroupRequestAssignment(joined.member_id, b"plan")],
    )
    synced = await call(node, 14, 3, sync)
    assert synced.error_code == 0 and synced.assignment == b"plan"
    return joined.member_id, joined.generation_id


async def describe_state(node: Node) -> Any:
    return (await call(node, 15, 5, DescribeGroupsRequest(groups=["g"]))).groups[0]


async def test_join_sync_commit_fetch_and_restart(tmp_path: Path) -> None:
    node = mock_clock_node(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        await node.create_topics([TopicSpec("t", 2, 1, {}, {})])
        member, generation = await join_and_sync(node)
        assert (await describe_state(node)).group_state == "Stable"
        commit = OffsetCommitRequest(
            group_id="g",
            generation_id_or_member_epoch=generation,
            member_id=member,
            topics=[
                OffsetCommitRequestTopic(name="t", partitions=[OffsetCommitRequestPartition(0, 42)])
            ],
        )
        result = await call(node, 8, 8, commit)
        assert result.topics[0].partitions[0].error_code == 0
        nursery.cancel_scope.cancel()
    await node.shutdown()

    again = mock_clock_node(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(again.groups.run)
        fetched = await call(
            again,
            9,
            7,
            OffsetFetchRequest(
                group_id="g", topics=[OffsetFetchRequestTopic(name="t", partition_indexes=[0, 1])]
            ),
        )
        offsets = [(p.partition_index, p.committed_offset) for p in fetched.topics[0].partitions]
        assert offsets == [(0, 42), (1, -1)]
        nursery.cancel_scope.cancel()
    await again.shutdown()


async def test_session_timeout_expires_a_silent_member(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    node = mock_clock_node(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        member, generation = await join_and_sync(node, session_ms=2000)
        await trio.sleep(1.5)
        beat = await call(node, 12, 3, HeartbeatRequest("g", generation, member))
        assert beat.error_code == 0
        assert (await describe_state(node)).group_state == "Stable"
        await trio.sleep(2.5)  # no heartbeat: the coordinator's timer fires in the shell
        described = await describe_state(node)
        # Empty, or already Dead if the retention check removed the offset-less group
        assert described.group_state in ("Empty", "Dead") and described.members == []
        late = await call(node, 12, 3, HeartbeatRequest("g", generation, member))
        assert late.error_code == ErrorCode.UNKNOWN_MEMBER_ID
        nursery.cancel_scope.cancel()
    await node.shutdown()


def _junk_batches() -> list[bytes]:
    """Records a client could once produce to __consumer_offsets, and worse."""
    from broker.recordbatch import build_batch

    good_key = b"\x00\x01" + b"\x00\x01g" + b"\x00\x01t" + b"\x00\x00\x00\x00"  # OffsetKey v1
    batches = [
        build_batch([(b"\xff\xff\x00junk", b"value")], timestamp=1),  # unknown key version
        build_batch([(b"\x00", b"x")], timestamp=1),  # shorter than the version prefix
        build_batch([(good_key, b"\x00\x09junk")], timestamp=1),  # unknown value version
        build_batch([(good_key, b"\x00\x03")], timestamp=1),  # value truncated
    ]
    # A batch whose header says 3 records but holds 1 (valid CRC).
    from crc32c import crc32c

    bad = bytearray(build_batch([(good_key, b"\x00\x03")], timestamp=1))
    bad[23:27] = (2).to_bytes(4, "big")  # lastOffsetDelta
    bad[57:61] = (3).to_bytes(4, "big")  # recordsCount
    bad[17:21] = crc32c(bytes(bad[21:])).to_bytes(4, "big")
    batches.append(bytes(bad))
    return batches


async def test_junk_in_consumer_offsets_is_skipped_at_start_up(tmp_path: Path) -> None:
    """Item 7 of issue 11: junk in __consumer_offsets must not stop a restart."""
    from broker.controller.controller import TopicSpec
    from broker.groups import OFFSETS_TOPIC

    node = mock_clock_node(tmp_path)
    await node.create_topics([TopicSpec("t", 2, 1, {}, {})])
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        member, generation = await join_and_sync(node)
        commit = OffsetCommitRequest(
            group_id="g",
            generation_id_or_member_epoch=generation,
            member_id=member,
            topics=[
                OffsetCommitRequestTopic(name="t", partitions=[OffsetCommitRequestPartition(0, 42)])
            ],
        )
        assert (await call(node, 8, 8, commit)).topics[0].partitions[0].error_code == 0
        # Junk written straight into every partition's log, past the good records.
        for index in range(3):
            part = node.replicas.get(OFFSETS_TOPIC, index)
            assert part is not None
            for batch in _junk_batches():
                part.log.append(batch, part.leader_epoch, 1)
            part.advance_high_watermark()
        nursery.cancel_scope.cancel()
    await node.shutdown()

    again = mock_clock_node(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(again.groups.run)
        fetched = await call(
            again,
            9,
            7,
            OffsetFetchRequest(
                group_id="g", topics=[OffsetFetchRequestTopic(name="t", partition_indexes=[0])]
            ),
        )
        assert fetched.topics[0].partitions[0].committed_offset == 42
        # Groups work: a member joins a new group (on every partition's
        # coordinator in turn) and gets its assignment.
        for group_id in ("a", "b", "c", "d", "e"):
            request = join()
            request.group_id = group_id
            first = await call(again, 11, 5, request)
            assert first.error_code == ErrorCode.MEMBER_ID_REQUIRED
            request.member_id = first.member_id
            joined = await call(again, 11, 5, request)
            assert joined.error_code == 0 and joined.leader == first.member_id
        nursery.cancel_scope.cancel()
    await again.shutdown()


def commit_of(group_id: str, *topics: tuple[str, list[int]]) -> OffsetCommitRequest:
    return OffsetCommitRequest(
        group_id=group_id,
        generation_id_or_member_epoch=-1,
        topics=[
            OffsetCommitRequestTopic(
                name=name, partitions=[OffsetCommitRequestPartition(i, 10 + i) for i in indexes]
            )
            for name, indexes in topics
        ],
    )


def errors_of(response: Any) -> list[tuple[str, int, int]]:
    return [
        (t.name, p.partition_index, p.error_code) for t in response.topics for p in t.partitions
    ]


async def test_offset_commit_to_unknown_topics_and_partitions(tmp_path: Path) -> None:
    """As Kafka's KafkaApis: partitions the metadata does not have are answered
    UNKNOWN_TOPIC_OR_PARTITION, the rest are committed; a commit of nothing
    but unknown partitions does not reach the coordinator (no group appears)."""
    node = mock_clock_node(tmp_path)
    unknown = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        await node.create_topics([TopicSpec("t", 2, 1, {}, {})])
        for version in (2, 8, 9):
            only_unknown = await call(node, 8, version, commit_of("lonely", ("nope", [0, 1])))
            assert errors_of(only_unknown) == [("nope", 0, unknown), ("nope", 1, unknown)]
        described = (await call(node, 15, 5, DescribeGroupsRequest(groups=["lonely"]))).groups[0]
        assert described.group_state == "Dead"  # never created
        mixed = await call(
            node, 8, 8, commit_of("g", ("nope", [0]), ("t", [0, 5, 1]), ("__nope", [3]))
        )
        assert errors_of(mixed) == [
            ("nope", 0, unknown),
            ("t", 0, 0),
            ("t", 5, unknown),
            ("t", 1, 0),
            ("__nope", 3, unknown),
        ]
        fetched = await call(
            node,
            9,
            7,
            OffsetFetchRequest(
                group_id="g",
                topics=[
                    OffsetFetchRequestTopic(name="t", partition_indexes=[0, 1, 5]),
                    OffsetFetchRequestTopic(name="nope", partition_indexes=[0]),
                ],
            ),
        )
        offsets = [
            (t.name, p.partition_index, p.committed_offset)
            for t in fetched.topics
            for p in t.partitions
        ]
        assert offsets == [("t", 0, 10), ("t", 1, 11), ("t", 5, -1), ("nope", 0, -1)]
        nursery.cancel_scope.cancel()
    await node.shutdown()


async def test_commit_for_an_unknown_topic_is_refused(tmp_path: Path) -> None:
    """UNKNOWN_TOPIC_OR_PARTITION, as Kafka answers (compat/test_kafka_differential.py);
    the known partitions of the same request are committed."""
    node = mock_clock_node(tmp_path)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        await call(
            node, 19, 7, CreateTopicsRequest(topics=[CreatableTopic("t", 1, 1)], timeout_ms=1000)
        )
        commit = OffsetCommitRequest(
            group_id="g",
            generation_id_or_member_epoch=-1,
            member_id="",
            topics=[
                OffsetCommitRequestTopic(
                    name="t",
                    partitions=[
                        OffsetCommitRequestPartition(0, 5),
                        OffsetCommitRequestPartition(3, 5),
                    ],
                ),
                OffsetCommitRequestTopic(
                    name="nope", partitions=[OffsetCommitRequestPartition(0, 5)]
                ),
            ],
        )
        result = await call(node, 8, 8, commit)
        codes = sorted(
            (t.name, p.partition_index, p.error_code) for t in result.topics for p in t.partitions
        )
        assert codes == [
            ("nope", 0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
            ("t", 0, ErrorCode.NONE),
            ("t", 3, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION),
        ]
        fetched = await call(
            node,
            9,
            7,
            OffsetFetchRequest(
                group_id="g", topics=[OffsetFetchRequestTopic(name="t", partition_indexes=[0])]
            ),
        )
        assert fetched.topics[0].partitions[0].committed_offset == 5
        nursery.cancel_scope.cancel()
    await node.shutdown()
