"""Response dataclasses filled in the way each API version expects.

The coordinator decides error codes and contents; these helpers put them in
the fields a given version encodes (a non-nullable ``ProtocolName`` before
JoinGroup v7, the top-level LeaveGroup error before v3, OffsetFetch's
per-group layout from v8). Handlers that fan a request out over several
coordinators use :func:`offset_fetch_response` to assemble the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from broker.group.errors import ErrorCode
from broker.group.types import TopicPartition
from broker.wire.generated.heartbeat_response import HeartbeatResponse
from broker.wire.generated.join_group_response import JoinGroupResponse, JoinGroupResponseMember
from broker.wire.generated.leave_group_request import MemberIdentity
from broker.wire.generated.leave_group_response import LeaveGroupResponse, MemberResponse
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_commit_response import (
    OffsetCommitResponse,
    OffsetCommitResponsePartition,
    OffsetCommitResponseTopic,
)
from broker.wire.generated.offset_fetch_response import (
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartition,
    OffsetFetchResponseTopic,
)
from broker.wire.generated.sync_group_response import SyncGroupResponse


def join_response(
    version: int,
    error: int,
    member_id: str,
    *,
    generation_id: int = -1,
    protocol_type: str | None = None,
    protocol_name: str | None = None,
    leader: str | None = None,
    members: Sequence[JoinGroupResponseMember] = (),
    skip_assignment: bool = False,
) -> JoinGroupResponse:
    if protocol_name is None and version < 7:
        protocol_name = ""
    return JoinGroupResponse(
        error_code=error,
        generation_id=generation_id,
        protocol_type=protocol_type,
        protocol_name=protocol_name,
        leader=leader or "",
        skip_assignment=skip_assignment and version >= 9,
        member_id=member_id,
        members=list(members),
    )


def join_error(version: int, member_id: str, error: int) -> JoinGroupResponse:
    return join_response(version, error, member_id)


def sync_response(
    error: int,
    *,
    protocol_type: str | None = None,
    protocol_name: str | None = None,
    assignment: bytes = b"",
) -> SyncGroupResponse:
    return SyncGroupResponse(
        error_code=error,
        protocol_type=protocol_type,
        protocol_name=protocol_name,
        assignment=assignment,
    )


def heartbeat_response(error: int) -> HeartbeatResponse:
    return HeartbeatResponse(error_code=error)


def leave_response(
    version: int, error: int, results: Sequence[tuple[MemberIdentity, int]]
) -> LeaveGroupResponse:
    """Before v3 one member leaves and its error is the top-level error."""
    if version < 3:
        if error == ErrorCode.NONE:
            error = next((code for _, code in results if code != ErrorCode.NONE), error)
        return LeaveGroupResponse(error_code=error)
    return LeaveGroupResponse(
        error_code=error,
        members=[
            MemberResponse(
                member_id=identity.member_id,
                group_instance_id=identity.group_instance_id,
                error_code=code,
            )
            for identity, code in results
        ],
    )


def commit_response(
    request: OffsetCommitRequest, error_of: Callable[[TopicPartition], int]
) -> OffsetCommitResponse:
    """One error per requested partition, in request order."""
    return OffsetCommitResponse(
        topics=[
            OffsetCommitResponseTopic(
                name=topic.name,
                topic_id=topic.topic_id,
                partitions=[
                    OffsetCommitResponsePartition(
                        partition_index=p.partition_index,
                        error_code=error_of((topic.name, p.partition_index)),
                    )
                    for p in topic.partitions
                ],
            )
            for topic in request.topics
        ]
    )


def offset_fetch_response(
    version: int, groups: Sequence[OffsetFetchResponseGroup]
) -> OffsetFetchResponse:
    """The OffsetFetch response for ``version`` from per-group results: v8+
    lists the groups; earlier versions carry the one group's topics at the top
    level, and before v2 (no top-level error) its error on every partition."""
    if version >= 8:
        return OffsetFetchResponse(groups=list(groups))
    if len(groups) != 1:
        raise ValueError(f"OffsetFetch v{version} answers exactly one group")
    group = groups[0]
    topics = [
        OffsetFetchResponseTopic(
            name=t.name,
            partitions=[
                OffsetFetchResponsePartition(
                    partition_index=p.partition_index,
                    committed_offset=p.committed_offset,
                    committed_leader_epoch=p.committed_leader_epoch,
                    metadata=p.metadata,
                    error_code=p.error_code
                    if version >= 2 or group.error_code == ErrorCode.NONE
                    else group.error_code,
                )
                for p in t.partitions
            ],
        )
        for t in group.topics
    ]
    return OffsetFetchResponse(topics=topics, error_code=group.error_code)
