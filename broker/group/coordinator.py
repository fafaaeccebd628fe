"""The classic consumer-group coordinator as a sans-I/O state machine.

Theory of operation
-------------------
One :class:`GroupCoordinator` owns the groups of one ``__consumer_offsets``
partition. It never blocks, reads a clock or touches a socket: the shell (one
Trio task per coordinator) feeds it requests and time, and carries out what
it returns.

*Requests in, effects out.* Every call that can change state takes the
decoded request, its API version, the current time ``now_ms`` and a
``token`` the shell chose to identify that request, and returns a list of
effects, in order:

- ``Respond(token, response)``: send ``response`` (a generated dataclass;
  encode it with the request's version) to the request known as ``token``.
  A token is answered exactly once, maybe in a later call: a JoinGroup waits
  until its rebalance completes, a SyncGroup until the leader's assignment
  is stored, an OffsetCommit until its records are stored.
- ``Persist(persist_id, records)``: append ``records`` to this partition of
  ``__consumer_offsets`` as one batch, wait until it is committed (or fails),
  then call ``persisted(persist_id, error_code, now_ms)``, in append order.
  Responses that depend on the records (SyncGroup, OffsetCommit, a static
  member's rejoin, DeleteGroups, OffsetDelete) come out of that call, never
  before: what a client is told has been made durable.

Read-only queries (``offset_fetch``, ``describe_groups``, ``list_groups``)
return their response directly.

*Time.* ``now_ms`` is any monotonic millisecond clock (Trio's, a
``MockClock``'s); a smaller value than seen before counts as the larger one.
Timers are plain deadlines kept in the groups: a member's session (its
heartbeat deadline), a pending member's MEMBER_ID_REQUIRED window, the
rebalance deadline (``group.initial.rebalance.delay.ms`` for a group leaving
Empty, else the largest member rebalance timeout), the deadline for members
to send SyncGroup, and the periodic offsets-retention check. Every call first
fires the timers that are due by ``now_ms``, earliest first, each at its own
deadline (so a late call behaves like a punctual one), and fires any that
came due at its end. ``next_deadline()`` says when to call ``tick(now_ms)``
if nothing else happens first. The shell's loop is::

    while True:
        with trio.move_on_at(ms_to_trio(coordinator.next_deadline())):
            request = await inbox.receive()      # or a persisted() report
            effects = <dispatch to the coordinator>
        effects = coordinator.tick(now())        # if the wait timed out
        perform(effects)

*Start-up and hand-over.* A new coordinator is loading: feed it every
``__consumer_offsets`` record of its partition with ``replay(key, value)``
(in log order, committed records only), then call ``load_complete(now_ms)``.
While loading it answers COORDINATOR_LOAD_IN_PROGRESS (SyncGroup:
REBALANCE_IN_PROGRESS, Heartbeat: NONE, as Kafka does). When the partition's
leadership moves, ``unload()`` answers every waiting request with
NOT_COORDINATOR and the object is done. If a ``Persist`` fails the in-memory
state is ahead of the log only in ways Kafka also tolerates (it reverts what
it must); if the partition is lost, unload.

*Rules.* Kafka's classic protocol (``GroupCoordinator.scala`` of Kafka 3.9,
which Kafka 4's ``ClassicGroup`` keeps): the state machine is
Empty -> PreparingRebalance -> CompletingRebalance -> Stable, back to
PreparingRebalance on any membership or metadata change, and Dead for a
deleted group (which leaves the coordinator's map at once). Where Kafka
leaves a request unanswered (a member sending a second JoinGroup or
SyncGroup while its first still waits) this coordinator answers the older
one with REBALANCE_IN_PROGRESS; where it leaves a choice to hash order
(protocol votes, leader succession) it takes member join order.

Validation that needs the cluster (NOT_COORDINATOR for a group of another
partition, authorization, unknown topics, resolving OffsetCommit v10 topic
ids to names) belongs to the handlers, before they call in here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeAlias, Union

from broker.group.errors import ErrorCode, append_error, commit_append_error, group_append_error
from broker.group.group import Group, InitialDelay, Member, Waiter
from broker.group.records import (
    GroupKey,
    OffsetKey,
    decode_group_value,
    decode_key,
    decode_offset_value,
    group_record,
    group_tombstone,
    offset_record,
    offset_tombstone,
)
from broker.group.responses import (
    commit_response,
    heartbeat_response,
    join_error,
    join_response,
    leave_response,
    offset_fetch_response,
    sync_response,
)
from broker.group.types import (
    CommittedOffset,
    Effect,
    GroupConfig,
    GroupInvariantError,
    GroupState,
    Persist,
    Record,
    Respond,
    T,
    TopicPartition,
)
from broker.group.views import GroupSnapshot, describe, fetched, listed, snapshot
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.delete_groups_response import DeletableGroupResult, DeleteGroupsResponse
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.describe_groups_response import DescribedGroup, DescribeGroupsResponse
from broker.wire.generated.group_metadata_value import GroupMetadataValue
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest
from broker.wire.generated.join_group_response import JoinGroupResponseMember
from broker.wire.generated.leave_group_request import LeaveGroupRequest, MemberIdentity
from broker.wire.generated.list_groups_request import ListGroupsRequest
from broker.wire.generated.list_groups_response import ListGroupsResponse
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_delete_request import OffsetDeleteRequest
from broker.wire.generated.offset_delete_response import (
    OffsetDeleteResponse,
    OffsetDeleteResponsePartition,
    OffsetDeleteResponseTopic,
)
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestTopics
from broker.wire.generated.offset_fetch_response import (
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
)
from broker.wire.generated.sync_group_request import SyncGroupRequest

_S = GroupState
_E = ErrorCode


# What to do when a Persist is reported; one class per kind of write.


@dataclass(slots=True)
class _SyncStored(Generic[T]):
    """The leader's assignment: on success the group becomes Stable."""

    group: Group[T]
    generation_id: int
    assignment: dict[str, bytes]


