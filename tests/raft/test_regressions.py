"""Regression tests for bugs found by a review of the core (issue 12, item 10).

Each drives real :class:`RaftNode` cores through ``tests/raft/cluster.py``.
"""

from __future__ import annotations

import pytest

from broker.raft.log import MemoryLog
from broker.raft.messages import (
    NO_LEADER,
    NOT_LEADER_OR_FOLLOWER,
    UNKNOWN_LEADER_EPOCH,
    Envelope,
    FetchRequest,
    FetchResponse,
    LeaderIdAndEpoch,
    VoteRequest,
    VoteResponse,
)
from broker.raft.node import RaftNode
from broker.raft.types import ElectionState, RaftConfig, Role
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


def _settled(cluster: Cluster) -> RaftNode:
    leader = cluster.run_until_leader(300)
    assert leader is not None
    for _ in range(20):
        cluster.round()
    assert cluster.leader() is leader
    return leader


def test_a_pre_vote_changes_nothing_on_the_receiver() -> None:
    """KIP-996: a PreVote asks; it does not move the receiver to the
    candidate's epoch (which detached followers and deposed leaders)."""
    cluster = Cluster((1, 2, 3), RaftConfig())
    leader = _settled(cluster)
    epoch = leader.epoch
    for voter in (1, 2, 3):
        core = cluster.core(voter)
        role = core.role
        core.step(Envelope(9, voter, 77, VoteRequest(epoch + 5, 9, voter, epoch, 1000, True)))
        assert (core.epoch, core.role) == (epoch, role)
        assert core.messages[-1].message == VoteResponse(
            0, leader.node_id, epoch, vote_granted=False
        )
        cluster.drain(voter)
    assert cluster.leader() is leader


def test_observers_do_not_vote() -> None:
    """A candidate whose log is not ahead of an observer's has the same voter
    set, without the observer: the observer refuses and keeps its epoch.
    (One whose log is ahead may hold the record that added the observer.)"""
    cluster = Cluster((1, 2, 3), RaftConfig(), observers=(4,))
    leader = _settled(cluster)
    observer = cluster.core(4)
    assert observer.role is Role.FOLLOWER
    epoch = observer.epoch
    log = observer.log
    for pre_vote in (True, False):
        request = VoteRequest(epoch + 1, 2, 4, log.last_epoch, log.end_offset, pre_vote)
        observer.step(Envelope(2, 4, 78, request))
        reply = observer.messages[-1].message
        assert isinstance(reply, VoteResponse) and not reply.vote_granted
        assert observer.epoch == epoch
        cluster.drain(4)
    assert cluster.leader() is leader


def test_an_observer_told_of_a_later_epoch_does_not_depose_a_healthy_leader() -> None:
    """A voter left in a later epoch by a lost candidacy answers an
    observer's (discovery) fetch with that epoch and no leader.  The
    observer must not take the epoch, and the leader must not step down
    when an observer fetches in a later epoch."""
    cluster = Cluster((1, 2, 3), RaftConfig(), observers=(4,))
    leader = _settled(cluster)
    epoch = leader.epoch
    observer = cluster.core(4)
    inflight = observer.fetch_inflight
    if inflight is None:
        observer.tick()
        inflight = observer.fetch_inflight
    assert inflight is not None
    later = LeaderIdAndEpoch(NO_LEADER, epoch + 3)
    observer.step(Envelope(1, 4, inflight, FetchResponse(NOT_LEADER_OR_FOLLOWER, -1, -1, later)))
    cluster.drain(4)
    for _ in range(100):
        cluster.round()
    assert (leader.role, leader.epoch) == (Role.LEADER, epoch)
    assert observer.high_watermark == leader.high_watermark
    # And a fetch in a later epoch from an observer gets UNKNOWN_LEADER_EPOCH.
    fetch = FetchRequest(4, -1, epoch + 3, observer.log.end_offset, observer.log.last_epoch, 0, 16)
    leader.step(Envelope(4, leader.node_id, 999, fetch))
    assert (leader.role, leader.epoch) == (Role.LEADER, epoch)
    reply = leader.messages[-1].message
    assert isinstance(reply, FetchResponse) and reply.error_code == UNKNOWN_LEADER_EPOCH


def test_a_voter_left_in_a_later_epoch_rejoins() -> None:
    """A voter stuck in a later epoch (a lost candidacy nobody heard of)
    cannot win pre-votes while the others follow the leader; the leader's
    repeated BeginQuorumEpoch draws a FENCED_LEADER_EPOCH answer carrying the
    later epoch, and the quorum moves on without it being locked out."""
    cluster = Cluster((1, 2, 3), RaftConfig())
    leader = _settled(cluster)
    stuck = next(i for i in (1, 2, 3) if i != leader.node_id)
    cluster.kill(stuck)
    cluster.hosts[stuck].stored = ElectionState(leader.epoch + 1, None, stuck)
    cluster.start(stuck)
    for _ in range(300):
        cluster.round()
    final = cluster.leader()
    assert final is not None
    assert all(cluster.core(i).epoch == final.epoch for i in (1, 2, 3))
    assert cluster.core(stuck).high_watermark == final.high_watermark


