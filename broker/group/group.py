"""One classic group: its members, generation, protocol and offsets.

This module holds the bookkeeping Kafka keeps in ``GroupMetadata`` and
``MemberMetadata``; the rules that decide *when* to change it live in
:mod:`broker.group.coordinator`. Nothing here produces responses or records:
methods that take a waiting request away from a member return it, and the
coordinator answers it.

A member waits in JoinGroup while ``join_waiter`` is set and in SyncGroup
while ``sync_waiter`` is set; "awaiting join" in Kafka's sense is exactly
``join_waiter is not None``. Members are kept in join order (a dict), which
makes leader succession and every listing deterministic.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Generic

from broker.group.types import (
    VALID_PREVIOUS_STATES,
    CommittedOffset,
    GroupInvariantError,
    GroupState,
    T,
    TopicPartition,
)
from broker.wire.codec import INT16, CorruptMessage
from broker.wire.generated import consumer_protocol_subscription
from broker.wire.generated.group_metadata_value import GroupMetadataValue, MemberMetadata

CONSUMER_PROTOCOL_TYPE = "consumer"
_DECODE_ERRORS = (CorruptMessage, struct.error, IndexError, ValueError, UnicodeDecodeError)


@dataclass(slots=True)
class Waiter(Generic[T]):
    """A JoinGroup or SyncGroup request the coordinator has not answered yet."""

    token: T
    version: int


@dataclass(slots=True, eq=False)
class Member(Generic[T]):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: list[tuple[str, bytes]]  # (name, metadata) in the member's preference order
    assignment: bytes = b""
    join_waiter: Waiter[T] | None = None
    sync_waiter: Waiter[T] | None = None
    is_new: bool = False
    heartbeat_deadline_ms: int | None = None

    def metadata(self, protocol: str) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol:
                return metadata
        raise GroupInvariantError(f"member {self.member_id} does not support {protocol}")

    def matches(self, protocols: list[tuple[str, bytes]]) -> bool:
        return self.protocols == protocols

    def vote(self, candidates: set[str]) -> str:
        """The member's most preferred protocol among ``candidates``."""
        for name, _ in self.protocols:
            if name in candidates:
                return name
        raise GroupInvariantError(f"member {self.member_id} supports no candidate protocol")

    @property
    def kept_alive(self) -> bool:
        """Members waiting in a rebalance need no heartbeats, unless they are
        new: a new member's JoinGroup times out after ``new_member_join_timeout_ms``."""
        return not self.is_new and (self.join_waiter is not None or self.sync_waiter is not None)


@dataclass(slots=True)
class InitialDelay:
    """The state of ``group.initial.rebalance.delay.ms`` for a group leaving Empty
    (Kafka's ``InitialDelayedJoin``): each time the delay runs out and new members
    joined meanwhile, wait ``min(delay, remaining)`` more, until ``remaining`` is 0."""

    delay_ms: int
    remaining_ms: int


