"""A local cluster of broker processes sharing ``controller.quorum.voters``.

    cluster = BrokerCluster(tmp_path, size=3)
    cluster.start()                 # every node, on ports the kernel picked
    cluster.bootstrap               # "127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3"
    leader = cluster.wait_for_leader()
    cluster.nodes[leader].kill()    # SIGKILL
    cluster.nodes[leader].start()   # same port, same data dir
    cluster.close()

The leader is read from each node's ``quorum-state`` file (what it persisted
before acting on it); :meth:`wait_for_leader` waits until every running node
names the same leader in the same epoch.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from compat.broker_process import BrokerProcess, free_port

STATE = "__cluster_metadata-0/quorum-state"


class BrokerCluster:
    def __init__(
        self,
        root: Path,
        size: int = 3,
        *,
        overrides: dict[str, str] | None = None,
        base_port: int | None = None,
        observers: int = 0,
    ) -> None:
        """``size`` voters (ids 1..size) and ``observers`` broker-only nodes
        (ids size+1..) that follow their metadata log."""
        ports = {
            node_id: free_port() if base_port is None else base_port + node_id - 1
            for node_id in range(1, size + 1)
        }
        voters = ",".join(f"{i}@127.0.0.1:{p}" for i, p in sorted(ports.items()))
        self.nodes: dict[int, BrokerProcess] = {}
        for node_id, port in ports.items():
            node = BrokerProcess(
                root / f"node-{node_id}",
                node_id=node_id,
                overrides={"controller.quorum.voters": voters, **(overrides or {})},
            )
            node.port = port
            self.nodes[node_id] = node
        self.observers: dict[int, BrokerProcess] = {}
        for node_id in range(size + 1, size + observers + 1):
            observer = BrokerProcess(
                root / f"node-{node_id}",
                node_id=node_id,
                overrides={
                    "controller.quorum.voters": voters,
                    "process.roles": "broker",
                    **(overrides or {}),
                },
            )
            if base_port is not None:
                observer.port = base_port + node_id - 1
            self.observers[node_id] = observer

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes.values())

    def start(self) -> None:
        for node in [*self.nodes.values(), *self.observers.values()]:
            node.start()

    def close(self) -> None:
        for node in [*self.nodes.values(), *self.observers.values()]:
            node.close()

    def state(self, node_id: int) -> dict[str, int]:
        node = self.nodes.get(node_id) or self.observers[node_id]
        path = node.data_dir / STATE
        try:
            raw: dict[str, int] = json.loads(path.read_text())
        except (OSError, ValueError):
            return {"leaderId": -1, "leaderEpoch": -1}
        return raw

    def leader(self, among: set[int] | None = None) -> tuple[int, int] | None:
        """(leader, epoch) if every running node in ``among`` agrees, else None."""
        ids = [i for i in (among or set(self.nodes)) if self.nodes[i].running()]
        seen = {(self.state(i)["leaderId"], self.state(i)["leaderEpoch"]) for i in ids}
        if len(seen) != 1:
            return None
        leader, epoch = seen.pop()
        return (leader, epoch) if leader in ids else None

    def wait_for_leader(
        self, among: set[int] | None = None, *, after_epoch: int = 0, timeout_s: float = 30.0
    ) -> tuple[int, int]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.leader(among)
            if found is not None and found[1] > after_epoch:
                return found
            time.sleep(0.005)
        raise AssertionError(f"no agreed leader among {among or set(self.nodes)} in {timeout_s} s")
