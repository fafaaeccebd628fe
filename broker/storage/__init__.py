"""The storage engine: Kafka's on-disk partition log, which is also the Raft log.

Synchronous and single-owner; see docs/storage.md. The public surface:

* `PartitionLog` (log.py): open/append/read/lookups/truncate/retention/flush.
* `LogConfig` (config.py): Kafka's topic configs for a log.
* `validate_produce_records`, `split_batches`, `BatchHeader` (batch.py).
* `KafkaStorageError` and the error codes (errors.py).
"""

from broker.storage.batch import BatchHeader, parse_header, split_batches, validate_produce_records
from broker.storage.config import LogConfig
from broker.storage.epoch_cache import UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET, EpochEndOffset
from broker.storage.errors import KafkaStorageError, LogStateError
from broker.storage.log import AppendInfo, PartitionLog, ReadResult, TimestampAndOffset

__all__ = [
    "UNDEFINED_EPOCH",
    "UNDEFINED_EPOCH_OFFSET",
    "AppendInfo",
    "BatchHeader",
    "EpochEndOffset",
    "KafkaStorageError",
    "LogConfig",
    "LogStateError",
    "PartitionLog",
    "ReadResult",
    "TimestampAndOffset",
    "parse_header",
    "split_batches",
    "validate_produce_records",
]
