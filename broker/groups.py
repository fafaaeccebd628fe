"""The Trio shell around the group coordinators: one task per partition of
``__consumer_offsets``.

Theory of operation
-------------------
Each :class:`CoordinatorTask` owns one sans-I/O
:class:`~broker.group.GroupCoordinator` and is the only code that touches it.
Handlers reach it through a bounded channel: they send a function to run
against the coordinator with a fresh :class:`Pending` token and wait for that
token to be answered. The task runs the function, carries out the effects it
returns in order (``Respond`` answers a token; ``Persist`` appends records to
the coordinator's partition of ``__consumer_offsets``, waits until they are
fsynced and reports back with ``persisted``), and between requests wakes at
the coordinator's next deadline to fire its timers (session and rebalance
timeouts, the initial rebalance delay, offsets retention).

At start-up ``__consumer_offsets`` is created if it does not exist (its
partitions spread over the unfenced brokers). A coordinator task runs for
each partition hosted here; a group of another partition is answered
NOT_COORDINATOR (:mod:`broker.not_coordinator`). Each coordinator replays
its partition before it answers anything (until then it says
COORDINATOR_LOAD_IN_PROGRESS, as Kafka does).

Times given to coordinators are wall-clock milliseconds from the node's clock
(they end up in commit timestamps); deadlines are turned back into Trio time
relative to now.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import trio

from broker.controller.controller import TopicSpec
from broker.errors import ErrorCode
from broker.group import (
    Effect,
    GroupConfig,
    GroupCoordinator,
    Persist,
    Record,
    Respond,
    partition_for,
)
from broker.not_coordinator import NotCoordinator
from broker.recordbatch import build_batch, iter_records
from broker.storage.batch import parse_header, split_batches
from broker.storage.errors import KafkaStorageError

if TYPE_CHECKING:
    from broker.node import Node
    from broker.partitions import Partition

log = logging.getLogger(__name__)

OFFSETS_TOPIC = "__consumer_offsets"
INBOX_SIZE = 128


class Pending:
    """A request waiting for its response from a coordinator task."""

    __slots__ = ("done", "response")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.response: Any = None

    def resolve(self, response: Any) -> None:
        self.response = response
        self.done.set()


# A call runs inside the coordinator's task: effects, or a response at once.
Call = Callable[[GroupCoordinator[Pending], Pending, int], "list[Effect[Pending]] | Any"]


class CoordinatorTask:
    def __init__(
        self,
        node: Node,
        partition: Partition,
        config: GroupConfig,
        clock: Callable[[], int] | None = None,
    ) -> None:
        self.node = node
        self.clock = clock or node.clock.now_ms
        self.partition = partition
        self.coordinator: GroupCoordinator[Pending] = GroupCoordinator(
            config, lambda: str(uuid.uuid4())
        )
        self._send, self._inbox = trio.open_memory_channel[tuple[Call, Pending]](INBOX_SIZE)

    async def call(self, fn: Call) -> Any:
        token = Pending()
        await self._send.send((fn, token))
        await token.done.wait()
        return token.response

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._load()
        task_status.started()
        await self._perform(self.coordinator.load_complete(self.clock()))
        while True:
            deadline = self.coordinator.next_deadline()
            wake = (
                math.inf
                if deadline is None
                else trio.current_time() + max(0, deadline - self.clock()) / 1000
            )
            with trio.move_on_at(wake):
                fn, token = await self._inbox.receive()
                result = fn(self.coordinator, token, self.clock())
                if isinstance(result, list):
                    await self._perform(result)
                else:
                    token.resolve(result)
                continue
            await self._perform(self.coordinator.tick(self.clock()))

    def _load(self) -> None:
        plog = self.partition.log
        offset = plog.log_start_offset
        count = skipped = 0
        while offset < self.partition.high_watermark:
            chunk = plog.read(offset, 1 << 22, self.partition.high_watermark)
            if not chunk.records:
                break
            view = memoryview(chunk.records)
            for position, header in split_batches(view):
                batch = view[position : position + header.size_in_bytes]
                replayed, bad = self._replay_batch(batch, offset)
                count += replayed
                skipped += bad
                offset = max(offset, header.next_offset)
            del view, chunk
        if count or skipped:
            log.info(
                "%s-%d: replayed %d records, skipped %d unreadable",
                OFFSETS_TOPIC,
                self.partition.index,
                count,
                skipped,
            )

    def _replay_batch(self, batch: memoryview, min_offset: int) -> tuple[int, int]:
        """Replay one stored batch: (records replayed, records skipped).

        A record the coordinator cannot read (junk that reached the log, a
        record type from a newer version) is logged and skipped rather than
        ending start-up: a broker that cannot restart helps nobody, and Kafka's
        loader likewise skips records of unknown types.
        """
        try:
            records = [record for _attributes, record in iter_records(batch)]
        except Exception as exc:  # any malformed-batch failure of the decoder
            header = parse_header(batch)
            log.warning(
                "%s-%d: skipping unreadable batch at offsets %d-%d: %r",
                OFFSETS_TOPIC,
                self.partition.index,
                header.base_offset,
                header.last_offset,
                exc,
            )
            return 0, header.records_count
        replayed = skipped = 0
        for record in records:
            if record.offset < min_offset or record.key is None:
                continue
            try:
                self.coordinator.replay(record.key, record.value)
            except Exception as exc:  # CorruptMessage, or a decoder tripping on junk
                log.warning(
                    "%s-%d: skipping unreadable record at offset %d: %r",
                    OFFSETS_TOPIC,
                    self.partition.index,
                    record.offset,
                    exc,
                )
                skipped += 1
                continue
            replayed += 1
        return replayed, skipped

    async def _perform(self, effects: list[Effect[Pending]]) -> None:
        queue = deque(effects)
        while queue:
            effect = queue.popleft()
            if isinstance(effect, Respond):
                effect.token.resolve(effect.response)
            elif isinstance(effect, Persist):
                error = await self._append(effect.records)
                queue.extend(self.coordinator.persisted(effect.persist_id, error, self.clock()))

    async def _append(self, records: tuple[Record, ...]) -> int:
        if not records:
            return ErrorCode.NONE
        part = self.partition
        batch = build_batch([(r.key, r.value) for r in records], timestamp=self.clock())
        try:
            info = part.log.append(batch, part.leader_epoch, self.clock())
            part.advance_high_watermark()
            await part.ensure_durable(info.last_offset)
        except KafkaStorageError as exc:
            return exc.error_code
        except OSError:
            log.exception("appending to %s-%d failed", OFFSETS_TOPIC, part.index)
            return ErrorCode.KAFKA_STORAGE_ERROR
        return ErrorCode.NONE


class GroupService:
    def __init__(self, node: Node, clock: Callable[[], int] | None = None) -> None:
        self.node = node
        self.clock = clock or node.clock.now_ms
        self.config = GroupConfig.from_broker_config(node.config)
        self.tasks: list[CoordinatorTask] = []
        self._by_partition: dict[int, CoordinatorTask] = {}
        self.num_partitions = 0
        self.ready = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        if OFFSETS_TOPIC not in self.node.image.topics:
            partitions = self.node.config["offsets.topic.num.partitions"]
            await self.node.create_topics([TopicSpec(OFFSETS_TOPIC, partitions, 1, {}, {})])
        topic = self.node.image.topics[OFFSETS_TOPIC]
        self.num_partitions = len(topic.partitions)
        async with trio.open_nursery() as nursery:
            for index in sorted(topic.partitions):
                # Only the partitions with a replica here (the others' groups
                # are coordinated by their leaders: NOT_COORDINATOR here).
                part = self.node.replicas.get(OFFSETS_TOPIC, index)
                if part is None:
                    continue
                task = CoordinatorTask(self.node, part, self.config, self.clock)
                self.tasks.append(task)
                self._by_partition[index] = task
                await nursery.start(task.run)
            self.ready.set()
            task_status.started()

    def coordinator_for(self, group_id: str) -> CoordinatorTask | None:
        """The task coordinating ``group_id`` here; None if another node does."""
        return self._by_partition.get(partition_for(group_id, self.num_partitions))

    async def call(self, group_id: str, fn: Call) -> Any:
        await self.ready.wait()
        task = self.coordinator_for(group_id)
        if task is None:
            return fn(cast("GroupCoordinator[Pending]", NotCoordinator()), Pending(), self.clock())
        return await task.call(fn)

    async def call_each(self, fn: Call) -> list[Any]:
        """Run ``fn`` on every coordinator; the answers in partition order."""
        await self.ready.wait()
        return [await task.call(fn) for task in self.tasks]
