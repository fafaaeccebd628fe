"""Pull-based replication: Fetch, FetchSnapshot and the high watermark.

Theory of operation
-------------------
KRaft replicates by having followers (and observers) *pull* (KIP-595):

Follower side.  A follower keeps at most one Fetch in flight to its leader,
identified by correlation id; any other response is stale and ignored.  The
request carries ``fetch_offset`` (its log end offset, flushed before the
request is sent) and ``last_fetched_epoch`` (the epoch of its last entry).
The answer is one of:

* records starting at ``fetch_offset``: append them, then take the high
  watermark as ``min(leader's high watermark, own end offset)``;
* ``diverging_epoch`` (epoch E, end offset O): the logs agree up to the end of
  epoch E at most.  Truncate to ``min(O, own end of E)`` if the follower holds
  epoch E, otherwise to the end of its largest epoch below E, and fetch again.
  Truncating below the high watermark would lose committed data, so it is
  treated as a broken invariant;
* ``snapshot_id``: the data the follower needs was compacted into a snapshot.
  Fetch it with FetchSnapshot (in chunks of ``max_snapshot_bytes``), replace
  the whole log with it, then resume fetching after it.

Leader side.  Validating (fetch_offset, last_fetched_epoch) against the
leader's log is the pull-based form of AppendEntries' consistency check.  A
valid fetch proves that the follower's log equals the leader's below
``fetch_offset``, so that offset becomes the replica's ``end_offset``; the
high watermark is the median-from-the-top of the voters' end offsets (the
leader's own *flushed* end offset counts for itself) and only moves past the
leader's epoch start offset (own-epoch rule, Raft paper 5.4.2).

The leader also times its quorum: a leader that has not been fetched from by
a majority of voters for 1.5 x ``fetch_timeout`` resigns (check-quorum), and
it repeats BeginQuorumEpoch to voters that have not fetched yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.raft.control import decode_snapshot, decode_voters, encode_snapshot
from broker.raft.log import Snapshot
from broker.raft.messages import (
    FENCED_LEADER_EPOCH,
    NO_LEADER,
    NONE,
    NOT_LEADER_OR_FOLLOWER,
    OFFSET_OUT_OF_RANGE,
    POSITION_OUT_OF_RANGE,
    SNAPSHOT_NOT_FOUND,
    UNKNOWN_LEADER_EPOCH,
    BeginQuorumEpochRequest,
    ControlKind,
    Envelope,
    EpochEndOffset,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    LeaderIdAndEpoch,
    SnapshotId,
)
from broker.raft.types import LeaderState, RaftInvariantError, ReplicaState, Role

if TYPE_CHECKING:
    from broker.raft.node import RaftNode


def current_leader(node: RaftNode) -> LeaderIdAndEpoch:
    leader = node.advertised_leader()
    return LeaderIdAndEpoch(NO_LEADER if leader is None else leader, node.epoch)


# ------------------------------------------------------------------ follower


def send_fetch(node: RaftNode, destination: int) -> None:
    log = node.log
    request = FetchRequest(
        replica_id=node.node_id,
        replica_epoch=-1,
        current_leader_epoch=node.epoch,
        fetch_offset=log.end_offset,
        last_fetched_epoch=log.last_epoch,
        log_start_offset=log.log_start_offset,
        max_records=node.config.max_fetch_records,
    )
    node.fetch_inflight = node.send(destination, request)
    node.fetch_deadline = node.now + node.config.request_timeout
    node.snapshot_buffer = bytearray()


def maybe_fetch(node: RaftNode) -> None:
    """Follower tick: fetch when idle long enough or the last fetch timed out."""
    assert node.leader_id is not None
    if node.fetch_inflight is None:
        if node.now >= node.next_fetch_tick:
            send_fetch(node, node.leader_id)
    elif node.now >= node.fetch_deadline:
        send_fetch(node, node.leader_id)


def discover_leader(node: RaftNode) -> None:
    """Observer without a leader: ask the voters in turn (their answer names
    the leader), as Kafka observers do through their bootstrap servers."""
    if node.fetch_inflight is not None and node.now < node.fetch_deadline:
        return
    voters = sorted(v for v in node.voters.latest if v != node.node_id)
    if voters:
        send_fetch(node, voters[node.discovery % len(voters)])
        node.discovery += 1


def on_fetch_response(node: RaftNode, env: Envelope, resp: FetchResponse) -> None:
    if env.correlation_id != node.fetch_inflight:
        return
    node.fetch_inflight = None
    leader = resp.current_leader
    if resp.error_code != NONE:
        if node.observe(leader.leader_epoch, leader.leader_id):
            return
        if leader.leader_epoch == node.epoch and leader.leader_id != node.leader_id:
            node.forget_leader(resigned=True)  # our leader has resigned
            return
        node.next_fetch_tick = node.now + node.config.fetch_backoff
        return
    node.heard_from_leader()
    if resp.snapshot_id is not None:
        _send_fetch_snapshot(node, resp.snapshot_id)
        return
    if resp.diverging_epoch is not None:
        _truncate_to_common_point(node, resp.diverging_epoch)
        send_fetch(node, env.source)
        return
    log = node.log
    records = resp.records
    if records:
        if records[0].offset != log.end_offset:
            send_fetch(node, env.source)
            return
        log.append(records)
        for entry in records:
            if entry.control is ControlKind.KRAFT_VOTERS:
                node.voters.record(entry.offset, decode_voters(entry.payload)[0])
    high_watermark = min(resp.high_watermark, log.end_offset)
    if high_watermark > node.high_watermark:
        node.high_watermark = high_watermark
    if records:
        send_fetch(node, env.source)
    else:
        node.next_fetch_tick = node.now + node.config.fetch_backoff


def _truncate_to_common_point(node: RaftNode, diverging: EpochEndOffset) -> None:
    log = node.log
    local = log.end_offset_for_epoch(diverging.epoch)
    if local.epoch == diverging.epoch:
        offset = min(diverging.end_offset, local.offset)
    else:
        offset = local.offset
    if offset < node.high_watermark:
        raise RaftInvariantError(
            f"node {node.node_id}: truncation to {offset} below high watermark "
            f"{node.high_watermark}"
        )
    log.truncate_to(offset)
    if node.config.inject_bug != "keep_voters_on_truncate":
        node.voters.truncate_to(offset)
    node.note_truncation(offset)


def _send_fetch_snapshot(node: RaftNode, snapshot_id: SnapshotId) -> None:
    assert node.leader_id is not None
    buffer = node.snapshot_buffer
    request = FetchSnapshotRequest(
        replica_id=node.node_id,
        current_leader_epoch=node.epoch,
        snapshot_id=snapshot_id,
        position=len(buffer),
        max_bytes=node.config.max_snapshot_bytes,
    )
    node.fetch_inflight = node.send(node.leader_id, request)
    node.fetch_deadline = node.now + node.config.request_timeout
    node.snapshot_buffer = buffer


def on_fetch_snapshot_response(node: RaftNode, env: Envelope, resp: FetchSnapshotResponse) -> None:
    if env.correlation_id != node.fetch_inflight:
        return
    node.fetch_inflight = None
    if resp.error_code != NONE:
        leader = resp.current_leader
        if not node.observe(leader.leader_epoch, leader.leader_id):
            node.next_fetch_tick = node.now + node.config.fetch_backoff
        return
    node.heard_from_leader()
    buffer = node.snapshot_buffer
    if resp.position != len(buffer):
        node.next_fetch_tick = node.now
        return
    buffer += resp.unaligned_records
    if len(buffer) < resp.size:
        _send_fetch_snapshot(node, resp.snapshot_id)
        return
    snapshot = decode_snapshot(bytes(buffer))
    node.snapshot_buffer = bytearray()
    end = snapshot.snapshot_id.end_offset
    if end > node.high_watermark or (end == node.high_watermark and not node.config.state_machine):
        # (A data partition's follower committed exactly up to a leader's log
        # start whose history is gone: the empty snapshot there resets it.)
        node.log.install_snapshot(snapshot)
        node.voters.reset(snapshot.voters)
        node.high_watermark = end
        node.applied_offset = end
        node.note_truncation(end)
        node.durable_end = end  # install_snapshot is durable on return
        node.installed = snapshot
    send_fetch(node, env.source)


# -------------------------------------------------------------------- leader


def reply_not_leader(
    node: RaftNode, env: Envelope, req: FetchRequest | FetchSnapshotRequest
) -> None:
    error = FENCED_LEADER_EPOCH if req.current_leader_epoch < node.epoch else NOT_LEADER_OR_FOLLOWER
    leader = current_leader(node)
    if isinstance(req, FetchRequest):
        node.reply(env, FetchResponse(error, -1, -1, leader))
    else:
        node.reply(env, FetchSnapshotResponse(error, leader, req.snapshot_id, -1, -1, b""))


def _epoch_error(node: RaftNode, current_leader_epoch: int) -> int:
    if current_leader_epoch < node.epoch:
        return FENCED_LEADER_EPOCH
    if current_leader_epoch > node.epoch:
        return UNKNOWN_LEADER_EPOCH
    return NONE


def _replica(node: RaftNode, ld: LeaderState, replica_id: int) -> ReplicaState:
    replica = ld.replicas.get(replica_id)
    if replica is None:
        replica = ld.replicas[replica_id] = ReplicaState()
    replica.last_fetch_tick = node.now
    ld.begin_pending.discard(replica_id)
    return replica


def on_fetch_request(node: RaftNode, env: Envelope, req: FetchRequest) -> None:
    ld = node.leader_state
    assert ld is not None
    log = node.log
    if req.current_leader_epoch > node.epoch and (
        req.replica_id in node.voters.latest or node.config.inject_bug == "observer_fetch_deposes"
    ):
        # A voter is in a later epoch: this leadership is stale (Raft 5.1).
        # Without this, a voter dragged to a later epoch by a failed
        # candidacy could never follow this leader again.  An observer's
        # epoch proves nothing (it may have heard of a lost candidacy): it
        # gets UNKNOWN_LEADER_EPOCH below, as in Kafka.
        node.become_unattached(req.current_leader_epoch)
        reply_not_leader(node, env, req)
        return
    error = _epoch_error(node, req.current_leader_epoch)
    if error != NONE:
        node.reply(env, FetchResponse(error, -1, -1, current_leader(node)))
        return
    replica = _replica(node, ld, req.replica_id)
    snapshot = log.latest_snapshot()
    start = log.log_start_offset
    moved = start > 0 and (snapshot is None or snapshot.snapshot_id.end_offset < start)
    if moved and node.config.inject_bug != "ignore_log_start":
        # The log start moved without a snapshot (retention, DeleteRecords):
        # a follower below it, or whose last epoch the log no longer knows,
        # cannot be checked against the history.  A data partition resets
        # it with an empty snapshot at the log start (Kafka's follower
        # truncates fully and starts at the leader's log start); a log with
        # a state machine cannot, and answers OFFSET_OUT_OF_RANGE.
        if req.fetch_offset < start or log.end_offset_for_epoch(req.last_fetched_epoch).epoch == 0:
            snapshot = log_start_snapshot(node)
            if snapshot is None:
                node.reply(
                    env,
                    FetchResponse(
                        OFFSET_OUT_OF_RANGE, node.high_watermark, start, current_leader(node)
                    ),
                )
                return
        else:
            snapshot = None
    if snapshot is not None and (
        req.fetch_offset < log.log_start_offset
        or req.last_fetched_epoch < snapshot.snapshot_id.epoch
    ):
        # Named here, so kept while the follower comes to fetch it.
        node.serving[snapshot.snapshot_id] = (snapshot, node.now)
        node.reply(
            env,
            FetchResponse(
                NONE,
                node.high_watermark,
                log.log_start_offset,
                current_leader(node),
                snapshot_id=snapshot.snapshot_id,
            ),
        )
        return
    end = log.end_offset_for_epoch(req.last_fetched_epoch)
    if end.epoch != req.last_fetched_epoch or end.offset < req.fetch_offset:
        node.reply(
            env,
            FetchResponse(
                NONE,
                node.high_watermark,
                log.log_start_offset,
                current_leader(node),
                diverging_epoch=EpochEndOffset(end.epoch, end.offset),
            ),
        )
        return
    if req.fetch_offset > replica.end_offset:
        replica.end_offset = req.fetch_offset
    maybe_advance_high_watermark(node)
    if (
        node.role is Role.LEADER
        and ld.transfer_target == req.replica_id
        and replica.end_offset >= log.end_offset
    ):
        node.resign(preferred_first=req.replica_id)
    if node.role is not Role.LEADER:
        reply_not_leader(node, env, req)
        return
    records = log.read(req.fetch_offset, min(req.max_records, node.config.max_fetch_records))
    node.reply(
        env,
        FetchResponse(
            NONE,
            node.high_watermark,
            log.log_start_offset,
            current_leader(node),
            records=tuple(records),
        ),
    )


def log_start_snapshot(node: RaftNode) -> Snapshot | None:
    """A data partition's empty snapshot at its log start: the epoch is that
    of the first entry kept (the one below is gone), the voters those in
    force there."""
    if node.config.state_machine:
        return None
    log = node.log
    start = log.log_start_offset
    first = log.read(start, 1)
    epoch = first[0].epoch if first else log.last_epoch
    return Snapshot(SnapshotId(start, epoch), tuple(sorted(node.voters.at(start))), b"")


def on_fetch_snapshot_request(node: RaftNode, env: Envelope, req: FetchSnapshotRequest) -> None:
    ld = node.leader_state
    assert ld is not None
    leader = current_leader(node)
    error = _epoch_error(node, req.current_leader_epoch)
    snapshot = node.log.latest_snapshot()
    if snapshot is None or snapshot.snapshot_id != req.snapshot_id:
        retained = node.serving.get(req.snapshot_id)
        snapshot = retained[0] if retained is not None else None
    if error == NONE and snapshot is None:
        error = SNAPSHOT_NOT_FOUND
    if error != NONE or snapshot is None:
        node.reply(env, FetchSnapshotResponse(error, leader, req.snapshot_id, -1, -1, b""))
        return
    node.serving[req.snapshot_id] = (snapshot, node.now)
    _replica(node, ld, req.replica_id)
    blob = encode_snapshot(snapshot)
    if req.position > len(blob):
        node.reply(
            env,
            FetchSnapshotResponse(POSITION_OUT_OF_RANGE, leader, req.snapshot_id, -1, -1, b""),
        )
        return
    chunk = blob[req.position : req.position + req.max_bytes]
    node.reply(
        env,
        FetchSnapshotResponse(NONE, leader, req.snapshot_id, len(blob), req.position, chunk),
    )


def maybe_advance_high_watermark(node: RaftNode) -> None:
    ld = node.leader_state
    assert ld is not None
    voters = node.voters.latest
    own = node.log.end_offset if node.config.inject_bug == "count_unflushed" else node.durable_end
    offsets = sorted(
        (
            own
            if voter == node.node_id
            else ld.replicas[voter].end_offset
            if voter in ld.replicas
            else 0
        )
        for voter in voters
    )
    # The offset that a majority of voters has reached.
    majority_offset = offsets[(len(offsets) - 1) // 2]
    own_epoch_rule = node.config.inject_bug != "commit_old_epoch"
    if majority_offset > node.high_watermark and (
        majority_offset > ld.epoch_start_offset or not own_epoch_rule
    ):
        node.high_watermark = majority_offset
    if node.node_id not in voters and node.high_watermark > node.voters.latest_offset:
        node.resign()  # KIP-853: a removed leader leads until its removal commits


def send_begin_quorum_epoch(node: RaftNode, ld: LeaderState) -> None:
    voters = node.voters.latest
    for voter in sorted(ld.begin_pending):
        if voter in voters:
            node.send(voter, BeginQuorumEpochRequest(node.node_id, node.epoch, voter))
    ld.next_begin_tick = node.now + node.config.begin_quorum_retry


def tick_leader(node: RaftNode) -> None:
    ld = node.leader_state
    assert ld is not None
    config = node.config
    check_quorum_timeout = config.fetch_timeout + config.fetch_timeout // 2
    if config.check_quorum and node.now - ld.since_tick >= check_quorum_timeout:
        horizon = node.now - check_quorum_timeout
        voters = node.voters.latest
        live = sum(
            1
            for voter in voters
            if voter == node.node_id
            or (voter in ld.replicas and ld.replicas[voter].last_fetch_tick > horizon)
        )
        if live * 2 <= len(voters):
            node.resign()
            return
    if node.now >= ld.next_begin_tick:
        # Voters that never fetched in this epoch, or stopped fetching: a
        # voter stuck in a later epoch answers FENCED_LEADER_EPOCH with it.
        horizon = node.now - config.fetch_timeout
        for voter, replica in ld.replicas.items():
            if replica.last_fetch_tick < horizon:
                ld.begin_pending.add(voter)
        if ld.begin_pending:
            send_begin_quorum_epoch(node, ld)
    if ld.transfer_target is not None and node.now >= ld.transfer_deadline:
        ld.transfer_target = None
    if node.serving:
        # Forget snapshots nobody asked for within a fetch timeout.
        horizon = node.now - config.fetch_timeout
        for snapshot_id, (_, last) in list(node.serving.items()):
            if last < horizon:
                del node.serving[snapshot_id]
