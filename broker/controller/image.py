"""The metadata image: what every node knows about the cluster, immutable.

Records from ``__cluster_metadata`` are replayed in order by :func:`replay`,
which returns a new image and leaves the old one untouched, so a handler
holding an image sees a consistent snapshot for its whole request. The image
remembers the offset of the last record it contains.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from broker.wire.codec import ZERO_UUID
from broker.wire.generated.broker_registration_change_record import (
    BrokerRegistrationChangeRecord,
)
from broker.wire.generated.config_record import ConfigRecord
from broker.wire.generated.fence_broker_record import FenceBrokerRecord
from broker.wire.generated.no_op_record import NoOpRecord
from broker.wire.generated.partition_change_record import PartitionChangeRecord
from broker.wire.generated.partition_record import PartitionRecord
from broker.wire.generated.producer_ids_record import ProducerIdsRecord
from broker.wire.generated.register_broker_record import RegisterBrokerRecord
from broker.wire.generated.remove_topic_record import RemoveTopicRecord
from broker.wire.generated.remove_user_scram_credential_record import (
    RemoveUserScramCredentialRecord,
)
from broker.wire.generated.topic_record import TopicRecord
from broker.wire.generated.unfence_broker_record import UnfenceBrokerRecord
from broker.wire.generated.unregister_broker_record import UnregisterBrokerRecord
from broker.wire.generated.user_scram_credential_record import UserScramCredentialRecord

TOPIC_RESOURCE = 2
BROKER_RESOURCE = 4


@dataclass(frozen=True, slots=True)
class PartitionImage:
    partition_id: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    leader: int
    leader_epoch: int
    partition_epoch: int


@dataclass(frozen=True, slots=True)
class TopicImage:
    name: str
    topic_id: uuid.UUID
    partitions: dict[int, PartitionImage] = field(default_factory=dict)
    configs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BrokerImage:
    broker_id: int
    epoch: int
    endpoints: tuple[tuple[str, str, int], ...]  # (listener name, host, port)
    rack: str | None
    fenced: bool
    incarnation_id: uuid.UUID = ZERO_UUID
    in_controlled_shutdown: bool = False


@dataclass(frozen=True, slots=True)
class ScramCredentialImage:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


@dataclass(frozen=True, slots=True)
class MetadataImage:
    offset: int = -1
    topics: dict[str, TopicImage] = field(default_factory=dict)
    topic_ids: dict[uuid.UUID, str] = field(default_factory=dict)
    brokers: dict[int, BrokerImage] = field(default_factory=dict)
    broker_configs: dict[str, str] = field(default_factory=dict)
    next_producer_id: int = 0
    # (user, mechanism: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512) -> credential
    scram_credentials: dict[tuple[str, int], ScramCredentialImage] = field(default_factory=dict)

    def is_unfenced(self, broker_id: int) -> bool:
        """Whether ``broker_id`` is registered and unfenced: a broker clients may use."""
        broker = self.brokers.get(broker_id)
        return broker is not None and not broker.fenced

    def live_leader(self, partition: PartitionImage) -> int:
        """The partition's leader if its broker is unfenced, else -1 (no leader)."""
        return partition.leader if self.is_unfenced(partition.leader) else -1

    def topic_by_id(self, topic_id: uuid.UUID) -> TopicImage | None:
        name = self.topic_ids.get(topic_id)
        return None if name is None else self.topics.get(name)

    def resolve_topic(self, name: str, topic_id: uuid.UUID, by_id: bool) -> str:
        """The topic a request names: by id when ``by_id`` (Produce v13+, Fetch
        v13+), else by name; "" when the id is unknown."""
        if not by_id:
            return name
        found = self.topic_by_id(topic_id)
        return found.name if found is not None else ""


