"""Deterministic simulation of a Raft quorum under adversarial schedules.

Theory of operation
-------------------
N :class:`RaftNode` cores run in one process.  A seeded SplitMix64 scheduler
picks, step after step, one of: deliver a random in-flight packet (so
packets are delayed and reordered), tick one node (nodes' clocks drift),
propose from a client at a random node, crash or restart a node, cut or heal
a network partition, take a snapshot, add or remove a voter, or transfer
leadership.  Delivery drops and duplicates packets at random.

Hosts follow the ``Ready`` contract: persist election state, flush the log,
send, apply, ``advance``.  A crash forgets everything volatile: the core,
unsent messages, the election state not yet persisted and an unflushed log
suffix (of which the disk keeps a random prefix).  A crash may also strike
between ``step``/``tick`` and the handling of its ``Ready``.  Packets to a
previous incarnation of a node are dropped, as its connections would be.

After every step the checker asserts:

* at most one leader per epoch;
* a node's persisted epoch and (within one incarnation) its high watermark
  never decrease;
* every committed entry is identical on every node that reaches it (each
  committed delivery and each installed snapshot is compared with the global
  record of committed entries, and logs are re-read below the high
  watermark every few steps);
* no acknowledged proposal is lost (checked at the end, against a leader);
* the core raises no :class:`RaftInvariantError`.

Then faults stop: partitions heal, crashed nodes restart, the network turns
reliable, and within ``liveness_rounds`` rounds (each: every node ticks once,
then every in-flight packet is delivered) a leader must commit a new
proposal and every node must reach it (without pre-vote, every voter).
"""

from __future__ import annotations

import struct
import traceback
from dataclasses import dataclass, field
from typing import Protocol

from broker.raft.control import decode_voters
from broker.raft.log import MemoryLog, RaftLog
from broker.raft.messages import REQUEST_TYPES, ControlKind, Envelope, LogEntry, VoteResponse
from broker.raft.node import RaftNode
from broker.raft.rng import SplitMix64
from broker.raft.types import ElectionState, RaftConfig, RaftInvariantError, Ready, Role

_ENTRY_HEAD = struct.Struct(">ii")  # epoch, payload length


def encode_state(entries: list[tuple[int, bytes]]) -> bytes:
    return b"".join(_ENTRY_HEAD.pack(e, len(p)) + p for e, p in entries)


