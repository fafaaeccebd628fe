"""The Raft core's per-partition messages <-> Kafka's multi-partition RPCs.

Theory of operation
-------------------
The core (broker/raft) speaks one message per replicated log; Kafka's wire
RPCs carry lists of topics and partitions. The driver hands this module all
the messages of one kind that one node sends to one peer in a round, tagged
with the :class:`GroupId` of the log they belong to, and gets back one wire
request body (KIP-595/KIP-853 fields: Vote v2, BeginQuorumEpoch v1,
EndQuorumEpoch v1, Fetch v17 with ReplicaState, LastFetchedEpoch,
DivergingEpoch and SnapshotId, FetchSnapshot v1). The receiving side splits a
request back into (group, message) pairs, builds the response from the
core's answers, and the sender splits the response into per-group messages.

What the wire cannot carry is fixed by convention:

* the core's correlation ids: the sender keeps, per in-flight wire request,
  the core correlation id of each group's message and restores it on the
  response (:class:`Outbound`);
* ``FetchRequest.max_records``: Kafka limits fetches in bytes. The wire
  carries ``partition_max_bytes``; the receiver uses its own
  ``max_fetch_records`` (the leader's config bounds what it sends anyway);
* ``VoteRequest.voter_id`` is the top-level VoterId of Vote v2 (one request
  per peer, so one voter).

Pure: no I/O, no trio. Round-trip tests run every message through the
generated codecs (tests/replication/test_wire.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker.raft import messages as rm
from broker.replication.entries import entries_blob, parse_data_entries, parse_entries
from broker.wire.codec import records_size
from broker.wire.generated import (
    begin_quorum_epoch_request as bqe_req,
)
from broker.wire.generated import (
    begin_quorum_epoch_response as bqe_resp,
)
from broker.wire.generated import (
    end_quorum_epoch_request as eqe_req,
)
from broker.wire.generated import (
    end_quorum_epoch_response as eqe_resp,
)
from broker.wire.generated import (
    fetch_request as f_req,
)
from broker.wire.generated import (
    fetch_response as f_resp,
)
from broker.wire.generated import (
    fetch_snapshot_request as fs_req,
)
from broker.wire.generated import (
    fetch_snapshot_response as fs_resp,
)
from broker.wire.generated import (
    vote_request as v_req,
)
from broker.wire.generated import (
    vote_response as v_resp,
)

VOTE, BEGIN_QUORUM_EPOCH, END_QUORUM_EPOCH, FETCH, FETCH_SNAPSHOT = 52, 53, 54, 1, 59
VERSIONS = {VOTE: 2, BEGIN_QUORUM_EPOCH: 1, END_QUORUM_EPOCH: 1, FETCH: 17, FETCH_SNAPSHOT: 1}
"""The version this node sends of each Raft RPC (Kafka 4.1's)."""

METADATA_TOPIC_ID = uuid.UUID(int=1)
"""Kafka's fixed topic id of ``__cluster_metadata`` (Uuid.METADATA_TOPIC_ID)."""
FETCH_PARTITION_MAX_BYTES = 1 << 20
RAFT_FETCH_MAX_WAIT_MS = 200
"""How long a leader may hold a Fetch that has nothing new (long poll)."""


@dataclass(frozen=True, slots=True)
class GroupId:
    """One replicated log: a topic partition."""

    topic: str
    topic_id: uuid.UUID
    partition: int
    data: bool = False
    """A data partition: its Fetch records are the stored batches as they
    are (broker/replication/batch_log.py), not one entry per batch."""


METADATA_GROUP = GroupId("__cluster_metadata", METADATA_TOPIC_ID, 0)

Tagged = tuple[GroupId, rm.Message]


def api_key_of(message: rm.Message) -> int:
    if isinstance(message, (rm.VoteRequest, rm.VoteResponse)):
        return VOTE
    if isinstance(message, (rm.BeginQuorumEpochRequest, rm.BeginQuorumEpochResponse)):
        return BEGIN_QUORUM_EPOCH
    if isinstance(message, (rm.EndQuorumEpochRequest, rm.EndQuorumEpochResponse)):
        return END_QUORUM_EPOCH
    if isinstance(message, (rm.FetchRequest, rm.FetchResponse)):
        return FETCH
    return FETCH_SNAPSHOT


class WireError(ValueError):
    """A Raft RPC that does not translate (missing fields, unknown group)."""


# ------------------------------------------------------------------ requests


def _topics(items: Sequence[Tagged]) -> dict[tuple[str, uuid.UUID], list[tuple[int, Any]]]:
    topics: dict[tuple[str, uuid.UUID], list[tuple[int, Any]]] = {}
    for group, message in items:
        topics.setdefault((group.topic, group.topic_id), []).append((group.partition, message))
    return topics


def _data_topics(items: Sequence[Tagged]) -> set[tuple[str, uuid.UUID]]:
    return {(g.topic, g.topic_id) for g, _m in items if g.data}


def encode_request(
    api_key: int, cluster_id: str | None, source: int, dest: int, items: Sequence[Tagged]
) -> Any:
    """One wire request body carrying ``items`` (one message per group, all
    of the kind ``api_key``) from node ``source`` to node ``dest``."""
    topics = _topics(items)
    if api_key == VOTE:
        return v_req.VoteRequest(
            cluster_id=cluster_id,
            voter_id=dest,
            topics=[
                v_req.TopicData(
                    name,
                    [
                        v_req.PartitionData(
                            partition_index=p,
                            replica_epoch=m.candidate_epoch,
                            replica_id=m.candidate_id,
                            last_offset_epoch=m.last_offset_epoch,
                            last_offset=m.last_offset,
                            pre_vote=m.pre_vote,
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ],
        )
    if api_key == BEGIN_QUORUM_EPOCH:
        return bqe_req.BeginQuorumEpochRequest(
            cluster_id=cluster_id,
            voter_id=dest,
            topics=[
                bqe_req.TopicData(
                    name,
                    [
                        bqe_req.PartitionData(
                            partition_index=p, leader_id=m.leader_id, leader_epoch=m.leader_epoch
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ],
        )
    if api_key == END_QUORUM_EPOCH:
        return eqe_req.EndQuorumEpochRequest(
            cluster_id=cluster_id,
            topics=[
                eqe_req.TopicData(
                    name,
                    [
                        eqe_req.PartitionData(
                            partition_index=p,
                            leader_id=m.leader_id,
                            leader_epoch=m.leader_epoch,
                            preferred_candidates=[
                                eqe_req.ReplicaInfo(candidate_id=c) for c in m.preferred_successors
                            ],
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ],
        )
    if api_key == FETCH:
        first: rm.FetchRequest = items[0][1]  # type: ignore[assignment]
        return f_req.FetchRequest(
            cluster_id=cluster_id,
            replica_state=f_req.ReplicaState(first.replica_id, first.replica_epoch),
            max_wait_ms=RAFT_FETCH_MAX_WAIT_MS,
            min_bytes=0,
            topics=[
                f_req.FetchTopic(
                    topic=name,
                    topic_id=tid,
                    partitions=[
                        f_req.FetchPartition(
                            partition=p,
                            current_leader_epoch=m.current_leader_epoch,
                            fetch_offset=m.fetch_offset,
                            last_fetched_epoch=m.last_fetched_epoch,
                            log_start_offset=m.log_start_offset,
                            partition_max_bytes=FETCH_PARTITION_MAX_BYTES,
                        )
                        for p, m in parts
                    ],
                )
                for (name, tid), parts in topics.items()
            ],
        )
    if api_key == FETCH_SNAPSHOT:
        first_s: rm.FetchSnapshotRequest = items[0][1]  # type: ignore[assignment]
        return fs_req.FetchSnapshotRequest(
            cluster_id=cluster_id,
            replica_id=first_s.replica_id,
            max_bytes=first_s.max_bytes,
            topics=[
                fs_req.TopicSnapshot(
                    name,
                    [
                        fs_req.PartitionSnapshot(
                            partition=p,
                            current_leader_epoch=m.current_leader_epoch,
                            snapshot_id=fs_req.SnapshotId(
                                m.snapshot_id.end_offset, m.snapshot_id.epoch
                            ),
                            position=m.position,
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ],
        )
    raise WireError(f"api key {api_key} is not a Raft RPC")


GroupLookup = dict[str, GroupId]
"""Topic name -> group, for the receiving side (and topic id -> group for Fetch)."""


def _group(groups: dict[Any, GroupId], topic: Any, partition: int) -> GroupId:
    base = groups.get(topic)
    if base is None:
        raise WireError(f"unknown raft topic {topic}")
    return GroupId(base.topic, base.topic_id, partition, base.data)


def decode_request(
    api_key: int, body: Any, groups: dict[Any, GroupId], max_fetch_records: int
) -> tuple[int, list[Tagged]]:
    """(source node id, per-group messages) of an inbound Raft request.
    ``groups`` maps topic names (and topic ids) to their :class:`GroupId`."""
    out: list[Tagged] = []
    if api_key == VOTE:
        source = -1
        for t in body.topics:
            for p in t.partitions:
                source = p.replica_id
                message: rm.Message = rm.VoteRequest(
                    candidate_epoch=p.replica_epoch,
                    candidate_id=p.replica_id,
                    voter_id=body.voter_id,
                    last_offset_epoch=p.last_offset_epoch,
                    last_offset=p.last_offset,
                    pre_vote=p.pre_vote,
                )
                out.append((_group(groups, t.topic_name, p.partition_index), message))
        return source, out
    if api_key == BEGIN_QUORUM_EPOCH:
        source = -1
        for t in body.topics:
            for p in t.partitions:
                source = p.leader_id
                message = rm.BeginQuorumEpochRequest(p.leader_id, p.leader_epoch, body.voter_id)
                out.append((_group(groups, t.topic_name, p.partition_index), message))
        return source, out
    if api_key == END_QUORUM_EPOCH:
        source = -1
        for t in body.topics:
            for p in t.partitions:
                source = p.leader_id
                successors = tuple(c.candidate_id for c in p.preferred_candidates) or tuple(
                    p.preferred_successors
                )
                message = rm.EndQuorumEpochRequest(p.leader_id, p.leader_epoch, successors)
                out.append((_group(groups, t.topic_name, p.partition_index), message))
        return source, out
    if api_key == FETCH:
        replica_id = body.replica_state.replica_id
        if replica_id < 0:
            replica_id = body.replica_id
        replica_epoch = body.replica_state.replica_epoch
        for t in body.topics:
            key = t.topic_id if t.topic_id.int else t.topic
            for p in t.partitions:
                message = rm.FetchRequest(
                    replica_id=replica_id,
                    replica_epoch=replica_epoch,
                    current_leader_epoch=p.current_leader_epoch,
                    fetch_offset=p.fetch_offset,
                    last_fetched_epoch=p.last_fetched_epoch,
                    log_start_offset=p.log_start_offset,
                    max_records=max_fetch_records,
                )
                out.append((_group(groups, key, p.partition), message))
        return replica_id, out
    if api_key == FETCH_SNAPSHOT:
        for t in body.topics:
            for p in t.partitions:
                message = rm.FetchSnapshotRequest(
                    replica_id=body.replica_id,
                    current_leader_epoch=p.current_leader_epoch,
                    snapshot_id=rm.SnapshotId(p.snapshot_id.end_offset, p.snapshot_id.epoch),
                    position=p.position,
                    max_bytes=body.max_bytes,
                )
                out.append((_group(groups, t.name, p.partition), message))
        return body.replica_id, out
    raise WireError(f"api key {api_key} is not a Raft RPC")


# ----------------------------------------------------------------- responses


def encode_response(api_key: int, items: Sequence[Tagged], timestamp: int = 0) -> Any:
    """The wire response body for the core's per-group answers."""
    topics = _topics(items)
    if api_key == VOTE:
        return v_resp.VoteResponse(
            topics=[
                v_resp.TopicData(
                    name,
                    [
                        v_resp.PartitionData(
                            partition_index=p,
                            error_code=m.error_code,
                            leader_id=m.leader_id,
                            leader_epoch=m.leader_epoch,
                            vote_granted=m.vote_granted,
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ]
        )
    if api_key in (BEGIN_QUORUM_EPOCH, END_QUORUM_EPOCH):
        mod: Any = bqe_resp if api_key == BEGIN_QUORUM_EPOCH else eqe_resp
        cls = (
            mod.BeginQuorumEpochResponse
            if api_key == BEGIN_QUORUM_EPOCH
            else (mod.EndQuorumEpochResponse)
        )
        return cls(
            topics=[
                mod.TopicData(
                    name,
                    [
                        mod.PartitionData(
                            partition_index=p,
                            error_code=m.error_code,
                            leader_id=m.leader_id,
                            leader_epoch=m.leader_epoch,
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ]
        )
    if api_key == FETCH:
        data = _data_topics(items)
        return f_resp.FetchResponse(
            responses=[
                f_resp.FetchableTopicResponse(
                    topic=name,
                    topic_id=tid,
                    partitions=[
                        _fetch_partition(p, m, timestamp, (name, tid) in data) for p, m in parts
                    ],
                )
                for (name, tid), parts in topics.items()
            ]
        )
    if api_key == FETCH_SNAPSHOT:
        return fs_resp.FetchSnapshotResponse(
            topics=[
                fs_resp.TopicSnapshot(
                    name,
                    [
                        fs_resp.PartitionSnapshot(
                            index=p,
                            error_code=m.error_code,
                            snapshot_id=fs_resp.SnapshotId(
                                m.snapshot_id.end_offset, m.snapshot_id.epoch
                            ),
                            current_leader=fs_resp.LeaderIdAndEpoch(
                                m.current_leader.leader_id, m.current_leader.leader_epoch
                            ),
                            size=m.size,
                            position=m.position,
                            unaligned_records=m.unaligned_records,
                        )
                        for p, m in parts
                    ],
                )
                for (name, _tid), parts in topics.items()
            ]
        )
    raise WireError(f"api key {api_key} is not a Raft RPC")


def _fetch_partition(
    partition: int, m: rm.FetchResponse, timestamp: int, data: bool = False
) -> f_resp.PartitionData:
    diverging = f_resp.EpochEndOffset()
    if m.diverging_epoch is not None:
        diverging = f_resp.EpochEndOffset(m.diverging_epoch.epoch, m.diverging_epoch.end_offset)
    snapshot = f_resp.SnapshotId()
    if m.snapshot_id is not None:
        snapshot = f_resp.SnapshotId(m.snapshot_id.end_offset, m.snapshot_id.epoch)
    return f_resp.PartitionData(
        partition_index=partition,
        error_code=m.error_code,
        high_watermark=m.high_watermark,
        log_start_offset=m.log_start_offset,
        diverging_epoch=diverging,
        current_leader=f_resp.LeaderIdAndEpoch(
            m.current_leader.leader_id, m.current_leader.leader_epoch
        ),
        snapshot_id=snapshot,
        records=_records_blob(m.records, timestamp, data) if m.records else b"",
    )


def _records_blob(entries: Sequence[rm.LogEntry], timestamp: int, data: bool) -> bytes:
    if not data:
        return entries_blob(entries, timestamp)
    # A data partition: its data entries are stored batches, sent as they are.
    return b"".join(
        e.payload if e.control is None else entries_blob([e], timestamp) for e in entries
    )


def error_response(api_key: int, error_code: int) -> Any:
    """A response carrying only a top-level error (cluster id mismatch...)."""
    cls = {
        VOTE: v_resp.VoteResponse,
        BEGIN_QUORUM_EPOCH: bqe_resp.BeginQuorumEpochResponse,
        END_QUORUM_EPOCH: eqe_resp.EndQuorumEpochResponse,
        FETCH: f_resp.FetchResponse,
        FETCH_SNAPSHOT: fs_resp.FetchSnapshotResponse,
    }[api_key]
    return cls(error_code=error_code)


def decode_response(api_key: int, body: Any, groups: dict[Any, GroupId]) -> list[Tagged]:
    """Per-group messages of a Raft response; empty when it carries only a
    top-level error."""
    out: list[Tagged] = []
    if body.error_code != 0:
        return out
    if api_key == VOTE:
        for t in body.topics:
            for p in t.partitions:
                message: rm.Message = rm.VoteResponse(
                    p.error_code, p.leader_id, p.leader_epoch, p.vote_granted
                )
                out.append((_group(groups, t.topic_name, p.partition_index), message))
        return out
    if api_key in (BEGIN_QUORUM_EPOCH, END_QUORUM_EPOCH):
        cls: Any = (
            rm.BeginQuorumEpochResponse
            if api_key == BEGIN_QUORUM_EPOCH
            else rm.EndQuorumEpochResponse
        )
        for t in body.topics:
            for p in t.partitions:
                message = cls(p.error_code, p.leader_id, p.leader_epoch)
                out.append((_group(groups, t.topic_name, p.partition_index), message))
        return out
    if api_key == FETCH:
        for t in body.responses:
            key = t.topic_id if t.topic_id.int else t.topic
            for p in t.partitions:
                group = _group(groups, key, p.partition_index)
                out.append((group, _fetch_message(p, group.data)))
        return out
    if api_key == FETCH_SNAPSHOT:
        for t in body.topics:
            for p in t.partitions:
                records = p.unaligned_records
                message = rm.FetchSnapshotResponse(
                    error_code=p.error_code,
                    current_leader=rm.LeaderIdAndEpoch(
                        p.current_leader.leader_id, p.current_leader.leader_epoch
                    ),
                    snapshot_id=rm.SnapshotId(p.snapshot_id.end_offset, p.snapshot_id.epoch),
                    size=p.size,
                    position=p.position,
                    unaligned_records=bytes(_join(records)),
                )
                out.append((_group(groups, t.name, p.index), message))
        return out
    raise WireError(f"api key {api_key} is not a Raft RPC")


def _join(records: Any) -> bytes:
    if records is None:
        return b""
    if isinstance(records, (bytes, bytearray, memoryview)):
        return bytes(records)
    return b"".join(bytes(part) for part in records)


def _fetch_message(p: f_resp.PartitionData, data: bool = False) -> rm.FetchResponse:
    diverging = None
    if p.diverging_epoch.epoch >= 0 and p.diverging_epoch.end_offset >= 0:
        diverging = rm.EpochEndOffset(p.diverging_epoch.epoch, p.diverging_epoch.end_offset)
    snapshot = None
    if p.snapshot_id.end_offset >= 0 and p.snapshot_id.epoch >= 0:
        snapshot = rm.SnapshotId(p.snapshot_id.end_offset, p.snapshot_id.epoch)
    records: tuple[rm.LogEntry, ...] = ()
    if records_size(p.records) > 0:
        blob = _join(p.records)
        records = tuple(parse_data_entries(blob) if data else parse_entries(blob))
    return rm.FetchResponse(
        error_code=p.error_code,
        high_watermark=p.high_watermark,
        log_start_offset=p.log_start_offset,
        current_leader=rm.LeaderIdAndEpoch(
            p.current_leader.leader_id, p.current_leader.leader_epoch
        ),
        diverging_epoch=diverging,
        snapshot_id=snapshot,
        records=records,
    )


def group_index(groups: Sequence[GroupId]) -> dict[Any, GroupId]:
    """The lookup :func:`decode_request` / :func:`decode_response` take."""
    index: dict[Any, GroupId] = {}
    for group in groups:
        index[group.topic] = group
        index[group.topic_id] = group
    return index


__all__ = [
    "METADATA_GROUP",
    "GroupId",
    "Tagged",
    "WireError",
    "api_key_of",
    "decode_request",
    "decode_response",
    "encode_request",
    "encode_response",
    "error_response",
    "group_index",
]
