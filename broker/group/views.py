"""Read-only answers about groups (DescribeGroups, ListGroups, OffsetFetch)
and the comparable snapshot of a coordinator's durable state.

Pure functions over :class:`~broker.group.group.Group`: the coordinator
looks groups up and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from broker.group.errors import ErrorCode
from broker.group.group import Group
from broker.group.types import CommittedOffset, GroupState, T, TopicPartition
from broker.wire.generated.describe_groups_response import DescribedGroup, DescribedGroupMember
from broker.wire.generated.list_groups_response import ListedGroup
from broker.wire.generated.offset_fetch_request import OffsetFetchRequestTopics
from broker.wire.generated.offset_fetch_response import (
    OffsetFetchResponseGroup,
    OffsetFetchResponsePartitions,
    OffsetFetchResponseTopics,
)

CLASSIC_GROUP_TYPE = "classic"
NO_OFFSET = -1


def describe(group_id: str, group: Group[T] | None, version: int) -> DescribedGroup:
    """Members' metadata and assignments are shown only for Stable groups."""
    if group is None:
        if version >= 6:
            return DescribedGroup(
                error_code=ErrorCode.GROUP_ID_NOT_FOUND,
                error_message=f"Group {group_id} not found.",
                group_id=group_id,
                group_state=GroupState.DEAD.value,
            )
        return DescribedGroup(group_id=group_id, group_state=GroupState.DEAD.value)
    stable = group.state is GroupState.STABLE and group.protocol_name is not None
    members = [
        DescribedGroupMember(
            member_id=m.member_id,
            group_instance_id=m.group_instance_id,
            client_id=m.client_id,
            client_host=m.client_host,
            member_metadata=m.metadata(group.protocol_name)
            if stable and group.protocol_name is not None
            else b"",
            member_assignment=m.assignment if stable else b"",
        )
        for m in group.members.values()
    ]
    return DescribedGroup(
        group_id=group_id,
        group_state=group.state.value,
        protocol_type=group.protocol_type or "",
        protocol_data=(group.protocol_name or "") if stable else "",
        members=members,
    )


def listed(
    groups: Iterable[Group[T]], states_filter: Sequence[str], types_filter: Sequence[str]
) -> list[ListedGroup]:
    """Filters match case-insensitively; every group here is a classic group."""
    if types_filter and CLASSIC_GROUP_TYPE not in {t.lower() for t in types_filter}:
        return []
    states = {s.lower() for s in states_filter}
    return [
        ListedGroup(
            group_id=g.group_id,
            protocol_type=g.protocol_type or "",
            group_state=g.state.value,
            group_type=CLASSIC_GROUP_TYPE,
        )
        for g in groups
        if not states or g.state.value.lower() in states
    ]


def fetched(
    group_id: str,
    group: Group[T] | None,
    topics: Sequence[OffsetFetchRequestTopics] | None,
    require_stable: bool,
) -> OffsetFetchResponseGroup:
    """Committed offsets of the listed partitions (-1 where none), or of every
    partition with one when ``topics`` is None. Offsets whose commit is still
    being appended read as their previous value, or as UNSTABLE_OFFSET_COMMIT
    when ``require_stable``."""
    if topics is None:
        if group is None:
            return OffsetFetchResponseGroup(group_id=group_id)
        by_topic: dict[str, list[int]] = {}
        for topic, partition in sorted(group.offsets):
            by_topic.setdefault(topic, []).append(partition)
        topics = [
            OffsetFetchRequestTopics(name=t, partition_indexes=p) for t, p in by_topic.items()
        ]
    out = []
    for t in topics:
        partitions = []
        for index in t.partition_indexes:
            tp = (t.name, index)
            committed = None if group is None else group.offsets.get(tp)
            if require_stable and group is not None and tp in group.pending_commits:
                partitions.append(
                    OffsetFetchResponsePartitions(
                        partition_index=index,
                        committed_offset=NO_OFFSET,
                        error_code=ErrorCode.UNSTABLE_OFFSET_COMMIT,
                    )
                )
            elif committed is None:
                partitions.append(
                    OffsetFetchResponsePartitions(partition_index=index, committed_offset=NO_OFFSET)
                )
            else:
                partitions.append(
                    OffsetFetchResponsePartitions(
                        partition_index=index,
                        committed_offset=committed.offset,
                        committed_leader_epoch=committed.leader_epoch,
                        metadata=committed.metadata,
                    )
                )
        out.append(
            OffsetFetchResponseTopics(name=t.name, topic_id=t.topic_id, partitions=partitions)
        )
    return OffsetFetchResponseGroup(group_id=group_id, topics=out)


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    subscription: bytes  # metadata for the group's protocol
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupSnapshot:
    """What the ``__consumer_offsets`` log says about a group. Equal before and
    after a replay when the group is Stable (and its last SyncGroup persisted)
    or Empty; ``state_timestamp_ms`` counts only for Empty groups that had
    members, the ones whose offsets' retention runs from it."""

    group_id: str
    state: GroupState
    protocol_type: str | None
    protocol_name: str | None
    generation_id: int
    leader_id: str | None
    state_timestamp_ms: int | None
    members: tuple[MemberSnapshot, ...]
    offsets: tuple[tuple[TopicPartition, CommittedOffset], ...]


def snapshot(group: Group[T]) -> GroupSnapshot | None:
    """None for a group the log does not know (never had members or offsets)."""
    if group.state is GroupState.EMPTY and group.generation_id == 0 and not group.offsets:
        return None
    protocol = group.protocol_name
    return GroupSnapshot(
        group_id=group.group_id,
        state=group.state,
        protocol_type=group.protocol_type,
        protocol_name=protocol,
        generation_id=group.generation_id,
        leader_id=group.leader_id,
        state_timestamp_ms=group.state_timestamp_ms
        if group.state is GroupState.EMPTY and group.generation_id > 0
        else None,
        members=tuple(
            MemberSnapshot(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout_ms,
                session_timeout_ms=m.session_timeout_ms,
                # mid-rebalance, members may have dropped the current protocol
                subscription=dict(m.protocols).get(protocol, b"") if protocol else b"",
                assignment=m.assignment,
            )
            for m in group.members.values()
        ),
        offsets=tuple(sorted(group.offsets.items())),
    )
