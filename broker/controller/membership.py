"""Broker membership as the active controller decides it (KIP-631), sans-I/O.

Theory of operation
-------------------
A broker joins the cluster with BrokerRegistration. The controller answers
with a RegisterBrokerRecord, written fenced; the offset of that record in
``__cluster_metadata`` is the broker's epoch. From then on the broker sends
BrokerHeartbeat every ``broker.heartbeat.interval.ms``, naming its epoch and
the highest metadata offset it has applied (CurrentMetadataOffset). Each
heartbeat moves the broker through Kafka's states:

    FENCED --caught up, not WantFence--> UNFENCED
    UNFENCED --WantFence--> FENCED
    UNFENCED --WantShutDown--> CONTROLLED_SHUTDOWN --others caught up--> SHUTDOWN_NOW
    FENCED --WantShutDown--> SHUTDOWN_NOW

"Caught up" is CurrentMetadataOffset >= the broker's registration offset. A
broker in controlled shutdown may stop (ShouldShutDown) once every other
active broker (unfenced, not shutting down) has applied the record that began
its shutdown; with no other active broker it stops at once. Leaving for
SHUTDOWN_NOW fences it, so it leaves Metadata before it goes.

A broker whose heartbeats stop for ``broker.session.timeout.ms`` is fenced
(:meth:`ClusterMembership.expire`); it is unfenced by its next heartbeat that
finds it caught up. Sessions are the controller's volatile state, as in
Kafka's BrokerHeartbeatManager: they are not in the log, and a controller
that becomes active gives every unfenced broker a fresh session
(:meth:`ClusterMembership.reset`).

A registration with another incarnation id replaces the old one unless the
old one still has a live session (DUPLICATE_BROKER_REGISTRATION, as Kafka:
two processes with one id), except when the request names the old epoch as
its PreviousBrokerEpoch (the same broker restarting after a clean shutdown).

This module does no I/O: it decides from (image, request, now) and returns
records; the shell (:mod:`broker.controller.membership_service`) appends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from broker.controller.image import MetadataImage
from broker.errors import ErrorCode
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from broker.wire.generated.broker_registration_request import BrokerRegistrationRequest
from broker.wire.generated.register_broker_record import (
    BrokerEndpoint,
    BrokerFeature,
    RegisterBrokerRecord,
)

FENCE = 1  # BrokerRegistrationChangeRecord.Fenced
UNFENCE = -1


@dataclass(slots=True)
class Session:
    """What the controller remembers of a broker between heartbeats."""

    last_contact_ms: int
    metadata_offset: int = -1
    # The offset of the record that put the broker in controlled shutdown,
    # once it is committed.
    shutdown_offset: int | None = None


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    error: ErrorCode
    message: str | None = None
    records: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HeartbeatOutcome:
    error: ErrorCode
    is_caught_up: bool = False
    is_fenced: bool = True
    should_shut_down: bool = False
    records: list[Any] = field(default_factory=list)
    # The records put the broker in controlled shutdown: tell
    # `ClusterMembership.shutdown_recorded` their offset once committed.
    begins_controlled_shutdown: bool = False
    message: str | None = None


class ClusterMembership:
    def __init__(self, cluster_id: str, session_timeout_ms: int) -> None:
        self.cluster_id = cluster_id
        self.session_timeout_ms = session_timeout_ms
        self.sessions: dict[int, Session] = {}

    def reset(self, image: MetadataImage, now_ms: int) -> None:
        """This controller became active: a fresh session for every unfenced broker."""
        self.sessions = {
            b.broker_id: Session(now_ms) for b in image.brokers.values() if not b.fenced
        }

    def has_live_session(self, broker_id: int, now_ms: int) -> bool:
        session = self.sessions.get(broker_id)
        return session is not None and now_ms - session.last_contact_ms < self.session_timeout_ms

    # -- requests ---------------------------------------------------------------

    def register(
        self,
        image: MetadataImage,
        request: BrokerRegistrationRequest,
        next_offset: int,
        now_ms: int,
    ) -> RegistrationOutcome:
        """BrokerRegistration. ``next_offset`` is the offset the record will
        get (its broker epoch)."""
        if request.cluster_id != self.cluster_id:
            return RegistrationOutcome(
                ErrorCode.INCONSISTENT_CLUSTER_ID,
                f"Expected cluster ID {self.cluster_id}, but got cluster ID {request.cluster_id}",
            )
        if request.broker_id < 0:
            return RegistrationOutcome(
                ErrorCode.INVALID_REQUEST, f"Invalid broker id {request.broker_id}"
            )
        existing = image.brokers.get(request.broker_id)
        if (
            existing is not None
            and existing.incarnation_id != request.incarnation_id
            and not existing.fenced
            and self.has_live_session(request.broker_id, now_ms)
            and request.previous_broker_epoch != existing.epoch
        ):
            return RegistrationOutcome(
                ErrorCode.DUPLICATE_BROKER_REGISTRATION,
                f"Another broker is registered with that broker id {request.broker_id} "
                f"(incarnation {existing.incarnation_id}).",
            )
        self.sessions.pop(request.broker_id, None)
        record = RegisterBrokerRecord(
            broker_id=request.broker_id,
            incarnation_id=request.incarnation_id,
            broker_epoch=next_offset,
            end_points=[
                BrokerEndpoint(x.name, x.host, x.port, x.security_protocol)
                for x in request.listeners
            ],
            features=[
                BrokerFeature(f.name, f.min_supported_version, f.max_supported_version)
                for f in request.features
            ],
            rack=request.rack,
            fenced=True,
        )
        return RegistrationOutcome(ErrorCode.NONE, None, [record])

    def heartbeat(
        self, image: MetadataImage, request: BrokerHeartbeatRequest, now_ms: int
    ) -> HeartbeatOutcome:
        broker = image.brokers.get(request.broker_id)
        if broker is None:
            return HeartbeatOutcome(
                ErrorCode.STALE_BROKER_EPOCH,
                message=f"No broker registration found for broker {request.broker_id}",
            )
        if broker.epoch != request.broker_epoch:
            return HeartbeatOutcome(
                ErrorCode.STALE_BROKER_EPOCH,
                message=f"Expected broker epoch {broker.epoch}, but got broker epoch "
                f"{request.broker_epoch}",
            )
        session = self.sessions.get(broker.broker_id)
        if session is None:
            session = self.sessions[broker.broker_id] = Session(now_ms)
        session.last_contact_ms = now_ms
        session.metadata_offset = request.current_metadata_offset
        caught_up = request.current_metadata_offset >= broker.epoch

        def change(fenced: int = 0, shutdown: int = 0) -> BrokerRegistrationChangeRecord:
            return BrokerRegistrationChangeRecord(
                broker_id=broker.broker_id,
                broker_epoch=broker.epoch,
                fenced=fenced,
                in_controlled_shutdown=shutdown,
            )

        if broker.fenced:
            if request.want_shut_down:
                return HeartbeatOutcome(ErrorCode.NONE, caught_up, True, True)
            if caught_up and not request.want_fence:
                return HeartbeatOutcome(ErrorCode.NONE, True, False, False, [change(UNFENCE)])
            return HeartbeatOutcome(ErrorCode.NONE, caught_up, True, False)
        if broker.in_controlled_shutdown:
            if self._others_caught_up(image, broker.broker_id, session.shutdown_offset):
                return HeartbeatOutcome(ErrorCode.NONE, caught_up, True, True, [change(FENCE)])
            return HeartbeatOutcome(ErrorCode.NONE, caught_up, False, False)
        if request.want_fence:
            return HeartbeatOutcome(ErrorCode.NONE, caught_up, True, False, [change(FENCE)])
        if request.want_shut_down:
            if not self._active_others(image, broker.broker_id):
                return HeartbeatOutcome(
                    ErrorCode.NONE, caught_up, True, True, [change(FENCE, shutdown=1)]
                )
            return HeartbeatOutcome(
                ErrorCode.NONE,
                caught_up,
                False,
                False,
                [change(shutdown=1)],
                begins_controlled_shutdown=True,
            )
        return HeartbeatOutcome(ErrorCode.NONE, caught_up, False, False)

    def shutdown_recorded(self, broker_id: int, offset: int) -> None:
        """The record that began ``broker_id``'s controlled shutdown is at ``offset``."""
        session = self.sessions.get(broker_id)
        if session is not None:
            session.shutdown_offset = offset

    # -- time -------------------------------------------------------------------

    def expire(self, image: MetadataImage, now_ms: int) -> list[Any]:
        """Fence every unfenced broker whose session has run out. An unfenced
        broker without a session (registered before this controller saw it)
        gets one from now."""
        records: list[Any] = []
        for broker in image.brokers.values():
            if broker.fenced:
                continue
            session = self.sessions.get(broker.broker_id)
            if session is None:
                self.sessions[broker.broker_id] = Session(now_ms)
            elif now_ms - session.last_contact_ms >= self.session_timeout_ms:
                del self.sessions[broker.broker_id]
                records.append(
                    BrokerRegistrationChangeRecord(
                        broker_id=broker.broker_id, broker_epoch=broker.epoch, fenced=FENCE
                    )
                )
        return records

    def next_deadline(self, image: MetadataImage) -> int | None:
        """When the next session of an unfenced broker runs out; None if none will."""
        due = [
            session.last_contact_ms + self.session_timeout_ms
            for broker_id, session in self.sessions.items()
            if (b := image.brokers.get(broker_id)) is not None and not b.fenced
        ]
        return min(due) if due else None

    # -- helpers ----------------------------------------------------------------

    def _active_others(self, image: MetadataImage, broker_id: int) -> list[int]:
        return [
            b.broker_id
            for b in image.brokers.values()
            if b.broker_id != broker_id and not b.fenced and not b.in_controlled_shutdown
        ]

    def _others_caught_up(self, image: MetadataImage, broker_id: int, offset: int | None) -> bool:
        if offset is None:
            return not self._active_others(image, broker_id)
        for other in self._active_others(image, broker_id):
            session = self.sessions.get(other)
            if session is None or session.metadata_offset < offset:
                return False
        return True
