"""The Trio shell of broker membership on the active controller.

BrokerRegistration and BrokerHeartbeat handlers call :meth:`register` and
:meth:`heartbeat`; :meth:`run` is the task that fences brokers whose session
ran out, waking at the earliest session deadline. All three decide through
one :class:`~broker.controller.membership.ClusterMembership` under one lock,
so each decision sees the image the previous one produced, then append the
records to ``__cluster_metadata``. On a node that is not the active
controller every request is NOT_CONTROLLER; a node that becomes active starts
every broker's session afresh.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import trio

from broker.controller.membership import ClusterMembership
from broker.controller.quorum import NotControllerError
from broker.errors import ErrorCode
from broker.storage.errors import KafkaStorageError
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_heartbeat_response import BrokerHeartbeatResponse
from broker.wire.generated.broker_registration_request import BrokerRegistrationRequest
from broker.wire.generated.broker_registration_response import BrokerRegistrationResponse

if TYPE_CHECKING:
    from broker.node import Node

log = logging.getLogger(__name__)

# How often a node that is not the active controller looks again.
LEADERSHIP_POLL_S = 1.0


class MembershipService:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.membership = ClusterMembership(
            node.cluster_id, node.config["broker.session.timeout.ms"]
        )
        self._lock = trio.Lock()
        self._active = False
        self._changed = trio.Event()

    def _is_active(self) -> bool:
        """Whether this node is the active controller; a node that has just
        become it starts every session afresh."""
        active = self.node.quorum.is_active_controller
        if active and not self._active:
            self.membership.reset(self.node.image, self.node.clock.now_ms())
        self._active = active
        return active

    async def _append(self, records: list[Any]) -> ErrorCode:
        try:
            await self.node.quorum.append(records)
        except NotControllerError:
            return ErrorCode.NOT_CONTROLLER
        except KafkaStorageError as exc:
            log.error("cannot record a broker membership change: %s", exc)
            return ErrorCode(exc.error_code)
        except OSError as exc:
            log.error("cannot record a broker membership change: %s", exc)
            return ErrorCode.KAFKA_STORAGE_ERROR
        self._changed.set()
        return ErrorCode.NONE

    async def register(self, request: BrokerRegistrationRequest) -> BrokerRegistrationResponse:
        async with self._lock:
            if not self._is_active():
                return BrokerRegistrationResponse(error_code=ErrorCode.NOT_CONTROLLER)
            quorum = self.node.quorum
            outcome = self.membership.register(
                self.node.image, request, quorum.applied_offset, self.node.clock.now_ms()
            )
            if outcome.error != ErrorCode.NONE:
                log.warning(
                    "refused the registration of broker %d: %s", request.broker_id, outcome.message
                )
                return BrokerRegistrationResponse(error_code=outcome.error)
            error = await self._append(outcome.records)
            if error != ErrorCode.NONE:
                return BrokerRegistrationResponse(error_code=error)
            broker = self.node.image.brokers[request.broker_id]
            log.info("registered broker %d at epoch %d", broker.broker_id, broker.epoch)
            return BrokerRegistrationResponse(broker_epoch=broker.epoch)

    async def heartbeat(self, request: BrokerHeartbeatRequest) -> BrokerHeartbeatResponse:
        async with self._lock:
            if not self._is_active():
                return BrokerHeartbeatResponse(error_code=ErrorCode.NOT_CONTROLLER)
            outcome = self.membership.heartbeat(self.node.image, request, self.node.clock.now_ms())
            if outcome.error != ErrorCode.NONE:
                return BrokerHeartbeatResponse(error_code=outcome.error)
            if outcome.records:
                error = await self._append(outcome.records)
                if error != ErrorCode.NONE:
                    return BrokerHeartbeatResponse(error_code=error)
                if outcome.begins_controlled_shutdown:
                    self.membership.shutdown_recorded(request.broker_id, self.node.image.offset)
                self._log_change(request.broker_id)
            return BrokerHeartbeatResponse(
                is_caught_up=outcome.is_caught_up,
                is_fenced=outcome.is_fenced,
                should_shut_down=outcome.should_shut_down,
            )

    def _log_change(self, broker_id: int) -> None:
        broker = self.node.image.brokers.get(broker_id)
        if broker is not None:
            state = "fenced" if broker.fenced else "unfenced"
            if broker.in_controlled_shutdown:
                state += ", in controlled shutdown"
            log.info("broker %d (epoch %d) is now %s", broker_id, broker.epoch, state)

    async def run(self) -> None:
        """Fence brokers whose heartbeats stopped, at each session deadline."""
        while True:
            async with self._lock:
                wake = trio.current_time() + LEADERSHIP_POLL_S
                if self._is_active():
                    now = self.node.clock.now_ms()
                    records = self.membership.expire(self.node.image, now)
                    if records:
                        for record in records:
                            log.warning(
                                "broker %d missed its heartbeats for %d ms: fencing it",
                                record.broker_id,
                                self.membership.session_timeout_ms,
                            )
                        await self._append(records)
                    deadline = self.membership.next_deadline(self.node.image)
                    now = self.node.clock.now_ms()
                    wake = (
                        math.inf
                        if deadline is None
                        else trio.current_time() + max(0, deadline - now) / 1000
                    )
                    # Leadership can move while nothing is due.
                    wake = min(wake, trio.current_time() + LEADERSHIP_POLL_S)
                self._changed = trio.Event()
            with trio.move_on_at(wake):
                await self._changed.wait()
