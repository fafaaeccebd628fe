"""The metadata log replicated by the controller quorum (more than one voter).

Theory of operation
-------------------
:class:`RaftMetadataQuorum` keeps the contract of
:class:`~broker.controller.quorum.MetadataQuorum` (``image``, ``listeners``,
``leader_id``, ``is_active_controller``, ``applied_offset``, ``append``,
``NotControllerError``) with ``__cluster_metadata-0`` replicated by the Raft
core through the driver (broker/replication/driver.py):

* ``append(records)`` on the active controller proposes one Raft entry
  holding all the records of the operation (so an operation commits whole
  or not at all) and returns once that entry is committed *and* replayed
  into the image, with the listeners fired. On any other node, or when the
  entry is lost to a new leader (another epoch's entry committed at its
  offset), or this node stops leading before it commits, it raises
  :class:`NotControllerError`. While it still leads, it waits (up to
  ``COMMIT_TIMEOUT_S``, longer than check-quorum takes to depose a leader
  cut off from its majority): giving up earlier could let a retry repeat an
  operation whose entry commits after all.
* Every node replays committed entries, in order, in one apply task, into
  new images and fires the listeners (ReplicaManager opens partitions).
  At start-up the image is empty; the core hands every committed entry
  again once the node has heard the high watermark from the leader, and
  :attr:`caught_up` is set when the node has replayed up to it.
* The active controller is the Raft leader once it has replayed its own
  LEADER_CHANGE entry: then its image holds everything committed before its
  epoch, so operations computed on it see the whole history.

Entry payload: the operation's records, each ``uvarint length`` + the
record's frame (broker/controller/records.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import trio

from broker.clock import Clock
from broker.controller.image import MetadataImage, replay
from broker.controller.quorum import METADATA_TOPIC, MetadataQuorum, NotControllerError
from broker.controller.records import decode_record, encode_record
from broker.raft import LogEntry, Ready, Role
from broker.replication.driver import NotLeader, RaftDriver
from broker.replication.election_store import ElectionStore
from broker.replication.metadata_log import MetadataLog
from broker.replication.peers import Peers
from broker.replication.wire import METADATA_GROUP
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog
from broker.wire.codec import read_uvarint, uvarint

log = logging.getLogger(__name__)

COMMIT_TIMEOUT_S = 30.0
ACTIVE_WAIT_S = 5.0


def encode_entry(records: Sequence[Any]) -> bytes:
    out = bytearray()
    for record in records:
        frame = encode_record(record)
        out += uvarint(len(frame)) + frame
    return bytes(out)


def decode_entry(payload: bytes) -> list[Any]:
    view = memoryview(payload)
    pos, out = 0, []
    while pos < len(view):
        size, pos = read_uvarint(view, pos)
        out.append(decode_record(bytes(view[pos : pos + size])))
        pos += size
    return out


class RaftMetadataQuorum(MetadataQuorum):
    def __init__(
        self,
        data_dir: Path,
        clock: Clock,
        node_id: int,
        voters: dict[int, tuple[str, int]],
        cluster_id: str | None,
        *,
        peers: Peers | None = None,
    ) -> None:
        # Not MetadataQuorum.__init__: nothing is replayed before it commits.
        self.node_id = node_id
        self.directory = data_dir / f"{METADATA_TOPIC}-0"
        self.clock = clock
        self.log = PartitionLog.open(self.directory, LogConfig(), clock.now_ms())
        self.raft_log = MetadataLog(self.log, clock.now_ms)
        self.image = MetadataImage()
        self.listeners = []
        self._lock = trio.Lock()
        self.operation_lock = trio.Lock()
        """Held by broker/replication/forward.py around a controller operation."""
        self.voters = dict(voters)
        self.cluster_id = cluster_id
        self.peers = peers or Peers(node_id, self.voters, cluster_id, [METADATA_GROUP])
        self.driver = RaftDriver(node_id, self.peers)
        self.peers.deliver = self.driver.deliver
        self.group = self.driver.add_group(
            METADATA_GROUP,
            self.raft_log,
            ElectionStore(self.directory),
            sorted(self.voters),
            self._on_commit,
        )
        self._commits_in, self._commits = trio.open_memory_channel[list[LogEntry]](math.inf)
        self._applied = 0
        self._waiters: dict[int, tuple[int, trio.Event, list[bool]]] = {}
        self.caught_up = trio.Event()
        self.running = False

    # ---------------------------------------------------------------- contract

    @property
    def raft(self) -> Any:
        return self.group.node

    @property
    def leader_id(self) -> int | None:
        return self.raft.known_leader()  # type: ignore[no-any-return]

    @property
    def is_active_controller(self) -> bool:
        node = self.raft
        state = node.leader_state
        return bool(
            node.role is Role.LEADER
            and state is not None
            and self._applied > state.epoch_start_offset
        )

    @property
    def applied_offset(self) -> int:
        return self._applied

    async def append(self, records: list[Any]) -> MetadataImage:
        if not records:
            return self.image
        async with self._lock:
            await self._wait_active()
            try:
                offset, epoch = await self.driver.propose(METADATA_GROUP, encode_entry(records))
            except NotLeader as exc:
                raise NotControllerError(exc.leader_id) from None
            done = trio.Event()
            outcome: list[bool] = []
            self._waiters[offset] = (epoch, done, outcome)
            try:
                await self._wait_commit(epoch, done)
            finally:
                self._waiters.pop(offset, None)
            if outcome != [True]:
                raise NotControllerError(self.leader_id)
            return self.image

    async def _wait_commit(self, epoch: int, done: trio.Event) -> None:
        """Until the entry is applied, or this node stops leading ``epoch``.

        Never give up while still leading that epoch: the entry may yet
        commit, and a retry decided on an image without it would repeat the
        operation (two TopicRecords for one name). Once the leadership is
        lost, a retry goes to a leader whose image holds the entry if it
        committed (it replays its whole log before it acts)."""
        with trio.move_on_after(COMMIT_TIMEOUT_S):
            while not done.is_set():
                node = self.raft
                if node.role is not Role.LEADER or node.epoch != epoch:
                    return
                with trio.move_on_after(0.1):
                    await done.wait()

    async def _wait_active(self) -> None:
        with trio.move_on_after(ACTIVE_WAIT_S):
            while not self.is_active_controller:
                if self.raft.role is not Role.LEADER:
                    raise NotControllerError(self.leader_id)
                await self.group.changed.wait()
            return
        raise NotControllerError(self.leader_id)

    # ---------------------------------------------------------------- tasks

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.running = True
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.peers.run)
                await nursery.start(self.driver.run)
                nursery.start_soon(self._apply_loop)
                task_status.started()
        finally:
            self.running = False

    def _on_commit(self, rd: Ready) -> None:
        if rd.installed_snapshot is not None:
            log.error("a metadata snapshot was installed: snapshots are not implemented yet")
        if rd.committed:
            self._commits_in.send_nowait(rd.committed)

    async def _apply_loop(self) -> None:
        while True:
            batch: list[LogEntry] | None = None
            with trio.move_on_after(0.1):
                batch = await self._commits.receive()
            if batch is not None:
                await self._apply(batch)
            if not self.caught_up.is_set():
                node = self.raft
                if node.high_watermark > 0 and self._applied >= node.high_watermark:
                    log.info(
                        "metadata caught up at offset %d (leader %s)",
                        self._applied,
                        node.known_leader(),
                    )
                    self.caught_up.set()

    async def _apply(self, entries: list[LogEntry]) -> None:
        old = self.image
        new = old
        applied = self._applied
        finished: list[tuple[int, bool]] = []
        for entry in entries:
            if entry.offset < applied:
                continue
            if entry.control is None:
                for record in decode_entry(entry.payload):
                    new = replay(new, entry.offset, record)
            applied = entry.offset + 1
            waiter = self._waiters.get(entry.offset)
            if waiter is not None:
                finished.append((entry.offset, waiter[0] == entry.epoch))
        self.image = new
        if new is not old:
            for listener in self.listeners:
                await listener(old, new)
        # Only now: what waits for an offset finds the listeners' work done
        # (the partitions of a new topic open).
        self._applied = applied
        for offset, ok in finished:
            waiter = self._waiters.get(offset)
            if waiter is not None:
                waiter[2].append(ok)
                waiter[1].set()

    def describe(self) -> dict[str, Any]:
        """What DescribeQuorum reports: leader, epoch, high watermark and the
        replicas' fetched offsets as this node knows them."""
        node = self.raft
        replicas: dict[int, tuple[int, int]] = {}
        state = node.leader_state
        if state is not None:
            for replica_id, replica in state.replicas.items():
                replicas[replica_id] = (replica.end_offset, replica.last_fetch_tick)
        return {
            "leader_id": node.known_leader(),
            "epoch": node.epoch,
            "high_watermark": node.high_watermark,
            "end_offset": node.log.end_offset,
            "now_tick": node.now,
            "replicas": replicas,
            "voters": sorted(node.voters.latest),
        }
