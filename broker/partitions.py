"""The partitions this node hosts: logs, high watermarks, producers, waiters.

Theory of operation
-------------------
:class:`ReplicaManager` owns one :class:`Partition` per topic partition in the
metadata image: it opens or creates the partition's log when the partition
appears and closes and deletes it when its topic is removed. All log calls
happen on the Trio thread (the storage engine is synchronous and its appends
land in the page cache); only fsyncs go to a worker thread.

On one node the high watermark is the log end offset after each append.
Fetches that find too little data wait on the partition's ``data_arrived``
event, which every append sets and replaces: long polls are woken by
appends, never by polling.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from pathlib import Path

import trio

from broker.config import BrokerConfig
from broker.controller import topic_configs
from broker.controller.image import MetadataImage, TopicImage
from broker.producer_state import ProducerStateManager
from broker.storage.batch import split_batches
from broker.storage.config import LogConfig
from broker.storage.log import PartitionLog

log = logging.getLogger(__name__)


def now_ms() -> int:
    return int(time.time() * 1000)


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
        self, topic: str, topic_id: uuid.UUID, index: int, plog: PartitionLog, leader_epoch: int
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
        self._rebuild_producer_state()

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
        those queued behind it usually find their offset already durable."""
        async with self.append_lock:
            if self.log.recovery_point > last_offset:
                return
            await trio.to_thread.run_sync(self.log.flush)

    def advance_high_watermark(self) -> None:
        self.high_watermark = self.log.log_end_offset
        event, self.data_arrived = self.data_arrived, trio.Event()
        event.set()


class ReplicaManager:
    def __init__(self, config: BrokerConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir
        self.partitions: dict[tuple[str, int], Partition] = {}

    def get(self, topic: str, index: int) -> Partition | None:
        return self.partitions.get((topic, index))

    def on_image(self, old: MetadataImage, new: MetadataImage) -> None:
        """Create logs for new partitions, delete those of removed topics."""
        for name, topic in old.topics.items():
            current = new.topics.get(name)
            if current is None or current.topic_id != topic.topic_id:
                self._remove_topic(topic)
        for topic in new.topics.values():
            for index, part in topic.partitions.items():
                existing = self.partitions.get((topic.name, index))
                if existing is None:
                    self._open(topic, index, part.leader_epoch)
                else:
                    existing.leader_epoch = part.leader_epoch
                    existing.log.update_config(log_config(topic, self.config))

    def _open(self, topic: TopicImage, index: int, leader_epoch: int) -> None:
        directory = self.data_dir / f"{topic.name}-{index}"
        plog = PartitionLog.open(directory, log_config(topic, self.config), now_ms())
        self.partitions[(topic.name, index)] = Partition(
            topic.name, topic.topic_id, index, plog, leader_epoch
        )

    def _remove_topic(self, topic: TopicImage) -> None:
        for index in list(topic.partitions):
            part = self.partitions.pop((topic.name, index), None)
            if part is None:
                continue
            part.log.abandon()
            part.advance_high_watermark()  # wake fetchers; they find the topic gone
            _delete_dir(part.log.directory)
        log.info("deleted topic %s", topic.name)

    def close(self) -> None:
        for part in self.partitions.values():
            part.log.close()


def _delete_dir(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