@dataclass(slots=True)
class _StaticRejoinStored(Generic[T]):
    """A static member took a new member id without a rebalance."""

    group: Group[T]
    member: Member[T]
    waiter: Waiter[T]
    old_member_id: str
    instance_id: str
    old_protocols: list[tuple[str, bytes]]
    old_rebalance_timeout_ms: int
    old_session_timeout_ms: int
    leader_before: str | None


@dataclass(slots=True)
class _OffsetsStored(Generic[T]):
    group: Group[T]
    token: T
    request: OffsetCommitRequest
    staged: dict[TopicPartition, CommittedOffset]
    too_large: set[TopicPartition]


@dataclass(slots=True)
class _TombstonesStored(Generic[T]):
    """DeleteGroups or OffsetDelete: the response waits for the tombstones."""

    token: T
    response: DeleteGroupsResponse | OffsetDeleteResponse


@dataclass(slots=True)
class _Unanswered:
    """A write nobody waits for (an emptied group, expired offsets)."""


_Stored: TypeAlias = Union[  # noqa: UP007
    _SyncStored[T], _StaticRejoinStored[T], _OffsetsStored[T], _TombstonesStored[T], _Unanswered
]


@dataclass(frozen=True, slots=True)
class CoordinatorStatistics:
    groups: int
    members: int
    waiting_requests: int
    persists_in_flight: int


