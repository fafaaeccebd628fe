"""The metadata log on one node: append records, replay them, publish images.

Theory of operation
-------------------
``__cluster_metadata-0`` is a partition log in the storage engine. Every
controller operation becomes one batch of records (see
:mod:`broker.controller.records`), appended in epoch 1 and fsynced before it
is applied: metadata is always strongly consistent. Only then are the
records replayed into a new :class:`MetadataImage`, which listeners receive
as (old, new). At start-up the whole log is replayed. Operations are
serialized by one lock, so each sees the image the previous one produced.

With one voter the node is the quorum; the Raft issue replicates this log.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from broker.clock import Clock
from broker.controller.image import MetadataImage, replay
from broker.controller.records import decode_record, encode_record
from broker.recordbatch import build_batch, iter_records
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog

log = logging.getLogger(__name__)

METADATA_TOPIC = "__cluster_metadata"
METADATA_EPOCH = 1
Listener = Callable[[MetadataImage, MetadataImage], Awaitable[None]]


def read_all(plog: PartitionLog, start: int = 0) -> list[tuple[int, Any]]:
    """Every (offset, record) in a metadata log from ``start``."""
    out: list[tuple[int, Any]] = []
    offset = max(start, plog.log_start_offset)
    while offset < plog.log_end_offset:
        chunk = plog.read(offset, 1 << 20)
        if not chunk.records:
            break
        for attributes, record in iter_records(chunk.records):
            if record.offset >= offset and not attributes & 0x20 and record.value is not None:
                out.append((record.offset, decode_record(record.value)))
            offset = max(offset, record.offset + 1)
    return out


class NotControllerError(Exception):
    """This node is not the active controller (the quorum's leader)."""

    def __init__(self, leader_id: int | None) -> None:
        super().__init__(f"not the active controller; the leader is {leader_id}")
        self.leader_id = leader_id


class MetadataQuorum:
    def __init__(self, data_dir: Path, clock: Clock, node_id: int = 1) -> None:
        self.node_id = node_id
        self.directory = data_dir / f"{METADATA_TOPIC}-0"
        self.clock = clock
        self.log = PartitionLog.open(self.directory, LogConfig(), clock.now_ms())
        self.image = MetadataImage()
        for offset, record in read_all(self.log):
            self.image = replay(self.image, offset, record)
        self.listeners: list[Listener] = []
        self._lock = trio.Lock()
        self.caught_up = trio.Event()
        self.caught_up.set()  # one voter: the local log is the committed log
        log.info(
            "replayed %d metadata records: %d topics",
            self.log.log_end_offset,
            len(self.image.topics),
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Nothing to run for one voter (the replicated quorum runs its driver)."""
        task_status.started()

    @property
    def leader_id(self) -> int | None:
        """The active controller's node id, None while there is no leader."""
        return self.node_id

    @property
    def is_active_controller(self) -> bool:
        return self.leader_id == self.node_id

    @property
    def applied_offset(self) -> int:
        """The offset after the last record replayed into :attr:`image`."""
        return self.log.log_end_offset

    async def append(self, records: list[Any]) -> MetadataImage:
        """Append, fsync, replay and publish; returns the new image.
        Raises :class:`NotControllerError` on a node that is not the leader."""
        if not records:
            return self.image
        async with self._lock:
            now = self.clock.now_ms()
            batch = build_batch([(None, encode_record(r)) for r in records], timestamp=now)
            info = self.log.append(batch, METADATA_EPOCH, now)
            # Appends to this log happen only here, under the lock: the
            # flush's worker thread has the log to itself.
            await trio.to_thread.run_sync(self.log.flush)
            old = self.image
            new = old
            for i, record in enumerate(records):
                new = replay(new, info.base_offset + i, record)
            self.image = new
            for listener in self.listeners:
                await listener(old, new)
            return new

    def close(self) -> None:
        self.log.close()


def cluster_id(data_dir: Path, node_id: int, configured: str | None) -> str:
    """The cluster id from ``meta.properties``, created at first start as Kafka does."""
    meta = data_dir / "meta.properties"
    if meta.exists():
        props = dict(
            line.split("=", 1)
            for line in meta.read_text().splitlines()
            if "=" in line and not line.startswith("#")
        )
        stored = props.get("cluster.id", "")
        stored_node = props.get("node.id", "").strip()
        if stored_node and stored_node != str(node_id):
            raise ValueError(f"{meta} belongs to node {stored_node}, not to node {node_id}")
        if configured and stored and configured != stored:
            raise ValueError(f"cluster.id {configured} does not match {stored} in {meta}")
        return stored
    cid = configured or _base64_uuid()
    data_dir.mkdir(parents=True, exist_ok=True)
    meta.write_text(f"version=1\ncluster.id={cid}\nnode.id={node_id}\n")
    return cid


def _base64_uuid() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
