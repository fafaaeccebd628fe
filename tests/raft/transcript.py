"""A small transcript (datadriven) harness for the Raft core, after etcd-raft.

A transcript file is a sequence of cases::

    # comments explain the scenario and cite the rule it checks
    command arg key=value
    ----
    expected output

Commands drive real :class:`RaftNode` cores over an in-memory network that
delivers nothing by itself: ``deliver`` moves one hop of messages, so the
file shows every message.  Hosts follow the ``Ready`` contract immediately
after each command.  After every command the harness also prints each node
whose role, epoch, leader or high watermark changed.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from broker.raft.log import MemoryLog
from broker.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    Envelope,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    LogEntry,
    Message,
    VoteRequest,
    VoteResponse,
)
from broker.raft.node import RaftNode
from broker.raft.rng import SplitMix64
from broker.raft.types import ElectionState, RaftConfig


def render_entry(entry: LogEntry) -> str:
    kind = f" {entry.control.name}" if entry.control is not None else ""
    payload = "" if entry.control is not None else f" {entry.payload.decode()}"
    return f"{entry.offset}@{entry.epoch}{kind}{payload}"


def render(msg: Message) -> str:
    """One line per message, Kafka field names, defaults left out."""
    if isinstance(msg, VoteRequest):
        kind = "PreVote" if msg.pre_vote else "Vote"
        return (
            f"{kind}Request candidate_epoch={msg.candidate_epoch} "
            f"last_offset_epoch={msg.last_offset_epoch} last_offset={msg.last_offset}"
        )
    if isinstance(msg, VoteResponse):
        return (
            f"VoteResponse granted={msg.vote_granted} leader={msg.leader_id} "
            f"epoch={msg.leader_epoch}" + (f" error={msg.error_code}" if msg.error_code else "")
        )
    if isinstance(msg, BeginQuorumEpochRequest):
        return f"BeginQuorumEpochRequest leader={msg.leader_id} epoch={msg.leader_epoch}"
    if isinstance(msg, EndQuorumEpochRequest):
        return (
            f"EndQuorumEpochRequest leader={msg.leader_id} epoch={msg.leader_epoch} "
            f"preferred_successors={list(msg.preferred_successors)}"
        )
    if isinstance(msg, (BeginQuorumEpochResponse, EndQuorumEpochResponse)):
        return f"{type(msg).__name__} leader={msg.leader_id} epoch={msg.leader_epoch}" + (
            f" error={msg.error_code}" if msg.error_code else ""
        )
    if isinstance(msg, FetchRequest):
        return (
            f"FetchRequest epoch={msg.current_leader_epoch} fetch_offset={msg.fetch_offset} "
            f"last_fetched_epoch={msg.last_fetched_epoch}"
        )
    if isinstance(msg, FetchResponse):
        parts = [f"FetchResponse leader={msg.current_leader.leader_id}"]
        parts.append(f"epoch={msg.current_leader.leader_epoch}")
        if msg.error_code:
            parts.append(f"error={msg.error_code}")
        else:
            parts.append(f"hw={msg.high_watermark} log_start={msg.log_start_offset}")
        if msg.diverging_epoch is not None:
            d = msg.diverging_epoch
            parts.append(f"diverging_epoch=(epoch={d.epoch} end_offset={d.end_offset})")
        if msg.snapshot_id is not None:
            s = msg.snapshot_id
            parts.append(f"snapshot_id=(end_offset={s.end_offset} epoch={s.epoch})")
        if msg.records:
            parts.append("records=[" + ", ".join(render_entry(e) for e in msg.records) + "]")
        return " ".join(parts)
    if isinstance(msg, FetchSnapshotRequest):
        s = msg.snapshot_id
        return (
            f"FetchSnapshotRequest snapshot_id=(end_offset={s.end_offset} epoch={s.epoch}) "
            f"position={msg.position}"
        )
    s = msg.snapshot_id
    return (
        f"FetchSnapshotResponse snapshot_id=(end_offset={s.end_offset} epoch={s.epoch}) "
        f"size={msg.size} position={msg.position} bytes={len(msg.unaligned_records)}"
        + (f" error={msg.error_code}" if msg.error_code else "")
    )


@dataclass
class Host:
    node_id: int
    log: MemoryLog = field(default_factory=MemoryLog)
    stored: ElectionState | None = None
    core: RaftNode | None = None
    applied: list[str] = field(default_factory=list)


class Transcript:
    def __init__(self) -> None:
        self.hosts: dict[int, Host] = {}
        self.pending: list[Envelope] = []
        self.group: dict[int, int] = {}
        self.config = RaftConfig()
        self.bootstrap: tuple[int, ...] = ()
        self.out: list[str] = []

    # ---------------------------------------------------------------- hosts

    def _core(self, node_id: int) -> RaftNode:
        core = self.hosts[node_id].core
        if core is None:
            raise ValueError(f"node {node_id} is down")
        return core

    def _start(self, host: Host) -> None:
        host.core = RaftNode(
            host.node_id,
            host.log,
            self.bootstrap,
            SplitMix64(host.node_id),
            self.config,
            host.stored,
        )

    def _drain(self) -> None:
        for host in self.hosts.values():
            core = host.core
            while core is not None and core.has_ready():
                rd = core.ready()
                if rd.election_state is not None:
                    host.stored = rd.election_state
                if rd.flush_offset is not None:
                    host.log.flush()
                self.pending.extend(rd.messages)
                if rd.installed_snapshot is not None:
                    host.applied = [f"snapshot<{rd.installed_snapshot.data.decode()}>"]
                host.applied.extend(render_entry(e) for e in rd.committed)
                core.advance(rd)

    def _state(self) -> dict[int, str]:
        out = {}
        for node_id, host in sorted(self.hosts.items()):
            core = host.core
            if core is None:
                out[node_id] = "down"
                continue
            leader = core.known_leader()
            out[node_id] = (
                f"{core.role.value} epoch={core.epoch} leader={leader if leader is not None else '-'}"
                f" hw={core.high_watermark}"
            )
        return out

    # ------------------------------------------------------------- commands

    def run(self, line: str) -> str:
        self.out = []
        words = shlex.split(line)
        name, args = words[0], words[1:]
        before = self._state()
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            raise ValueError(f"unknown command {name!r}")
        handler(args)
        self._drain()
        after = self._state()
        for node_id, state in after.items():
            if name != "cluster" and before.get(node_id) != state:
                self.out.append(f"  node {node_id}: {state}")
        return "\n".join(self.out) if self.out else "ok"

    def cmd_cluster(self, args: list[str]) -> None:
        """cluster voters=1,2,3 [observers=4] [RaftConfig field=value ...]"""
        kv = dict(a.split("=", 1) for a in args)
        voters = tuple(int(v) for v in kv.pop("voters").split(","))
        observers = tuple(int(v) for v in kv.pop("observers", "").split(",") if v)
        fields: dict[str, int | bool | str] = {}
        for key, value in kv.items():
            if value in ("true", "false"):
                fields[key] = value == "true"
            else:
                fields[key] = int(value) if value.isdigit() else value
        self.config = RaftConfig(**fields)  # type: ignore[arg-type]
        self.bootstrap = voters
        for node_id in voters + observers:
            host = self.hosts[node_id] = Host(node_id)
            self._start(host)
            self.group[node_id] = 0
        self.out.append(f"voters={list(voters)} observers={list(observers)}")

    def cmd_tick(self, args: list[str]) -> None:
        """tick <id>[,<id>...] [count]: tick these nodes ``count`` times."""
        ids = [int(x) for x in args[0].split(",")]
        for _ in range(int(args[1]) if len(args) > 1 else 1):
            for node_id in ids:
                self._core(node_id).tick()
            self._drain()

    def cmd_timeout(self, args: list[str]) -> None:
        """timeout <id>: tick the node until its election/fetch timer fires."""
        core = self._core(int(args[0]))
        core.now = max(core.now, core.deadline - 1)
        core.tick()

    def cmd_deliver(self, args: list[str]) -> None:
        """deliver [from=<id>] [to=<id>] [drop=true]: one hop of pending messages."""
        kv = dict(a.split("=", 1) for a in args)
        src = int(kv["from"]) if "from" in kv else None
        dst = int(kv["to"]) if "to" in kv else None
        drop = kv.get("drop") == "true"
        batch: list[Envelope] = []
        keep: list[Envelope] = []
        for env in self.pending:
            matches = (src is None or env.source == src) and (dst is None or env.destination == dst)
            (batch if matches else keep).append(env)
        self.pending = keep
        for env in batch:
            line = f"{env.source}->{env.destination} {render(env.message)}"
            target = self.hosts[env.destination].core
            if drop or self.group[env.source] != self.group[env.destination] or target is None:
                self.out.append(f"{line} (dropped)")
                continue
            self.out.append(line)
            target.step(env)

    def cmd_stabilize(self, args: list[str]) -> None:
        """Deliver hop after hop until no message is pending (at most 50 hops)."""
        for _ in range(50):
            if not self.pending:
                return
            self.cmd_deliver(args)
            self._drain()

    def cmd_propose(self, args: list[str]) -> None:
        result = self._core(int(args[0])).propose(args[1].encode())
        self.out.append(f"error={result.error_code} offset={result.offset} epoch={result.epoch}")

    def cmd_add_voter(self, args: list[str]) -> None:
        self.out.append(f"error={self._core(int(args[0])).add_voter(int(args[1]))}")

    def cmd_remove_voter(self, args: list[str]) -> None:
        self.out.append(f"error={self._core(int(args[0])).remove_voter(int(args[1]))}")

    def cmd_transfer(self, args: list[str]) -> None:
        self.out.append(f"error={self._core(int(args[0])).transfer_leadership(int(args[1]))}")

    def cmd_snapshot(self, args: list[str]) -> None:
        """snapshot <id> <end_offset>: snapshot the applied state."""
        host = self.hosts[int(args[0])]
        end = int(args[1])
        data = ",".join(e.split(" ", 1)[-1] for e in host.applied[:end]).encode()
        snapshot = self._core(host.node_id).create_snapshot(end, data)
        self.out.append(f"snapshot_id=(end_offset={end} epoch={snapshot.snapshot_id.epoch})")

    def cmd_partition(self, args: list[str]) -> None:
        """partition 1 2 / 3: nodes after the slash cannot talk to the others."""
        side = 0
        for word in args:
            if word == "/":
                side = 1
            else:
                self.group[int(word)] = side

    def cmd_heal(self, args: list[str]) -> None:
        for node_id in self.group:
            self.group[node_id] = 0

    def cmd_crash(self, args: list[str]) -> None:
        """crash <id> [keep_unflushed]: lose the core and unflushed entries."""
        host = self.hosts[int(args[0])]
        host.log.crash(int(args[1]) if len(args) > 1 else 0)
        host.core = None
        self.pending = [e for e in self.pending if e.destination != host.node_id]

    def cmd_restart(self, args: list[str]) -> None:
        host = self.hosts[int(args[0])]
        self._start(host)
        host.applied = []

    def cmd_status(self, args: list[str]) -> None:
        ids = [int(a) for a in args] or sorted(self.hosts)
        for node_id in ids:
            host = self.hosts[node_id]
            core = host.core
            if core is None:
                self.out.append(f"{node_id}: down")
                continue
            leader = core.known_leader()
            voted = core.voted_for
            self.out.append(
                f"{node_id}: {core.role.value} epoch={core.epoch} "
                f"leader={leader if leader is not None else '-'} "
                f"voted_for={voted if voted is not None else '-'} hw={core.high_watermark} "
                f"log_start={core.log.log_start_offset} end={core.log.end_offset} "
                f"voters={sorted(core.voters.latest)}"
            )

    def cmd_log(self, args: list[str]) -> None:
        core = self._core(int(args[0]))
        log = core.log
        entries = log.read(log.log_start_offset, log.end_offset - log.log_start_offset)
        self.out.append(" ".join(render_entry(e) for e in entries) or "(empty)")

    def cmd_applied(self, args: list[str]) -> None:
        self.out.append(" ".join(self.hosts[int(args[0])].applied) or "(nothing)")


def run_file(text: str) -> str:
    """Run every case in ``text``; return the file as it should read."""
    transcript = Transcript()
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            out.append(line)
            i += 1
            continue
        command = line
        i += 1
        if i < len(lines) and lines[i] == "----":
            i += 1
            while i < len(lines) and lines[i].strip():
                i += 1
        out.append(command)
        out.append("----")
        out.append(transcript.run(command))
    return "\n".join(out).rstrip("\n") + "\n"