@dataclass(slots=True, eq=False)
class Group(Generic[T]):
    group_id: str
    state_timestamp_ms: int | None  # when the group entered its state (None: unknown)
    state: GroupState = GroupState.EMPTY
    protocol_type: str | None = None
    protocol_name: str | None = None
    generation_id: int = 0
    leader_id: str | None = None
    members: dict[str, Member[T]] = field(default_factory=dict)
    static_members: dict[str, str] = field(default_factory=dict)  # instance id -> member id
    pending_members: dict[str, int] = field(default_factory=dict)  # member id -> deadline
    pending_sync: set[str] = field(default_factory=set)
    subscribed_topics: frozenset[str] | None = None
    new_member_added: bool = False
    join_deadline_ms: int | None = None
    initial_delay: InitialDelay | None = None
    sync_deadline_ms: int | None = None
    offsets: dict[TopicPartition, CommittedOffset] = field(default_factory=dict)
    pending_commits: dict[TopicPartition, int] = field(default_factory=dict)  # in flight

    # -- states ---------------------------------------------------------------

    def transition(self, state: GroupState, now_ms: int) -> None:
        if self.state not in VALID_PREVIOUS_STATES[state]:
            raise GroupInvariantError(
                f"group {self.group_id}: {self.state.value} -> {state.value} is not allowed"
            )
        self.state = state
        self.state_timestamp_ms = now_ms

    def can_rebalance(self) -> bool:
        return self.state in VALID_PREVIOUS_STATES[GroupState.PREPARING_REBALANCE]

    # -- membership -----------------------------------------------------------

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def add(self, member: Member[T]) -> None:
        if member.group_instance_id is not None:
            if member.group_instance_id in self.static_members:
                raise GroupInvariantError(f"instance {member.group_instance_id} already a member")
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.pending_members.pop(member.member_id, None)

    def remove(self, member_id: str) -> Member[T] | None:
        member = self.members.pop(member_id, None)
        if member is not None and member.group_instance_id is not None:
            self.static_members.pop(member.group_instance_id, None)
        if self.leader_id == member_id:
            self.leader_id = next(iter(self.members), None)
        self.pending_members.pop(member_id, None)
        self.pending_sync.discard(member_id)
        return member

    def replace_static_member(
        self, instance_id: str, old_member_id: str, new_member_id: str
    ) -> tuple[Member[T], Waiter[T] | None, Waiter[T] | None]:
        """Give the static member a new member id in place; return it with the
        join and sync requests the old id was waiting in (to be fenced)."""
        member = self.members.get(old_member_id)
        if member is None:
            raise GroupInvariantError(f"no member {old_member_id} to replace")
        old_join, old_sync = member.join_waiter, member.sync_waiter
        member.join_waiter = member.sync_waiter = None
        member.member_id = new_member_id
        self.members = {
            (new_member_id if mid == old_member_id else mid): m for mid, m in self.members.items()
        }
        if self.leader_id == old_member_id:
            self.leader_id = new_member_id
        if old_member_id in self.pending_sync:
            self.pending_sync.discard(old_member_id)
            self.pending_sync.add(new_member_id)
        self.static_members[instance_id] = new_member_id
        return member, old_join, old_sync

    def has_all_members_joined(self) -> bool:
        return not self.pending_members and all(
            m.join_waiter is not None for m in self.members.values()
        )

    def num_awaiting_join(self) -> int:
        return sum(1 for m in self.members.values() if m.join_waiter is not None)

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else pick the first member that did.
        False when the group has no leader or nobody rejoined."""
        if self.leader_id is None:
            return False
        if self.members[self.leader_id].join_waiter is not None:
            return True
        for member_id, member in self.members.items():
            if member.join_waiter is not None:
                self.leader_id = member_id
                return True
        return False

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    # -- protocols ------------------------------------------------------------

    def candidate_protocols(self) -> set[str]:
        """The protocols every member supports."""
        members = iter(self.members.values())
        first = next(members, None)
        if first is None:
            return set()
        common = {name for name, _ in first.protocols}
        for member in members:
            common &= {name for name, _ in member.protocols}
        return common

    def supports_protocols(self, protocol_type: str, names: Iterable[str]) -> bool:
        names = list(names)
        if self.state is GroupState.EMPTY:
            return bool(protocol_type) and bool(names)
        if self.protocol_type != protocol_type:
            return False
        candidates = self.candidate_protocols()
        return any(name in candidates for name in names)

    def select_protocol(self) -> str:
        """The protocol with the most votes, each member voting for its most
        preferred candidate; a tie goes to the protocol voted for first in
        member order (Kafka leaves ties to hash order)."""
        candidates = self.candidate_protocols()
        votes: dict[str, int] = {}
        for member in self.members.values():
            name = member.vote(candidates)
            votes[name] = votes.get(name, 0) + 1
        if not votes:
            raise GroupInvariantError(f"group {self.group_id}: no members to select a protocol")
        return max(votes, key=lambda name: votes[name])

    def init_next_generation(self, now_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition(GroupState.COMPLETING_REBALANCE, now_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition(GroupState.EMPTY, now_ms)
        self.pending_sync.clear()

    def compute_subscribed_topics(self) -> frozenset[str] | None:
        """The topics the members subscribe to, for ``consumer`` groups whose
        metadata parses as ConsumerProtocolSubscription; None when unknown."""
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return frozenset()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            subscribed = subscription_topics(member.metadata(self.protocol_name))
            if subscribed is None:
                return None
            topics |= subscribed
        return frozenset(topics)

    def is_subscribed_to(self, topic: str) -> bool:
        """Unknown subscriptions count as subscribed, to be safe (as Kafka does)."""
        return self.subscribed_topics is None or topic in self.subscribed_topics

    # -- durable form ---------------------------------------------------------

    def metadata_value(self, assignment: dict[str, bytes]) -> GroupMetadataValue:
        """The GroupMetadataValue that records this group with ``assignment``."""
        protocol = self.protocol_name
        members = []
        for member in self.members.values():
            if protocol is None:
                raise GroupInvariantError(f"group {self.group_id} has members but no protocol")
            members.append(
                MemberMetadata(
                    member_id=member.member_id,
                    group_instance_id=member.group_instance_id,
                    client_id=member.client_id,
                    client_host=member.client_host,
                    rebalance_timeout=member.rebalance_timeout_ms,
                    session_timeout=member.session_timeout_ms,
                    subscription=member.metadata(protocol),
                    assignment=assignment.get(member.member_id, b""),
                )
            )
        return GroupMetadataValue(
            protocol_type=self.protocol_type or "",
            generation=self.generation_id,
            protocol=protocol,
            leader=self.leader_id,
            current_state_timestamp=-1
            if self.state_timestamp_ms is None
            else self.state_timestamp_ms,
            members=members,
        )

    @classmethod
    def from_metadata_value(cls, group_id: str, value: GroupMetadataValue) -> Group[T]:
        """A group as loaded from its last record: Stable with members, else Empty."""
        group: Group[T] = cls(
            group_id=group_id,
            state_timestamp_ms=None
            if value.current_state_timestamp == -1
            else value.current_state_timestamp,
            state=GroupState.STABLE if value.members else GroupState.EMPTY,
            protocol_type=value.protocol_type or None,
            protocol_name=value.protocol,
            generation_id=value.generation,
            leader_id=value.leader,
        )
        for m in value.members:
            member: Member[T] = Member(
                member_id=m.member_id,
                group_instance_id=m.group_instance_id,
                client_id=m.client_id,
                client_host=m.client_host,
                rebalance_timeout_ms=m.rebalance_timeout,
                session_timeout_ms=m.session_timeout,
                protocol_type=group.protocol_type or "",
                protocols=[(value.protocol or "", bytes(m.subscription))],
                assignment=bytes(m.assignment),
            )
            group.members[m.member_id] = member
            if m.group_instance_id is not None:
                group.static_members[m.group_instance_id] = m.member_id
        group.subscribed_topics = group.compute_subscribed_topics()
        return group

    # -- offsets --------------------------------------------------------------

    def has_offsets(self) -> bool:
        return bool(self.offsets) or bool(self.pending_commits)

    def expired_offsets(self, now_ms: int, retention_ms: int) -> list[TopicPartition]:
        """Offsets past ``offsets.retention.minutes`` (Kafka's KIP-211 rules):
        all of an Empty group's, counted from when it became Empty; a Stable
        consumer group's for topics it no longer subscribes to, counted from
        the commit; a simple group's, counted from the commit. Offsets with a
        commit in flight never expire."""
        subscribed: frozenset[str] = frozenset()
        if self.protocol_type is None:
            from_state = False
        elif self.state is GroupState.EMPTY:
            from_state = True
        elif (
            self.protocol_type == CONSUMER_PROTOCOL_TYPE
            and self.subscribed_topics is not None
            and self.state is GroupState.STABLE
        ):
            from_state = False
            subscribed = self.subscribed_topics
        else:
            return []
        expired = []
        for tp, committed in self.offsets.items():
            if tp[0] in subscribed or tp in self.pending_commits:
                continue
            if committed.expire_timestamp_ms is not None:
                if now_ms >= committed.expire_timestamp_ms:
                    expired.append(tp)
                continue
            base = committed.commit_timestamp_ms
            if from_state and self.state_timestamp_ms is not None:
                base = self.state_timestamp_ms
            if now_ms - base >= retention_ms:
                expired.append(tp)
        return expired


def subscription_topics(metadata: bytes) -> frozenset[str] | None:
    """The topics of a ConsumerProtocolSubscription (int16 version, then the
    struct). Version 0 is a prefix of every version, so it is parsed as v0, as
    Kafka does; None when the bytes do not parse."""
    data = memoryview(metadata)
    try:
        (version,) = INT16.unpack_from(data, 0)
        if version < 0:
            return None
        subscription, _ = consumer_protocol_subscription.DECODERS[0](data, 2)
    except _DECODE_ERRORS:
        return None
    return frozenset(subscription.topics)
