"""Property tests: the log against a plain in-memory model of its batches.

Random sequences of appends (random record counts, sizes and non-monotonic
timestamps, rising epochs), truncations, log start offset moves and reopens
(clean and after a crash) run against a log with tiny segments and indexes,
so rolls, index-full rolls and multi-segment lookups happen constantly. After
every sequence each lookup is compared with the model's answer.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.storage import PartitionLog
from broker.storage.config import LogConfig
from tests.storage.batches import build_batch, decode_batches

NOW = 1_700_000_000_000
CONFIG = LogConfig(segment_bytes=1_000, index_interval_bytes=150, segment_index_bytes=8 * 6)


@dataclass
class Batch:
    base: int
    epoch: int
    timestamps: list[int]

    @property
    def last(self) -> int:
        return self.base + len(self.timestamps) - 1


@dataclass
class Model:
    batches: list[Batch] = field(default_factory=list)
    log_start_offset: int = 0
    log_end_offset: int = 0
    epoch: int = 0

    def records(self) -> list[tuple[int, int]]:
        """(offset, timestamp) of every record at or after the log start offset."""
        return [
            (b.base + i, ts)
            for b in self.batches
            for i, ts in enumerate(b.timestamps)
            if b.base + i >= self.log_start_offset
        ]

    def visible(self) -> list[Batch]:
        return [b for b in self.batches if b.last >= self.log_start_offset]

    def truncate(self, offset: int) -> None:
        """Whole batches go; the log start offset follows the end down."""
        removed = [b for b in self.batches if b.last >= offset]
        if removed:
            self.log_end_offset = min(offset, removed[0].base)
        self.batches = [b for b in self.batches if b.last < offset]
        self.log_start_offset = min(self.log_start_offset, self.log_end_offset)

    def epoch_entries(self) -> list[tuple[int, int]]:
        entries: list[tuple[int, int]] = []
        for b in self.visible():
            if not entries or b.epoch > entries[-1][0]:
                entries.append((b.epoch, max(b.base, self.log_start_offset)))
        return entries

    def end_offset_for_epoch(self, epoch: int) -> tuple[int, int]:
        entries = self.epoch_entries()
        if not entries or epoch == -1:
            return (-1, -1)
        if epoch == entries[-1][0]:
            return (epoch, self.log_end_offset)
        higher = [e for e in entries if e[0] > epoch]
        lower = [e for e in entries if e[0] <= epoch]
        if not higher:
            return (-1, -1)
        if not lower:
            return (epoch, higher[0][1])
        return (lower[-1][0], higher[0][1])

    def offset_for_timestamp(self, target: int) -> tuple[int, int] | None:
        for offset, ts in self.records():
            if ts >= target:
                return (ts, offset)
        return None

    def max_timestamp(self) -> tuple[int, int] | None:
        records = self.records()
        if not records:
            return None
        best = max(ts for _, ts in records)
        return next((best, o) for o, ts in records if ts == best)

    def epoch_of(self, offset: int) -> int:
        return next(b.epoch for b in self.batches if b.base <= offset <= b.last)


append_op = st.tuples(
    st.just("append"),
    st.lists(st.integers(0, 500), min_size=1, max_size=4),  # record timestamps
    st.integers(0, 120),  # value size
    st.booleans(),  # new epoch
    st.integers(1, 6),  # batches like this one
)
truncate_op = st.tuples(st.just("truncate"), st.floats(0, 1))
start_op = st.tuples(st.just("start"), st.floats(0, 1))
reopen_op = st.tuples(st.just("reopen"), st.booleans())
operations = st.lists(
    st.one_of(*[append_op] * 8, truncate_op, start_op, reopen_op),
    min_size=10,
    max_size=60,
)


def _apply(log: PartitionLog, model: Model, op: tuple[object, ...], path: Path) -> PartitionLog:
    kind = op[0]
    if kind == "append":
        _, timestamps, value_size, new_epoch, repeat = op
        assert isinstance(timestamps, list) and isinstance(value_size, int)
        assert isinstance(repeat, int)
        model.epoch += 1 if new_epoch or model.epoch == 0 else 0
        for i in range(repeat):
            stamps = [NOW + (t + 37 * i) % 500 for t in timestamps]
            data = build_batch(len(stamps), timestamps=stamps, value_size=value_size)
            info = log.append(data, model.epoch, NOW)
            assert info.base_offset == model.log_end_offset
            model.batches.append(Batch(model.log_end_offset, model.epoch, stamps))
            model.log_end_offset += len(stamps)
    elif kind == "truncate":
        fraction = op[1]
        assert isinstance(fraction, float)
        # Raft truncates only uncommitted entries: never below the log start.
        span = model.log_end_offset - model.log_start_offset
        target = model.log_start_offset + int(fraction * span)
        log.truncate_to(target, NOW)
        model.truncate(target)
    elif kind == "start":
        fraction = op[1]
        assert isinstance(fraction, float)
        span = model.log_end_offset - model.log_start_offset
        target = model.log_start_offset + int(fraction * span)
        log.advance_log_start_offset(target)
        model.log_start_offset = max(model.log_start_offset, target)
    else:
        if op[1]:
            log.close()
        else:
            log.abandon()  # a crash: no flush, no marker
        log = PartitionLog.open(path, CONFIG, NOW)
    return log


def _check(log: PartitionLog, model: Model) -> None:
    assert (log.log_start_offset, log.log_end_offset) == (
        model.log_start_offset,
        model.log_end_offset,
    )
    # Every offset reads back the batch that holds it.
    by_offset = {o: b for b in model.batches for o in range(b.base, b.last + 1)}
    records: list[tuple[int, int]] = []
    offset = model.log_start_offset
    while offset < model.log_end_offset:
        batches = decode_batches(log.read(offset, 400).records)
        expected = by_offset[offset]
        assert (batches[0].base_offset, batches[0].last_offset) == (expected.base, expected.last)
        assert batches[0].leader_epoch == expected.epoch
        records += [(r.offset, r.timestamp) for b in batches for r in b if r.offset >= offset]
        offset = batches[0].last_offset + 1 if len(batches) == 1 else batches[-1].last_offset + 1
    assert records == model.records()
    # Timestamp lookups.
    targets = {ts for _, ts in model.records()} | {NOW - 1, NOW + 501}
    for target in sorted(targets):
        found = log.offset_for_timestamp(target)
        expected_found = model.offset_for_timestamp(target)
        if expected_found is None:
            assert found is None
        else:
            assert found is not None and (found.timestamp, found.offset) == expected_found
            assert found.leader_epoch == model.epoch_of(found.offset)
    max_found = log.max_timestamp_and_offset()
    expected_max = model.max_timestamp()
    assert (None if max_found is None else (max_found.timestamp, max_found.offset)) == expected_max
    # Epochs.
    assert [tuple(e) for e in log.epoch_cache.entries] == model.epoch_entries()
    for epoch in range(-1, model.epoch + 2):
        assert tuple(log.end_offset_for_epoch(epoch)) == model.end_offset_for_epoch(epoch)


@settings(
    max_examples=40,
    database=None,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(operations)
def test_log_matches_model(ops: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t-0"
        log = PartitionLog.open(path, CONFIG, NOW)
        model = Model()
        try:
            for op in ops:
                log = _apply(log, model, op, path)
            _check(log, model)
            log.close()
            reopened = PartitionLog.open(path, CONFIG, NOW)
            _check(reopened, model)
            reopened.abandon()
            recovered = PartitionLog.open(path, CONFIG, NOW)
            _check(recovered, model)
            recovered.close()
        finally:
            log.abandon()