def decode_state(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    pos = 0
    while pos < len(data):
        epoch, size = _ENTRY_HEAD.unpack_from(data, pos)
        pos += _ENTRY_HEAD.size
        out.append((epoch, data[pos : pos + size]))
        pos += size
    return out


class Violation(Exception):
    """A checked safety or liveness property failed."""


class SimLog(RaftLog, Protocol):
    """A log the simulator can drive: a RaftLog with a split flush."""

    @property
    def durable_end_offset(self) -> int: ...

    def start_flush(self) -> None: ...

    def complete_flush(self) -> int: ...

    def delete_before(self, offset: int) -> None: ...


class SimDisk(Protocol):
    """The nodes' disks: their logs and election state, and what a power
    loss leaves of them."""

    def open(self, i: int) -> SimLog: ...

    def crash(self, i: int, keep_unflushed: int) -> SimLog:
        """Power loss of node ``i``: the log to use from now on.  A disk may
        keep up to ``keep_unflushed`` entries past the durable end, or decide
        itself what survived (a file system cut back to its last fsyncs)."""
        ...

    def lose(self, i: int) -> SimLog:
        """Node ``i``'s disk is replaced by an empty one."""
        ...

    def save_state(self, i: int, state: ElectionState) -> None: ...

    def load_state(self, i: int) -> ElectionState | None: ...


class MemoryDisk:
    """`MemoryLog`s; a crash keeps a prefix of the unflushed tail."""

    def __init__(self) -> None:
        self.logs: dict[int, MemoryLog] = {}
        self.states: dict[int, ElectionState] = {}

    def open(self, i: int) -> SimLog:
        log = self.logs[i] = MemoryLog()
        return log

    def crash(self, i: int, keep_unflushed: int) -> SimLog:
        log = self.logs[i]
        log.crash(keep_unflushed)
        return log

    def lose(self, i: int) -> SimLog:
        self.states.pop(i, None)
        return self.open(i)

    def save_state(self, i: int, state: ElectionState) -> None:
        self.states[i] = state

    def load_state(self, i: int) -> ElectionState | None:
        return self.states.get(i)


@dataclass(slots=True)
class Packet:
    env: Envelope
    src_incarnation: int
    dst_incarnation: int


@dataclass(frozen=True, slots=True)
class SimOptions:
    nodes: int = 3
    voters: int = 3
    steps: int = 1500
    drop: float = 0.05
    duplicate: float = 0.03
    crash_mid_ready: float = 0.003
    crash: float = 0.6
    """Percent of steps that crash a node; restarts are four times as likely."""
    partition: float = 0.6
    targeted: float = 0.1
    """Chance of a targeted fault after a vote, an election or a commit."""
    liveness_rounds: int = 1000
    max_in_flight: int = 400
    async_host: float = 0.0
    """Chance that a host holds a Ready open (its fsync runs) and keeps
    stepping the node until a later "complete" event finishes it."""
    disk_loss: float = 0.0
    """Percent of steps that wipe the disk of a replica that never was a voter."""
    dead_for_good: bool = False
    """Keep a minority of voters (the leader, often) dead through the liveness phase."""
    stability_rounds: int = 0
    """After liveness, cut the leader -> one follower link for this many
    rounds: a healthy leader must not be deposed (pre-vote seeds only)."""
    snapshot_storm: bool = False
    """During liveness the leader proposes and snapshots every round (a
    chunked snapshot transfer must still complete)."""
    stale_delivery: float = 0.0
    """Chance that a packet for a previous incarnation of a node reaches the
    current one (a transport that does not tie responses to a process)."""
    data_partition: bool = False
    """The core runs without a state machine (``RaftConfig.state_machine``
    False): hosts read what their high watermark commits from their own log,
    and delete log prefixes (DeleteRecords) instead of taking snapshots."""
    max_work: int = 3_000_000
    """Watchdog: core calls per seed (steps, ticks, Ready rounds)."""
    config: RaftConfig = field(default_factory=RaftConfig)


@dataclass(slots=True)
class SimResult:
    seed: int
    violation: str | None
    trace: list[str]
    steps: int
    leaders: int
    committed: int
    acked: int
    recovery_rounds: int
    disruptions: int = 0
    """Leaders that lost leadership while alive, in their voter set, not
    transferring and linked both ways to a majority of their voters."""


class Simulation:
    def __init__(
        self,
        seed: int,
        options: SimOptions,
        skip: frozenset[int] = frozenset(),
        disk: SimDisk | None = None,
    ) -> None:
        self.seed = seed
        self.opts = options
        self.skip = skip
        self.step_no = 0
        self.rng = SplitMix64(seed)
        n = options.nodes
        self.bootstrap = tuple(range(min(options.voters, n)))
        self.disk: SimDisk = disk if disk is not None else MemoryDisk()
        self.logs = [self.disk.open(i) for i in range(n)]
        self.stored: list[ElectionState | None] = [None] * n
        self.incarnation = [0] * n
        self.cores: list[RaftNode | None] = [None] * n
        self.cut: set[tuple[int, int]] = set()
        """Directed links (source, destination) that lose every packet."""
        self.held: list[tuple[Ready, Packet | None] | None] = [None] * n
        self.leading: list[int | None] = [None] * n
        self.transferring: list[int | None] = [None] * n
        self.ever_voter: set[int] = set(self.bootstrap)
        self.dead: set[int] = set()
        self.disruptions = 0
        self.work = 0
        self.net: list[Packet] = []
        self.drop = options.drop
        self.duplicate = options.duplicate
        self.committed: dict[int, tuple[int, bytes]] = {}
        self.leaders: dict[int, int] = {}
        self.epoch_seen = [0] * n
        self.hw_seen = [0] * n
        self.sm: list[list[tuple[int, bytes]]] = [[] for _ in range(n)]
        self.proposed: set[bytes] = set()
        self.acked: dict[bytes, int] = {}
        self.next_payload = 0
        self.trace: list[str] = []
        self.faults = True
        o = options
        # deliver, tick, propose, crash, restart, partition, heal, snapshot,
        # voter change, complete a held Ready, lose a disk, transfer
        spans = [45.0, 37.0, 10.0, o.crash, 4 * o.crash, o.partition, 2.5 * o.partition, 1.2, 1.1]
        spans += [12.0 if o.async_host else 0.0, o.disk_loss]
        self.weights: list[float] = []
        total = 0.0
        for span in spans:
            total += span
            self.weights.append(total)
        self.total_weight = total + 0.7
        for i in range(n):
            self._start(i)

    # ---------------------------------------------------------------- nodes

    def _start(self, i: int) -> None:
        rng = SplitMix64(self.seed * 1_000_003 + i * 7_919 + self.incarnation[i] * 104_729)
        if self.disk.load_state(i) != self.stored[i]:
            raise Violation(f"node {i} election state on disk {self.disk.load_state(i)}")
        core = RaftNode(
            i,
            self.logs[i],
            self.bootstrap,
            rng,
            self.opts.config,
            self.stored[i],
            incarnation=self.incarnation[i],
        )
        self.cores[i] = core
        self.hw_seen[i] = core.high_watermark
        self.epoch_seen[i] = core.epoch  # the in-memory epoch, per incarnation
        snapshot = self.logs[i].latest_snapshot()
        if self.opts.data_partition:
            self.sm[i] = self._committed_prefix(i, self.logs[i].log_start_offset)
        else:
            self.sm[i] = decode_state(snapshot.data) if snapshot else []
        self._check_state(i, self.sm[i])

    def _committed_prefix(self, i: int, end: int) -> list[tuple[int, bytes]]:
        """A data partition's "state" below its log start: what was committed."""
        missing = [o for o in range(end) if o not in self.committed]
        if missing:
            raise Violation(f"node {i} log starts at {end}, offsets {missing[:5]} never committed")
        return [self.committed[o] for o in range(end)]

    def _crash(self, i: int) -> None:
        log = self.logs[i]
        keep = self.rng.randrange(log.end_offset - log.durable_end_offset + 1)
        self.logs[i] = log = self.disk.crash(i, keep)
        self.cores[i] = None
        self.held[i] = None
        self.leading[i] = None
        self.incarnation[i] += 1
        self.net = [p for p in self.net if p.env.destination != i]
        self.log(f"crash {i} keep_unflushed={keep} log_end={log.end_offset}")

    def _lose_disk(self, i: int) -> None:
        """A replica that never was a voter loses its disk (it has no vote
        to forget; a voter would need KIP-853 directory ids to rejoin)."""
        if self.cores[i] is not None:
            self._crash(i)
        self.logs[i] = self.disk.lose(i)
        self.stored[i] = None
        self.log(f"disk of {i} lost")
        self._start(i)

    def _count_work(self) -> None:
        self.work += 1
        if self.work > self.opts.max_work:
            raise Violation(f"watchdog: more than {self.opts.max_work} core calls in one seed")

    def _act(self, i: int, what: str, tag: Packet | None = None) -> None:
        core = self.cores[i]
        assert core is not None
        self._count_work()
        try:
            if tag is not None:
                core.step(tag.env)
            else:
                core.tick()
        except RaftInvariantError as exc:
            raise Violation(f"core invariant: {exc}") from exc
        self._watch_leader(i, core)
        if self.faults and self.rng.random() < self.opts.crash_mid_ready:
            self.log(f"{what} then crash before ready")
            self._crash(i)
            return
        self._drain(i, tag)

    def _drain(self, i: int, tag: Packet | None = None) -> None:
        core = self.cores[i]
        assert core is not None
        if self.held[i] is not None:
            return  # the host is busy with a Ready; steps pile up in the core
        voted = new_leader = committed = False
        rounds = 0
        while core.has_ready():
            rounds += 1
            if rounds > 64:
                raise Violation(f"watchdog: node {i} never runs out of Ready")
            self._count_work()
            rd = core.ready()
            if self.faults and self.rng.random() < self.opts.async_host:
                self.held[i] = (rd, tag)
                self.logs[i].start_flush()
                self.log(f"node {i} holds its Ready (fsync running)")
                return
            v, n, c = self._finish(i, core, rd, tag, flush=True)
            voted, new_leader, committed = voted or v, new_leader or n, committed or c
        if self.faults:
            self._strike(i, voted, new_leader, committed)

    def _finish(
        self, i: int, core: RaftNode, rd: Ready, tag: Packet | None, flush: bool
    ) -> tuple[bool, bool, bool]:
        self._handle_ready(i, rd, tag, flush)
        core.advance()
        new_leader = core.role is Role.LEADER and core.epoch not in self.leaders
        self._check_node(i, core)
        voted = any(
            isinstance(env.message, VoteResponse) and env.message.vote_granted
            for env in rd.messages
        )
        return voted, new_leader, bool(rd.committed)

    def _complete(self, i: int) -> None:
        """The fsync of a held Ready completes: persist, send, apply, advance."""
        held = self.held[i]
        core = self.cores[i]
        assert held is not None and core is not None
        self.held[i] = None
        rd, tag = held
        self.logs[i].complete_flush()
        self.log(f"node {i} completes its Ready")
        voted, new_leader, committed = self._finish(i, core, rd, tag, flush=False)
        if self.faults and self.rng.random() < self.opts.targeted / 2:
            # Power loss right after this Ready, before the host took the
            # next one: whatever the steps meanwhile produced is lost.
            self.log(f"node {i} crashes before its next Ready")
            self._crash(i)
            return
        if self.faults:
            self._strike(i, voted, new_leader, committed)
        if self.cores[i] is core:
            self._drain(i)

    def _watch_leader(self, i: int, core: RaftNode) -> None:
        """Count disruptions: a leader that stops leading while healthy."""
        epoch = self.leading[i]
        if core.role is Role.LEADER:
            if epoch != core.epoch:
                if epoch is not None:
                    self._deposed(i, core, epoch)
                self.leading[i] = core.epoch
            return
        if epoch is not None:
            self.leading[i] = None
            self._deposed(i, core, epoch)

    def _deposed(self, i: int, core: RaftNode, epoch: int) -> None:
        if self.transferring[i] == epoch:
            return
        voters = core.voters.latest
        if i not in voters:
            return
        linked = sum(
            1
            for v in voters
            if v == i
            or (self.cores[v] is not None and (i, v) not in self.cut and (v, i) not in self.cut)
        )
        if linked * 2 > len(voters):
            self.disruptions += 1
            self.log(f"healthy leader {i} of epoch {epoch} deposed")

    def _strike(self, i: int, voted: bool, new_leader: bool, committed: bool) -> None:
        """Faults aimed at the moments that matter: right after a vote (is
        it durable?), right after an election (isolate the new leader before
        its epoch spreads), right after a commit (does it survive?)."""
        rng = self.rng
        p = self.opts.targeted
        if voted and rng.random() < p:
            self.log(f"bounce {i} after voting")
            self._crash(i)
            self._start(i)
        elif new_leader and rng.random() < p:
            n = len(self.cores)
            self.cut = {(i, j) for j in range(n)} | {(j, i) for j in range(n)}
            self.log(f"isolate new leader {i}")
        elif committed and self.cores[i] is not None and rng.random() < p / 4:
            self._crash(i)

    def _handle_ready(self, i: int, rd: Ready, tag: Packet | None, flush: bool) -> None:
        state, stored = rd.election_state, self.stored[i]
        if state is not None:
            if stored is not None and state.epoch < stored.epoch:
                raise Violation(
                    f"node {i} persisted epoch went back {stored.epoch} -> {state.epoch}"
                )
            self.stored[i] = state
            self.disk.save_state(i, state)
        if flush and rd.flush_offset is not None:
            self.logs[i].flush()
        for env in rd.messages:
            if (
                tag is not None
                and env.destination == tag.env.source
                and env.correlation_id == tag.env.correlation_id
                and not isinstance(env.message, REQUEST_TYPES)
            ):
                dst_inc = tag.src_incarnation
            else:
                dst_inc = self.incarnation[env.destination]
            self.net.append(Packet(env, self.incarnation[i], dst_inc))
        if len(self.net) > self.opts.max_in_flight:
            del self.net[: len(self.net) - self.opts.max_in_flight]
        sm = self.sm[i]
        if rd.installed_snapshot is not None:
            if self.opts.data_partition:
                end = rd.installed_snapshot.snapshot_id.end_offset
                self.sm[i] = sm = self._committed_prefix(i, end)
            else:
                self.sm[i] = sm = decode_state(rd.installed_snapshot.data)
            self._check_state(i, sm)
            self.log(f"node {i} installed snapshot {rd.installed_snapshot.snapshot_id}")
        for entry in rd.committed:
            self._apply(i, sm, entry)
        if self.opts.data_partition:
            if rd.committed:
                raise Violation(f"node {i}: a data partition's Ready carries committed entries")
            log = self.logs[i]
            if log.log_start_offset <= len(sm) < rd.high_watermark:
                for entry in log.read(len(sm), rd.high_watermark - len(sm)):
                    self._apply(i, sm, entry)

    def _apply(self, i: int, sm: list[tuple[int, bytes]], entry: LogEntry) -> None:
        if entry.offset != len(sm):
            raise Violation(f"node {i} applied offset {entry.offset}, expected {len(sm)}")
        item = (entry.epoch, entry.payload)
        known = self.committed.setdefault(entry.offset, item)
        if known != item:
            raise Violation(f"node {i} committed {item} at {entry.offset}, others {known}")
        sm.append(item)
        if entry.control is None and entry.payload in self.proposed:
            self.proposed.discard(entry.payload)
            self.acked[entry.payload] = entry.offset

    def _check_state(self, i: int, sm: list[tuple[int, bytes]]) -> None:
        for offset, item in enumerate(sm):
            known = self.committed.setdefault(offset, item)
            if known != item:
                raise Violation(f"node {i} snapshot has {item} at {offset}, committed {known}")

    def _check_node(self, i: int, core: RaftNode) -> None:
        self.ever_voter |= core.voters.latest
        if core.role is Role.LEADER:
            leader = self.leaders.setdefault(core.epoch, i)
            if leader != i:
                raise Violation(f"two leaders in epoch {core.epoch}: {leader} and {i}")
        if core.epoch < self.epoch_seen[i]:
            raise Violation(f"node {i} epoch went back {self.epoch_seen[i]} -> {core.epoch}")
        self.epoch_seen[i] = core.epoch
        stored = self.stored[i]
        if stored is not None and core.epoch < stored.epoch:
            raise Violation(f"node {i} in epoch {core.epoch} below its persisted {stored.epoch}")
        if core.high_watermark < self.hw_seen[i]:
            raise Violation(
                f"node {i} high watermark went back {self.hw_seen[i]} -> {core.high_watermark}"
            )
        self.hw_seen[i] = core.high_watermark

    def _check_logs(self) -> None:
        for i, core in enumerate(self.cores):
            if core is None:
                continue
            log = self.logs[i]
            start = log.log_start_offset
            snapshot = log.latest_snapshot()
            voters = frozenset(snapshot.voters if snapshot else self.bootstrap)
            for entry in log.read(start, log.end_offset - start):
                if entry.control is ControlKind.KRAFT_VOTERS:
                    voters = frozenset(decode_voters(entry.payload)[0])
                if entry.offset >= core.high_watermark:
                    continue
                item = (entry.epoch, entry.payload)
                known = self.committed.setdefault(entry.offset, item)
                if known != item:
                    raise Violation(
                        f"node {i} log has ({entry.epoch}, {entry.payload!r}) at "
                        f"{entry.offset} below its high watermark, committed {known}"
                    )
            if core.voters.latest != voters:
                raise Violation(
                    f"node {i} uses voters {sorted(core.voters.latest)}, its log says "
                    f"{sorted(voters)}"
                )

    # --------------------------------------------------------------- events

    def _deliver(self, index: int) -> None:
        packet = self.net[index]
        self.net[index] = self.net[-1]
        self.net.pop()
        env = packet.env
        dst = env.destination
        if self.faults:
            if self.rng.random() < self.drop:
                return
            if self.rng.random() < self.duplicate:
                self.net.append(packet)
        if (env.source, dst) in self.cut:
            return
        if self.cores[dst] is None:
            return
        if self.incarnation[dst] != packet.dst_incarnation and not (
            self.faults and self.rng.random() < self.opts.stale_delivery
        ):
            return
        self.log(f"deliver {env.source}->{dst} #{env.correlation_id} {env.message}")
        self._act(dst, "deliver", packet)

    def _alive(self) -> list[int]:
        return [i for i, c in enumerate(self.cores) if c is not None]

    def _leader(self) -> RaftNode | None:
        """The leader of the highest epoch (stale leaders may linger)."""
        best: RaftNode | None = None
        for core in self.cores:
            if (
                core is not None
                and core.role is Role.LEADER
                and (best is None or core.epoch > best.epoch)
            ):
                best = core
        return best

    def _propose(self, i: int) -> int | None:
        core = self.cores[i]
        assert core is not None
        payload = b"v%d" % self.next_payload
        self.next_payload += 1
        result = core.propose(payload)
        if result.error_code == 0:
            self.proposed.add(payload)
            self.log(f"propose {payload!r} at {i} -> offset {result.offset}")
            self._drain(i)
            return result.offset
        return None

    def _delete_records(self, i: int, limit: int) -> None:
        """A data partition's host deletes a prefix below ``limit`` (what it
        has read as committed), never below its first voters record (there is
        no voters checkpoint yet: the record must stay to be replayed)."""
        log = self.logs[i]
        start = log.log_start_offset
        limit = min(limit, log.end_offset - 1)
        for entry in log.read(start, limit - start):
            if entry.control is ControlKind.KRAFT_VOTERS:
                limit = entry.offset
                break
        if limit <= start:
            return
        end = start + 1 + self.rng.randrange(limit - start)
        log.delete_before(end)
        self.log(f"delete records {i} before {end}")

    def _snapshot(self, i: int) -> None:
        core = self.cores[i]
        assert core is not None
        if self.opts.data_partition:
            self._delete_records(i, len(self.sm[i]))
            return
        start = core.log.log_start_offset
        if core.applied_offset <= start:
            return
        end = start + 1 + self.rng.randrange(core.applied_offset - start)
        core.create_snapshot(end, encode_state(self.sm[i][:end]))
        self.log(f"snapshot {i} end_offset={end}")

    def _change_voters(self) -> None:
        leader = self._leader()
        if leader is None:
            return
        target = self.rng.randrange(self.opts.nodes)
        if target in leader.voters.latest:
            error = leader.remove_voter(target)
            self.log(f"remove_voter {target} at {leader.node_id} -> {error}")
        else:
            error = leader.add_voter(target)
            self.log(f"add_voter {target} at {leader.node_id} -> {error}")
        self._drain(leader.node_id)

    def _transfer(self) -> None:
        leader = self._leader()
        if leader is None:
            return
        target = self.rng.randrange(self.opts.nodes)
        error = leader.transfer_leadership(target)
        if error == 0:
            self.transferring[leader.node_id] = leader.epoch
        self.log(f"transfer {leader.node_id} -> {target}: {error}")

    def _partition(self) -> None:
        """Two or three groups, or one-way cuts around one node."""
        rng = self.rng
        n = len(self.cores)
        kind = rng.randrange(3)
        if kind < 2:
            group = [rng.randrange(2 + kind) for _ in range(n)]
            self.cut = {(a, b) for a in range(n) for b in range(n) if group[a] != group[b]}
            self.log(f"partition {group}")
            return
        x = rng.randrange(n)
        inbound = rng.randrange(2) == 0
        self.cut = {(j, x) if inbound else (x, j) for j in range(n) if j != x}
        self.cut |= {(a, b) for a in range(n) for b in range(n) if a != b and rng.random() < 0.1}
        self.log(f"one-way cut {'into' if inbound else 'out of'} {x}: {sorted(self.cut)}")

    def step(self) -> None:
        rng = self.rng
        r = rng.random() * self.total_weight
        alive = self._alive()
        w = self.weights
        if r < w[0]:
            if self.net:
                self._deliver(rng.randrange(len(self.net)))
        elif r < w[1]:
            if alive:
                i = rng.choice(alive)
                self.log(f"tick {i}")
                self._act(i, f"tick {i}")
        elif r < w[2]:
            leader = self._leader()
            if leader is not None and rng.random() < 0.7:
                self._propose(leader.node_id)
            elif alive:
                self._propose(rng.choice(alive))
        elif r < w[3]:
            if alive:
                self._crash(rng.choice(alive))
        elif r < w[4]:
            dead = [i for i, c in enumerate(self.cores) if c is None]
            if dead:
                i = rng.choice(dead)
                self.log(f"restart {i}")
                self._start(i)
        elif r < w[5]:
            self._partition()
        elif r < w[6]:
            self.cut = set()
            self.log("heal")
        elif r < w[7]:
            if alive:
                self._snapshot(rng.choice(alive))
        elif r < w[8]:
            self._change_voters()
        elif r < w[9]:
            busy = [i for i in alive if self.held[i] is not None]
            if busy:
                self._complete(rng.choice(busy))
        elif r < w[10]:
            never = [i for i in range(len(self.cores)) if i not in self.ever_voter]
            if never:
                self._lose_disk(rng.choice(never))
        else:
            self._transfer()

    # ------------------------------------------------------------------ run

    def log(self, line: str) -> None:
        self.trace.append(f"{self.step_no:5d} {line}")

    def _seed_step(self, step_no: int) -> None:
        """Every step draws from its own stream, so that skipping steps (to
        shrink a failing schedule) leaves the other steps' choices alone."""
        self.step_no = step_no
        self.rng = SplitMix64(self.seed * 0x9E3779B1 + step_no * 0x85EBCA77)

    def run(self, liveness: bool = True) -> SimResult:
        violation: str | None = None
        steps = 0
        self.recovery_rounds = -1
        try:
            for steps in range(1, self.opts.steps + 1):
                if steps in self.skip:
                    continue
                self._seed_step(steps)
                self.step()
                if steps % 64 == 0:
                    self._check_logs()
            if liveness:
                self._seed_step(self.opts.steps + 1)
                self._liveness()
        except Violation as exc:
            violation = str(exc)
        except Exception as exc:  # a crash of the core is a bug too
            violation = f"exception {type(exc).__name__}: {exc}"
            self.trace.append(traceback.format_exc())
        return SimResult(
            seed=self.seed,
            violation=violation,
            trace=self.trace,
            steps=steps,
            leaders=len(self.leaders),
            committed=len(self.committed),
            acked=len(self.acked),
            recovery_rounds=self.recovery_rounds,
            disruptions=self.disruptions,
        )

    def _round(self) -> None:
        for i in self._alive():
            if self.held[i] is not None:
                self._complete(i)
        for i in self._alive():
            self._act(i, f"tick {i}")
        batch, self.net = self.net, []
        for packet in batch:
            self.net.append(packet)
            self._deliver(len(self.net) - 1)

    def _must_catch_up(self, leader: RaftNode) -> list[RaftNode]:
        """Every node must reach the probe -- except that without pre-vote,
        replicas outside the leader's voter set are exempt: a removed voter
        that never learned of its removal keeps campaigning, and each of its
        VoteRequests deposes the leader, so it may never catch up (Raft thesis
        4.2.3; KIP-996's pre-vote is what makes it harmless)."""
        cores = [c for c in self.cores if c is not None]
        if self.opts.config.pre_vote:
            return cores
        voters = leader.voters.latest
        return [c for c in cores if c.node_id in voters]

    def _kill_minority(self) -> None:
        """Pick replicas to keep dead: the leader first, half the time, then
        others, as long as every voter set in use keeps a live majority."""
        rng = self.rng
        sets = [frozenset(self.bootstrap)]
        for core in self.cores:
            if core is not None:
                sets += [core.voters.latest, core.voters.at(core.high_watermark)]
        order = list(range(len(self.cores)))
        for k in range(len(order) - 1, 0, -1):
            j = rng.randrange(k + 1)
            order[k], order[j] = order[j], order[k]
        leader = self._leader()
        if leader is not None and rng.randrange(2) == 0:
            order.remove(leader.node_id)
            order.insert(0, leader.node_id)
        for i in order:
            trial = self.dead | {i}
            if all(len(v - trial) * 2 > len(v) for v in sets if v):
                self.dead = trial
                if rng.randrange(2) == 0:
                    break
        for i in sorted(self.dead):
            if self.cores[i] is not None:
                self._crash(i)
        self.log(f"dead for good: {sorted(self.dead)}")

    def _liveness(self) -> None:
        self.faults = False
        self.cut = set()
        self.log("faults stop")
        for i, core in enumerate(self.cores):
            if core is None:
                self._start(i)
        if self.opts.dead_for_good:
            self._kill_minority()
        probe: bytes | None = None
        probe_epoch = -1
        for rounds in range(1, self.opts.liveness_rounds + 1):
            self.recovery_rounds = rounds
            self._round()
            leader = self._leader()
            # (Re)propose to the newest leader; one at a stale leader may be lost.
            if (
                leader is not None
                and leader.epoch > probe_epoch
                and probe not in self.acked
                and self._propose(leader.node_id) is not None
            ):
                probe = b"v%d" % (self.next_payload - 1)
                probe_epoch = leader.epoch
            if probe in self.acked and leader is not None:
                offset = self.acked[probe]
                if all(c.high_watermark > offset for c in self._must_catch_up(leader)):
                    break
            if self.opts.snapshot_storm and leader is not None and probe is not None:
                # A new entry every 8 rounds (replication keeps up even at
                # one record per fetch) and a new snapshot whenever it commits.
                if rounds % 8 == 0:
                    self._propose(leader.node_id)
                i, end = leader.node_id, leader.applied_offset
                if self.opts.data_partition:
                    if self.held[i] is None:
                        self._delete_records(i, len(self.sm[i]))
                elif end > leader.log.log_start_offset and self.held[i] is None:
                    leader.create_snapshot(end, encode_state(self.sm[i][:end]))
        else:
            states = [
                f"{c.node_id}:{c.role.value}/e{c.epoch}/hw{c.high_watermark}/end{c.log.end_offset}"
                f"/v{sorted(c.voters.latest)}/l{c.leader_id}/vf{c.voted_for}"
                for c in self.cores
                if c is not None
            ]
            raise Violation(
                f"liveness: no commit everywhere within {self.opts.liveness_rounds} rounds "
                f"after faults stopped (probe={probe!r}; {' '.join(states)})"
            )
        self._check_logs()
        leader = self._leader()
        assert leader is not None
        sm = self.sm[leader.node_id]
        for payload, offset in self.acked.items():
            if offset >= len(sm) or sm[offset][1] != payload:
                raise Violation(f"acknowledged {payload!r} at offset {offset} was lost")
        if self.opts.stability_rounds and self.opts.config.pre_vote:
            self._stability(leader)

    def _stability(self, leader: RaftNode) -> None:
        """KIP-996's promise: a follower that stops hearing from a healthy
        leader (a one-way cut) cannot depose it; the other voters still
        follow the leader and refuse its pre-votes."""
        i, epoch = leader.node_id, leader.epoch
        voters = leader.voters.latest
        followers = [v for v in sorted(voters) if v != i and self.cores[v] is not None]
        # Healthy: without the cut follower, the leader still has a majority.
        if i not in voters or len(followers) * 2 <= len(voters):
            return
        f = self.rng.choice(followers)
        self.cut = {(i, f)}
        self.log(f"stability: cut {i} -> {f}")
        for _ in range(self.opts.stability_rounds):
            self._round()
            if leader.role is not Role.LEADER or leader.epoch != epoch:
                raise Violation(
                    f"healthy leader {i} of epoch {epoch} deposed while only {i}->{f} was cut "
                    f"(now {leader.role.value} in epoch {leader.epoch})"
                )
