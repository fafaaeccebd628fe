"""JoinGroup, SyncGroup, Heartbeat and LeaveGroup, and the rebalance they drive.

Kafka's rules (``GroupCoordinator.scala``, Kafka 3.9), in Kafka's order of
checks so that clients see the same error codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.group.base import (
    CoordinatorBase,
    StaticRejoinStored,
    SyncStored,
    Unanswered,
    validate_member,
)
from broker.group.errors import ErrorCode, group_append_error
from broker.group.group import Group, InitialDelay, Member, Waiter
from broker.group.records import group_record
from broker.group.responses import join_response, sync_response
from broker.group.types import (
    Effect,
    GroupInvariantError,
    GroupState,
    Respond,
    T,
)
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest
from broker.wire.generated.join_group_response import JoinGroupResponseMember
from broker.wire.generated.leave_group_request import LeaveGroupRequest, MemberIdentity
from broker.wire.generated.sync_group_request import SyncGroupRequest

_S = GroupState
_E = ErrorCode


class Membership(CoordinatorBase[T]):
    """The rules of group membership; entry points are in GroupCoordinator."""

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
        error = validate_member(group, member_id, join.instance_id)
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
        stored: StaticRejoinStored[T] = StaticRejoinStored(
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
        self, stored: StaticRejoinStored[T], error: int, now: int, out: list[Effect[T]]
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
                out, [group_record(group.group_id, group.metadata_value({}))], Unanswered()
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
        error = validate_member(group, member_id, instance_id)
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
                stored = SyncStored(group, group.generation_id, assignment)
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
        self, stored: SyncStored[T], error: int, now: int, out: list[Effect[T]]
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
        error = validate_member(group, request.member_id, instance_id)
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
                error = validate_member(group, member_id, instance_id)
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
