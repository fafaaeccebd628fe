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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from broker.group.base import (
    OffsetsStored,
    StaticRejoinStored,
    SyncStored,
    TombstonesStored,
)
from broker.group.errors import ErrorCode, append_error
from broker.group.group import Group, Member, Waiter
from broker.group.membership import Membership
from broker.group.offsets import Offsets, failed_response
from broker.group.records import (
    GroupKey,
    OffsetKey,
    decode_group_value,
    decode_key,
    decode_offset_value,
)
from broker.group.responses import (
    commit_response,
    heartbeat_response,
    leave_response,
    offset_fetch_response,
    sync_response,
)
from broker.group.types import (
    Effect,
    GroupInvariantError,
    GroupState,
    Respond,
    T,
)
from broker.group.views import GroupSnapshot, describe, fetched, listed, snapshot
from broker.wire.generated.delete_groups_request import DeleteGroupsRequest
from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
from broker.wire.generated.describe_groups_response import DescribedGroup, DescribeGroupsResponse
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest
from broker.wire.generated.leave_group_request import LeaveGroupRequest
from broker.wire.generated.list_groups_request import ListGroupsRequest
from broker.wire.generated.list_groups_response import ListGroupsResponse
from broker.wire.generated.offset_commit_request import OffsetCommitRequest
from broker.wire.generated.offset_delete_request import OffsetDeleteRequest
from broker.wire.generated.offset_fetch_request import OffsetFetchRequest, OffsetFetchRequestTopics
from broker.wire.generated.offset_fetch_response import (
    OffsetFetchResponse,
    OffsetFetchResponseGroup,
)
from broker.wire.generated.sync_group_request import SyncGroupRequest

_S = GroupState
_E = ErrorCode
# Kinds of timer, for _earliest_timer.
_PENDING, _SESSION, _JOIN, _SYNC = range(4)


@dataclass(frozen=True, slots=True)
class CoordinatorStatistics:
    groups: int
    members: int
    waiting_requests: int
    persists_in_flight: int


class GroupCoordinator(Membership[T], Offsets[T]):
    """The groups of one ``__consumer_offsets`` partition; see the module docstring.

    ``new_member_suffix`` makes the unique part of new member ids (Kafka uses
    a random UUID: pass ``lambda: str(uuid.uuid4())``); ids are
    ``<client.id or group.instance.id>-<suffix>``.
    """

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
            if isinstance(stored, OffsetsStored):
                response = commit_response(stored.request, lambda _tp: code)
                out.append(Respond(stored.token, response))
            elif isinstance(stored, TombstonesStored):
                out.append(Respond(stored.token, failed_response(stored.response, code)))
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
        due = self._earliest_timer()
        return None if due is None else due[0]

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
        self._delete_groups(token, request, now, out)
        self._fire_due(now, out)
        return out

    def offset_delete(
        self, token: T, request: OffsetDeleteRequest, *, version: int, now_ms: int
    ) -> list[Effect[T]]:
        """OffsetDelete v0: not for topics a non-empty consumer group subscribes to."""
        out: list[Effect[T]] = []
        now = self._begin(now_ms, out)
        self._offset_delete(token, request, now, out)
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
        if isinstance(stored, SyncStored):
            self._sync_stored(stored, error_code, now, out)
        elif isinstance(stored, StaticRejoinStored):
            self._static_rejoin_stored(stored, error_code, now, out)
        elif isinstance(stored, OffsetsStored):
            self._offsets_stored(stored, error_code, out)
        elif isinstance(stored, TombstonesStored):
            response = stored.response
            if error_code != _E.NONE:
                response = failed_response(response, append_error(error_code))
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
            isinstance(s, (OffsetsStored, TombstonesStored)) for s in self._stored.values()
        )
        return CoordinatorStatistics(len(self._groups), members, waiting, len(self._stored))

    # -- timers -------------------------------------------------------------------

    def _begin(self, now_ms: int, out: list[Effect[T]]) -> int:
        if self._unloaded:
            raise GroupInvariantError("coordinator used after unload()")
        now = self._now_ms = max(self._now_ms, now_ms)
        self._fire_due(now, out)
        return now

    def _earliest_timer(self) -> tuple[int, Callable[[int, list[Effect[T]]], None]] | None:
        """The armed timer with the earliest deadline and what firing it does.
        Ties go to the first found: groups in creation order; in a group,
        pending members, then member sessions, then its rebalance deadlines.
        (A scan over every member: fine for hundreds per coordinator; a heap
        is the next step if profiles say so.)"""
        best: int | None = None
        found: tuple[int, Group[T], object] | None = None
        for g in self._groups.values():
            for member_id, deadline in g.pending_members.items():
                if best is None or deadline < best:
                    best, found = deadline, (_PENDING, g, member_id)
            for member in g.members.values():
                deadline_ms = member.heartbeat_deadline_ms
                if deadline_ms is not None and (best is None or deadline_ms < best):
                    best, found = deadline_ms, (_SESSION, g, member)
            if g.join_deadline_ms is not None and (best is None or g.join_deadline_ms < best):
                best, found = g.join_deadline_ms, (_JOIN, g, None)
            if g.sync_deadline_ms is not None and (best is None or g.sync_deadline_ms < best):
                best, found = g.sync_deadline_ms, (_SYNC, g, None)
        check = self._next_retention_check_ms
        if check is not None and (best is None or check < best):
            return check, self._retention_check
        if best is None or found is None:
            return None
        kind, group, key = found
        if kind == _PENDING:
            return best, partial(self._pending_member_expired, group, str(key))
        if kind == _SESSION:
            if not isinstance(key, Member):
                raise GroupInvariantError("session timer without a member")
            return best, partial(self._session_expired, group, key)
        if kind == _JOIN:
            return best, partial(self._join_deadline_passed, group)
        return best, partial(self._sync_deadline_passed, group)

    def _fire_due(self, now: int, out: list[Effect[T]]) -> None:
        """Fire every timer due by ``now``, earliest first, each at its own
        deadline; a timer armed by another fires in the same pass if due."""
        if self._loading:
            return
        while True:
            due = self._earliest_timer()
            if due is None or due[0] > now:
                return
            deadline, fire = due
            fire(deadline, out)

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
