"""Replicated data partitions: one Raft group per partition, in the node's driver.

Theory of operation
-------------------
A partition with more than one replica is a Raft group whose voters are its
replicas (the placement in the metadata image). When the partition's log is
opened on this node (broker/partitions.py), :meth:`PartitionGroups.attach`
adds the group to the node's one :class:`~broker.replication.driver.RaftDriver`
(the one that runs ``__cluster_metadata``): a
:class:`~broker.replication.batch_log.BatchRaftLog` over the partition's own
:class:`~broker.storage.log.PartitionLog` (a Raft entry is a Kafka batch), an
election store (``quorum-state`` in the partition directory) and the
data-partition config (``state_machine=False``: the core applies nothing and
reports the high watermark). The group is also entered in the peers' index,
so Raft requests naming the partition (by topic id or name) reach it, and
the Fetch handler serves replica fetches for it.

The driver batches what one node sends another per round into one wire
request per RPC kind, so every follower node sends one multi-partition Fetch
per leader node; the leader parks it while none of its partitions has
anything new (long poll), so idle partitions cost no per-partition traffic.

The group reports to its :class:`~broker.partitions.Partition`
(``raft_changed``) whenever the role, epoch, leader or high watermark moves:
the partition serves clients only while it is the Raft leader, its high
watermark is the group's, and waiters for acks=all are woken.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from broker.raft import RaftNode, Ready, Role
from broker.replication.batch_log import BatchRaftLog
from broker.replication.driver import CLUSTER_RAFT_CONFIG, Group, RaftDriver
from broker.replication.election_store import ElectionStore
from broker.replication.wire import GroupId

if TYPE_CHECKING:
    from broker.partitions import Partition

log = logging.getLogger(__name__)

DATA_RAFT_CONFIG = dataclasses.replace(CLUSTER_RAFT_CONFIG, state_machine=False)


def _no_commit(_rd: Ready) -> None:
    """A data partition has no state machine: nothing to apply."""


class PartitionGroups:
    def __init__(
        self,
        driver: RaftDriver,
        index: dict[Any, GroupId],
        clock: Callable[[], int],
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.driver = driver
        self.index = index
        self.clock = clock
        self.on_change = on_change

    def attach(self, part: Partition, voters: tuple[int, ...]) -> Group:
        group_id = GroupId(part.topic, part.topic_id, part.index, data=True)
        self.index.setdefault(part.topic, GroupId(part.topic, part.topic_id, 0, data=True))
        self.index.setdefault(part.topic_id, GroupId(part.topic, part.topic_id, 0, data=True))
        raft_log = BatchRaftLog(part.log, self.clock)
        group = self.driver.add_group(
            group_id,
            raft_log,
            ElectionStore(part.log.directory),
            sorted(voters),
            _no_commit,
            config=DATA_RAFT_CONFIG,
        )

        def changed() -> None:
            part.raft_changed()
            self.on_change()

        group.on_change = changed
        part.group = group
        core = group.node
        new = voters[0] == self.driver.node_id and raft_log.end_offset == 0
        if new and core.role is Role.UNATTACHED and core.may_campaign:
            # A new partition: its preferred (first) replica stands at once,
            # so leaders spread as the placement does.
            core.become_prospective()
        return group

    def detach(self, part: Partition) -> None:
        group = part.group
        if group is None:
            return
        self.driver.remove_group(group.group_id)
        part.group = None
        if not any(g.topic_id == part.topic_id for g in self.driver.groups):
            self.index.pop(part.topic, None)
            self.index.pop(part.topic_id, None)


def core_of(part: Partition) -> RaftNode | None:
    group = part.group
    return None if group is None else group.node
