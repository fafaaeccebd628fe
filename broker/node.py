"""A broker process: its services, its listeners, its shutdown."""

from __future__ import annotations

import logging
from types import ModuleType

import trio

from broker.api import api_versions
from broker.api.registry import ApiTable
from broker.config import BrokerConfig
from broker.net.server import Server

log = logging.getLogger(__name__)

HANDLERS: list[ModuleType] = [api_versions]


class Node:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.apis = ApiTable(HANDLERS)
        self.server = Server(
            self.apis,
            self,
            max_frame_bytes=config["socket.request.max.bytes"],
            idle_timeout_s=config["connections.max.idle.ms"] / 1000,
            max_connections=config["max.connections"],
        )

    async def run(
        self, *, task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        addresses = [(host, port) for _name, host, port in self.config.listeners]
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(self.server.serve, addresses)
            log.info("node %d listening on %s", self.config.node_id, bound)
            task_status.started(bound)

    async def shutdown(self) -> None:
        log.info("node %d stopped", self.config.node_id)
