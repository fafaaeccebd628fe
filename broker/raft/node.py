"""The sans-I/O KRaft core for one replicated log.

Theory of operation
-------------------
A :class:`RaftNode` is a pure state machine in the style of etcd-raft.  The
host drives it with four verbs and never the other way round:

* ``tick()`` -- one unit of logical time has passed;
* ``step(envelope)`` -- a message arrived from a peer;
* ``propose(payload)`` (and ``add_voter``/``remove_voter``/
  ``transfer_leadership``/``create_snapshot``) -- local requests;
* ``ready()`` then ``advance(ready)`` -- collect what to persist, send and
  apply, do it (in the order documented on :class:`Ready`), and acknowledge.

It imports no trio, socket, time or random: time is ticks, jitter comes from
an injected :class:`RandomSource`, storage is the :class:`RaftLog` protocol.

The protocol is KRaft's (KIP-595, KIP-853, KIP-996):

* Replication is pull-based.  Followers send Fetch(fetch_offset,
  last_fetched_epoch); the leader checks the pair against its own log and
  answers with records, with DivergingEpoch (the follower truncates to the
  common point and fetches again), or with a SnapshotId when the follower
  needs data the leader has already compacted into a snapshot.
* The high watermark is the largest offset that a majority of voters has
  fetched (the leader counts its own *flushed* end offset); it moves only once
  that offset is past the leader's epoch start offset, i.e. once the leader
  change record the leader wrote at election has been committed (Raft paper
  section 5.4.2).  It never decreases on a node.
* Elections: a follower whose fetches go unanswered for ``fetch_timeout``
  becomes Prospective and asks for pre-votes (KIP-996) without bumping its
  epoch; voters grant pre-votes only if they have no live leader and the
  candidate's log is at least as up to date as theirs.  A majority of
  pre-votes makes it a Candidate (epoch + 1, votes for itself, persists);
  a majority of votes makes it Leader, which appends a LEADER_CHANGE record
  and announces itself with BeginQuorumEpoch.
* A leader that cannot hear from a majority for 1.5 x ``fetch_timeout``
  resigns (check-quorum); a resigning leader sends EndQuorumEpoch with its
  preferred successors, the first of which stands for election at once,
  skipping the pre-vote (this is also how leadership transfer ends).
* Voter changes (KIP-853) are KRAFT_VOTERS control records, one uncommitted
  change at a time and only after the leader committed in its own epoch; a
  replica uses the latest voter set in its log.  Observers (replicas outside
  the voter set) fetch but never vote or stand for election.

Roles are swapped step functions (``self._step_role``), not subclasses.
Vote, BeginQuorumEpoch and EndQuorumEpoch handling live in
``election.py``; Fetch, FetchSnapshot and the high watermark in ``replication.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from broker.raft import election, replication
from broker.raft.control import VoterHistory, decode_voters, encode_leader_change, encode_voters
from broker.raft.log import RaftLog, Snapshot, VoterIndex
from broker.raft.messages import (
    DUPLICATE_VOTER,
    INVALID_REQUEST,
    NO_LEADER,
    NONE,
    NOT_LEADER_OR_FOLLOWER,
    REQUEST_TIMED_OUT,
    VOTER_NOT_FOUND,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    ControlKind,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Envelope,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    LogEntry,
    Message,
    SnapshotId,
    VoteRequest,
    VoteResponse,
)
from broker.raft.types import (
    ElectionState,
    LeaderState,
    ProposeResult,
    RaftConfig,
    RandomSource,
    Ready,
    ReplicaState,
    Role,
)


class RaftNode:
    """One replica of one Raft-replicated log."""

    def __init__(
        self,
        node_id: int,
        log: RaftLog,
        bootstrap_voters: Sequence[int],
        rng: RandomSource,
        config: RaftConfig | None = None,
        election_state: ElectionState | None = None,
        *,
        incarnation: int = 0,
    ) -> None:
        """``incarnation`` counts the host's restarts (kept by the host, e.g.
        next to the quorum-state file): correlation ids of one incarnation
        never repeat those of an earlier one, so a late response to a request
        sent before a restart cannot pass for the answer to a new one."""
        self.node_id = node_id
        self.log = log
        self.config = config or RaftConfig()
        self._rng = rng
        state = election_state or ElectionState(0, None, None)
        self.epoch = state.epoch
        self.leader_id = state.leader_id
        self.voted_for = state.voted_for
        snapshot = log.latest_snapshot()
        self.voters = VoterHistory(snapshot.voters if snapshot else bootstrap_voters)
        self.replay_voters(log.log_start_offset)
        self.high_watermark = log.log_start_offset
        self.applied_offset = log.log_start_offset
        self.durable_end = log.end_offset
        self.now = 0
        self.deadline = 0
        self.messages: list[Envelope] = []
        self._state_version = 0
        self._persisted_version = 0
        self._outstanding: Ready | None = None
        self._outstanding_version = 0
        self._truncated_since_ready: int | None = None
        self.installed: Snapshot | None = None
        if self.config.inject_bug == "reset_correlation":
            incarnation = 0
        self.next_correlation = incarnation << 32
        self.serving: dict[SnapshotId, tuple[Snapshot, int]] = {}
        """Leader: snapshots older than the latest that followers are still
        fetching in chunks, with the tick of their last request."""
        self.granted: set[int] = set()
        self.answered: set[int] = set()
        self.vote_requests: set[int] = set()
        """Correlation ids of this round's VoteRequests."""
        self.next_vote_retry = 0
        self.leader_state: LeaderState | None = None
        self.leader_resigned = False
        self.fetch_inflight: int | None = None
        self.fetch_deadline = 0
        self.leader_heard_tick = -(1 << 30)
        self.next_fetch_tick = 0
        self.snapshot_buffer = bytearray()
        self.discovery = 0
        self.role = Role.UNATTACHED
        self._step_role: Callable[[Envelope], None] = self._step_unattached
        if self.leader_id is not None and self.leader_id != node_id:
            self._enter(Role.FOLLOWER, self._step_follower)
            self.deadline = self.config.fetch_timeout
        else:
            self.leader_resigned = self.leader_id == node_id
            self.reset_election_timer()

    # ----------------------------------------------------------------- queries

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters.latest

    @property
    def may_campaign(self) -> bool:
        """Voters campaign; so does a replica whose removal is not yet
        committed, since its log may be the only complete one.  It counts a
        majority of the latest voter set, which excludes itself; that set
        overlaps the previous one (one change at a time), so epochs still
        have one leader at most."""
        voters = self.voters
        if self.node_id in voters.latest:
            return True
        last_change = voters.latest_offset
        return last_change >= self.high_watermark and self.node_id in voters.at(last_change)

    def known_leader(self) -> int | None:
        return None if self.leader_resigned else self.leader_id

    def advertised_leader(self) -> int | None:
        """The leader named in our responses.  A Prospective has stopped
        hearing from its leader, so it does not vouch for it: otherwise two
        prospectives would keep sending each other back to a dead leader."""
        return None if self.role is Role.PROSPECTIVE else self.known_leader()

    def election_state(self) -> ElectionState:
        return ElectionState(self.epoch, self.leader_id, self.voted_for)

    # ------------------------------------------------------------- host verbs

    def tick(self) -> None:
        self.now += 1
        role = self.role
        if role is Role.LEADER:
            replication.tick_leader(self)
        elif role is Role.FOLLOWER:
            if self.now >= self.deadline:
                if self.may_campaign:
                    self.become_prospective()
                else:
                    self.forget_leader(resigned=False)
            else:
                replication.maybe_fetch(self)
        elif role is Role.UNATTACHED and not self.may_campaign:
            replication.discover_leader(self)
        elif not self.may_campaign:
            self.forget_leader(resigned=False)  # observers never stand for election
        elif self.now >= self.deadline:
            lost = self.known_leader()
            if role is Role.PROSPECTIVE and lost is not None and lost != self.node_id:
                # KIP-996: a Prospective whose election timed out goes back to
                # its leader and tries fetching again (a one-way cut may have
                # healed); it times out into a new pre-vote if the leader is gone.
                self.become_follower(self.epoch, lost, heard=False)
            else:
                self.become_prospective()
        elif role in (Role.PROSPECTIVE, Role.CANDIDATE) and self.now >= self.next_vote_retry:
            self._send_vote_requests()

    def step(self, env: Envelope) -> None:
        if env.destination != self.node_id:
            raise ValueError(f"envelope for {env.destination} stepped into {self.node_id}")
        msg = env.message
        if isinstance(msg, VoteRequest):
            election.on_vote_request(self, env, msg)
        elif isinstance(msg, BeginQuorumEpochRequest):
            election.on_begin_quorum_epoch(self, env, msg)
        elif isinstance(msg, EndQuorumEpochRequest):
            election.on_end_quorum_epoch(self, env, msg)
        elif isinstance(msg, (FetchRequest, FetchSnapshotRequest)) and self.role is not Role.LEADER:
            replication.reply_not_leader(self, env, msg)
        elif isinstance(msg, (VoteResponse, BeginQuorumEpochResponse, EndQuorumEpochResponse)):
            if not self.observe(msg.leader_epoch, msg.leader_id, env.source):
                self._step_role(env)
        else:
            self._step_role(env)

    def propose(self, payload: bytes) -> ProposeResult:
        ld = self.leader_state
        if ld is None or ld.transfer_target is not None:
            return ProposeResult(NOT_LEADER_OR_FOLLOWER, -1, self.epoch)
        offset = self.log.end_offset
        self.log.append([LogEntry(offset, self.epoch, payload)])
        return ProposeResult(NONE, offset, self.epoch)

    def add_voter(self, voter_id: int) -> int:
        """AddRaftVoter (KIP-853); the voter must be a caught-up observer."""
        ld = self.leader_state
        if ld is None:
            return NOT_LEADER_OR_FOLLOWER
        voters = self.voters.latest
        if voter_id in voters:
            return DUPLICATE_VOTER
        if not self._can_change_voters(ld):
            return REQUEST_TIMED_OUT
        replica = ld.replicas.get(voter_id)
        if (
            replica is None
            or replica.last_fetch_tick < self.now - self.config.fetch_timeout
            or replica.end_offset < self.high_watermark
        ):
            return REQUEST_TIMED_OUT
        self._append_voters(ld, voters | {voter_id})
        return NONE

    def remove_voter(self, voter_id: int) -> int:
        """RemoveRaftVoter (KIP-853)."""
        ld = self.leader_state
        if ld is None:
            return NOT_LEADER_OR_FOLLOWER
        voters = self.voters.latest
        if voter_id not in voters:
            return VOTER_NOT_FOUND
        if len(voters) == 1:
            return INVALID_REQUEST
        if not self._can_change_voters(ld):
            return REQUEST_TIMED_OUT
        self._append_voters(ld, voters - {voter_id})
        return NONE

    def transfer_leadership(self, target: int) -> int:
        """Stop taking proposals, wait until ``target`` has fetched the whole
        log, then resign naming it first successor (Raft thesis 3.10)."""
        ld = self.leader_state
        if ld is None:
            return NOT_LEADER_OR_FOLLOWER
        if target == self.node_id or target not in self.voters.latest:
            return INVALID_REQUEST
        ld.transfer_target = target
        ld.transfer_deadline = self.now + 2 * self.config.election_timeout
        return NONE

    def create_snapshot(self, end_offset: int, data: bytes) -> Snapshot:
        """Record a snapshot of the applied state below ``end_offset`` and
        delete the log entries it covers."""
        if not self.log.log_start_offset < end_offset <= self.applied_offset:
            raise ValueError(
                f"snapshot end {end_offset} outside ({self.log.log_start_offset}, "
                f"{self.applied_offset}]"
            )
        epoch = self.log.read(end_offset - 1, 1)[0].epoch
        voters = tuple(sorted(self.voters.at(end_offset)))
        snapshot = Snapshot(SnapshotId(end_offset, epoch), voters, data)
        if self.config.inject_bug == "snapshot_starve":
            self.serving.clear()
        # A snapshot a follower is fetching in chunks stays in ``serving``:
        # otherwise frequent snapshots could starve its transfer.
        self.log.create_snapshot(snapshot)
        self.voters.compact_to(end_offset)
        return snapshot

    @property
    def state_dirty(self) -> bool:
        """The election state changed since the last Ready that carried it
        was acknowledged."""
        return self._state_version != self._persisted_version

    def has_ready(self) -> bool:
        """True if ``ready()`` has work for the host now (never while a Ready
        is outstanding: ``advance()`` it first)."""
        return self._outstanding is None and bool(
            self.state_dirty
            or self.messages
            or self.installed is not None
            or self.log.end_offset != self.durable_end
            or self.high_watermark > self.applied_offset
        )

    def ready(self) -> Ready:
        """Hand the host what to persist, flush, send and apply.

        The Ready owns what it holds: the outgoing messages are moved out of
        the node and the election state is a copy.  Steps and ticks may go
        on while the host works on it (an fsync in a thread); what they
        produce waits for the next Ready, so a message never leaves before
        the state it depends on is in a Ready the host persists first.  One
        Ready at a time: ``advance()`` acknowledges it.
        """
        if self._outstanding is not None:
            raise RuntimeError(f"node {self.node_id}: ready() before advance() of the last Ready")
        live = self.config.inject_bug == "live_ready"
        state = None
        if self.state_dirty:
            voted = None if self.config.inject_bug == "forget_vote" else self.voted_for
            state = ElectionState(self.epoch, self.leader_id, voted)
        end = self.log.end_offset
        committed: list[LogEntry] = []
        if self.high_watermark > self.applied_offset and self.config.state_machine:
            committed = self.log.read(
                self.applied_offset, self.high_watermark - self.applied_offset
            )
        messages = self.messages
        if not live:
            self.messages = []
        rd = Ready(
            election_state=state,
            flush_offset=end if end != self.durable_end else None,
            messages=messages,
            committed=committed,
            installed_snapshot=self.installed,
            high_watermark=self.high_watermark,
        )
        self.installed = None
        self._outstanding = rd
        self._outstanding_version = self._state_version
        self._truncated_since_ready = None
        return rd

    def advance(self, rd: Ready | None = None) -> None:
        """Acknowledge the outstanding Ready: what it asked to persist is
        durable, its messages are sent, its entries applied.  Only what that
        Ready contained counts: state changed or entries truncated since
        ``ready()`` stay pending.  ``rd``, if given, must be that Ready."""
        out = self._outstanding
        if out is None or (rd is not None and rd is not out):
            raise RuntimeError(f"node {self.node_id}: advance() without its Ready")
        self._outstanding = None
        if self.config.inject_bug == "live_ready":
            if out.election_state is not None:
                self._persisted_version = self._state_version
            self.messages = []
        elif out.election_state is not None:
            self._persisted_version = self._outstanding_version
        if out.flush_offset is not None:
            flushed = out.flush_offset
            if self._truncated_since_ready is not None:
                flushed = min(flushed, self._truncated_since_ready)
            self.durable_end = max(self.durable_end, min(flushed, self.log.end_offset))
        if out.committed:
            self.applied_offset = max(self.applied_offset, out.committed[-1].offset + 1)
        elif not self.config.state_machine:
            self.applied_offset = max(self.applied_offset, out.high_watermark)
        if self.role is Role.LEADER:
            replication.maybe_advance_high_watermark(self)

    def note_truncation(self, offset: int) -> None:
        """The log was cut back to ``offset``: nothing at or above it is
        durable, whatever an outstanding Ready flushed."""
        self.durable_end = min(self.durable_end, offset)
        if self._truncated_since_ready is None or offset < self._truncated_since_ready:
            self._truncated_since_ready = offset

    # ------------------------------------------------------------ transitions

    def _enter(self, role: Role, step: Callable[[Envelope], None]) -> None:
        self.role = role
        self._step_role = step
        self.leader_state = None
        self.fetch_inflight = None
        self.granted = set()

    def set_election(self, epoch: int, leader_id: int | None, voted_for: int | None) -> None:
        if (epoch, leader_id, voted_for) != (self.epoch, self.leader_id, self.voted_for):
            self.epoch, self.leader_id, self.voted_for = epoch, leader_id, voted_for
            self._state_version += 1

    def reset_election_timer(self) -> None:
        timeout = self.config.election_timeout
        self.deadline = self.now + timeout + self._rng.randrange(timeout)

    def become_unattached(self, epoch: int) -> None:
        """Move to a newer epoch with no leader and no vote yet."""
        self.set_election(epoch, None, None)
        self.leader_resigned = False
        self._enter(Role.UNATTACHED, self._step_unattached)
        self.reset_election_timer()

    def forget_leader(self, resigned: bool) -> None:
        """Stay in this epoch without a leader.  The persisted leader id and
        vote are kept, so this replica can never vote a second leader into
        the epoch."""
        self.leader_resigned = self.leader_resigned or resigned
        self._enter(Role.UNATTACHED, self._step_unattached)
        self.reset_election_timer()

    def heard_from_leader(self) -> None:
        """The leader answered (or announced itself): restart the fetch timer."""
        self.deadline = self.now + self.config.fetch_timeout
        self.leader_heard_tick = self.now

    def has_live_leader(self) -> bool:
        """KIP-996: a Leader, or a Follower that heard from its leader within
        ``fetch_timeout``; such a replica refuses pre-votes."""
        if self.role is Role.LEADER:
            return True
        return (
            self.role is Role.FOLLOWER
            and self.now - self.leader_heard_tick < self.config.fetch_timeout
        )

    def become_follower(self, epoch: int, leader_id: int, heard: bool = True) -> None:
        """``heard`` is False when a Prospective goes back to the leader it
        lost to try fetching again: it has not heard from it, so it still
        grants pre-votes (otherwise survivors of a dead leader refuse each
        other in turn; three of four voters never line up)."""
        voted = self.voted_for if epoch == self.epoch else None
        self.set_election(epoch, leader_id, voted)
        self.leader_resigned = False
        self._enter(Role.FOLLOWER, self._step_follower)
        self.deadline = self.now + self.config.fetch_timeout
        if heard or self.config.inject_bug == "prospective_follows_lost_leader":
            self.leader_heard_tick = self.now
        replication.send_fetch(self, leader_id)

    def become_prospective(self) -> None:
        if not self.config.pre_vote:
            self.become_candidate()
            return
        self._enter(Role.PROSPECTIVE, self._step_candidate)
        self.reset_election_timer()
        self._request_votes(pre_vote=True)

    def become_candidate(self) -> None:
        self.set_election(self.epoch + 1, None, self.node_id)
        self.leader_resigned = False
        self._enter(Role.CANDIDATE, self._step_candidate)
        self.reset_election_timer()
        self._request_votes(pre_vote=False)

    def _request_votes(self, pre_vote: bool) -> None:
        self.granted = {self.node_id}
        self.answered = {self.node_id}
        self.vote_requests = set()
        self._send_vote_requests()
        self._maybe_win()

    def _send_vote_requests(self) -> None:
        """Ask every voter that has not answered yet (again, on retries)."""
        pre_vote = self.role is Role.PROSPECTIVE
        request_epoch = self.epoch + 1 if pre_vote else self.epoch
        self.next_vote_retry = self.now + self.config.request_timeout
        for voter in sorted(self.voters.latest):
            if voter not in self.answered:
                self.vote_requests.add(
                    self.send(
                        voter,
                        VoteRequest(
                            candidate_epoch=request_epoch,
                            candidate_id=self.node_id,
                            voter_id=voter,
                            last_offset_epoch=self.log.last_epoch,
                            last_offset=self.log.end_offset,
                            pre_vote=pre_vote,
                        ),
                    )
                )

    def _maybe_win(self) -> None:
        voters = self.voters.latest
        if len(self.granted & voters) * 2 <= len(voters):
            return
        if self.role is Role.PROSPECTIVE:
            self.become_candidate()
        elif self.role is Role.CANDIDATE:
            self.become_leader()

    def become_leader(self) -> None:
        self.set_election(self.epoch, self.node_id, self.voted_for)
        self.leader_resigned = False
        self._enter(Role.LEADER, self._step_leader)
        start = self.log.end_offset
        ld = LeaderState(epoch_start_offset=start, since_tick=self.now)
        voters = self.voters.latest
        for voter in voters:
            if voter != self.node_id:
                ld.replicas[voter] = ReplicaState(last_fetch_tick=self.now)
                ld.begin_pending.add(voter)
        self.leader_state = ld
        payload = encode_leader_change(self.node_id, voters)
        self.log.append([LogEntry(start, self.epoch, payload, ControlKind.LEADER_CHANGE)])
        replication.send_begin_quorum_epoch(self, ld)

    def resign(self, preferred_first: int | None = None) -> None:
        """Give up leadership of this epoch (EndQuorumEpoch)."""
        ld = self.leader_state
        assert ld is not None

        def progress(voter: int) -> tuple[int, int]:
            replica = ld.replicas.get(voter)
            return (-(replica.end_offset if replica else 0), voter)

        successors = sorted((v for v in self.voters.latest if v != self.node_id), key=progress)
        if preferred_first is not None and preferred_first in successors:
            successors.remove(preferred_first)
            successors.insert(0, preferred_first)
        request = EndQuorumEpochRequest(self.node_id, self.epoch, tuple(successors))
        for voter in successors:
            self.send(voter, request)
        self.leader_resigned = True
        self._enter(Role.RESIGNED, self._step_resigned)
        self.reset_election_timer()

    def observe(self, epoch: int, leader_id: int, source: int | None = None) -> bool:
        """Learn of an epoch or leader from a peer (``source``, when it is not
        the leader itself); True if the role changed.

        A Prospective has lost its leader: a peer that still names that
        leader only says the peer has not timed out yet, so it does not send
        the Prospective back (as in Kafka).  Otherwise, with staggered fetch
        deadlines, the survivors of a dead leader take turns being refused
        and return to following it, for ever."""
        leader = None if leader_id == NO_LEADER else leader_id
        if (
            leader is None
            and epoch > self.epoch
            and not self.may_campaign
            and self.config.inject_bug != "observer_fetch_deposes"
        ):
            # An observer only looks for the leader: a later epoch without
            # one (a voter's lost candidacy) would detach it from the leader.
            return False
        if (
            self.role is Role.PROSPECTIVE
            and epoch == self.epoch
            and leader is not None
            and leader == self.leader_id
            and source is not None
            and source != leader
            and self.config.inject_bug != "prospective_follows_lost_leader"
        ):
            return False
        if epoch > self.epoch:
            if leader is not None and leader != self.node_id:
                self.become_follower(epoch, leader)
            else:
                self.become_unattached(epoch)
            return True
        if (
            epoch == self.epoch
            and leader is not None
            and leader != self.node_id
            and self.role not in (Role.LEADER, Role.FOLLOWER)
            and not (self.leader_resigned and leader == self.leader_id)
        ):
            self.become_follower(epoch, leader)
            return True
        return False

    # ------------------------------------------------- step: per-role tables

    def _step_leader(self, env: Envelope) -> None:
        msg = env.message
        if isinstance(msg, FetchRequest):
            replication.on_fetch_request(self, env, msg)
        elif isinstance(msg, FetchSnapshotRequest):
            replication.on_fetch_snapshot_request(self, env, msg)
        elif (
            isinstance(msg, BeginQuorumEpochResponse)
            and self.leader_state is not None
            and msg.leader_epoch == self.epoch
        ):
            self.leader_state.begin_pending.discard(env.source)

    def _step_follower(self, env: Envelope) -> None:
        msg = env.message
        if isinstance(msg, FetchResponse):
            replication.on_fetch_response(self, env, msg)
        elif isinstance(msg, FetchSnapshotResponse):
            replication.on_fetch_snapshot_response(self, env, msg)

    def _step_unattached(self, env: Envelope) -> None:
        msg = env.message
        if isinstance(msg, FetchResponse) and env.correlation_id == self.fetch_inflight:
            self.fetch_inflight = None
            self.observe(msg.current_leader.leader_epoch, msg.current_leader.leader_id)

    def _step_candidate(self, env: Envelope) -> None:
        msg = env.message
        if not isinstance(msg, VoteResponse) or env.correlation_id not in self.vote_requests:
            return
        # A pre-vote may be granted by a voter in an earlier epoch (say, an
        # observer that has not fetched the record making it a voter): it
        # has no leader and our log is ahead, and the real VoteRequest will
        # bring it to our epoch.  Real votes count only in our epoch.
        if msg.leader_epoch == self.epoch or (
            self.role is Role.PROSPECTIVE and msg.leader_epoch < self.epoch
        ):
            self.answered.add(env.source)
            if msg.vote_granted:
                self.granted.add(env.source)
                self._maybe_win()

    def _step_resigned(self, env: Envelope) -> None:
        pass

    # ---------------------------------------------------------------- helpers

    def send(self, destination: int, msg: Message) -> int:
        correlation_id = self.next_correlation
        self.next_correlation += 1
        self.messages.append(Envelope(self.node_id, destination, correlation_id, msg))
        return correlation_id

    def reply(self, env: Envelope, msg: Message) -> None:
        self.messages.append(Envelope(self.node_id, env.source, env.correlation_id, msg))

    def replay_voters(self, from_offset: int) -> None:
        """Record every voters record in the log at or above ``from_offset``:
        from the log's index of them if it keeps one (``VoterIndex``: no
        scan at start-up), else by reading the log."""
        if isinstance(self.log, VoterIndex):
            for offset, voters in self.log.voter_records(from_offset):
                self.voters.record(offset, voters)
            return
        end = self.log.end_offset
        while from_offset < end:
            batch = self.log.read(from_offset, 1024)
            for entry in batch:
                if entry.control is ControlKind.KRAFT_VOTERS:
                    self.voters.record(entry.offset, decode_voters(entry.payload)[0])
            from_offset += len(batch)

    def _can_change_voters(self, ld: LeaderState) -> bool:
        """KIP-853: the leader has committed in its own epoch, no voter change
        is uncommitted, and no transfer is under way."""
        return (
            self.high_watermark > ld.epoch_start_offset
            and self.voters.latest_offset < self.high_watermark
            and ld.transfer_target is None
        )

    def _append_voters(self, ld: LeaderState, voters: frozenset[int]) -> None:
        offset = self.log.end_offset
        entry = LogEntry(offset, self.epoch, encode_voters(voters), ControlKind.KRAFT_VOTERS)
        self.log.append([entry])
        self.voters.record(offset, voters)
        for voter in voters:
            if voter != self.node_id:
                ld.replicas.setdefault(voter, ReplicaState(last_fetch_tick=self.now))
