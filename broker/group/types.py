"""Value types shared by the group coordinator's modules: states, settings,
committed offsets, and the effects the coordinator hands to its shell."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, NamedTuple, TypeAlias, TypeVar, Union

from broker.wire.generated.delete_groups_response import DeleteGroupsResponse
from broker.wire.generated.heartbeat_response import HeartbeatResponse
from broker.wire.generated.join_group_response import JoinGroupResponse
from broker.wire.generated.leave_group_response import LeaveGroupResponse
from broker.wire.generated.offset_commit_response import OffsetCommitResponse
from broker.wire.generated.offset_delete_response import OffsetDeleteResponse
from broker.wire.generated.sync_group_response import SyncGroupResponse

if TYPE_CHECKING:
    from broker.config import BrokerConfig

T = TypeVar("T")

TopicPartition: TypeAlias = tuple[str, int]

GroupResponse: TypeAlias = Union[  # noqa: UP007 - a runtime alias
    JoinGroupResponse,
    SyncGroupResponse,
    HeartbeatResponse,
    LeaveGroupResponse,
    OffsetCommitResponse,
    DeleteGroupsResponse,
    OffsetDeleteResponse,
]


class GroupState(enum.Enum):
    """A classic group's states; the values are what Kafka reports."""

    EMPTY = "Empty"
    PREPARING_REBALANCE = "PreparingRebalance"
    COMPLETING_REBALANCE = "CompletingRebalance"
    STABLE = "Stable"
    DEAD = "Dead"


_S = GroupState
# The states each state may be entered from (Kafka's validPreviousStates).
VALID_PREVIOUS_STATES: dict[GroupState, frozenset[GroupState]] = {
    _S.EMPTY: frozenset({_S.PREPARING_REBALANCE}),
    _S.PREPARING_REBALANCE: frozenset({_S.STABLE, _S.COMPLETING_REBALANCE, _S.EMPTY}),
    _S.COMPLETING_REBALANCE: frozenset({_S.PREPARING_REBALANCE}),
    _S.STABLE: frozenset({_S.COMPLETING_REBALANCE}),
    _S.DEAD: frozenset(_S),
}


class GroupInvariantError(Exception):
    """The coordinator found its own state inconsistent: a bug, never a client's error."""


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """Kafka's group coordinator settings, in milliseconds and bytes."""

    initial_rebalance_delay_ms: int = 3000
    """``group.initial.rebalance.delay.ms``: how long a new group waits for more joiners."""
    min_session_timeout_ms: int = 6000
    """``group.min.session.timeout.ms``"""
    max_session_timeout_ms: int = 1_800_000
    """``group.max.session.timeout.ms``"""
    max_size: int = 2**31 - 1
    """``group.max.size``"""
    offsets_retention_ms: int = 7 * 24 * 3600 * 1000
    """``offsets.retention.minutes`` in ms."""
    offsets_retention_check_interval_ms: int = 600_000
    """``offsets.retention.check.interval.ms``"""
    offset_metadata_max_bytes: int = 4096
    """``offset.metadata.max.bytes``"""
    new_member_join_timeout_ms: int = 300_000
    """How long a new member may wait in JoinGroup (Kafka's fixed 5 minutes)."""

    @classmethod
    def from_broker_config(cls, config: BrokerConfig) -> GroupConfig:
        """The settings from the broker's configuration; keys it does not
        know yet (``group.max.size``, ...) keep Kafka's defaults."""
        values = config.values
        default = cls()

        def setting(key: str, fallback: int) -> int:
            value = values.get(key)
            return fallback if value is None else int(value)

        return cls(
            initial_rebalance_delay_ms=setting(
                "group.initial.rebalance.delay.ms", default.initial_rebalance_delay_ms
            ),
            min_session_timeout_ms=setting(
                "group.min.session.timeout.ms", default.min_session_timeout_ms
            ),
            max_session_timeout_ms=setting(
                "group.max.session.timeout.ms", default.max_session_timeout_ms
            ),
            max_size=setting("group.max.size", default.max_size),
            offsets_retention_ms=setting("offsets.retention.minutes", 7 * 24 * 60) * 60_000,
            offsets_retention_check_interval_ms=setting(
                "offsets.retention.check.interval.ms",
                default.offsets_retention_check_interval_ms,
            ),
            offset_metadata_max_bytes=setting(
                "offset.metadata.max.bytes", default.offset_metadata_max_bytes
            ),
        )


@dataclass(frozen=True, slots=True)
class CommittedOffset:
    """What OffsetCommitValue holds for one partition."""

    offset: int
    leader_epoch: int  # -1: none
    metadata: str
    commit_timestamp_ms: int
    expire_timestamp_ms: int | None = None  # only from OffsetCommit v2-4 retention_time_ms


class Record(NamedTuple):
    """One ``__consumer_offsets`` record; ``value is None`` is a tombstone."""

    key: bytes
    value: bytes | None


@dataclass(frozen=True, slots=True)
class Respond(Generic[T]):
    """Send ``response`` to the request the shell registered as ``token``."""

    token: T
    response: GroupResponse


@dataclass(frozen=True, slots=True)
class Persist:
    """Append ``records`` to the coordinator's ``__consumer_offsets`` partition
    as one batch, then report the outcome with
    ``GroupCoordinator.persisted(persist_id, error_code, now_ms)``."""

    persist_id: int
    records: tuple[Record, ...]


Effect: TypeAlias = Union[Respond[T], Persist]  # noqa: UP007 - a generic runtime alias
