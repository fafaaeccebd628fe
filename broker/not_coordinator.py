"""What a node answers for a group it does not coordinate: NOT_COORDINATOR.

A group belongs to the broker leading its partition of ``__consumer_offsets``
(FindCoordinator names it). A group request that reaches another node is
answered NOT_COORDINATOR, in the shape of each API's response, so the client
looks its coordinator up again, as Kafka's brokers answer. :class:`NotCoordinator`
stands in for a :class:`~broker.group.GroupCoordinator` in
:meth:`broker.groups.GroupService.call`: it has the methods handlers call,
and each returns the refusal at once.
"""

from __future__ import annotations

from typing import Any

from broker.errors import ErrorCode
from broker.group import commit_response, offset_fetch_response
from broker.group.responses import heartbeat_response, join_error, leave_response, sync_response
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.delete_groups_response import DeletableGroupResult, DeleteGroupsResponse
from broker.wire.generated.describe_groups_response import DescribedGroup
from broker.wire.generated.heartbeat_response import HeartbeatResponse
from broker.wire.generated.join_group_request import JoinGroupRequest
from broker.wire.generated.join_group_response import JoinGroupResponse
from broker.wire.generated.leave_group_response import LeaveGroupResponse
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_commit_response import OffsetCommitResponse
from broker.wire.generated.offset_delete_response import OffsetDeleteResponse
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest
from broker.wire.generated.offset_fetch_response import (
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
)
from broker.wire.generated.sync_group_response import SyncGroupResponse

CODE = ErrorCode.NOT_COORDINATOR


class NotCoordinator:
    def join_group(
        self, _token: object, request: JoinGroupRequest, *, version: int, **_: Any
    ) -> JoinGroupResponse:
        return join_error(version, request.member_id, CODE)

    def sync_group(self, *_args: Any, **_kwargs: Any) -> SyncGroupResponse:
        return sync_response(CODE)

    def heartbeat(self, *_args: Any, **_kwargs: Any) -> HeartbeatResponse:
        return heartbeat_response(CODE)

    def leave_group(
        self, _token: object, _request: Any, *, version: int, **_: Any
    ) -> LeaveGroupResponse:
        return leave_response(version, CODE, [])

    def offset_commit(
        self, _token: object, request: OffsetCommitRequest, **_: Any
    ) -> OffsetCommitResponse:
        return commit_response(request, lambda _tp: CODE)

    def offset_fetch(self, request: OffsetFetchRequest, *, version: int) -> OffsetFetchResponse:
        return offset_fetch_response(version, [self.fetch_group_offsets(request.group_id, None)])

    def fetch_group_offsets(
        self, group_id: str, _topics: Any, **_: Any
    ) -> OffsetFetchResponseGroup:
        return OffsetFetchResponseGroup(group_id=group_id, error_code=CODE)

    def describe_group(self, group_id: str, **_: Any) -> DescribedGroup:
        return DescribedGroup(error_code=CODE, group_id=group_id)

    def delete_groups(
        self, _token: object, request: DeleteGroupsRequest, **_: Any
    ) -> DeleteGroupsResponse:
        return DeleteGroupsResponse(
            results=[
                DeletableGroupResult(group_id=g, error_code=CODE) for g in request.groups_names
            ]
        )

    def offset_delete(self, *_args: Any, **_kwargs: Any) -> OffsetDeleteResponse:
        return OffsetDeleteResponse(error_code=CODE)
