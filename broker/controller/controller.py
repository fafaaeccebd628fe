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
from broker.controller.image import BROKER_RESOURCE, TOPIC_RESOURCE, MetadataImage
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
# Partitions are not replicated yet (issue 14): more than one replica would
# be a promise nobody keeps.
MAX_REPLICATION_FACTOR = 1
NOT_REPLICATED = "replication is not implemented yet: every partition has one replica"


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


@dataclass(slots=True)
class ConfigAlteration:
    """(Incremental)AlterConfigs for one resource: (key, operation, value) changes."""

    resource_type: int
    resource_name: str
    changes: list[tuple[str, int, str | None]]


@dataclass(slots=True)
class ConfigResult:
    resource_type: int
    resource_name: str
    error: ErrorCode
    message: str | None = None


@dataclass(slots=True)
class PartitionsSpec:
    """CreatePartitions for one topic: the new total, and optionally where the new ones go."""

    topic: str
    count: int
    assignments: list[list[int]] | None = None


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
        random_index: Callable[[int], int] = lambda n: 0,
    ) -> None:
        self.node_id = node_id
        self.default_partitions = default_partitions
        self.default_replication_factor = default_replication_factor
        self.new_uuid = new_uuid
        # 1 unless the cluster replicates partitions (the node raises it).
        self.max_replication_factor = MAX_REPLICATION_FACTOR
        # Where placement starts: the shell passes a random draw in [0, n).
        self.random_index = random_index

    def placeable_brokers(self, image: MetadataImage) -> list[int]:
        """The brokers new replicas may go to: the unfenced registered ones.
        Before any broker has registered (a node not started yet), this node."""
        if not image.brokers:
            return [self.node_id]
        return sorted(b.broker_id for b in image.brokers.values() if not b.fenced)

    def place(self, broker_ids: list[int], count: int, rf: int) -> list[list[int]]:
        """Replicas for ``count`` new partitions, as Kafka places them without
        racks: round-robin over the brokers from a random start, each
        partition's replicas on consecutive brokers (its first is the leader)."""
        start = self.random_index(len(broker_ids)) % len(broker_ids)
        n = len(broker_ids)
        return [[broker_ids[(start + p + i) % n] for i in range(rf)] for p in range(count)]

    def create_topics(
        self, image: MetadataImage, specs: Sequence[TopicSpec]
    ) -> tuple[list[TopicResult], list[Any]]:
        results: list[TopicResult] = []
        records: list[Any] = []
        seen: set[str] = set()
        broker_ids = self.placeable_brokers(image)
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
                if len(replicas) > self.max_replication_factor:
                    return TopicResult(name, ErrorCode.INVALID_REPLICA_ASSIGNMENT, NOT_REPLICATED)
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
            if rf > self.max_replication_factor:
                return TopicResult(name, ErrorCode.INVALID_REPLICATION_FACTOR, NOT_REPLICATED)
            assignment = dict(enumerate(self.place(broker_ids, partitions, rf)))
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

    def alter_configs(
        self,
        image: MetadataImage,
        alterations: Sequence[ConfigAlteration],
        *,
        incremental: bool,
    ) -> tuple[list[ConfigResult], list[Any]]:
        """Validate config changes and return the ConfigRecords that make them.

        Only topic configs can change; a null ConfigRecord value deletes a key
        (the topic falls back to the broker default). Broker configs are static
        (server.properties) for now.
        """
        results: list[ConfigResult] = []
        records: list[Any] = []
        counts: dict[tuple[int, str], int] = {}
        for a in alterations:
            counts[(a.resource_type, a.resource_name)] = (
                counts.get((a.resource_type, a.resource_name), 0) + 1
            )
        for a in alterations:
            result = ConfigResult(a.resource_type, a.resource_name, ErrorCode.NONE)
            results.append(result)
            if counts[(a.resource_type, a.resource_name)] > 1:
                result.error = ErrorCode.INVALID_REQUEST
                result.message = f"Resource {a.resource_name!r} appears more than once"
            elif a.resource_type == BROKER_RESOURCE:
                result.error = ErrorCode.INVALID_REQUEST
                result.message = self._broker_alter_error(a.resource_name)
            elif a.resource_type != TOPIC_RESOURCE:
                result.error = ErrorCode.INVALID_REQUEST
                result.message = f"Unsupported resource type {a.resource_type}"
            elif a.resource_name not in image.topics:
                result.error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                result.message = f"Topic '{a.resource_name}' does not exist."
            else:
                current = image.topics[a.resource_name].configs
                outcome = topic_configs.alter(current, a.changes, incremental=incremental)
                if outcome.error != ErrorCode.NONE:
                    result.error, result.message = outcome.error, outcome.message
                    continue
                for key in sorted(set(current) | set(outcome.configs)):
                    new = outcome.configs.get(key)
                    if new != current.get(key):
                        records.append(ConfigRecord(TOPIC_RESOURCE, a.resource_name, key, new))
        return results, records

    def _broker_alter_error(self, name: str) -> str:
        if name not in ("", str(self.node_id)):
            return f"Unexpected broker id, expected {self.node_id} or empty string, but received {name}"
        return (
            "Broker configs cannot be changed at run time yet: set them in "
            "server.properties (or --override) and restart"
        )

    def create_partitions(
        self, image: MetadataImage, specs: Sequence[PartitionsSpec]
    ) -> tuple[list[TopicResult], list[Any]]:
        """Add partitions to existing topics: PartitionRecords for the new ones."""
        results: list[TopicResult] = []
        records: list[Any] = []
        broker_ids = self.placeable_brokers(image)
        names = [s.topic for s in specs]
        for spec in specs:
            if names.count(spec.topic) > 1:
                results.append(
                    TopicResult(spec.topic, ErrorCode.INVALID_REQUEST, "Duplicate topic name.")
                )
                continue
            result, new = self._add_partitions(image, spec, broker_ids)
            results.append(result)
            records += new
        return results, records

    def _add_partitions(
        self, image: MetadataImage, spec: PartitionsSpec, broker_ids: list[int]
    ) -> tuple[TopicResult, list[Any]]:
        name = spec.topic
        topic = image.topics.get(name)
        if topic is None:
            return TopicResult(
                name, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, f"The topic '{name}' does not exist."
            ), []
        current = len(topic.partitions)
        if spec.count < current:
            return TopicResult(
                name,
                ErrorCode.INVALID_PARTITIONS,
                f"The topic {name} currently has {current} partition(s); "
                f"{spec.count} would not be an increase.",
            ), []
        if spec.count == current:
            return TopicResult(
                name, ErrorCode.INVALID_PARTITIONS, f"Topic already has {current} partition(s)."
            ), []
        existing = topic.partitions.get(0)
        rf = len(existing.replicas) if existing is not None else 1
        added = spec.count - current
        if spec.assignments is not None:
            if len(spec.assignments) != added:
                return TopicResult(
                    name,
                    ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                    f"Attempted to add {added} additional partition(s), but only "
                    f"{len(spec.assignments)} assignment(s) were specified.",
                ), []
            for replicas in spec.assignments:
                if not replicas or len(set(replicas)) != len(replicas):
                    return TopicResult(
                        name,
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        "Each new partition needs distinct replicas",
                    ), []
                if len(replicas) != rf:
                    return TopicResult(
                        name,
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"Inconsistent replication factor: the topic has {rf}, "
                        f"an assignment has {len(replicas)}",
                    ), []
                unknown = [r for r in replicas if r not in broker_ids]
                if unknown:
                    return TopicResult(
                        name,
                        ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                        f"Unknown broker ids {unknown}",
                    ), []
            assignment = [list(r) for r in spec.assignments]
        else:
            if rf > len(broker_ids):
                return TopicResult(
                    name,
                    ErrorCode.INVALID_REPLICATION_FACTOR,
                    f"Replication factor: {rf} larger than available brokers: {len(broker_ids)}.",
                ), []
            assignment = self.place(broker_ids, spec.count - current, rf)
        records: list[Any] = [
            PartitionRecord(
                partition_id=current + i,
                topic_id=topic.topic_id,
                replicas=list(replicas),
                isr=list(replicas),
                leader=replicas[0],
                leader_epoch=0,
                partition_epoch=0,
            )
            for i, replicas in enumerate(assignment)
        ]
        return TopicResult(name, ErrorCode.NONE, None, topic.topic_id, spec.count, rf), records
