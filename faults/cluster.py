"""A cluster of real broker processes whose peer traffic crosses the proxy.

Node ``i`` listens for clients and peers on one port ``P_i``. Its own
``controller.quorum.voters`` names itself at ``P_i`` and every other node
``j`` at the proxy port of the directed link ``i -> j`` (``faults/proxy.py``),
so each node has a voters list of its own; the addresses differ, so the
cluster id (derived from the voters when unset) is set explicitly. Clients
use the advertised listeners, which are the nodes' own ports.

Every node runs under ``tests/admin/fsync_journal.py``: each fsync is
journaled with the file's size when it started, so :meth:`power_loss` can
cut a killed node's segment files back to what the disk is guaranteed to
hold. SIGSTOP/SIGCONT pause a node (its sockets stay open, its timers do not
run), as a long GC pause or a stalled VM would.
"""

from __future__ import annotations

import base64
import os
import signal
import sys
import uuid
from pathlib import Path

from compat.broker_cluster import BrokerCluster
from compat.broker_process import BrokerProcess, free_port
from compat.kafka.wire_client import WireClient
from faults.proxy import LinkProxy
from tests.admin.fsync_journal import power_loss

# Faster failure detection than the defaults, so a run's faults show up in seconds.
NODE_OVERRIDES = {
    "broker.session.timeout.ms": "4000",
    "broker.heartbeat.interval.ms": "500",
    "group.initial.rebalance.delay.ms": "0",
    "group.min.session.timeout.ms": "1000",
}


class FaultNode(BrokerProcess):
    """A broker process whose fsyncs are journaled."""

    def __init__(self, data_dir: Path, *, journal: Path, **kwargs: object) -> None:
        super().__init__(data_dir, **kwargs)  # type: ignore[arg-type]
        self.journal = journal
        self.paused = False

    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        assert cmd[1:4] == ["-m", "broker", "serve"], cmd
        return [sys.executable, "-m", "tests.admin.fsync_journal", str(self.journal), *cmd[3:]]

    def signal(self, sig: signal.Signals) -> None:
        if self.pid is not None and self.running():
            os.kill(self.pid, sig)


class FaultCluster(BrokerCluster):
    """:class:`BrokerCluster` with journaled fsyncs and every peer link proxied."""

    def __init__(
        self, root: Path, size: int = 3, *, overrides: dict[str, str] | None = None
    ) -> None:
        self.root = root
        self.size = size
        self.proxy = LinkProxy()
        ports = {i: free_port() for i in range(1, size + 1)}
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # BrokerCluster.__init__ is not called: each node has voters of its own.
        self.nodes: dict[int, BrokerProcess] = {}  # FaultNodes
        self.observers: dict[int, BrokerProcess] = {}  # none: every node votes
        for i, port in ports.items():
            voters = []
            for j, target in sorted(ports.items()):
                via = target if i == j else self.proxy.add(i, j, target)
                voters.append(f"{j}@127.0.0.1:{via}")
            node = FaultNode(
                root / f"node-{i}",
                journal=root / f"node-{i}.fsyncs",
                node_id=i,
                overrides={
                    "controller.quorum.voters": ",".join(voters),
                    "cluster.id": cluster_id,
                    **NODE_OVERRIDES,
                    **(overrides or {}),
                },
            )
            node.port = port
            self.nodes[i] = node

    def close(self) -> None:
        for i in self.nodes:
            self.resume(i)
            self.nodes[i].close()
        self.proxy.close()

    # -- who leads -------------------------------------------------------------

    def node(self, node_id: int) -> FaultNode:
        node = self.nodes[node_id]
        assert isinstance(node, FaultNode)
        return node

    def controller(self) -> int | None:
        """The active controller as the running nodes' newest persisted epoch names it."""
        best: tuple[int, int] | None = None
        for i, node in self.nodes.items():
            if node.running():
                s = self.state(i)
                if s["leaderId"] > 0 and (best is None or s["leaderEpoch"] > best[0]):
                    best = (s["leaderEpoch"], s["leaderId"])
        return best[1] if best else None

    # -- faults ----------------------------------------------------------------

    def kill(self, node_id: int) -> None:
        node = self.node(node_id)
        if node.paused:
            node.signal(signal.SIGCONT)
            node.paused = False
        if node.running():
            node.kill()

    def restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if not node.running():
            node.start()

    def lose_power(self, node_id: int) -> dict[str, int]:
        """SIGKILL, then cut every segment file back to its last fsync."""
        self.kill(node_id)
        node = self.node(node_id)
        return power_loss(node.data_dir, node.journal) if node.journal.exists() else {}

    def pause(self, node_id: int) -> None:
        node = self.node(node_id)
        if node.running() and not node.paused:
            node.signal(signal.SIGSTOP)
            node.paused = True

    def resume(self, node_id: int) -> None:
        node = self.node(node_id)
        if node.paused:
            node.signal(signal.SIGCONT)
            node.paused = False

    def heal(self) -> None:
        """Every link up, every node running and awake."""
        self.proxy.heal()
        for i in self.nodes:
            self.resume(i)
            self.restart(i)

    # -- what each node says ---------------------------------------------------

    def topics_on(self, node_id: int, timeout_s: float = 5.0) -> dict[str, tuple[str, int]]:
        """{topic: (topic id, partition count)} in node ``node_id``'s own Metadata."""
        from broker.wire.generated.metadata_request import MetadataRequest

        node = self.nodes[node_id]
        assert node.port is not None
        with WireClient(node.host, node.port, client_id="faults", timeout_s=timeout_s) as c:
            response = c.send(MetadataRequest(topics=None, allow_auto_topic_creation=False), 12)
        return {
            t.name: (str(t.topic_id), len(t.partitions))
            for t in response.topics
            if t.error_code == 0
        }
