"""Elections: Vote (with KIP-996 pre-vote), BeginQuorumEpoch, EndQuorumEpoch.

Theory of operation
-------------------
Voting rules (Raft paper 5.2 and 5.4.1, KIP-595, KIP-996):

* A pre-vote (``pre_vote=True``) changes nothing on the voter (KIP-996): not
  its epoch, not its vote, not its leader.  It is granted when the
  candidate's epoch would be newer than ours, we have no live leader (we are
  neither a Leader nor a Follower that heard from its leader within
  ``fetch_timeout``), and the
  candidate's log is at least as up to date as ours: a larger last epoch, or
  the same last epoch and an end offset at least as large.  (A replica left
  in a later epoch by a lost candidacy is not locked out: the leader keeps
  sending BeginQuorumEpoch to voters that do not fetch, and the
  FENCED_LEADER_EPOCH answer carries the later epoch back to it.)
* Observers (replicas that may not stand for election in their own view)
  refuse, and take no epoch from the request, unless the candidate's log is
  strictly ahead of theirs.  A candidate whose log is not ahead has the
  observer's view of the voter set, in which the observer has no vote; one
  that is ahead may hold the KRAFT_VOTERS record that made the observer a
  voter (a new voter must be able to vote before it has fetched that
  record, Raft thesis 4.1, or adding a voter can deadlock the quorum).
* A real vote for a newer epoch first moves us to that epoch (Unattached).
  Within an epoch a replica votes at most once, and never for a second
  candidate once it knows a leader of the epoch: the persisted
  ``voted_for``/``leader_id`` enforce it across restarts.
* Any replica may grant a vote, even one outside its own latest voter set;
  candidates count only grants from their latest voter set.
* BeginQuorumEpoch announces the leader of an epoch; EndQuorumEpoch is a
  leader resigning.  On EndQuorumEpoch the replica forgets the leader (it now
  grants pre-votes) and schedules its candidacy by its rank in
  ``preferred_successors``: the first stands at once and skips the pre-vote,
  which is how a leadership transfer completes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.raft.messages import (
    FENCED_LEADER_EPOCH,
    NO_LEADER,
    NONE,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Envelope,
    VoteRequest,
    VoteResponse,
)
from broker.raft.types import Role

if TYPE_CHECKING:
    from broker.raft.node import RaftNode


def log_is_up_to_date(node: RaftNode, req: VoteRequest) -> bool:
    """Raft paper section 5.4.1: compare last epochs, then end offsets."""
    mine = (node.log.last_epoch, node.log.end_offset)
    return (req.last_offset_epoch, req.last_offset) >= mine


def candidate_is_ahead(node: RaftNode, req: VoteRequest) -> bool:
    mine = (node.log.last_epoch, node.log.end_offset)
    return (req.last_offset_epoch, req.last_offset) > mine


def on_vote_request(node: RaftNode, env: Envelope, req: VoteRequest) -> None:
    granted = False
    bug = node.config.inject_bug
    if not node.may_campaign and not candidate_is_ahead(node, req) and bug != "observer_votes":
        pass  # an observer answers with its own epoch and changes nothing
    elif req.pre_vote:
        if bug == "prevote_adopts_epoch" and req.candidate_epoch - 1 > node.epoch:
            node.become_unattached(req.candidate_epoch - 1)
        # KIP-996: change nothing; refuse while we follow a live leader.
        granted = (
            req.candidate_epoch > node.epoch
            and (not node.has_live_leader() or bug == "prevote_grants_with_leader")
            and log_is_up_to_date(node, req)
        )
    else:
        if req.candidate_epoch > node.epoch:
            node.become_unattached(req.candidate_epoch)
        if (
            req.candidate_epoch == node.epoch
            and log_is_up_to_date(node, req)
            and (
                node.voted_for == req.candidate_id
                or (node.voted_for is None and node.leader_id is None)
            )
        ):
            granted = True
            node.set_election(node.epoch, node.leader_id, req.candidate_id)
            node.reset_election_timer()
    leader = node.advertised_leader()
    node.reply(
        env,
        VoteResponse(NONE, NO_LEADER if leader is None else leader, node.epoch, granted),
    )


def on_begin_quorum_epoch(node: RaftNode, env: Envelope, req: BeginQuorumEpochRequest) -> None:
    error = NONE
    if req.leader_epoch < node.epoch:
        error = FENCED_LEADER_EPOCH
    else:
        node.observe(req.leader_epoch, req.leader_id)
    leader = node.advertised_leader()
    node.reply(
        env,
        BeginQuorumEpochResponse(error, NO_LEADER if leader is None else leader, node.epoch),
    )


def on_end_quorum_epoch(node: RaftNode, env: Envelope, req: EndQuorumEpochRequest) -> None:
    error = NONE
    if req.leader_epoch < node.epoch:
        error = FENCED_LEADER_EPOCH
    else:
        if req.leader_epoch > node.epoch:
            node.become_unattached(req.leader_epoch)
        elif req.leader_id == node.leader_id and node.role in (
            Role.FOLLOWER,
            Role.UNATTACHED,
            Role.PROSPECTIVE,
        ):
            node.forget_leader(resigned=True)
        if node.role is Role.UNATTACHED and node.may_campaign:
            successors = req.preferred_successors
            if successors[:1] == (node.node_id,):
                node.become_candidate()
            elif node.node_id in successors:
                rank = successors.index(node.node_id)
                node.deadline = node.now + rank * max(1, node.config.election_timeout // 2)
    leader = node.advertised_leader()
    node.reply(
        env,
        EndQuorumEpochResponse(error, NO_LEADER if leader is None else leader, node.epoch),
    )
