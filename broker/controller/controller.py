"""Controller operations as a pure function of the image: requests in, records out.

Theory of operation
-------------------
The controller never mutates the image. Each operation validates a request
against the current :class:`MetadataImage` and returns the per-item results
and the records that carry it out. The Trio shell appends the records to
``__cluster_metadata`` (one batch, fsynced: metadata is always strongly
consistent) and only then replays them into a new image. Validation errors
are Kafka error codes in the results, never exceptions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from broker.controller import topic_configs
from broker.controller.image import TOPIC_RESOURCE, MetadataImage
from broker.errors import ErrorCode
from broker.wire.codec import ZERO_UUID
from broker.wire.generated.config_record import ConfigRecord
from broker.wire.generated.partition_record import PartitionRecord
from broker.wire.generated.producer_ids_record import ProducerIdsRecord
from broker.wire.generated.remove_topic_record import RemoveTopicRecord
from broker.wire.generated.topic_record import TopicRecord

PRODUCER_ID_BLOCK = 1000
MAX_TOPIC_NAME = 249
_LEGAL_NAME = re.compile(r"^[a-zA-Z0-9._-]+$")
INTERNAL_TOPICS = ("__consumer_offsets",)


@dataclass(slots=True)
class TopicSpec:
    name: str
    num_partitions: int  # -1: broker default
    replication_factor: int  # -1: broker default
    assignments: dict[int, list[int]]
    configs: dict[str, str | None]


@dataclass(slots=True)
class TopicResult:
    name: str
    error: ErrorCode
    message: str | None = None
    topic_id: uuid.UUID = ZERO_UUID
    num_partitions: int = -1
    replication_factor: int = -1


def topic_name_error(name: str) -> str | None:
    if not name:
        return "Topic name is illegal, it can't be empty"
    if name in (".", ".."):
        return 'Topic name cannot be "." or ".."'
    if len(name) > MAX_TOPIC_NAME:
        return f"Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME} characters"
    if not _LEGAL_NAME.match(name):
        return f"Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
    return None


class Controller:
    def __init__(
        self,
        node_id: int,
        default_partitions: int,
        default_replication_factor: int,
        new_uuid: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self.node_id = node_id
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self.new_uuid = new_uuid

    def create_topics(
        self, image: MetadataImage, specs: Sequence[TopicSpec]
    ) -> tuple[list[TopicResult], list[Any]]:
        results: list[TopicResult] = []
        records: list[Any] = []
        seen: set[str] = set()
        live_brokers = [b for b in image.brokers.values() if not b.fenced] or None
        broker_ids = sorted(b.broker_id for b in live_brokers) if live_brokers else [self.node_id]
        for spec in specs:
            result = self._create_one(image, spec, seen, broker_ids, records)
            results.append(result)
            seen.add(spec.name)
        return results, records

    def _create_one(
        self,
        image: MetadataImage,
        spec: TopicSpec,
        seen: set[str],
        broker_ids: list[int],
        records: list[Any],
    ) -> TopicResult:
        name = spec.name
        if name in seen:
            return TopicResult(name, ErrorCode.INVALID_REQUEST, "Duplicate topic name in request")
        problem = topic_name_error(name)
        if problem:
            return TopicResult(name, ErrorCode.INVALID_TOPIC_EXCEPTION, problem)
        if name in image.topics:
            return TopicResult(
                name, ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{name}' already exists."
            )
        if spec.assignments:
            if spec.num_partitions != -1 or spec.replication_factor != -1:
                return TopicResult(
                    name,
                    ErrorCode.INVALID_REQUEST,
                    "Both numPartitions or replicationFactor and replicasAssignments were set.",
                )
            assignment = spec.assignments
            if sorted(assignment) != list(range(len(assignment))):
                return TopicResult(
                    name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Partitions must be numbered 0..n-1"
                )
            for replicas in assignment.values():
                if not replicas or len(set(replicas)) != len(replicas):
                    return TopicResult(
                        name,
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        "Each partition needs distinct replicas",
                    )
                unknown = [r for r in replicas if r not in broker_ids]
                if unknown:
                    return TopicResult(
                        name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, f"Unknown broker ids {unknown}"
                    )
            partitions = len(assignment)
            rf = len(assignment[0])
        else:
            partitions = (
                self.default_partitions if spec.num_partitions == -1 else spec.num_partitions
            )
            rf = (
                self.default_replication_factor
                if spec.replication_factor == -1
                else spec.replication_factor
            )
            if partitions <= 0:
                return TopicResult(
                    name,
                    ErrorCode.INVALID_PARTITIONS,
                    "Number of partitions must be larger than 0.",
                )
            if rf <= 0:
                return TopicResult(
                    name,
                    ErrorCode.INVALID_REPLICATION_FACTOR,
                    "Replication factor must be larger than 0.",
                )
            if rf > len(broker_ids):
                return TopicResult(
                    name,
                    ErrorCode.INVALID_REPLICATION_FACTOR,
                    f"Replication factor: {rf} larger than available brokers: {len(broker_ids)}.",
                )
            assignment = {
                p: [broker_ids[(p + i) % len(broker_ids)] for i in range(rf)]
                for p in range(partitions)
            }
        problem = topic_configs.validate(spec.configs)
        if problem:
            return TopicResult(name, ErrorCode.INVALID_CONFIG, problem)
        topic_id = self.new_uuid()
        records.append(TopicRecord(name=name, topic_id=topic_id))
        for key, value in sorted(spec.configs.items()):
            if value is not None:
                records.append(ConfigRecord(TOPIC_RESOURCE, name, key, value))
        for p in range(partitions):
            replicas = assignment[p]
            records.append(
                PartitionRecord(
                    partition_id=p,
                    topic_id=topic_id,
                    replicas=list(replicas),
                    isr=list(replicas),
                    leader=replicas[0],
                    leader_epoch=0,
                    partition_epoch=0,
                )
            )
        return TopicResult(name, ErrorCode.NONE, None, topic_id, partitions, rf)

    def delete_topics(
        self, image: MetadataImage, names: Sequence[str], ids: Sequence[uuid.UUID]
    ) -> tuple[list[TopicResult], list[Any]]:
        results: list[TopicResult] = []
        records: list[Any] = []
        done: set[uuid.UUID] = set()
        for name in names:
            topic = image.topics.get(name)
            if topic is None:
                results.append(
                    TopicResult(
                        name,
                        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                        "This server does not host this topic-partition.",
                    )
                )
                continue
            results.append(TopicResult(name, ErrorCode.NONE, None, topic.topic_id))
            if topic.topic_id not in done:
                done.add(topic.topic_id)
                records.append(RemoveTopicRecord(topic.topic_id))
        for topic_id in ids:
            found = image.topic_by_id(topic_id)
            if found is None:
                results.append(
                    TopicResult(
                        "",
                        ErrorCode.UNKNOWN_TOPIC_ID,
                        "This server does not host this topic ID.",
                        topic_id,
                    )
                )
                continue
            results.append(TopicResult(found.name, ErrorCode.NONE, None, topic_id))
            if topic_id not in done:
                done.add(topic_id)
                records.append(RemoveTopicRecord(topic_id))
        return results, records

    def allocate_producer_ids(
        self, image: MetadataImage, broker_epoch: int
    ) -> tuple[int, list[Any]]:
        """The first id of a new block of PRODUCER_ID_BLOCK ids for this node."""
        first = image.next_producer_id
        return first, [ProducerIdsRecord(self.node_id, broker_epoch, first + PRODUCER_ID_BLOCK)]
