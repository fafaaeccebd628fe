"""OffsetCommit, DeleteGroups, OffsetDelete and offsets retention."""

from __future__ import annotations

from broker.group.base import (
    CoordinatorBase,
    OffsetsStored,
    TombstonesStored,
    Unanswered,
    validate_member,
)
from broker.group.errors import ErrorCode, commit_append_error
from broker.group.group import CONSUMER_PROTOCOL_TYPE, Group
from broker.group.records import group_tombstone, offset_record, offset_tombstone
from broker.group.responses import commit_response
from broker.group.types import (
    CommittedOffset,
    Effect,
    GroupState,
    Record,
    Respond,
    T,
    TopicPartition,
)
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.delete_groups_response import DeletableGroupResult, DeleteGroupsResponse
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_delete_request import OffsetDeleteRequest
from broker.wire.generated.offset_delete_response import (
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
)

_S = GroupState
_E = ErrorCode


class Offsets(CoordinatorBase[T]):
    """Committed offsets and group deletion; entry points are in GroupCoordinator."""

    # -- OffsetCommit ---------------------------------------------------------------

    def _commit(
        self, token: T, request: OffsetCommitRequest, version: int, now: int, out: list[Effect[T]]
    ) -> None:
        def reply(code: int) -> None:
            out.append(Respond(token, commit_response(request, lambda _tp: code)))

        generation_id = request.generation_id_or_member_epoch
        instance_id = request.group_instance_id if version >= 7 else None
        if self._loading:
            return reply(_E.COORDINATOR_LOAD_IN_PROGRESS)
        group = self._groups.get(request.group_id)
        if group is None:
            if generation_id >= 0:
                return reply(_E.GROUP_ID_NOT_FOUND if version >= 9 else _E.ILLEGAL_GENERATION)
            # A consumer that assigns partitions itself: a "simple" group.
            group = Group(request.group_id, state_timestamp_ms=now)
            self._groups[group.group_id] = group
        error = _validate_offset_commit(group, generation_id, request.member_id, instance_id)
        if error != _E.NONE:
            return reply(error)
        if group.state is _S.COMPLETING_REBALANCE:
            return reply(_E.REBALANCE_IN_PROGRESS)
        member = group.members.get(request.member_id)
        if member is not None and group.state in (_S.STABLE, _S.PREPARING_REBALANCE):
            member.heartbeat_deadline_ms = now + member.session_timeout_ms
        expire = None
        if version <= 4 and request.retention_time_ms != -1:
            expire = now + request.retention_time_ms
        staged: dict[TopicPartition, CommittedOffset] = {}
        too_large: set[TopicPartition] = set()
        for topic in request.topics:
            for p in topic.partitions:
                tp = (topic.name, p.partition_index)
                metadata = p.committed_metadata or ""
                if len(metadata) > self.config.offset_metadata_max_bytes:
                    too_large.add(tp)
                    continue
                staged[tp] = CommittedOffset(
                    offset=p.committed_offset,
                    leader_epoch=p.committed_leader_epoch,
                    metadata=metadata,
                    commit_timestamp_ms=now,
                    expire_timestamp_ms=expire,
                )
        if not staged:
            return reply(_E.OFFSET_METADATA_TOO_LARGE)
        for tp in staged:
            group.pending_commits[tp] = group.pending_commits.get(tp, 0) + 1
        records = [offset_record(group.group_id, tp, c) for tp, c in staged.items()]
        self._persist(out, records, OffsetsStored(group, token, request, staged, too_large))

    def _offsets_stored(self, stored: OffsetsStored[T], error: int, out: list[Effect[T]]) -> None:
        group = stored.group
        for tp in stored.staged:
            left = group.pending_commits.get(tp, 0) - 1
            if left > 0:
                group.pending_commits[tp] = left
            else:
                group.pending_commits.pop(tp, None)
        if error == _E.NONE and self._groups.get(group.group_id) is group:
            group.offsets.update(stored.staged)
        code = _E.NONE if error == _E.NONE else commit_append_error(error)

        def error_of(tp: TopicPartition) -> int:
            return _E.OFFSET_METADATA_TOO_LARGE if tp in stored.too_large else code

        out.append(Respond(stored.token, commit_response(stored.request, error_of)))

    # -- retention and deletion -------------------------------------------------

    def _retention_check(self, now: int, out: list[Effect[T]]) -> None:
        """``offsets.retention.minutes``: drop expired offsets, then Empty
        groups left with no offsets."""
        self._next_retention_check_ms = now + self.config.offsets_retention_check_interval_ms
        records: list[Record] = []
        for group in list(self._groups.values()):
            for tp in group.expired_offsets(now, self.config.offsets_retention_ms):
                del group.offsets[tp]
                records.append(offset_tombstone(group.group_id, tp))
            if group.state is _S.EMPTY and not group.has_offsets():
                records += self._drop(group, now)
        if records:
            self._persist(out, records, Unanswered())

    def _drop(self, group: Group[T], now: int) -> list[Record]:
        """Mark an Empty group Dead and forget it; the tombstones to write.
        A group that never had a generation only stored offsets: it has no
        metadata record to delete."""
        group.transition(_S.DEAD, now)
        del self._groups[group.group_id]
        records = [offset_tombstone(group.group_id, tp) for tp in sorted(group.offsets)]
        group.offsets.clear()
        group.pending_commits.clear()
        if group.generation_id > 0:
            records.append(group_tombstone(group.group_id))
        return records

    def _respond_after(
        self,
        out: list[Effect[T]],
        token: T,
        response: DeleteGroupsResponse | OffsetDeleteResponse,
        records: list[Record],
    ) -> None:
        if records:
            self._persist(out, records, TombstonesStored(token, response))
        else:
            out.append(Respond(token, response))

    def _delete_groups(
        self, token: T, request: DeleteGroupsRequest, now: int, out: list[Effect[T]]
    ) -> None:
        results: list[DeletableGroupResult] = []
        records: list[Record] = []
        for group_id in dict.fromkeys(request.groups_names):
            group = self._groups.get(group_id)
            if self._loading:
                code = _E.COORDINATOR_LOAD_IN_PROGRESS
            elif group is None:
                code = _E.GROUP_ID_NOT_FOUND
            elif group.state is _S.EMPTY:
                records += self._drop(group, now)
                code = _E.NONE
            else:
                code = _E.NON_EMPTY_GROUP
            results.append(DeletableGroupResult(group_id=group_id, error_code=code))
        self._respond_after(out, token, DeleteGroupsResponse(results=results), records)

    def _offset_delete(
        self, token: T, request: OffsetDeleteRequest, now: int, out: list[Effect[T]]
    ) -> None:
        group = self._groups.get(request.group_id)
        if self._loading:
            group_error: int = _E.COORDINATOR_LOAD_IN_PROGRESS
        elif group is None:
            group_error = _E.GROUP_ID_NOT_FOUND
        elif group.state is _S.EMPTY or group.protocol_type == CONSUMER_PROTOCOL_TYPE:
            group_error = _E.NONE
        else:
            group_error = _E.NON_EMPTY_GROUP
        if group is None or group_error != _E.NONE:
            out.append(Respond(token, OffsetDeleteResponse(error_code=group_error)))
            return
        records: list[Record] = []
        topics = []
        for topic in request.topics:
            subscribed = group.state is not _S.EMPTY and group.is_subscribed_to(topic.name)
            partitions = []
            for p in topic.partitions:
                tp = (topic.name, p.partition_index)
                if subscribed:
                    code: int = _E.GROUP_SUBSCRIBED_TO_TOPIC
                else:
                    code = _E.NONE
                    group.pending_commits.pop(tp, None)
                    if group.offsets.pop(tp, None) is not None:
                        records.append(offset_tombstone(group.group_id, tp))
                partitions.append(
                    OffsetDeleteResponsePartition(
                        partition_index=p.partition_index, error_code=code
                    )
                )
            topics.append(OffsetDeleteResponseTopic(name=topic.name, partitions=partitions))
        if group.state is _S.EMPTY and not group.has_offsets():
            records += self._drop(group, now)
        self._respond_after(out, token, OffsetDeleteResponse(topics=topics), records)


def _validate_offset_commit(
    group: Group[T], generation_id: int, member_id: str, instance_id: str | None
) -> int:
    if generation_id < 0 and group.state is _S.EMPTY:
        return _E.NONE  # an admin client or a consumer without group management
    if generation_id >= 0 or member_id or instance_id is not None:
        error = validate_member(group, member_id, instance_id)
        if error != _E.NONE:
            return error
        if generation_id != group.generation_id:
            return _E.ILLEGAL_GENERATION
        return _E.NONE
    if group.state is not _S.EMPTY:
        return _E.UNKNOWN_MEMBER_ID  # only members commit to a group that has them
    return _E.NONE


def failed_response(
    response: DeleteGroupsResponse | OffsetDeleteResponse, code: int
) -> DeleteGroupsResponse | OffsetDeleteResponse:
    """The response with every success turned into ``code``."""
    if isinstance(response, DeleteGroupsResponse):
        return DeleteGroupsResponse(
            results=[
                DeletableGroupResult(
                    group_id=r.group_id,
                    error_code=code if r.error_code == _E.NONE else r.error_code,
                )
                for r in response.results
            ]
        )
    return OffsetDeleteResponse(error_code=code)