class GroupCoordinator(Generic[T]):
    """The groups of one ``__consumer_offsets`` partition; see the module docstring.

    ``new_member_suffix`` makes the unique part of new member ids (Kafka uses
    a random UUID: pass ``lambda: str(uuid.uuid4())``); ids are
    ``<client.id or group.instance.id>-<suffix>``.
    """

    def __init__(self, config: GroupConfig, new_member_suffix: Callable[[], str]) -> None:
        self.config = config
        self._new_member_suffix = new_member_suffix
        self._groups: dict[str, Group[T]] = {}
        self._stored: dict[int, _Stored[T]] = {}
        self._next_persist_id = 1
        self._now_ms = 0
        self._next_retention_check_ms: int | None = None
        self._loading = True
        self._unloaded = False
        # Replay buffers, latest record per key wins (Kafka's loader).
        self._load_order: dict[str, None] = {}
        self._loaded_groups: dict[str, GroupMetadataValue | None] = {}
        self._loaded_offsets: dict[str, dict[TopicPartition, CommittedOffset]] = {}

    # -- loading and unloading ----------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loading

    def replay(self, key: bytes | memoryview, value: bytes | memoryview | None) -> None:
        """Apply one ``__consumer_offsets`` record (``value`` None: a tombstone)."""
        if not self._loading:
            raise GroupInvariantError("replay() after load_complete()")
        parsed = decode_key(key)
        if isinstance(parsed, OffsetKey):
            self._load_order.setdefault(parsed.group, None)
            offsets = self._loaded_offsets.setdefault(parsed.group, {})
            tp = (parsed.topic, parsed.partition)
            if value is None:
                offsets.pop(tp, None)
            else:
                offsets[tp] = decode_offset_value(value)
        elif isinstance(parsed, GroupKey):
            self._load_order.setdefault(parsed.group, None)
            self._loaded_groups[parsed.group] = None if value is None else decode_group_value(value)

    def load_complete(self, now_ms: int) -> list[Effect[T]]:
        """Build the groups from the replayed records and start serving."""
        if not self._loading:
            raise GroupInvariantError("load_complete() called twice")
        now = self._now_ms = max(self._now_ms, now_ms)
        for group_id in self._load_order:
            value = self._loaded_groups.get(group_id)
            offsets = self._loaded_offsets.get(group_id, {})
            if value is not None:
                group: Group[T] = Group.from_metadata_value(group_id, value)
            elif offsets:
                group = Group(group_id, state_timestamp_ms=now)
            else:
                continue
            group.offsets = dict(offsets)
            self._groups[group_id] = group
        self._load_order.clear()
        self._loaded_groups.clear()
        self._loaded_offsets.clear()
        self._loading = False
        self._next_retention_check_ms = now + self.config.offsets_retention_check_interval_ms
        out: list[Effect[T]] = []
        for group in self._groups.values():
            for member in group.members.values():
                member.heartbeat_deadline_ms = now + member.session_timeout_ms
            if len(group.members) > self.config.max_size:
                self._prepare_rebalance(group, now, out)
        self._fire_due(now, out)
        return out

    def unload(self) -> list[Effect[T]]:
        """Answer everything still waiting with NOT_COORDINATOR; the coordinator
        is unusable afterwards."""
        out: list[Effect[T]] = []
        code = _E.NOT_COORDINATOR
        for group in self._groups.values():
            for member in group.members.values():
                if member.join_waiter is not None:
                    self._answer_join(out, member.join_waiter, member.member_id, code)
                    member.join_waiter = None
                if member.sync_waiter is not None:
                    out.append(Respond(member.sync_waiter.token, sync_response(code)))
                    member.sync_waiter = None
        for stored in self._stored.values():
            if isinstance(stored, _OffsetsStored):
                response = commit_response(stored.request, lambda _tp: code)
                out.append(Respond(stored.token, response))
            elif isinstance(stored, _TombstonesStored):
                out.append(Respond(stored.token, _failed(stored.response, code)))
        self._groups.clear()
        self._stored.clear()
        self._unloaded = True
        return out

    # -- time ---------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Effect[T]]:
        out: list[Effect[T]] = []
        self._begin(now_ms, out)
        return out

    def next_deadline(self) -> int | None:
        """The earliest time a timer is due; None when nothing is scheduled."""
        if self._loading or self._unloaded:
            return None
        return min((deadline for deadline, _ in self._timers([])), default=None)

    # -- membership requests ------------------------------------------------

    def join_group(
        self,
        token: T,
        request: JoinGroupRequest,
        *,
        version: int,
        client_id: str,
        client_host: str,
        now_ms: int,
    ) -> list[Effect[T]]:
        """JoinGroup v0-9. ``client_id`` comes from the request header,
        ``client_host`` is the peer's address as Kafka prints it (``/1.2.3.4``)."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        self._join(Waiter(token, version), request, client_id, client_host, now, out)
        self._fire_due(now, out)
        return out

    def sync_group(
        self, token: T, request: SyncGroupRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """SyncGroup v0-5."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        self._sync(Waiter(token, version), request, now, out)
        self._fire_due(now, out)
        return out

    def heartbeat(
        self, token: T, request: HeartbeatRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """Heartbeat v0-4."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        code = self._heartbeat(request, version, now)
        out.append(Respond(token, heartbeat_response(code)))
        self._fire_due(now, out)
        return out

    def leave_group(
        self, token: T, request: LeaveGroupRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """LeaveGroup v0-5 (v3+: a batch, members named by id or instance id)."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        error, results = self._leave(request, version, now, out)
        out.append(Respond(token, leave_response(version, error, results)))
        self._fire_due(now, out)
        return out

    # -- offsets and administration -------------------------------------------

    def offset_commit(
        self, token: T, request: OffsetCommitRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """OffsetCommit v2-10, with topic names (handlers resolve v10's ids)."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        self._commit(token, request, version, now, out)
        self._fire_due(now, out)
        return out

    def delete_groups(
        self, token: T, request: DeleteGroupsRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """DeleteGroups v0-2: only Empty groups go, with all their offsets."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
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
        self._fire_due(now, out)
        return out

    def offset_delete(
        self, token: T, request: OffsetDeleteRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """OffsetDelete v0: not for topics a non-empty consumer group subscribes to."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        group = self._groups.get(request.group_id)
        if self._loading:
            group_error: int = _E.COORDINATOR_LOAD_IN_PROGRESS
        elif group is None:
            group_error = _E.GROUP_ID_NOT_FOUND
        elif group.state is _S.EMPTY or group.protocol_type == "consumer":
            group_error = _E.NONE
        else:
            group_error = _E.NON_EMPTY_GROUP
        if group is None or group_error != _E.NONE:
            response = OffsetDeleteResponse(error_code=group_error)
            out.append(Respond(token, response))
            self._fire_due(now, out)
            return out
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
        self._fire_due(now, out)
        return out

    def persisted(self, persist_id: int, error_code: int, now_ms: int) -> list[Effect[T]]:
        """The shell's report on ``Persist(persist_id, ...)``: 0 when the records
        are committed, else the append's error code (NOT_LEADER_OR_FOLLOWER, ...)."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        stored = self._stored.pop(persist_id, None)
        if stored is None:
            raise GroupInvariantError(f"persisted({persist_id}): no such Persist in flight")
        if isinstance(stored, _SyncStored):
            self._sync_stored(stored, error_code, now, out)
        elif isinstance(stored, _StaticRejoinStored):
            self._static_rejoin_stored(stored, error_code, now, out)
        elif isinstance(stored, _OffsetsStored):
            self._offsets_stored(stored, error_code, out)
        elif isinstance(stored, _TombstonesStored):
            response = stored.response
            if error_code != _E.NONE:
                response = _failed(response, append_error(error_code))
            out.append(Respond(stored.token, response))
        self._fire_due(now, out)
        return out

    # -- queries --------------------------------------------------------------

    def offset_fetch(self, request: OffsetFetchRequest, *, version: int) -> OffsetFetchResponse:
        """OffsetFetch v1-10 for groups this coordinator owns."""
        require_stable = request.require_stable and version >= 7
        if version >= 8:
            results = [
                self.fetch_group_offsets(g.group_id, g.topics, require_stable=require_stable)
                for g in request.groups
            ]
        else:
            topics = None
            if request.topics is not None:
                topics = [
                    OffsetFetchRequestTopics(name=t.name, partition_indexes=t.partition_indexes)
                    for t in request.topics
                ]
            results = [
                self.fetch_group_offsets(request.group_id, topics, require_stable=require_stable)
            ]
        return offset_fetch_response(version, results)

    def fetch_group_offsets(
        self,
        group_id: str,
        topics: Sequence[OffsetFetchRequestTopics] | None,
        *,
        require_stable: bool = False,
    ) -> OffsetFetchResponseGroup:
        """One group's committed offsets (``topics`` None: all of them)."""
        if self._loading:
            return OffsetFetchResponseGroup(
                group_id=group_id, error_code=_E.COORDINATOR_LOAD_IN_PROGRESS
            )
        return fetched(group_id, self._groups.get(group_id), topics, require_stable)

    def describe_groups(
        self, request: DescribeGroupsRequest, *, version: int
    ) -> DescribeGroupsResponse:
        return DescribeGroupsResponse(
            groups=[self.describe_group(group_id, version=version) for group_id in request.groups]
        )

    def describe_group(self, group_id: str, *, version: int) -> DescribedGroup:
        if self._loading:
            return DescribedGroup(error_code=_E.COORDINATOR_LOAD_IN_PROGRESS, group_id=group_id)
        return describe(group_id, self._groups.get(group_id), version)

    def list_groups(self, request: ListGroupsRequest, *, version: int) -> ListGroupsResponse:
        if self._loading:
            return ListGroupsResponse(error_code=_E.COORDINATOR_LOAD_IN_PROGRESS)
        states = request.states_filter if version >= 4 else []
        types = request.types_filter if version >= 5 else []
        return ListGroupsResponse(groups=listed(self._groups.values(), states, types))

    def snapshot(self) -> dict[str, GroupSnapshot]:
        """The durable view of every group, for tests and debugging."""
        views = {}
        for group_id, group in self._groups.items():
            view = snapshot(group)
            if view is not None:
                views[group_id] = view
        return views

    def group_state(self, group_id: str) -> GroupState | None:
        group = self._groups.get(group_id)
        return None if group is None else group.state

    def statistics(self) -> CoordinatorStatistics:
        members = sum(len(g.members) for g in self._groups.values())
        waiting = sum(
            (m.join_waiter is not None) + (m.sync_waiter is not None)
            for g in self._groups.values()
            for m in g.members.values()
        )
        waiting += sum(
            isinstance(s, (_OffsetsStored, _TombstonesStored)) for s in self._stored.values()
        )
        return CoordinatorStatistics(len(self._groups), members, waiting, len(self._stored))

    # -- JoinGroup ----------------------------------------------------------------

    def _join(
        self,
        waiter: Waiter[T],
        request: JoinGroupRequest,
        client_id: str,
        client_host: str,
        now: int,
        out: list[Effect[T]],
    ) -> None:
        version = waiter.version
        member_id = request.member_id
        session_timeout = request.session_timeout_ms
        join = _Join(
            instance_id=request.group_instance_id if version >= 5 else None,
            client_id=client_id,
            client_host=client_host,
            rebalance_timeout_ms=request.rebalance_timeout_ms if version >= 1 else session_timeout,
            session_timeout_ms=session_timeout,
            protocol_type=request.protocol_type,
            protocols=[(p.name, bytes(p.metadata)) for p in request.protocols],
        )
        if not request.group_id:
            return self._answer_join(out, waiter, member_id, _E.INVALID_GROUP_ID)
        if self._loading:
            return self._answer_join(out, waiter, member_id, _E.COORDINATOR_LOAD_IN_PROGRESS)
        cfg = self.config
        if not cfg.min_session_timeout_ms <= session_timeout <= cfg.max_session_timeout_ms:
            return self._answer_join(out, waiter, member_id, _E.INVALID_SESSION_TIMEOUT)
        group = self._groups.get(request.group_id)
        if group is None:
            if member_id:
                return self._answer_join(out, waiter, member_id, _E.UNKNOWN_MEMBER_ID)
            group = Group(request.group_id, state_timestamp_ms=now)
            self._groups[group.group_id] = group
        if not self._accept_joining_member(group, member_id):
            removed = group.remove(member_id)
            if removed is not None:
                self._answer_removed(removed, out)
            self._answer_join(out, waiter, "", _E.GROUP_MAX_SIZE_REACHED)
        elif not member_id:
            self._join_new_member(group, waiter, join, now, out)
        else:
            self._join_known_member(group, waiter, member_id, join, now, out)
        if group.state is _S.PREPARING_REBALANCE:
            self._maybe_complete_join(group, now, out)

    def _accept_joining_member(self, group: Group[T], member_id: str) -> bool:
        """``group.max.size``: who may (re)join a group at its size limit."""
        limit = self.config.max_size
        member = group.members.get(member_id)
        if group.state is _S.PREPARING_REBALANCE:
            awaiting = member is not None and member.join_waiter is not None
            return awaiting or group.num_awaiting_join() < limit
        if group.state in (_S.COMPLETING_REBALANCE, _S.STABLE):
            return member is not None or len(group.members) < limit
        return True

    def _join_new_member(
        self, group: Group[T], waiter: Waiter[T], join: _Join, now: int, out: list[Effect[T]]
    ) -> None:
        if not group.supports_protocols(join.protocol_type, (n for n, _ in join.protocols)):
            return self._answer_join(out, waiter, "", _E.INCONSISTENT_GROUP_PROTOCOL)
        new_member_id = self._new_member_id(group, join.instance_id or join.client_id)
        if join.instance_id is not None:
            old_member_id = group.static_members.get(join.instance_id)
            if old_member_id is not None:
                self._rejoin_static_member(
                    group, waiter, old_member_id, new_member_id, join, now, out
                )
            else:
                self._add_member_and_rebalance(group, waiter, new_member_id, join, now, out)
        elif waiter.version >= 4:
            # KIP-394: hand out the id first, so a client that times out and
            # retries cannot leave a trail of members behind.
            group.pending_members[new_member_id] = now + join.session_timeout_ms
            self._answer_join(out, waiter, new_member_id, _E.MEMBER_ID_REQUIRED)
        else:
            self._add_member_and_rebalance(group, waiter, new_member_id, join, now, out)

    def _join_known_member(
        self,
        group: Group[T],
        waiter: Waiter[T],
        member_id: str,
        join: _Join,
        now: int,
        out: list[Effect[T]],
    ) -> None:
        if not group.supports_protocols(join.protocol_type, (n for n, _ in join.protocols)):
            return self._answer_join(out, waiter, member_id, _E.INCONSISTENT_GROUP_PROTOCOL)
        if member_id in group.pending_members:
            if join.instance_id is not None:  # pending ids are only given to dynamic members
                return self._answer_join(out, waiter, member_id, _E.UNKNOWN_MEMBER_ID)
            return self._add_member_and_rebalance(group, waiter, member_id, join, now, out)
        error = _validate_member(group, member_id, join.instance_id)
        if error != _E.NONE:
            return self._answer_join(out, waiter, member_id, error)
        member = group.members[member_id]
        if group.state is _S.PREPARING_REBALANCE:
            self._update_member_and_rebalance(group, member, waiter, join, now, out)
        elif group.state is _S.COMPLETING_REBALANCE:
            if member.matches(join.protocols):
                # A retry of a JoinGroup whose response was lost: same answer.
                self._answer_join_success(out, group, member, waiter)
            else:
                self._update_member_and_rebalance(group, member, waiter, join, now, out)
        elif group.state is _S.STABLE:
            if group.is_leader(member_id) or not member.matches(join.protocols):
                # The leader rejoins to make the group rebalance (new topics, ...).
                self._update_member_and_rebalance(group, member, waiter, join, now, out)
            else:
                self._answer_join_success(out, group, member, waiter)
        else:
            self._answer_join(out, waiter, member_id, _E.UNKNOWN_MEMBER_ID)

    def _add_member_and_rebalance(
        self,
        group: Group[T],
        waiter: Waiter[T],
        member_id: str,
        join: _Join,
        now: int,
        out: list[Effect[T]],
    ) -> None:
        member: Member[T] = Member(
            member_id=member_id,
            group_instance_id=join.instance_id,
            client_id=join.client_id,
            client_host=join.client_host,
            rebalance_timeout_ms=join.rebalance_timeout_ms,
            session_timeout_ms=join.session_timeout_ms,
            protocol_type=join.protocol_type,
            protocols=join.protocols,
            join_waiter=waiter,
            is_new=True,
            # A new member cannot heartbeat while its first JoinGroup waits.
            heartbeat_deadline_ms=now + self.config.new_member_join_timeout_ms,
        )
        if group.state is _S.PREPARING_REBALANCE and group.generation_id == 0:
            group.new_member_added = True
        group.add(member)
        self._maybe_prepare_rebalance(group, now, out)

    def _update_member_and_rebalance(
        self,
        group: Group[T],
        member: Member[T],
        waiter: Waiter[T],
        join: _Join,
        now: int,
        out: list[Effect[T]],
    ) -> None:
        if member.join_waiter is not None:
            self._answer_join(out, member.join_waiter, member.member_id, _E.REBALANCE_IN_PROGRESS)
        member.protocols = join.protocols
        member.rebalance_timeout_ms = join.rebalance_timeout_ms
        member.session_timeout_ms = join.session_timeout_ms
        member.join_waiter = waiter
        self._maybe_prepare_rebalance(group, now, out)

    def _rejoin_static_member(
        self,
        group: Group[T],
        waiter: Waiter[T],
        old_member_id: str,
        new_member_id: str,
        join: _Join,
        now: int,
        out: list[Effect[T]],
    ) -> None:
        """KIP-345: a restarted static member takes over its old place under a
        new member id; the old id is fenced. In a Stable group whose protocol
        would not change, no rebalance: the member keeps its assignment."""
        if join.instance_id is None:
            raise GroupInvariantError("static rejoin without an instance id")
        leader_before = group.leader_id
        member, old_join, old_sync = group.replace_static_member(
            join.instance_id, old_member_id, new_member_id
        )
        if old_join is not None:
            self._answer_join(out, old_join, old_member_id, _E.FENCED_INSTANCE_ID)
        if old_sync is not None:
            out.append(Respond(old_sync.token, sync_response(_E.FENCED_INSTANCE_ID)))
        stored: _StaticRejoinStored[T] = _StaticRejoinStored(
            group,
            member,
            waiter,
            old_member_id,
            join.instance_id,
            member.protocols,
            member.rebalance_timeout_ms,
            member.session_timeout_ms,
            leader_before,
        )
        member.protocols = join.protocols
        member.rebalance_timeout_ms = join.rebalance_timeout_ms
        member.session_timeout_ms = join.session_timeout_ms
        member.join_waiter = waiter
        member.heartbeat_deadline_ms = now + member.session_timeout_ms
        if group.state is _S.STABLE:
            if group.select_protocol() == group.protocol_name:
                assignment = {mid: m.assignment for mid, m in group.members.items()}
                record = group_record(group.group_id, group.metadata_value(assignment))
                self._persist(out, [record], stored)
            else:
                self._maybe_prepare_rebalance(group, now, out)
        elif group.state is _S.COMPLETING_REBALANCE:
            # The leader may be assigning to the old member id: start over.
            self._prepare_rebalance(group, now, out)
        elif group.state is not _S.PREPARING_REBALANCE:
            raise GroupInvariantError(f"static member in a {group.state.value} group")

    def _static_rejoin_stored(
        self, stored: _StaticRejoinStored[T], error: int, now: int, out: list[Effect[T]]
    ) -> None:
        group, member, waiter = stored.group, stored.member, stored.waiter
        live = (
            self._groups.get(group.group_id) is group
            and group.members.get(member.member_id) is member
            and member.join_waiter is waiter
            and group.state is _S.STABLE
        )
        if not live:
            return  # a rebalance started meanwhile; it answers the member
        member.join_waiter = None
        member.heartbeat_deadline_ms = now + member.session_timeout_ms
        if error != _E.NONE:
            member.protocols = stored.old_protocols
            member.rebalance_timeout_ms = stored.old_rebalance_timeout_ms
            member.session_timeout_ms = stored.old_session_timeout_ms
            group.replace_static_member(stored.instance_id, member.member_id, stored.old_member_id)
            response = join_response(
                waiter.version,
                group_append_error(error),
                "",
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                leader=stored.leader_before,
            )
        elif waiter.version >= 9:
            # KIP-814: a static leader learns it leads but must not reassign.
            is_leader = group.is_leader(member.member_id)
            response = join_response(
                waiter.version,
                _E.NONE,
                member.member_id,
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                leader=group.leader_id,
                members=self._member_metadata(group) if is_leader else (),
                skip_assignment=is_leader,
            )
        else:
            # Older clients are told the old leader id, so that a restarted
            # leader does not run an assignment a Stable group would ignore.
            response = join_response(
                waiter.version,
                _E.NONE,
                member.member_id,
                generation_id=group.generation_id,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                leader=stored.leader_before,
            )
        out.append(Respond(waiter.token, response))

    # -- rebalancing ------------------------------------------------------------

    def _maybe_prepare_rebalance(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        if group.can_rebalance():
            self._prepare_rebalance(group, now, out)

    def _prepare_rebalance(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        if group.state is _S.COMPLETING_REBALANCE:
            self._reset_and_propagate_assignment(group, _E.REBALANCE_IN_PROGRESS, now, out)
        group.pending_sync.clear()
        group.sync_deadline_ms = None
        if group.state is _S.EMPTY:
            delay = self.config.initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            group.initial_delay = InitialDelay(delay, remaining)
            group.join_deadline_ms = now + delay
        else:
            group.initial_delay = None
            group.join_deadline_ms = now + group.rebalance_timeout_ms()
        group.transition(_S.PREPARING_REBALANCE, now)
        self._maybe_complete_join(group, now, out)

    def _maybe_complete_join(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        """The rebalance ends early once every member (and every pending
        member) has joined, except while the initial delay runs."""
        if (
            group.state is _S.PREPARING_REBALANCE
            and group.initial_delay is None
            and group.has_all_members_joined()
        ):
            self._complete_join(group, now, out)

    def _join_deadline_passed(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        delay = group.initial_delay
        if delay is not None and group.new_member_added and delay.remaining_ms != 0:
            group.new_member_added = False
            next_delay = min(self.config.initial_rebalance_delay_ms, delay.remaining_ms)
            group.initial_delay = InitialDelay(
                next_delay, max(delay.remaining_ms - delay.delay_ms, 0)
            )
            group.join_deadline_ms = now + next_delay
        else:
            self._complete_join(group, now, out)

    def _complete_join(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        group.join_deadline_ms = None
        group.initial_delay = None
        for member in list(group.members.values()):
            if member.join_waiter is None and member.group_instance_id is None:
                group.remove(member.member_id)  # did not rejoin in time
                self._answer_removed(member, out)
        if not group.maybe_elect_new_joined_leader() and group.members:
            # Only static members that have not rejoined: wait for them (or
            # for their sessions to expire) one more rebalance timeout.
            group.join_deadline_ms = now + max(group.rebalance_timeout_ms(), 1)
            return
        group.init_next_generation(now)
        if group.state is _S.EMPTY:
            self._persist(
                out, [group_record(group.group_id, group.metadata_value({}))], _Unanswered()
            )
            return
        metadata = self._member_metadata(group)
        for member in group.members.values():
            waiter = member.join_waiter
            if waiter is not None:
                member.join_waiter = None
                is_leader = group.is_leader(member.member_id)
                out.append(
                    Respond(
                        waiter.token,
                        join_response(
                            waiter.version,
                            _E.NONE,
                            member.member_id,
                            generation_id=group.generation_id,
                            protocol_type=group.protocol_type,
                            protocol_name=group.protocol_name,
                            leader=group.leader_id,
                            members=metadata if is_leader else (),
                        ),
                    )
                )
            member.heartbeat_deadline_ms = now + member.session_timeout_ms
            member.is_new = False
            group.pending_sync.add(member.member_id)
        group.sync_deadline_ms = now + group.rebalance_timeout_ms()

    def _sync_deadline_passed(self, group: Group[T], now: int, out: list[Effect[T]]) -> None:
        """Members that got their JoinGroup answer but never sent SyncGroup
        within the rebalance timeout are removed, and the group rebalances."""
        group.sync_deadline_ms = None
        if group.state not in (_S.COMPLETING_REBALANCE, _S.STABLE) or not group.pending_sync:
            return
        for member_id in [mid for mid in group.members if mid in group.pending_sync]:
            member = group.remove(member_id)
            if member is not None:
                self._answer_removed(member, out)
        self._prepare_rebalance(group, now, out)

    def _reset_and_propagate_assignment(
        self, group: Group[T], error: int, now: int, out: list[Effect[T]]
    ) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error, now, out)

    def _propagate_assignment(
        self, group: Group[T], error: int, now: int, out: list[Effect[T]]
    ) -> None:
        ok = error == _E.NONE
        for member in group.members.values():
            waiter = member.sync_waiter
            if waiter is None:
                continue
            member.sync_waiter = None
            response = sync_response(
                error,
                protocol_type=group.protocol_type if ok else None,
                protocol_name=group.protocol_name if ok else None,
                assignment=member.assignment,
            )
            out.append(Respond(waiter.token, response))
            member.heartbeat_deadline_ms = now + member.session_timeout_ms

    # -- SyncGroup ----------------------------------------------------------------

    def _sync(
        self, waiter: Waiter[T], request: SyncGroupRequest, now: int, out: list[Effect[T]]
    ) -> None:
        version = waiter.version
        member_id = request.member_id
        instance_id = request.group_instance_id if version >= 3 else None
        protocol_type = request.protocol_type if version >= 5 else None
        protocol_name = request.protocol_name if version >= 5 else None

        def fail(code: int) -> None:
            out.append(Respond(waiter.token, sync_response(code)))

        if not request.group_id:
            return fail(_E.INVALID_GROUP_ID)
        if self._loading:
            # The rebalance was lost with the old coordinator: rejoin.
            return fail(_E.REBALANCE_IN_PROGRESS)
        if version >= 5 and (protocol_type is None or protocol_name is None):
            return fail(_E.INCONSISTENT_GROUP_PROTOCOL)
        group = self._groups.get(request.group_id)
        if group is None:
            return fail(_E.UNKNOWN_MEMBER_ID)
        error = _validate_member(group, member_id, instance_id)
        if error == _E.NONE and request.generation_id != group.generation_id:
            error = _E.ILLEGAL_GENERATION
        if error == _E.NONE and protocol_type is not None and protocol_type != group.protocol_type:
            error = _E.INCONSISTENT_GROUP_PROTOCOL
        if error == _E.NONE and protocol_name is not None and protocol_name != group.protocol_name:
            error = _E.INCONSISTENT_GROUP_PROTOCOL
        if error != _E.NONE:
            return fail(error)
        member = group.members[member_id]
        if group.state is _S.EMPTY:
            fail(_E.UNKNOWN_MEMBER_ID)
        elif group.state is _S.PREPARING_REBALANCE:
            fail(_E.REBALANCE_IN_PROGRESS)
        elif group.state is _S.COMPLETING_REBALANCE:
            if member.sync_waiter is not None:
                old = member.sync_waiter
                out.append(Respond(old.token, sync_response(_E.REBALANCE_IN_PROGRESS)))
            member.sync_waiter = waiter
            self._sync_received(group, member_id)
            if group.is_leader(member_id):
                assignment = {a.member_id: bytes(a.assignment) for a in request.assignments}
                for mid in group.members:
                    assignment.setdefault(mid, b"")
                record = group_record(group.group_id, group.metadata_value(assignment))
                stored = _SyncStored(group, group.generation_id, assignment)
                self._persist(out, [record], stored)
        elif group.state is _S.STABLE:
            self._sync_received(group, member_id)
            response = sync_response(
                _E.NONE,
                protocol_type=group.protocol_type,
                protocol_name=group.protocol_name,
                assignment=member.assignment,
            )
            out.append(Respond(waiter.token, response))
            member.heartbeat_deadline_ms = now + member.session_timeout_ms

    def _sync_received(self, group: Group[T], member_id: str) -> None:
        group.pending_sync.discard(member_id)
        if not group.pending_sync:
            group.sync_deadline_ms = None

    def _sync_stored(
        self, stored: _SyncStored[T], error: int, now: int, out: list[Effect[T]]
    ) -> None:
        group = stored.group
        if (
            self._groups.get(group.group_id) is not group
            or group.state is not _S.COMPLETING_REBALANCE
            or group.generation_id != stored.generation_id
        ):
            return  # the group moved on while the record was being written
        if error != _E.NONE:
            self._reset_and_propagate_assignment(group, group_append_error(error), now, out)
            self._maybe_prepare_rebalance(group, now, out)
            return
        for member in group.members.values():
            member.assignment = stored.assignment.get(member.member_id, b"")
        self._propagate_assignment(group, _E.NONE, now, out)
        group.transition(_S.STABLE, now)

    # -- Heartbeat and LeaveGroup -------------------------------------------------

    def _heartbeat(self, request: HeartbeatRequest, version: int, now: int) -> int:
        if not request.group_id:
            return _E.INVALID_GROUP_ID
        if self._loading:
            return _E.NONE  # as Kafka: answer blindly until the group is back
        group = self._groups.get(request.group_id)
        if group is None:
            return _E.UNKNOWN_MEMBER_ID
        instance_id = request.group_instance_id if version >= 3 else None
        error = _validate_member(group, request.member_id, instance_id)
        if error != _E.NONE:
            return error
        if request.generation_id != group.generation_id:
            return _E.ILLEGAL_GENERATION
        if group.state is _S.EMPTY:
            return _E.UNKNOWN_MEMBER_ID
        member = group.members[request.member_id]
        member.heartbeat_deadline_ms = now + member.session_timeout_ms
        if group.state is _S.PREPARING_REBALANCE:
            return _E.REBALANCE_IN_PROGRESS  # how members learn they must rejoin
        return _E.NONE

    def _leave(
        self, request: LeaveGroupRequest, version: int, now: int, out: list[Effect[T]]
    ) -> tuple[int, list[tuple[MemberIdentity, int]]]:
        if version < 3:
            identities = [MemberIdentity(member_id=request.member_id)]
        else:
            identities = list(request.members)
        if not request.group_id:
            return _E.INVALID_GROUP_ID, []
        if self._loading:
            return _E.COORDINATOR_LOAD_IN_PROGRESS, []
        group = self._groups.get(request.group_id)
        if group is None:
            return _E.NONE, [(identity, _E.UNKNOWN_MEMBER_ID) for identity in identities]
        results: list[tuple[MemberIdentity, int]] = []
        for identity in identities:
            member_id = identity.member_id
            instance_id = identity.group_instance_id
            if not member_id:
                # An administrator removing a static member by its instance id.
                current = None if instance_id is None else group.static_members.get(instance_id)
                if current is None:
                    results.append((identity, _E.UNKNOWN_MEMBER_ID))
                    continue
                member_id = current
                error: int = _E.NONE
            elif member_id in group.pending_members:
                del group.pending_members[member_id]
                self._maybe_complete_join(group, now, out)
                results.append((identity, _E.NONE))
                continue
            else:
                error = _validate_member(group, member_id, instance_id)
            if error == _E.NONE:
                self._remove_member_and_update_group(group, group.members[member_id], now, out)
            results.append((identity, error))
        return _E.NONE, results

    def _remove_member_and_update_group(
        self, group: Group[T], member: Member[T], now: int, out: list[Effect[T]]
    ) -> None:
        group.remove(member.member_id)
        self._answer_removed(member, out)
        if group.state in (_S.STABLE, _S.COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance(group, now, out)
        elif group.state is _S.PREPARING_REBALANCE:
            self._maybe_complete_join(group, now, out)

    def _answer_removed(self, member: Member[T], out: list[Effect[T]]) -> None:
        """A removed member's waiting requests learn it is gone."""
        if member.join_waiter is not None:
            self._answer_join(out, member.join_waiter, "", _E.UNKNOWN_MEMBER_ID)
            member.join_waiter = None
        if member.sync_waiter is not None:
            out.append(Respond(member.sync_waiter.token, sync_response(_E.UNKNOWN_MEMBER_ID)))
            member.sync_waiter = None

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
        self._persist(out, records, _OffsetsStored(group, token, request, staged, too_large))

    def _offsets_stored(self, stored: _OffsetsStored[T], error: int, out: list[Effect[T]]) -> None:
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
            self._persist(out, records, _Unanswered())

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
            self._persist(out, records, _TombstonesStored(token, response))
        else:
            out.append(Respond(token, response))

    # -- timers -------------------------------------------------------------------

    def _begin(self, now_ms: int, out: list[Effect[T]]) -> int:
        if self._unloaded:
            raise GroupInvariantError("coordinator used after unload()")
        now = self._now_ms = max(self._now_ms, now_ms)
        self._fire_due(now, out)
        return now

    def _timers(self, out: list[Effect[T]]) -> Iterator[tuple[int, Callable[[int], None]]]:
        """Every armed timer: its deadline and what firing it does. In order:
        groups as created; in a group, member sessions before its rebalance
        deadlines, so that ties resolve the same way every run."""
        for g in self._groups.values():
            for member_id, deadline in g.pending_members.items():
                yield deadline, partial(self._pending_member_expired, g, member_id, out=out)
            for member in g.members.values():
                if member.heartbeat_deadline_ms is not None:
                    fire = partial(self._session_expired, g, member, out=out)
                    yield member.heartbeat_deadline_ms, fire
            if g.join_deadline_ms is not None:
                yield g.join_deadline_ms, partial(self._join_deadline_passed, g, out=out)
            if g.sync_deadline_ms is not None:
                yield g.sync_deadline_ms, partial(self._sync_deadline_passed, g, out=out)
        if self._next_retention_check_ms is not None:
            yield self._next_retention_check_ms, partial(self._retention_check, out=out)

    def _fire_due(self, now: int, out: list[Effect[T]]) -> None:
        """Fire every timer due by ``now``, earliest first, each at its own
        deadline; a timer armed by another fires in the same pass if due."""
        if self._loading:
            return
        while True:
            due: tuple[int, Callable[[int], None]] | None = None
            for deadline, fire in self._timers(out):
                if deadline <= now and (due is None or deadline < due[0]):
                    due = (deadline, fire)
            if due is None:
                return
            due[1](due[0])

    def _session_expired(
        self, group: Group[T], member: Member[T], at: int, out: list[Effect[T]]
    ) -> None:
        if member.kept_alive:
            member.heartbeat_deadline_ms = None  # rescheduled when its wait ends
        else:
            self._remove_member_and_update_group(group, member, at, out)

    def _pending_member_expired(
        self, group: Group[T], member_id: str, at: int, out: list[Effect[T]]
    ) -> None:
        del group.pending_members[member_id]
        self._maybe_complete_join(group, at, out)

    # -- helpers --------------------------------------------------------------------

    def _new_member_id(self, group: Group[T], prefix: str) -> str:
        for _ in range(100):
            candidate = f"{prefix}-{self._new_member_suffix()}"
            if candidate not in group.members and candidate not in group.pending_members:
                return candidate
        raise GroupInvariantError("new_member_suffix keeps repeating itself")

    def _persist(self, out: list[Effect[T]], records: list[Record], stored: _Stored[T]) -> None:
        persist_id = self._next_persist_id
        self._next_persist_id += 1
        self._stored[persist_id] = stored
        out.append(Persist(persist_id, tuple(records)))

    def _answer_join(
        self, out: list[Effect[T]], waiter: Waiter[T], member_id: str, code: int
    ) -> None:
        out.append(Respond(waiter.token, join_error(waiter.version, member_id, code)))

    def _answer_join_success(
        self, out: list[Effect[T]], group: Group[T], member: Member[T], waiter: Waiter[T]
    ) -> None:
        is_leader = group.is_leader(member.member_id)
        response = join_response(
            waiter.version,
            _E.NONE,
            member.member_id,
            generation_id=group.generation_id,
            protocol_type=group.protocol_type,
            protocol_name=group.protocol_name,
            leader=group.leader_id,
            members=self._member_metadata(group) if is_leader else (),
        )
        out.append(Respond(waiter.token, response))

    def _member_metadata(self, group: Group[T]) -> list[JoinGroupResponseMember]:
        """What the leader gets to compute the assignment from."""
        protocol = group.protocol_name
        if protocol is None:
            raise GroupInvariantError(f"group {group.group_id} has no protocol")
        return [
            JoinGroupResponseMember(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                metadata=m.metadata(protocol),
            )
            for m in group.members.values()
        ]


@dataclass(frozen=True, slots=True)
class _Join:
    """A JoinGroup's member description, version differences resolved."""

    instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]


def _validate_member(group: Group[T], member_id: str, instance_id: str | None) -> int:
    """A static member's instance id must map to its member id (else it is
    fenced: another process took the instance over); the member must exist."""
    if instance_id is not None:
        current = group.static_members.get(instance_id)
        if current is None:
            return _E.UNKNOWN_MEMBER_ID
        if current != member_id:
            return _E.FENCED_INSTANCE_ID
    if member_id not in group.members:
        return _E.UNKNOWN_MEMBER_ID
    return _E.NONE


def _validate_offset_commit(
    group: Group[T], generation_id: int, member_id: str, instance_id: str | None
) -> int:
    if generation_id < 0 and group.state is _S.EMPTY:
        return _E.NONE  # an admin client or a consumer without group management
    if generation_id >= 0 or member_id or instance_id is not None:
        error = _validate_member(group, member_id, instance_id)
        if error != _E.NONE:
            return error
        if generation_id != group.generation_id:
            return _E.ILLEGAL_GENERATION
        return _E.NONE
    if group.state is not _S.EMPTY:
        return _E.UNKNOWN_MEMBER_ID  # only members commit to a group that has them
    return _E.NONE


def _failed(
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