def test_correlation_ids_do_not_restart_at_zero_after_a_restart() -> None:
    """A late response to the previous incarnation must not match a request
    of the new one: the host supplies a restart counter (its incarnation)."""
    cluster = Cluster((1, 2, 3), RaftConfig())
    sent: dict[int, set[int]] = {0: set(), 1: set()}
    for incarnation in (0, 1):
        if incarnation:
            cluster.kill(2)
            cluster.start(2)
        cluster.sent = []
        for _ in range(60):
            cluster.round()
        sent[incarnation] = {e.correlation_id for e in cluster.sent if e.source == 2}
    assert sent[0] and sent[1]
    assert not sent[0] & sent[1]


def test_frequent_leader_snapshots_do_not_starve_a_chunked_transfer() -> None:
    """The leader snapshots after every commit while a follower fetches a
    snapshot in 16-byte chunks.  The snapshot being fetched stays available
    until the follower stops asking for it, so the transfer completes."""
    cluster = Cluster((1, 2, 3), RaftConfig(max_snapshot_bytes=16))
    leader = _settled(cluster)
    behind = next(i for i in (1, 2, 3) if i != leader.node_id)
    cluster.kill(behind)
    cluster.hosts[behind].log = MemoryLog()  # far behind: an empty log
    for n in range(4):
        leader.propose(b"p%d" % n)
        cluster.drain(leader.node_id)
        for _ in range(4):
            cluster.round()
    leader.create_snapshot(leader.applied_offset, b"s" * 300)
    cluster.start(behind)
    installs = 0
    for n in range(400):
        cluster.round()
        if cluster.core(behind).log.log_start_offset > 0:
            installs += 1
            break
        leader.propose(b"q%d" % n)
        cluster.drain(leader.node_id)
        if leader.applied_offset > leader.log.log_start_offset:
            leader.create_snapshot(leader.applied_offset, b"s" * 300)
    assert installs == 1


def test_pre_vote_grants_from_an_earlier_epoch_count() -> None:
    """Found by the hostile simulator (seed 740): a replica that had not yet
    fetched the record making it a voter stayed in epoch 1 while the
    candidates were in epoch 2; it granted their pre-votes, but the grants
    carried epoch 1 and were ignored, so no leader was ever elected.  A
    pre-vote grant answers a request of this round (by correlation id),
    whatever the voter's epoch; the real VoteRequest brings it forward."""
    cluster = Cluster((1, 2, 3), RaftConfig())
    cluster.kill(1)
    cluster.hosts[1].stored = ElectionState(2, None, None)
    cluster.start(1)
    _time_out(cluster, 1)
    assert cluster.core(1).role is Role.PROSPECTIVE
    for env in _take(cluster, 1, 2):
        cluster.deliver(env)
    (grant,) = _take(cluster, 2, 1)
    assert isinstance(grant.message, VoteResponse)
    assert grant.message.vote_granted and grant.message.leader_epoch == 0
    cluster.deliver(grant)
    assert cluster.core(1).role is Role.CANDIDATE
    assert cluster.core(1).epoch == 3


@pytest.mark.parametrize("stagger", [6, 9, 12])
def test_three_of_four_survivors_elect_a_leader_after_the_leader_dies(stagger: int) -> None:
    """Found by the hostile simulator (6 of 20,000 seeds): 4 voters, the
    leader dead for good, 3 survivors with staggered fetch deadlines and
    logs of different lengths, so only the most complete can win and it
    needs both others' pre-votes.  A Prospective whose election timed out
    went back to its lost leader with a fresh fetch timer and refused
    pre-votes as if it had heard from it, so the three were never willing
    at once.  It now grants pre-votes until it really hears from the leader
    (as Kafka's follower does before its first successful fetch)."""
    cluster = Cluster((1, 2, 3, 4), RaftConfig(election_timeout=10, fetch_timeout=19))
    leader = cluster.run_until_leader(300)
    assert leader is not None
    for _ in range(20):
        cluster.round()
    dead = leader.node_id
    survivors = [i for i in (1, 2, 3, 4) if i != dead]
    for cut in survivors[:2]:  # each cut survivor misses more entries
        cluster.cut.add((dead, cut))
        for _ in range(stagger):
            leader.propose(b"x")
            cluster.drain(dead)
            cluster.round()
    cluster.kill(dead)
    survivor = cluster.run_until_leader(1000)
    assert survivor is not None and survivor.node_id == survivors[2]
