"""Metadata records as Kafka frames them in ``__cluster_metadata``.

Each record's value is::

    uvarint  frame version   always 1
    uvarint  api key         which record (TopicRecord = 2, ...)
    uvarint  version         the record's schema version
    ...      the record, in its (flexible) schema encoding

Keys are null. The record classes are generated from the KIP-631 JSON specs
in broker/wire/schemas.
"""

from __future__ import annotations

from typing import Any

from broker.wire.codec import CorruptMessage, Writer, read_uvarint, uvarint
from broker.wire.generated import (
    broker_registration_change_record,
    config_record,
    feature_level_record,
    fence_broker_record,
    no_op_record,
    partition_change_record,
    partition_record,
    producer_ids_record,
    register_broker_record,
    remove_topic_record,
    remove_user_scram_credential_record,
    topic_record,
    unfence_broker_record,
    unregister_broker_record,
    user_scram_credential_record,
)

FRAME_VERSION = 1
_MODULES = {
    m.__dict__[name].API_KEY: (m, m.__dict__[name])
    for m, name in (
        (register_broker_record, "RegisterBrokerRecord"),
        (topic_record, "TopicRecord"),
        (partition_record, "PartitionRecord"),
        (config_record, "ConfigRecord"),
        (partition_change_record, "PartitionChangeRecord"),
        (remove_topic_record, "RemoveTopicRecord"),
        (feature_level_record, "FeatureLevelRecord"),
        (producer_ids_record, "ProducerIdsRecord"),
        (no_op_record, "NoOpRecord"),
        (fence_broker_record, "FenceBrokerRecord"),
        (unfence_broker_record, "UnfenceBrokerRecord"),
        (unregister_broker_record, "UnregisterBrokerRecord"),
        (broker_registration_change_record, "BrokerRegistrationChangeRecord"),
    )
}


def _security_records() -> dict[int, tuple[Any, Any]]:
    """SCRAM credentials (broker/security/scram.py)."""
    return {
        m.__dict__[name].API_KEY: (m, m.__dict__[name])
        for m, name in (
            (user_scram_credential_record, "UserScramCredentialRecord"),
            (remove_user_scram_credential_record, "RemoveUserScramCredentialRecord"),
        )
    }


_MODULES.update(_security_records())
_BY_CLASS = {cls: (key, module) for key, (module, cls) in _MODULES.items()}
# The version a record is written in, when not 0: the first that has every
# field we set (BrokerRegistrationChangeRecord's InControlledShutdown is v1+).
_VERSIONS = {broker_registration_change_record.BrokerRegistrationChangeRecord: 1}


def encode_record(record: Any) -> bytes:
    key, module = _BY_CLASS[type(record)]
    version = _VERSIONS.get(type(record), 0)
    w = Writer()
    w.buf += uvarint(FRAME_VERSION) + uvarint(key) + uvarint(version)
    module.ENCODERS[version](record, w)
    return w.getvalue()


def decode_record(value: bytes) -> Any:
    data = memoryview(value)
    frame, pos = read_uvarint(data, 0)
    if frame != FRAME_VERSION:
        raise CorruptMessage(f"metadata record frame version {frame}")
    key, pos = read_uvarint(data, pos)
    version, pos = read_uvarint(data, pos)
    if key not in _MODULES:
        raise CorruptMessage(f"unknown metadata record api key {key}")
    module, _cls = _MODULES[key]
    if version not in module.DECODERS:
        raise CorruptMessage(f"metadata record {key} version {version} unsupported")
    record, _end = module.DECODERS[version](data, pos)
    return record
