"""The partitions this node hosts: logs, high watermarks, producers, waiters.

Theory of operation
-------------------
:class:`ReplicaManager` owns one :class:`Partition` per topic partition in the
metadata image with a replica on this node (requests for the others are
NOT_LEADER_OR_FOLLOWER, see :mod:`broker.api.leader_hints`): it opens or
creates the partition's log when the partition appears (in a worker thread:
opening may recover a log) and closes and deletes it when its topic is
removed. Log calls happen on the Trio thread (the storage
engine is synchronous and its appends land in the page cache and never
fsync); fsyncs go to a worker thread, one flush at a time per partition, under
its ``append_lock``.

Durability. A flush captures the log end offset before its fsyncs start and
moves the recovery point only that far: a batch appended while another
request's fsync runs in its worker thread waits for the next one
(`ensure_durable`). A roll, or ``flush.messages``, makes the log ask for a
flush (``flush_due``); the produce path waits for a ``flush.messages`` flush
as Kafka does, and the manager's flusher task (`ReplicaManager.run_flusher`)
flushes a rolled segment in the background.

On one node the high watermark is the log end offset after each append.
Fetches that find too little data wait on the partition's ``data_arrived``
event, which every append sets and replaces: long polls are woken by
appends, never by polling.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from broker.clock import Clock
from broker.config import BrokerConfig
from broker.controller import topic_configs
from broker.controller.image import MetadataImage, PartitionImage, TopicImage
from broker.producer_state import ProducerStateManager
from broker.raft import Role
from broker.replication.driver import TICK_MS, Group
from broker.storage import files, log_dir
from broker.storage.batch import split_batches
from broker.storage.config import LogConfig
from broker.storage.errors import KafkaStorageError
from broker.storage.log import PartitionLog

if TYPE_CHECKING:
    from broker.replication.partition_groups import PartitionGroups

log = logging.getLogger(__name__)

REPLICA_LAG_MS = 30_000
"""Kafka's replica.lag.time.max.ms default: a follower silent for longer
leaves the in-sync count (min.insync.replicas)."""

# Descriptors opening one partition holds at once (log, index, time index,
# checkpoint or directory fsyncs), and those left for everything else.
_FDS_TO_OPEN_PARTITION = 8
_FDS_RESERVED = 64


def log_config(topic: TopicImage, broker: BrokerConfig) -> LogConfig:
    """The storage settings of a topic: its configs over the broker's defaults."""
    defaults = dict(broker.values)
    defaults["retention_ms"] = broker.retention_ms
    defaults["segment_ms"] = broker.segment_ms
    eff = topic_configs.effective(topic.configs, defaults)
    retained = not topic_configs.deletes_by_retention(eff["cleanup.policy"])
    return LogConfig(
        segment_bytes=int(eff["segment.bytes"]),
        segment_ms=int(eff["segment.ms"]),
        segment_index_bytes=int(eff["segment.index.bytes"]),
        index_interval_bytes=int(eff["index.interval.bytes"]),
        retention_ms=-1 if retained else int(eff["retention.ms"]),
        retention_bytes=-1 if retained else int(eff["retention.bytes"]),
        max_message_bytes=int(eff["max.message.bytes"]),
        flush_messages=int(eff["flush.messages"]),
        flush_ms=int(eff["flush.ms"]),
        message_timestamp_type=eff["message.timestamp.type"],  # type: ignore[arg-type]
        message_timestamp_before_max_ms=int(eff["message.timestamp.before.max.ms"]),
        message_timestamp_after_max_ms=int(eff["message.timestamp.after.max.ms"]),
    )


