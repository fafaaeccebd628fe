"""Group coordinators follow ``__consumer_offsets`` placement across brokers.

An in-process node (id 1) with a second broker (id 2) registered and
unfenced through the node's own BrokerRegistration/BrokerHeartbeat handlers
before ``__consumer_offsets`` is created, so its partitions are spread over
both. FindCoordinator names the leader of a group's partition; every group
API sent here for a group of broker 2 answers NOT_COORDINATOR.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import trio

from broker.errors import ErrorCode
from broker.group import partition_for
from broker.groups import OFFSETS_TOPIC
from broker.node import Node
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_registration_request import (
    BrokerRegistrationRequest,
    Listener,
)
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.find_coordinator_request import FindCoordinatorRequest
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest, JoinGroupRequestProtocol
from broker.wire.generated.leave_group_request import LeaveGroupRequest, MemberIdentity
from broker.wire.generated.offset_commit_request import (
    OffsetCommitRequest,
    OffsetCommitRequestPartition,
    OffsetCommitRequestTopic,
)
from broker.wire.generated.offset_delete_request import OffsetDeleteRequest
from broker.wire.generated.offset_fetch_request import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
)
from broker.wire.generated.sync_group_request import SyncGroupRequest
from tests.broker.helpers import call, make_node

NOT_COORDINATOR = ErrorCode.NOT_COORDINATOR


async def add_broker(node: Node, broker_id: int) -> int:
    registered = await call(
        node,
        62,
        4,
        BrokerRegistrationRequest(
            broker_id=broker_id,
            cluster_id=node.cluster_id,
            incarnation_id=uuid.uuid4(),
            listeners=[Listener("PLAINTEXT", "other-host", 9000 + broker_id, 0)],
            rack=None,
        ),
    )
    assert registered.error_code == 0
    beat = await call(
        node,
        63,
        1,
        BrokerHeartbeatRequest(
            broker_id=broker_id,
            broker_epoch=registered.broker_epoch,
            current_metadata_offset=node.image.offset,
        ),
    )
    assert (beat.error_code, beat.is_fenced) == (0, False)
    epoch: int = registered.broker_epoch
    return epoch


def group_led_by(node: Node, broker_id: int) -> str:
    topic = node.image.topics[OFFSETS_TOPIC]
    for i in range(1000):
        name = f"group-{i}"
        if topic.partitions[partition_for(name, len(topic.partitions))].leader == broker_id:
            return name
    raise AssertionError(f"no group led by {broker_id}")


async def test_group_requests_follow_the_offsets_partition_leader(tmp_path: Path) -> None:
    node = make_node(tmp_path, "offsets.topic.num.partitions=6")
    await node.register([("127.0.0.1", 9092)])
    epoch = await add_broker(node, 2)
    async with trio.open_nursery() as nursery:
        await nursery.start(node.groups.run)
        topic = node.image.topics[OFFSETS_TOPIC]
        leaders = sorted(p.leader for p in topic.partitions.values())
        assert leaders == [1, 1, 1, 2, 2, 2]
        # Only broker 1's partitions have a log (and a coordinator) here.
        hosted = sorted(i for (name, i) in node.replicas.partitions if name == OFFSETS_TOPIC)
        assert hosted == sorted(i for i, p in topic.partitions.items() if p.leader == 1)
        assert len(node.groups.tasks) == 3

        mine, theirs = group_led_by(node, 1), group_led_by(node, 2)
        found = await call(
            node, 10, 4, FindCoordinatorRequest(key_type=0, coordinator_keys=[mine, theirs])
        )
        assert [(c.key, c.node_id, c.host, c.port, c.error_code) for c in found.coordinators] == [
            (mine, 1, "127.0.0.1", 9092, 0),
            (theirs, 2, "other-host", 9002, 0),
        ]
        old = await call(node, 10, 1, FindCoordinatorRequest(key=theirs, key_type=0))
        assert (old.error_code, old.node_id, old.port) == (0, 2, 9002)

        join = JoinGroupRequest(
            group_id=theirs,
            session_timeout_ms=10_000,
            rebalance_timeout_ms=10_000,
            member_id="",
            protocol_type="consumer",
            protocols=[JoinGroupRequestProtocol("range", b"")],
        )
        assert (await call(node, 11, 5, join)).error_code == NOT_COORDINATOR
        join.group_id = mine
        assert (await call(node, 11, 5, join)).error_code == ErrorCode.MEMBER_ID_REQUIRED

        sync = SyncGroupRequest(group_id=theirs, generation_id=1, member_id="m")
        assert (await call(node, 14, 3, sync)).error_code == NOT_COORDINATOR
        beat = HeartbeatRequest(group_id=theirs, generation_id=1, member_id="m")
        assert (await call(node, 12, 3, beat)).error_code == NOT_COORDINATOR
        leave = LeaveGroupRequest(group_id=theirs, members=[MemberIdentity(member_id="m")])
        assert (await call(node, 13, 3, leave)).error_code == NOT_COORDINATOR
        commit = OffsetCommitRequest(
            group_id=theirs,
            generation_id_or_member_epoch=-1,
            member_id="",
            topics=[
                OffsetCommitRequestTopic(
                    name=OFFSETS_TOPIC,
                    partitions=[OffsetCommitRequestPartition(0, committed_offset=1)],
                )
            ],
        )
        committed = await call(node, 8, 8, commit)
        assert committed.topics[0].partitions[0].error_code == NOT_COORDINATOR
        fetched = await call(
            node, 9, 8, OffsetFetchRequest(groups=[OffsetFetchRequestGroup(theirs, topics=None)])
        )
        assert fetched.groups[0].error_code == NOT_COORDINATOR
        fetched_v5 = await call(node, 9, 5, OffsetFetchRequest(group_id=theirs, topics=None))
        assert fetched_v5.error_code == NOT_COORDINATOR
        described = await call(node, 15, 5, DescribeGroupsRequest(groups=[theirs, mine]))
        assert [g.error_code for g in described.groups] == [NOT_COORDINATOR, 0]
        deleted = await call(node, 42, 2, DeleteGroupsRequest(groups_names=[theirs]))
        assert deleted.results[0].error_code == NOT_COORDINATOR
        offset_delete = await call(node, 47, 0, OffsetDeleteRequest(group_id=theirs, topics=[]))
        assert offset_delete.error_code == NOT_COORDINATOR

        # Broker 2 fenced (it asks to be): its groups have no coordinator.
        fence = BrokerHeartbeatRequest(
            broker_id=2,
            broker_epoch=epoch,
            current_metadata_offset=node.image.offset,
            want_fence=True,
        )
        assert (await call(node, 63, 1, fence)).is_fenced is True
        gone = await call(
            node, 10, 4, FindCoordinatorRequest(key_type=0, coordinator_keys=[theirs])
        )
        assert gone.coordinators[0].error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
        nursery.cancel_scope.cancel()
    await node.shutdown()
