"""Regression tests for bugs found by a review of the core (issue 12, item 10).

Each drives real :class:`RaftNode` cores through ``tests/raft/cluster.py``.
"""

from __future__ import annotations

from broker.raft.messages import Envelope, VoteResponse
from broker.raft.types import RaftConfig, Role
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


def _time_out(cluster: Cluster, node_id: int) -> None:
    core = cluster.core(node_id)
    core.now = max(core.now, core.deadline - 1)
    core.tick()
    cluster.drain(node_id)


def _take(cluster: Cluster, source: int, destination: int) -> list[Envelope]:
    taken = [e for e in cluster.net if e.source == source and e.destination == destination]
    cluster.net = [e for e in cluster.net if e not in taken]
    return taken


def test_a_step_between_ready_and_advance_waits_for_the_next_ready() -> None:
    """ready() takes ownership: a vote granted by a step while the host
    persists the previous Ready is not in that Ready's messages, and
    advance() does not mark it persisted."""
    cluster = Cluster((1, 2, 3), RaftConfig(pre_vote=False))
    _time_out(cluster, 1)
    (request,) = _take(cluster, 1, 3)
    rd = cluster.hold(3)
    assert rd.election_state is None
    cluster.core(3).step(request)
    assert rd.messages == []
    assert rd.election_state is None
    cluster.core(3).advance(rd)
    core = cluster.core(3)
    assert core.has_ready()
    nxt = core.ready()
    assert nxt.election_state is not None and nxt.election_state.voted_for == 1
    (response,) = nxt.messages
    assert isinstance(response.message, VoteResponse) and response.message.vote_granted
    core.advance()  # the no-argument form acknowledges the outstanding Ready
    assert not core.has_ready()


def test_a_host_stepping_during_its_fsync_cannot_elect_two_leaders() -> None:
    """The driver keeps stepping while an fsync runs.  Before the fix the
    vote left in the open Ready's (live) message list without being
    persisted; a crash then let node 3 vote a second leader into epoch 1."""
    cluster = Cluster((1, 2, 3), RaftConfig(pre_vote=False))
    cluster.cut |= {(1, 2), (2, 1)}
    _time_out(cluster, 1)
    (request,) = _take(cluster, 1, 3)
    rd = cluster.hold(3)
    cluster.deliver(request)  # stepped while the Ready is open
    cluster.handle(3, rd)  # persist, flush and send what the Ready holds
    cluster.core(3).advance(rd)
    for env in _take(cluster, 3, 1):
        cluster.deliver(env)
    cluster.kill(3)  # before the host took the next Ready
    cluster.start(3)
    _time_out(cluster, 2)
    for env in _take(cluster, 2, 3):
        cluster.deliver(env)
    for env in _take(cluster, 3, 2):
        cluster.deliver(env)  # Cluster.check asserts one leader per epoch
    leaders = {h.node_id for h in cluster.hosts.values() if h.core and h.core.role is Role.LEADER}
    assert len(leaders) <= 1
