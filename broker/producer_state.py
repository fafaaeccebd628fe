"""Idempotent producers: epochs, sequences, and the last batches of each.

Theory of operation
-------------------
For every producer id that wrote to a partition we keep its epoch and the
metadata of its last five batches (first/last sequence, first/last offset),
as Kafka does. A new batch is checked before it is appended:

- a producer id the partition has no state for may start at any sequence,
  as in Kafka: its state may be gone (the batches holding it were deleted by
  retention or DeleteRecords, KIP-360), so there is nothing to check against;
- an older epoch than the one we know is fenced: INVALID_PRODUCER_EPOCH;
- a newer epoch must start at sequence 0;
- a batch whose sequences equal one of the remembered five is a retry: the
  caller answers with the original offsets and appends nothing;
- otherwise the first sequence must follow the last one we saw
  (wrapping at 2^31), or it is OUT_OF_ORDER_SEQUENCE_NUMBER.

The state is rebuilt after a restart from the batch headers in the log
(producer id, epoch and base sequence are all in the header), so nothing
besides the log needs to be durable.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from broker.errors import ErrorCode

KEEP_BATCHES = 5
INT32_MAX = 2**31 - 1


@dataclass(frozen=True, slots=True)
class BatchMeta:
    first_seq: int
    last_seq: int
    first_offset: int
    last_offset: int


@dataclass(slots=True)
class ProducerEntry:
    epoch: int
    batches: deque[BatchMeta] = field(default_factory=lambda: deque(maxlen=KEEP_BATCHES))


@dataclass(frozen=True, slots=True)
class SequenceCheck:
    error: ErrorCode
    duplicate_of: BatchMeta | None = None


def _next_seq(seq: int) -> int:
    return 0 if seq == INT32_MAX else seq + 1


class ProducerStateManager:
    def __init__(self) -> None:
        self.producers: dict[int, ProducerEntry] = {}

    def check(self, producer_id: int, epoch: int, first_seq: int, last_seq: int) -> SequenceCheck:
        entry = self.producers.get(producer_id)
        if entry is None:
            return SequenceCheck(ErrorCode.NONE)
        if epoch < entry.epoch:
            return SequenceCheck(ErrorCode.INVALID_PRODUCER_EPOCH)
        if epoch > entry.epoch:
            if first_seq != 0:
                return SequenceCheck(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
            return SequenceCheck(ErrorCode.NONE)
        for meta in entry.batches:
            if meta.first_seq == first_seq and meta.last_seq == last_seq:
                return SequenceCheck(ErrorCode.NONE, meta)
        if entry.batches and first_seq != _next_seq(entry.batches[-1].last_seq):
            return SequenceCheck(ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER)
        return SequenceCheck(ErrorCode.NONE)

    def update(
        self,
        producer_id: int,
        epoch: int,
        first_seq: int,
        last_seq: int,
        first_offset: int,
        last_offset: int,
    ) -> None:
        entry = self.producers.get(producer_id)
        if entry is None or epoch != entry.epoch:
            entry = ProducerEntry(epoch)
            self.producers[producer_id] = entry
        entry.batches.append(BatchMeta(first_seq, last_seq, first_offset, last_offset))

    def truncate_to(self, offset: int) -> None:
        """Forget batches at or above ``offset`` (the log was truncated)."""
        for pid in list(self.producers):
            entry = self.producers[pid]
            kept = [b for b in entry.batches if b.last_offset < offset]
            if kept:
                entry.batches = deque(kept, maxlen=KEEP_BATCHES)
            else:
                del self.producers[pid]