def replay(image: MetadataImage, offset: int, record: Any) -> MetadataImage:
    """The image after ``record`` (at ``offset``) is applied."""
    if isinstance(record, TopicRecord):
        topics = dict(image.topics)
        topics[record.name] = TopicImage(record.name, record.topic_id)
        ids = dict(image.topic_ids)
        ids[record.topic_id] = record.name
        return replace(image, offset=offset, topics=topics, topic_ids=ids)
    if isinstance(record, PartitionRecord):
        topic = image.topic_by_id(record.topic_id)
        if topic is None:
            return replace(image, offset=offset)
        part = PartitionImage(
            record.partition_id,
            tuple(record.replicas),
            tuple(record.isr),
            record.leader,
            record.leader_epoch,
            record.partition_epoch,
        )
        return _with_topic(
            image, offset, replace(topic, partitions={**topic.partitions, part.partition_id: part})
        )
    if isinstance(record, PartitionChangeRecord):
        topic = image.topic_by_id(record.topic_id)
        if topic is None or record.partition_id not in topic.partitions:
            return replace(image, offset=offset)
        old = topic.partitions[record.partition_id]
        new = replace(
            old,
            leader=record.leader if record.leader != -2 else old.leader,
            isr=tuple(record.isr) if record.isr is not None else old.isr,
            replicas=tuple(record.replicas) if record.replicas is not None else old.replicas,
            leader_epoch=old.leader_epoch + (1 if record.leader != -2 else 0),
            partition_epoch=old.partition_epoch + 1,
        )
        return _with_topic(
            image, offset, replace(topic, partitions={**topic.partitions, new.partition_id: new})
        )
    if isinstance(record, ConfigRecord):
        if record.resource_type == TOPIC_RESOURCE:
            topic = image.topics.get(record.resource_name)
            if topic is None:
                return replace(image, offset=offset)
            configs = dict(topic.configs)
            if record.value is None:
                configs.pop(record.name, None)
            else:
                configs[record.name] = record.value
            return _with_topic(image, offset, replace(topic, configs=configs))
        configs = dict(image.broker_configs)
        if record.value is None:
            configs.pop(record.name, None)
        else:
            configs[record.name] = record.value
        return replace(image, offset=offset, broker_configs=configs)
    if isinstance(record, RemoveTopicRecord):
        name = image.topic_ids.get(record.topic_id)
        if name is None:
            return replace(image, offset=offset)
        topics = dict(image.topics)
        del topics[name]
        ids = dict(image.topic_ids)
        del ids[record.topic_id]
        return replace(image, offset=offset, topics=topics, topic_ids=ids)
    if isinstance(record, ProducerIdsRecord):
        return replace(image, offset=offset, next_producer_id=record.next_producer_id)
    if isinstance(record, RegisterBrokerRecord):
        brokers = dict(image.brokers)
        brokers[record.broker_id] = BrokerImage(
            record.broker_id,
            offset,
            tuple((e.name, e.host, e.port) for e in record.end_points),
            record.rack,
            record.fenced,
            record.incarnation_id,
        )
        return replace(image, offset=offset, brokers=brokers)
    if isinstance(record, (FenceBrokerRecord, UnfenceBrokerRecord)):
        fenced = isinstance(record, FenceBrokerRecord)
        return _with_broker(image, offset, record.id_, record.epoch, fenced=fenced)
    if isinstance(record, BrokerRegistrationChangeRecord):
        # Fenced: -1 unfenced, 0 unchanged, 1 fenced; InControlledShutdown: 1 now.
        return _with_broker(
            image,
            offset,
            record.broker_id,
            record.broker_epoch,
            fenced=None if record.fenced == 0 else record.fenced == 1,
            in_controlled_shutdown=True if record.in_controlled_shutdown == 1 else None,
        )
    if isinstance(record, UnregisterBrokerRecord):
        broker = image.brokers.get(record.broker_id)
        if broker is None or broker.epoch != record.broker_epoch:
            return replace(image, offset=offset)
        brokers = dict(image.brokers)
        del brokers[record.broker_id]
        return replace(image, offset=offset, brokers=brokers)
    if isinstance(record, NoOpRecord):
        return replace(image, offset=offset)
    if isinstance(record, (UserScramCredentialRecord, RemoveUserScramCredentialRecord)):
        return _replay_scram(image, offset, record)
    return replace(image, offset=offset)


def _with_broker(
    image: MetadataImage,
    offset: int,
    broker_id: int,
    epoch: int,
    *,
    fenced: bool | None,
    in_controlled_shutdown: bool | None = None,
) -> MetadataImage:
    """A broker's fencing or shutdown state changed; a record naming another
    epoch (an older registration) changes nothing."""
    broker = image.brokers.get(broker_id)
    if broker is None or broker.epoch != epoch:
        return replace(image, offset=offset)
    changed = replace(
        broker,
        fenced=broker.fenced if fenced is None else fenced,
        in_controlled_shutdown=broker.in_controlled_shutdown
        if in_controlled_shutdown is None
        else in_controlled_shutdown,
    )
    return replace(image, offset=offset, brokers={**image.brokers, broker_id: changed})


def _replay_scram(
    image: MetadataImage,
    offset: int,
    record: UserScramCredentialRecord | RemoveUserScramCredentialRecord,
) -> MetadataImage:
    credentials = dict(image.scram_credentials)
    key = (record.name, record.mechanism)
    if isinstance(record, UserScramCredentialRecord):
        credentials[key] = ScramCredentialImage(
            bytes(record.salt),
            bytes(record.stored_key),
            bytes(record.server_key),
            record.iterations,
        )
    else:
        credentials.pop(key, None)
    return replace(image, offset=offset, scram_credentials=credentials)


def _with_topic(image: MetadataImage, offset: int, topic: TopicImage) -> MetadataImage:
    return replace(image, offset=offset, topics={**image.topics, topic.name: topic})
