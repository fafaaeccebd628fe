"""The controller channel: finds the active controller, retries, gives up in time.

The controller is a real node (id 1) serving on a loopback port. The
channel's own broker is a stand-in naming which node the quorum says leads,
one answer per look, and where the voters listen: a voter that answers
NOT_CONTROLLER (a tiny server speaking the wire protocol), one that refuses
connections, and the real controller.
"""

from __future__ import annotations

import functools
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import trio

from broker.controller.channel import ControllerChannel, ControllerUnavailable
from broker.errors import ErrorCode
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.broker_heartbeat_request import BrokerHeartbeatRequest
from broker.wire.generated.broker_heartbeat_response import BrokerHeartbeatResponse
from broker.wire.generated.broker_registration_request import (
    BrokerRegistrationRequest,
    Listener,
)
from broker.wire.generated.broker_registration_response import BrokerRegistrationResponse
from broker.wire.protocol import encode_response, peek_header
from tests.broker.helpers import call, make_node


class Leaders:
    """A quorum whose ``leader_id`` is the next of ``ids`` at each look (the last sticks)."""

    def __init__(self, ids: list[int | None]) -> None:
        self._ids: Iterator[int | None] = iter(ids)
        self._last: int | None = None
        self.looks = 0

    @property
    def leader_id(self) -> int | None:
        self.looks += 1
        self._last = next(self._ids, self._last)
        return self._last


class Config:
    def __init__(self, voters: dict[int, tuple[str, int]]) -> None:
        self.quorum_voters = voters


class Broker:
    """What the channel needs of its node."""

    def __init__(self, leaders: Leaders, voters: dict[int, tuple[str, int]]) -> None:
        self.node_id = 9
        self.quorum = leaders
        self.config = Config(voters)
        self.apis = None


async def not_controller(stream: trio.SocketStream) -> None:
    """A voter that is not the leader: every request is NOT_CONTROLLER."""
    buf = b""
    while True:
        data = await stream.receive_some()
        if not data:
            return
        buf += data
        while len(buf) >= 4 and len(buf) >= 4 + int.from_bytes(buf[:4], "big"):
            size = int.from_bytes(buf[:4], "big")
            frame, buf = buf[4 : 4 + size], buf[4 + size :]
            header = peek_header(bytearray(frame))
            body: Any = (
                BrokerRegistrationResponse if header.api_key == 62 else BrokerHeartbeatResponse
            )(error_code=ErrorCode.NOT_CONTROLLER)
            for part in encode_response(
                header.api_key, header.api_version, header.correlation_id, body
            ):
                await stream.send_all(bytes(part))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def heartbeat(broker_id: int, epoch: int) -> BrokerHeartbeatRequest:
    return BrokerHeartbeatRequest(
        broker_id=broker_id, broker_epoch=epoch, current_metadata_offset=0
    )


async def test_channel_follows_the_leader_past_refusals_and_dead_voters(tmp_path: Path) -> None:
    controller = make_node(tmp_path, "listeners=PLAINTEXT://127.0.0.1:0")
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(controller.run)
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, not_controller, 0, host="127.0.0.1")
        )
        refuser_port = listeners[0].socket.getsockname()[1]
        voters = {
            1: bound[0],
            5: ("127.0.0.1", refuser_port),
            6: ("127.0.0.1", closed_port()),
        }
        # No leader yet, then one that is not the controller any more, then a
        # dead one, then the real controller.
        leaders = Leaders([None, 5, 6, 1])
        channel = ControllerChannel(cast(Any, Broker(leaders, voters)), backoff_s=0.01)
        register = BrokerRegistrationRequest(
            broker_id=9,
            cluster_id=controller.cluster_id,
            incarnation_id=uuid.uuid4(),
            listeners=[Listener("PLAINTEXT", "localhost", 9999, 0)],
            rack=None,
        )
        registered = await channel.call(62, 4, register)
        assert registered.error_code == ErrorCode.NONE
        assert leaders.looks == 4
        assert controller.image.brokers[9].fenced
        # The connection to the controller is kept and reused.
        answer = await channel.call(63, 1, heartbeat(9, registered.broker_epoch))
        assert (answer.error_code, answer.is_fenced) == (0, True)  # offset 0: not caught up
        stale = await channel.call(63, 1, heartbeat(9, registered.broker_epoch - 1))
        assert stale.error_code == ErrorCode.STALE_BROKER_EPOCH
        await channel.aclose()
        nursery.cancel_scope.cancel()
    await controller.shutdown()


async def test_channel_gives_up_after_its_timeout() -> None:
    leaders = Leaders([None])
    channel = ControllerChannel(cast(Any, Broker(leaders, {})), backoff_s=0.01, timeout_s=0.2)
    with pytest.raises(ControllerUnavailable, match="no active controller is known"):
        await channel.call(63, 1, heartbeat(9, 0))
    assert leaders.looks > 1


async def test_channel_calls_the_local_controller_directly(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.register([("127.0.0.1", 9092)])
    # No socket: the node is its own controller (and listens nowhere here).
    answer = await node.channel.call(63, 1, heartbeat(1, node.lifecycle.broker_epoch))
    assert (answer.error_code, answer.is_fenced) == (0, False)
    await node.shutdown()


async def test_controller_apis_are_served_but_not_advertised(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    await node.register([("127.0.0.1", 9092)])
    versions = await call(node, 18, 3, ApiVersionsRequest("t", "1"))
    listed = {k.api_key for k in versions.api_keys}
    assert 3 in listed and not listed & {62, 63}  # as Kafka 4.1's broker listener
    answer = await call(node, 63, 1, heartbeat(1, node.lifecycle.broker_epoch))
    assert answer.error_code == 0
    await node.shutdown()
