"""A small scripted harness that drives real :class:`RaftNode` cores.

Unlike the simulator it makes no random choices of its own: a round ticks
every live node once, then delivers every message in flight (reliable,
in order).  Tests use it to replay the scenarios of bug reports exactly.
A host may hold a ``Ready`` open (``hold``) and keep stepping the node
while it "persists", as an asynchronous driver would.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.raft.log import MemoryLog
from broker.raft.messages import Envelope
from broker.raft.node import RaftNode
from broker.raft.rng import SplitMix64
from broker.raft.types import ElectionState, RaftConfig, Ready, Role


@dataclass
class Host:
    node_id: int
    log: MemoryLog = field(default_factory=MemoryLog)
    stored: ElectionState | None = None
    core: RaftNode | None = None
    restarts: int = 0
    held: Ready | None = None


class Cluster:
    def __init__(
        self, voters: tuple[int, ...], config: RaftConfig, observers: tuple[int, ...] = ()
    ) -> None:
        self.voters = voters
        self.config = config
        self.hosts = {i: Host(i) for i in voters + observers}
        self.net: list[Envelope] = []
        self.sent: list[Envelope] = []
        self.cut: set[tuple[int, int]] = set()
        """Directed links (source, destination) that drop everything."""
        self.leaders: dict[int, int] = {}
        for host in self.hosts.values():
            self.start(host.node_id)

    def core(self, node_id: int) -> RaftNode:
        core = self.hosts[node_id].core
        assert core is not None, f"node {node_id} is down"
        return core

    def start(self, node_id: int) -> None:
        host = self.hosts[node_id]
        rng = SplitMix64(node_id * 7919 + host.restarts)
        host.core = RaftNode(
            node_id, host.log, self.voters, rng, self.config, host.stored, incarnation=host.restarts
        )

    def kill(self, node_id: int) -> None:
        host = self.hosts[node_id]
        host.core = None
        host.held = None
        host.log.crash(0)
        host.restarts += 1
        self.net = [e for e in self.net if e.destination != node_id]

    def handle(self, node_id: int, rd: Ready) -> None:
        """Persist, flush, send -- the Ready contract, in order."""
        host = self.hosts[node_id]
        if rd.election_state is not None:
            host.stored = rd.election_state
        if rd.flush_offset is not None:
            host.log.flush()
        self.net.extend(rd.messages)
        self.sent.extend(rd.messages)

    def drain(self, node_id: int) -> None:
        host = self.hosts[node_id]
        core = host.core
        if core is None or host.held is not None:
            return
        while core.has_ready():
            rd = core.ready()
            self.handle(node_id, rd)
            core.advance(rd)
        self.check()

    def hold(self, node_id: int) -> Ready:
        """Take a Ready and keep it open (the host's fsync is running)."""
        host = self.hosts[node_id]
        rd = self.core(node_id).ready()
        host.held = rd
        return rd

    def release(self, node_id: int) -> None:
        host = self.hosts[node_id]
        rd = host.held
        assert rd is not None
        host.held = None
        self.handle(node_id, rd)
        self.core(node_id).advance(rd)
        self.drain(node_id)

    def deliver(self, env: Envelope) -> None:
        core = self.hosts[env.destination].core
        if core is None or (env.source, env.destination) in self.cut:
            return
        core.step(env)
        self.drain(env.destination)

    def round(self) -> None:
        for host in self.hosts.values():
            if host.core is not None:
                host.core.tick()
                self.drain(host.node_id)
        batch, self.net = self.net, []
        for env in batch:
            self.deliver(env)

    def check(self) -> None:
        for host in self.hosts.values():
            core = host.core
            if core is not None and core.role is Role.LEADER:
                first = self.leaders.setdefault(core.epoch, core.node_id)
                assert first == core.node_id, f"two leaders in epoch {core.epoch}"

    def leader(self) -> RaftNode | None:
        best = None
        for host in self.hosts.values():
            core = host.core
            if (
                core is not None
                and core.role is Role.LEADER
                and (best is None or core.epoch > best.epoch)
            ):
                best = core
        return best

    def run_until_leader(self, rounds: int) -> RaftNode | None:
        for _ in range(rounds):
            self.round()
            leader = self.leader()
            if leader is not None:
                return leader
        return None
