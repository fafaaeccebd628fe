"""The Raft driver: three nodes in one trio.run under MockClock, in-memory streams."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from broker.raft import Role
from tests.replication.harness import Network, run


def test_three_nodes_elect_one_leader_that_all_follow(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await net.wait_for_leader()
        await trio.sleep(2)
        assert net.leaders() == [leader]
        for node in net.nodes.values():
            assert node.raft.epoch == leader.raft.epoch
            if node is not leader:
                assert node.raft.role is Role.FOLLOWER
                assert node.raft.leader_id == leader.node_id

    run(body, tmp_path)


def test_a_proposal_commits_on_every_node(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        offsets = [(await net.propose(b"record-%d" % i))[0] for i in range(5)]
        await net.wait_applied(offsets[-1], {1, 2, 3})
        for node_id in net.ids:
            assert net.user_entries(node_id) == [b"record-%d" % i for i in range(5)]

    run(body, tmp_path)


def test_leader_killed_a_new_one_is_elected_and_the_old_catches_up(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        first, _ = await net.propose(b"before")
        await net.wait_applied(first, {1, 2, 3})
        old = await net.wait_for_leader()
        net.kill(old.node_id)
        survivors = set(net.ids) - {old.node_id}
        new = await net.wait_for_leader(survivors)
        assert new.raft.epoch > old.raft.epoch if old.alive else True
        offset, _ = await net.propose(b"after")
        await net.wait_applied(offset, survivors)
        await net.start(old.node_id)
        await net.wait_applied(offset, set(net.ids))
        assert net.user_entries(old.node_id) == [b"before", b"after"]
        assert net.nodes[old.node_id].raft.role is Role.FOLLOWER

    run(body, tmp_path)


def test_an_isolated_leader_is_replaced_and_rejoins_after_heal(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        old = await net.wait_for_leader()
        rest = set(net.ids) - {old.node_id}
        net.partition({old.node_id}, rest)
        new = await net.wait_for_leader(rest)
        offset, _ = await net.propose(b"majority")
        await net.wait_applied(offset, rest)
        # check-quorum: the cut-off leader steps down on its own
        while old.raft.role is Role.LEADER:
            await trio.sleep(0.05)
        net.heal()
        await net.wait_applied(offset, set(net.ids))
        assert net.user_entries(old.node_id) == [b"majority"]
        assert net.leaders() == [new]

    run(body, tmp_path, seed=3)


def test_idle_cluster_long_polls_instead_of_spinning(tmp_path: Path) -> None:
    async def body(net: Network) -> None:
        leader = await net.wait_for_leader()
        await trio.sleep(1)
        assert leader.driver is not None
        before = leader.driver.rounds
        await trio.sleep(10)
        rounds = leader.driver.rounds - before
        # Parked fetches (one per follower per 200 ms long poll, answered
        # together): about 40 rounds in 10 s here. Answering empty fetches at
        # once (each follower fetching again after one 50 ms tick): about 200.
        assert rounds < 100, rounds

    run(body, tmp_path)
