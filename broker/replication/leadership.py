"""Partition leadership reaches the metadata log, so every node's Metadata
tells clients the same leader and ISR.

Theory of operation
-------------------
A replicated partition elects its leader in its own Raft group
(broker/replication/partition_groups.py); the controller does not choose it.
The new leader reports itself, as Kafka's leaders report ISR changes, with
AlterPartition (key 56, v2-3) through the controller channel: per partition
its Raft epoch (in ``LeaderEpoch``) and the ISR it computes
(:meth:`~broker.partitions.Partition.isr`). The active controller appends a
``PartitionChangeRecord`` naming the sender as leader (when it is not
already) and the new ISR; the image's leader epoch then moves by one, as
Kafka's does, and the partitions' leader epoch (what clients send back in
Fetch and ListOffsets) follows the image.

Sender: :class:`LeaderReporter`, one task per node, woken by any group's
change and every ``REPORT_INTERVAL_S``; it sends one AlterPartition for
every partition it leads whose image leader or ISR differs from its own view
(at most one in flight; a failed call is retried at the next wake).

Controller (:func:`alter_partition`): the sender must be a replica of the
partition; a report whose Raft epoch is below the highest this controller
has accepted for the partition is stale (a deposed leader's) and answered
FENCED_LEADER_EPOCH. That memory is the controller's, not the log's (a new
controller accepts the first report it gets, and the real leader re-reports
whenever the image disagrees with it).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

import trio

from broker.controller.quorum import NotControllerError
from broker.errors import ErrorCode
from broker.wire.generated.alter_partition_request import (
    AlterPartitionRequest,
    BrokerState,
    PartitionData,
    TopicData,
)
from broker.wire.generated.alter_partition_response import (
    AlterPartitionResponse,
)
from broker.wire.generated.alter_partition_response import (
    PartitionData as PartitionResult,
)
from broker.wire.generated.alter_partition_response import (
    TopicData as TopicResult,
)
from broker.wire.generated.partition_change_record import PartitionChangeRecord

if TYPE_CHECKING:
    from broker.node import Node
    from broker.partitions import Partition

log = logging.getLogger(__name__)

API_KEY = 56
VERSION = 3
REPORT_INTERVAL_S = 1.0
CALL_TIMEOUT_S = 5.0


def _stale(node: Node, part: Partition) -> bool:
    """Whether the image disagrees with this leader about leader or ISR."""
    topic = node.image.topics.get(part.topic)
    image = topic.partitions.get(part.index) if topic is not None else None
    if image is None:
        return False
    return image.leader != node.node_id or sorted(image.isr) != part.isr()


class LeaderReporter:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.wake = trio.Event()

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        while True:
            with trio.move_on_after(REPORT_INTERVAL_S):
                await self.wake.wait()
            self.wake = trio.Event()
            await trio.sleep(0.02)  # let a burst of changes settle into one report
            try:
                await self.report()
            except Exception as exc:  # the next wake retries
                log.info("partition leadership report failed: %s", exc)

    def request(self) -> AlterPartitionRequest | None:
        node = self.node
        topics: dict[uuid.UUID, TopicData] = {}
        for part in list(node.replicas.partitions.values()):
            group = part.group
            if group is None or not part.is_leader or not _stale(node, part):
                continue
            entry = topics.setdefault(part.topic_id, TopicData(part.topic_id))
            entry.partitions.append(
                PartitionData(
                    partition_index=part.index,
                    leader_epoch=group.node.epoch,
                    new_isr_with_epochs=[BrokerState(b) for b in part.isr()],
                )
            )
        if not topics:
            return None
        return AlterPartitionRequest(
            broker_id=node.node_id,
            broker_epoch=node.lifecycle.broker_epoch,
            topics=list(topics.values()),
        )

    async def report(self) -> None:
        body = self.request()
        if body is None:
            return
        response = await self.node.channel.call(API_KEY, VERSION, body, timeout_s=CALL_TIMEOUT_S)
        if response.error_code != ErrorCode.NONE:
            log.info("AlterPartition refused: error %d", response.error_code)


class LeaderEpochs:
    """The controller's memory of the highest Raft epoch accepted per partition."""

    def __init__(self) -> None:
        self.accepted: dict[tuple[uuid.UUID, int], int] = {}
        self.lock = trio.Lock()


async def alter_partition(
    node: Node, epochs: LeaderEpochs, body: AlterPartitionRequest
) -> AlterPartitionResponse:
    async with epochs.lock:
        if not node.quorum.is_active_controller:
            return AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER)
        image = node.image
        records: list[PartitionChangeRecord] = []
        results: list[TopicResult] = []
        for topic_data in body.topics:
            out = TopicResult(topic_data.topic_id)
            results.append(out)
            topic = image.topic_by_id(topic_data.topic_id)
            for p in topic_data.partitions:
                result = PartitionResult(partition_index=p.partition_index)
                out.partitions.append(result)
                part = topic.partitions.get(p.partition_index) if topic is not None else None
                if topic is None or part is None:
                    result.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                    continue
                key = (topic.topic_id, p.partition_index)
                isr = sorted({b.broker_id for b in p.new_isr_with_epochs} | {body.broker_id})
                if body.broker_id not in part.replicas or any(b not in part.replicas for b in isr):
                    result.error_code = ErrorCode.INVALID_REQUEST
                elif p.leader_epoch < epochs.accepted.get(key, 0):
                    result.error_code = ErrorCode.FENCED_LEADER_EPOCH
                else:
                    epochs.accepted[key] = p.leader_epoch
                    leader = body.broker_id if part.leader != body.broker_id else -2
                    if leader != -2 or sorted(part.isr) != isr:
                        records.append(
                            PartitionChangeRecord(
                                partition_id=p.partition_index,
                                topic_id=topic.topic_id,
                                isr=isr,
                                leader=leader,
                            )
                        )
        if records:
            try:
                await node.quorum.append(records)
            except NotControllerError:
                return AlterPartitionResponse(error_code=ErrorCode.NOT_CONTROLLER)
            for record in records:
                found = node.image.topic_by_id(record.topic_id)
                if found is not None and record.leader != -2:
                    log.info(
                        "partition %s-%d: leader %d", found.name, record.partition_id, record.leader
                    )
        image = node.image
        for out in results:
            topic = image.topic_by_id(out.topic_id)
            for result in out.partitions:
                part = topic.partitions.get(result.partition_index) if topic else None
                if part is not None:
                    result.leader_id = part.leader
                    result.leader_epoch = part.leader_epoch
                    result.isr = list(part.isr)
                    result.partition_epoch = part.partition_epoch
        return AlterPartitionResponse(topics=results)
