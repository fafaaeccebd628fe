"""The broker's side of membership (KIP-631): register, heartbeat, shut down.

Theory of operation
-------------------
At start-up the node registers with the active controller through the
:class:`~broker.controller.channel.ControllerChannel` (BrokerRegistration,
with a fresh incarnation id and the previous epoch, as Kafka's brokers send
after a clean shutdown), then heartbeats until the controller unfences it:
the node serves clients only once it is unfenced. :meth:`BrokerLifecycle.run`
is then the one task that heartbeats every ``broker.heartbeat.interval.ms``
with the highest metadata offset this node has applied. A heartbeat answered
STALE_BROKER_EPOCH (the controller lost or replaced this registration)
registers again.

On SIGTERM :meth:`controlled_shutdown` asks the task to heartbeat with
WantShutDown until the controller answers ShouldShutDown, or until the wait
bound passes; on a single node the first answer says so.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import trio

from broker.controller.channel import ControllerUnavailable
from broker.errors import ErrorCode
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_heartbeat_response import BrokerHeartbeatResponse
from broker.wire.generated.broker_registration_request import (
    BrokerRegistrationRequest,
    Listener,
)

if TYPE_CHECKING:
    from broker.node import Node

log = logging.getLogger(__name__)

REGISTRATION_KEY, REGISTRATION_VERSION = 62, 4
HEARTBEAT_KEY, HEARTBEAT_VERSION = 63, 1
PLAINTEXT = 0  # SecurityProtocol id
# How soon a heartbeat follows the last one while registering or shutting down.
FAST_INTERVAL_S = 0.05


def _name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


class RegistrationError(Exception):
    def __init__(self, error_code: int) -> None:
        super().__init__(f"the controller refused the registration: {_name(error_code)}")
        self.error_code = error_code


class BrokerLifecycle:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.interval_s = node.config["broker.heartbeat.interval.ms"] / 1000
        self.incarnation_id = uuid.uuid4()
        self.broker_epoch = -1
        self.fenced = True
        self.listeners: list[Listener] = []
        self._want_shut_down = False
        self._wake = trio.Event()
        self.shut_down = trio.Event()

    async def register(self, listeners: list[Listener]) -> None:
        """Register, then heartbeat until unfenced, within
        ``initial.broker.registration.timeout.ms``. Raises RegistrationError
        when the controller refuses, ControllerUnavailable when none answers
        in time."""
        timeout_s = self.node.config["initial.broker.registration.timeout.ms"] / 1000
        # Checked between attempts, never by cancelling one: a local call
        # appends to the metadata log and must not be cut short.
        deadline = trio.current_time() + timeout_s
        self.listeners = listeners
        previous = self.node.image.brokers.get(self.node.node_id)
        request = BrokerRegistrationRequest(
            broker_id=self.node.node_id,
            cluster_id=self.node.cluster_id,
            incarnation_id=self.incarnation_id,
            listeners=listeners,
            rack=None,
            previous_broker_epoch=previous.epoch if previous is not None else -1,
        )
        response = await self.node.channel.call(
            REGISTRATION_KEY, REGISTRATION_VERSION, request, timeout_s=timeout_s
        )  # raises ControllerUnavailable after timeout_s
        if response.error_code != ErrorCode.NONE:
            raise RegistrationError(response.error_code)
        self.broker_epoch = response.broker_epoch
        self.fenced = True
        while self.fenced:
            answer = await self.heartbeat()  # None: no controller answered; again
            if answer is not None and answer.error_code != ErrorCode.NONE:
                raise RegistrationError(answer.error_code)
            if not self.fenced:
                break
            if trio.current_time() >= deadline:
                raise ControllerUnavailable(
                    f"broker {self.node.node_id} was not unfenced within {timeout_s:.0f}s "
                    "(initial.broker.registration.timeout.ms)"
                )
            await trio.sleep(FAST_INTERVAL_S)

    async def heartbeat(self) -> BrokerHeartbeatResponse | None:
        request = BrokerHeartbeatRequest(
            broker_id=self.node.node_id,
            broker_epoch=self.broker_epoch,
            current_metadata_offset=self.node.image.offset,
            want_fence=False,
            want_shut_down=self._want_shut_down,
        )
        try:
            response: BrokerHeartbeatResponse = await self.node.channel.call(
                HEARTBEAT_KEY, HEARTBEAT_VERSION, request, timeout_s=self.interval_s * 2
            )
        except ControllerUnavailable as exc:
            log.warning("heartbeat not answered: %s", exc)
            return None
        if response.error_code == ErrorCode.NONE:
            if response.is_fenced != self.fenced:
                log.info(
                    "broker %d is now %s",
                    self.node.node_id,
                    "fenced" if response.is_fenced else "unfenced",
                )
            self.fenced = response.is_fenced
            if self._want_shut_down and response.should_shut_down:
                self.shut_down.set()
        return response

    async def run(self) -> None:
        """Heartbeat until the controller lets this broker shut down."""
        while not self.shut_down.is_set():
            interval = FAST_INTERVAL_S if self._want_shut_down else self.interval_s
            with trio.move_on_after(interval):
                await self._wake.wait()
            self._wake = trio.Event()
            response = await self.heartbeat()
            if response is None or response.error_code == ErrorCode.NONE:
                continue
            if response.error_code == ErrorCode.STALE_BROKER_EPOCH and not self._want_shut_down:
                log.warning("broker epoch %d is stale: registering again", self.broker_epoch)
                try:
                    await self.register(self.listeners)
                except (RegistrationError, ControllerUnavailable) as exc:
                    log.warning("registering again failed: %s", exc)
            else:
                log.warning("heartbeat answered %s", _name(response.error_code))

    async def controlled_shutdown(self, timeout_s: float) -> bool:
        """Ask the controller for a controlled shutdown and wait for its
        ShouldShutDown, at most ``timeout_s``; whether it came."""
        self._want_shut_down = True
        self._wake.set()
        with trio.move_on_after(timeout_s):
            await self.shut_down.wait()
        if not self.shut_down.is_set():
            log.warning("the controller did not allow the shutdown within %.1fs", timeout_s)
        return self.shut_down.is_set()
