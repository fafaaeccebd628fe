"""Every Raft message through the wire translation and the generated codecs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from broker.raft import messages as rm
from broker.replication import wire
from broker.replication.wire import METADATA_GROUP, GroupId
from broker.wire.protocol import RequestHeader, decode_request, decode_response
from broker.wire.protocol import encode_request as frame_request
from broker.wire.protocol import encode_response as frame_response

OTHER = GroupId("orders", uuid.UUID(int=77), 3)
GROUPS = wire.group_index([METADATA_GROUP])
LEADER = rm.LeaderIdAndEpoch(2, 7)

REQUESTS: list[rm.Message] = [
    rm.VoteRequest(8, 1, 3, 7, 42, True),
    rm.VoteRequest(8, 1, 3, 7, 42, False),
    rm.BeginQuorumEpochRequest(1, 8, 3),
    rm.EndQuorumEpochRequest(1, 8, (3, 2)),
    rm.FetchRequest(3, -1, 7, 42, 6, 0, 16),
    rm.FetchSnapshotRequest(3, 7, rm.SnapshotId(40, 6), 1024, 1 << 20),
]
ENTRIES = (
    rm.LogEntry(40, 7, b"\x01\x02", rm.ControlKind.LEADER_CHANGE),
    rm.LogEntry(41, 7, b"metadata"),
    rm.LogEntry(42, 7, b"\x00\x00\x00\x01\x00\x00\x00\x02", rm.ControlKind.KRAFT_VOTERS),
)
RESPONSES: list[rm.Message] = [
    rm.VoteResponse(0, 2, 7, True),
    rm.VoteResponse(74, -1, 9, False),
    rm.BeginQuorumEpochResponse(0, 2, 7),
    rm.EndQuorumEpochResponse(6, -1, 7),
    rm.FetchResponse(0, 40, 0, LEADER, records=ENTRIES),
    rm.FetchResponse(0, 40, 0, LEADER, diverging_epoch=rm.EpochEndOffset(5, 30)),
    rm.FetchResponse(0, 40, 10, LEADER, snapshot_id=rm.SnapshotId(10, 4)),
    rm.FetchResponse(6, -1, -1, rm.LeaderIdAndEpoch(-1, 7)),
    rm.FetchSnapshotResponse(0, LEADER, rm.SnapshotId(10, 4), 300, 100, b"chunk"),
]


def _through_codec_request(api_key: int, body: Any) -> Any:
    version = wire.VERSIONS[api_key]
    frame = frame_request(RequestHeader(api_key, version, 99, "raft"), body)
    return decode_request(memoryview(frame)[4:]).body


def _through_codec_response(api_key: int, body: Any) -> Any:
    version = wire.VERSIONS[api_key]
    parts = frame_response(api_key, version, 99, body)
    frame = b"".join(bytes(p) for p in parts)[4:]
    correlation, decoded = decode_response(api_key, version, frame)
    assert correlation == 99
    return decoded


@pytest.mark.parametrize("message", REQUESTS, ids=lambda m: type(m).__name__)
def test_request_round_trip(message: rm.Message) -> None:
    api_key = wire.api_key_of(message)
    body = wire.encode_request(api_key, "cluster-x", 1, 3, [(METADATA_GROUP, message)])
    decoded = _through_codec_request(api_key, body)
    assert getattr(decoded, "cluster_id", "cluster-x") == "cluster-x"
    source, items = wire.decode_request(api_key, decoded, GROUPS, max_fetch_records=16)
    assert items == [(METADATA_GROUP, message)]
    sender = {
        rm.VoteRequest: "candidate_id",
        rm.BeginQuorumEpochRequest: "leader_id",
        rm.EndQuorumEpochRequest: "leader_id",
        rm.FetchRequest: "replica_id",
        rm.FetchSnapshotRequest: "replica_id",
    }[type(message)]
    assert source == getattr(message, sender)


@pytest.mark.parametrize("message", RESPONSES, ids=lambda m: type(m).__name__)
def test_response_round_trip(message: rm.Message) -> None:
    api_key = wire.api_key_of(message)
    body = wire.encode_response(api_key, [(METADATA_GROUP, message)], timestamp=1234)
    decoded = _through_codec_response(api_key, body)
    assert wire.decode_response(api_key, decoded, GROUPS) == [(METADATA_GROUP, message)]


def test_one_request_carries_several_partitions() -> None:
    groups = wire.group_index([METADATA_GROUP, OTHER])
    first = rm.FetchRequest(3, -1, 7, 42, 6, 0, 16)
    second = rm.FetchRequest(3, -1, 2, 5, 1, 0, 16)
    items = [(METADATA_GROUP, first), (OTHER, second)]
    body = wire.encode_request(wire.FETCH, None, 3, 1, items)
    decoded = _through_codec_request(wire.FETCH, body)
    assert len(decoded.topics) == 2
    _source, back = wire.decode_request(wire.FETCH, decoded, groups, 16)
    assert sorted(back, key=lambda t: t[0].partition) == items


def test_top_level_error_yields_no_messages() -> None:
    body = wire.error_response(wire.VOTE, 104)  # INCONSISTENT_CLUSTER_ID
    decoded = _through_codec_response(wire.VOTE, body)
    assert wire.decode_response(wire.VOTE, decoded, GROUPS) == []


def test_unknown_topic_is_a_wire_error() -> None:
    message = rm.BeginQuorumEpochRequest(1, 8, 3)
    other = GroupId("nope", METADATA_GROUP.topic_id, 0)
    body = wire.encode_request(wire.BEGIN_QUORUM_EPOCH, None, 1, 3, [(other, message)])
    with pytest.raises(wire.WireError):
        wire.decode_request(wire.BEGIN_QUORUM_EPOCH, body, {}, 16)
