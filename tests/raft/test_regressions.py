"""Regression tests for bugs found by a review of the core (issue 12, item 10).

Each drives real :class:`RaftNode` cores through ``tests/raft/cluster.py``.
"""

from __future__ import annotations

from broker.raft.types import RaftConfig
from tests.raft.cluster import Cluster


def test_survivors_elect_a_leader_after_the_leader_dies_for_good() -> None:
    """3 voters, reliable delivery.  The followers' fetch deadlines are
    staggered: the first to time out asks for pre-votes, the other (still
    following) refuses and names the dead leader.  The Prospective must not
    go back to following that leader on a third party's word (Kafka's rule),
    or the two take turns for ever."""
    cluster = Cluster((1, 2, 3), RaftConfig())
    leader = cluster.run_until_leader(200)
    assert leader is not None
    for _ in range(30):
        cluster.round()
    dead = leader.node_id
    # Stagger the followers' fetch deadlines by 5 ticks, then kill the leader.
    first = min(i for i in cluster.hosts if i != dead)
    cluster.cut.add((dead, first))
    for _ in range(5):
        cluster.round()
    cluster.kill(dead)
    survivor = cluster.run_until_leader(2000)
    assert survivor is not None, [
        (h.node_id, h.core.role.value) for h in cluster.hosts.values() if h.core is not None
    ]
    assert survivor.node_id != dead
    assert survivor.epoch > leader.epoch