class Partition:
    def __init__(
        self,
        topic: str,
        topic_id: uuid.UUID,
        index: int,
        plog: PartitionLog,
        leader_epoch: int,
        clock: Clock,
        on_flush_due: Callable[[Partition], None] = lambda part: None,
    ) -> None:
        self.topic = topic
        self.topic_id = topic_id
        self.index = index
        self.log = plog
        self.leader_epoch = leader_epoch
        self.high_watermark = plog.log_end_offset
        self.producers = ProducerStateManager()
        self.data_arrived = trio.Event()
        self.append_lock = trio.Lock()
        # Held by a produce whose records are checked in a worker thread, so
        # that later produces to this partition append after it (produce.py).
        self.produce_lock = trio.Lock()
        self.clock = clock
        self._on_flush_due = on_flush_due
        # A replicated partition's Raft group (broker/replication/partition_groups.py).
        self.group: Group | None = None
        self._was_leader = False
        self._caught_up: dict[int, int] = {}  # replica -> core tick it was last caught up
        self._rebuild_producer_state()

    # -- a replicated partition (more than one replica) ------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether this replica serves clients: always with one replica, else
        while it is its Raft group's leader."""
        group = self.group
        return group is None or group.node.role is Role.LEADER

    def raft_changed(self) -> None:
        """The group's role, epoch, leader or high watermark moved (called in
        the driver task): take its high watermark, wake fetchers and acks=all
        waiters; a new leader rebuilds its producer state from its log (which
        holds every batch its predecessors replicated to it)."""
        group = self.group
        if group is None:
            return
        core = group.node
        leader = core.role is Role.LEADER
        if leader and not self._was_leader:
            self.producers = ProducerStateManager()
            self._rebuild_producer_state()
            # Followers count as caught up when the leadership starts (as the
            # ISR a new Kafka leader inherits), until they lag for too long.
            self._caught_up = dict.fromkeys(core.voters.latest, core.now)
        self._was_leader = leader
        self.high_watermark = min(core.high_watermark, self.log.log_end_offset)
        event, self.data_arrived = self.data_arrived, trio.Event()
        event.set()

    def isr(self) -> list[int]:
        """A replicated leader's in-sync replicas, sorted: itself and the
        followers that were caught up to the high watermark within
        ``REPLICA_LAG_MS`` (Kafka's replica.lag.time.max.ms default)."""
        group = self.group
        if group is None:
            return []
        core = group.node
        state = core.leader_state
        if state is None:
            return []
        lag_ticks = REPLICA_LAG_MS // TICK_MS
        members = [core.node_id]
        for replica_id in core.voters.latest:
            if replica_id == core.node_id:
                continue
            replica = state.replicas.get(replica_id)
            if replica is not None and replica.end_offset >= core.high_watermark:
                self._caught_up[replica_id] = core.now
            if core.now - self._caught_up.get(replica_id, -(1 << 40)) <= lag_ticks:
                members.append(replica_id)
        return sorted(members)

    def in_sync_replicas(self) -> int:
        """How many replicas are in sync (min.insync.replicas): 1 unreplicated."""
        return 1 if self.group is None else len(self.isr())

    def _rebuild_producer_state(self) -> None:
        offset = self.log.log_start_offset
        end = self.log.log_end_offset
        while offset < end:
            chunk = self.log.read(offset, 1 << 22)
            if not chunk.records:
                break
            for _pos, h in split_batches(chunk.records):
                if h.producer_id >= 0 and not h.is_control:
                    last_seq = h.base_sequence + h.last_offset_delta
                    self.producers.update(
                        h.producer_id,
                        h.producer_epoch,
                        h.base_sequence,
                        last_seq,
                        h.base_offset,
                        h.last_offset,
                    )
                offset = h.base_offset + h.last_offset_delta + 1
            del chunk

    async def ensure_durable(self, last_offset: int) -> None:
        """Return once ``last_offset`` is fsynced. Concurrent callers share
        fsyncs: whoever holds the lock flushes everything appended so far, and
        those queued behind it find their offset durable if it was appended
        before that flush began."""
        async with self.append_lock:
            if self.log.recovery_point > last_offset or self.log.closed:
                return  # closed: its topic was deleted, the batch with it
            await self.flush()

    async def flush_if_due(self) -> None:
        """Flush if the log's policy still asks for it (the flusher task)."""
        async with self.append_lock:
            if self.log.flush_due and not self.log.closed:  # closed: its topic was deleted
                await self.flush()

    async def flush(self) -> None:
        """fsync everything appended before this call, in a worker thread,
        while appends go on. The caller holds ``append_lock``."""
        if self.group is not None:
            return  # replicated: the driver fsyncs every append before it counts
        pending = self.log.begin_flush(self.clock.now_ms())
        try:
            await trio.to_thread.run_sync(pending.run)
        except BaseException:
            self.log.abort_flush(pending)
            raise
        self.log.end_flush(pending)

    def advance_high_watermark(self) -> None:
        """After an append: wake fetchers; ask for a flush if the log wants one."""
        if self.group is not None:  # replicated: the Raft group's high watermark
            self.raft_changed()
            return
        self.high_watermark = self.log.log_end_offset
        event, self.data_arrived = self.data_arrived, trio.Event()
        event.set()
        if self.log.flush_due:
            self._on_flush_due(self)


