"""RaftMetadataQuorum on three nodes (MockClock, in-memory streams): the
MetadataQuorum contract on Raft, and forwarding's one-operation-at-a-time."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from broker.controller.image import MetadataImage
from broker.controller.quorum import NotControllerError
from broker.replication import forward
from broker.replication.metadata_quorum import RaftMetadataQuorum, decode_entry, encode_entry
from broker.wire.generated.topic_record import TopicRecord
from tests.replication.harness import Network, run


def quorum(net: Network, node_id: int) -> RaftMetadataQuorum:
    found = net.nodes[node_id].quorum
    assert found is not None
    return found


async def active(net: Network) -> RaftMetadataQuorum:
    while True:
        for node in net.nodes.values():
            if node.quorum is not None and node.quorum.is_active_controller:
                return node.quorum
        await trio.sleep(0.05)


def topic(name: str) -> TopicRecord:
    return TopicRecord(name=name, topic_id=uuid.uuid4())


def test_entry_payload_round_trips() -> None:
    records = [topic("a"), topic("b")]
    assert decode_entry(encode_entry(records)) == records


def test_append_commits_and_replays_on_every_node(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await active(net)
        image = await leader.append([topic("orders")])
        assert "orders" in image.topics
        for node_id in net.ids:
            q = quorum(net, node_id)
            while "orders" not in q.image.topics:
                await trio.sleep(0.05)
            assert q.image.topics["orders"].topic_id == image.topics["orders"].topic_id
            assert q.leader_id == leader.node_id
        follower = next(quorum(net, i) for i in net.ids if i != leader.node_id)
        with pytest.raises(NotControllerError) as caught:
            await follower.append([topic("refused")])
        assert caught.value.leader_id == leader.node_id

    run(body, tmp_path, quorums=True)


def test_applied_offset_moves_only_after_the_listeners_ran(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await active(net)
        follower = next(quorum(net, i) for i in net.ids if i != leader.node_id)
        seen: list[str] = []

        async def slow_listener(_old: MetadataImage, new: MetadataImage) -> None:
            await trio.sleep(2)  # opening partitions in worker threads
            seen.extend(sorted(set(new.topics) - set(seen)))

        follower.listeners.append(slow_listener)
        await leader.append([topic("slow")])
        target = leader.applied_offset
        while follower.applied_offset < target:
            await trio.sleep(0.01)
        # What waits for the offset (forwarding's catch-up) finds the work done.
        assert "slow" in seen

    run(body, tmp_path, quorums=True)


def test_concurrent_operations_on_the_controller_are_serialized(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await active(net)
        decided: list[bool] = []

        async def create_if_absent() -> Any:
            # Decided on the image, then appended: a controller operation.
            absent = "once" not in leader.image.topics
            decided.append(absent)
            if absent:
                await leader.append([topic("once")])
            return absent

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(forward.to_controller, leader, 19, 7, None, create_if_absent)
        assert decided == [True, False, False]
        assert len(leader.image.topic_ids) == 1

    run(body, tmp_path, quorums=True)


def test_append_on_a_leader_cut_off_fails_once_it_stops_leading(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await active(net)
        others = set(net.ids) - {leader.node_id}
        net.partition({leader.node_id}, others)
        with pytest.raises(NotControllerError):
            await leader.append([topic("lost")])
        assert not leader.is_active_controller  # it waited until deposed
        net.heal()
        new = await active(net)
        while "lost" in new.image.topics or leader.applied_offset < new.applied_offset:
            await trio.sleep(0.05)
        assert "lost" not in leader.image.topics  # truncated, never replayed

    run(body, tmp_path, quorums=True)