class ReplicaManager:
    def __init__(self, config: BrokerConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.node_id = config.node_id
        self.data_dir = config.data_dir
        # Only the partitions with a replica on this node (see `hosts`).
        self.partitions: dict[tuple[str, int], Partition] = {}
        self._flush_wanted: dict[Partition, None] = {}  # in request order, no duplicates
        self._flush_requested = trio.Event()
        # Partitions in the image whose log could not be opened (a full or
        # failing disk, no descriptor left), with why: served with
        # KAFKA_STORAGE_ERROR, opened again at the next image change.
        self.offline: dict[tuple[str, int], str] = {}
        # Set by the node when the cluster is replicated: partitions with more
        # than one replica become Raft groups there.
        self.groups: PartitionGroups | None = None

    def get(self, topic: str, index: int) -> Partition | None:
        """The partition if this node serves it to clients: hosted here and,
        when replicated, its Raft leader (else None: NOT_LEADER_OR_FOLLOWER)."""
        part = self.partitions.get((topic, index))
        if part is None or part.group is None or part.is_leader:
            return part
        return None

    def replica(self, topic: str, index: int) -> Partition | None:
        """The partition's replica on this node, leader or follower."""
        return self.partitions.get((topic, index))

    def hosts(self, part: PartitionImage) -> bool:
        """Whether this node holds a replica of ``part`` (and so its log)."""
        return self.node_id in part.replicas

    def is_offline(self, topic: str, index: int) -> bool:
        return (topic, index) in self.offline

    def hosting_error(self, new_partitions: int) -> str | None:
        """Why this node cannot open `new_partitions` more partitions now, or
        None. Idle partitions hold no descriptor (storage keeps at most its
        budget, ``files.OPEN_FILES``, open), but opening them can grow storage
        to that budget: if the process would then pass its RLIMIT_NOFILE, the
        creation is refused rather than committed and then failed."""
        if new_partitions <= 0:
            return None
        in_use = files.open_fd_count()
        if in_use is None:
            return None
        limit = files.soft_fd_limit()
        budget = files.OPEN_FILES
        growth = min(new_partitions * 4, max(0, budget.capacity - budget.live))
        needed = growth + _FDS_TO_OPEN_PARTITION
        if in_use + needed + _FDS_RESERVED <= limit:
            return None
        return (
            f"Cannot host {new_partitions} more partitions: {in_use} of the {limit} file "
            f"descriptors this broker may open (RLIMIT_NOFILE) are in use and opening them "
            f"needs {needed} more plus {_FDS_RESERVED} spare; raise the limit (ulimit -n) "
            f"or close connections"
        )

    def load(self, image: MetadataImage) -> None:
        """Open every partition of ``image``, on this thread: at start-up,
        before any connection is accepted."""
        for topic in image.topics.values():
            for index, part in topic.partitions.items():
                if not self.hosts(part):
                    continue
                try:
                    plog = self._open_log(topic, index, self.clock.now_ms())
                except (KafkaStorageError, OSError) as exc:
                    self._mark_offline(topic, index, exc)
                else:
                    self._install(topic, index, part.leader_epoch, plog, part.replicas)

    async def on_image(self, old: MetadataImage, new: MetadataImage) -> None:
        """Create logs for new partitions (in a worker thread each), delete
        those of removed topics."""
        for name, topic in old.topics.items():
            current = new.topics.get(name)
            if current is None or current.topic_id != topic.topic_id:
                await self._remove_topic(topic)
        for topic in new.topics.values():
            for index, part in topic.partitions.items():
                if not self.hosts(part):
                    continue
                existing = self.partitions.get((topic.name, index))
                if existing is None:
                    try:
                        plog = await trio.to_thread.run_sync(
                            self._open_log, topic, index, self.clock.now_ms()
                        )
                    except (KafkaStorageError, OSError) as exc:
                        self._mark_offline(topic, index, exc)
                    else:
                        self._install(topic, index, part.leader_epoch, plog, part.replicas)
                else:
                    existing.leader_epoch = part.leader_epoch
                    existing.log.update_config(log_config(topic, self.config))

    def reconcile(self, image: MetadataImage, *, keep: frozenset[str]) -> None:
        """At start-up, before any partition is opened: delete the directories
        the image does not claim (see `broker.storage.log_dir`)."""
        expected = {
            (topic.name, index): topic.topic_id
            for topic in image.topics.values()
            for index, part in topic.partitions.items()
            if self.hosts(part)
        }
        log_dir.reconcile(self.data_dir, expected, keep=keep)

    def _mark_offline(self, topic: TopicImage, index: int, exc: Exception) -> None:
        """A log that could not be opened (a full or failing disk, no
        descriptor left): the partition is offline, not the broker (the topic
        is committed: dying here would make the broker unable to start)."""
        self.offline[(topic.name, index)] = str(exc)
        log.error("partition %s-%d is offline: cannot open its log: %s", topic.name, index, exc)

    def _open_log(self, topic: TopicImage, index: int, now_ms: int) -> PartitionLog:
        """Blocking: may create the directory, fsync it, and recover the log."""
        directory = self.data_dir / log_dir.partition_dir_name(topic.name, index)
        if directory.exists() and not log_dir.belongs_to(directory, topic.topic_id):
            # An older incarnation's directory (its removal failed): never serve it.
            log.warning("%s belongs to another topic id: deleting it", directory)
            log_dir.delete_partition_dir(directory)
        if not (directory / log_dir.PARTITION_METADATA).exists():
            # Durable before the first segment: the directory says whose it is.
            directory.mkdir(parents=True, exist_ok=True)
            log_dir.write_partition_metadata(directory, topic.topic_id)
            files.fsync_dir(self.data_dir)
        return PartitionLog.open(directory, log_config(topic, self.config), now_ms)

    def _install(
        self,
        topic: TopicImage,
        index: int,
        leader_epoch: int,
        plog: PartitionLog,
        replicas: tuple[int, ...] = (),
    ) -> None:
        self.offline.pop((topic.name, index), None)
        part = Partition(
            topic.name, topic.topic_id, index, plog, leader_epoch, self.clock, self._request_flush
        )
        self.partitions[(topic.name, index)] = part
        if len(replicas) > 1 and self.groups is not None:
            self.groups.attach(part, replicas)

    def _request_flush(self, part: Partition) -> None:
        self._flush_wanted[part] = None
        self._flush_requested.set()

    async def run_flusher(self) -> None:
        """Flush the partitions whose log asked for it (a rolled segment),
        one at a time, each in a worker thread."""
        while True:
            await self._flush_requested.wait()
            self._flush_requested = trio.Event()
            wanted, self._flush_wanted = self._flush_wanted, {}
            for part in wanted:
                if self.partitions.get((part.topic, part.index)) is not part:
                    continue  # its topic was deleted meanwhile
                try:
                    await part.flush_if_due()
                except Exception:
                    log.exception("flushing %s-%d failed", part.topic, part.index)

    async def _remove_topic(self, topic: TopicImage) -> None:
        """Forget the topic's partitions at once (no request finds them from
        now on), then close and delete each log once no flush of it is
        running: a flush's worker thread fsyncs the log's files and
        directory, which must not be closed or moved away under it."""
        removed = [(i, self.partitions.pop((topic.name, i), None)) for i in topic.partitions]
        for index, part in removed:
            if part is None:
                if self.offline.pop((topic.name, index), None) is not None:
                    directory = self.data_dir / log_dir.partition_dir_name(topic.name, index)
                    await trio.to_thread.run_sync(log_dir.delete_partition_dir, directory)
                continue
            if self.groups is not None:
                self.groups.detach(part)
            async with part.append_lock:
                part.log.abandon()
                part.advance_high_watermark()  # wake fetchers; they find the topic gone
                await trio.to_thread.run_sync(log_dir.delete_partition_dir, part.log.directory)
        log.info("deleted topic %s", topic.name)

    def close(self) -> None:
        for part in self.partitions.values():
            try:
                part.log.close()
            except (KafkaStorageError, OSError) as exc:
                # A full disk: the checkpoints or the clean-shutdown marker
                # could not be written. Everything fsynced stays; the next
                # start recovers the rest. Close the other partitions anyway.
                part.log.abandon()
                log.error("partition %s-%d not closed cleanly: %s", part.topic, part.index, exc)
