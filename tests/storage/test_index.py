"""Offset and time index operations on real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.storage.errors import LogStateError
from broker.storage.offset_index import OffsetIndex
from broker.storage.time_index import NO_TIMESTAMP, TimeIndex

BASE = 1_000


def _offset_index(tmp_path: Path, max_bytes: int = 8 * 100, *, new: bool = True) -> OffsetIndex:
    return OffsetIndex(tmp_path / "00000000000000001000.index", BASE, max_bytes, new=new)


def _time_index(tmp_path: Path, max_bytes: int = 12 * 100, *, new: bool = True) -> TimeIndex:
    return TimeIndex(tmp_path / "00000000000000001000.timeindex", BASE, max_bytes, new=new)


def test_offset_index_is_preallocated_and_sparse_file(tmp_path: Path) -> None:
    index = _offset_index(tmp_path, 8 * 100 + 5)
    assert os.path.getsize(index.path) == 800  # rounded down to whole entries
    assert index.max_entries == 100 and index.entries == 0
    assert index.lookup(5_000) == (BASE, 0)
    assert index.last_offset == BASE
    index.close()


def test_offset_index_lookup(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    for i in range(50):
        index.append(BASE + 10 * i + 9, 4096 * (i + 1))
    assert index.lookup(BASE) == (BASE, 0)  # before the first entry
    assert index.lookup(BASE + 9) == (BASE + 9, 4096)
    assert index.lookup(BASE + 18) == (BASE + 9, 4096)
    assert index.lookup(BASE + 19) == (BASE + 19, 8192)
    assert index.lookup(10**9) == (BASE + 499, 4096 * 50)
    assert index.lookup_by_position(100) == (BASE - 1, 0)
    assert index.lookup_by_position(8192 + 1) == (BASE + 19, 8192)
    assert index.last_offset == BASE + 499 and index.last_position == 4096 * 50
    index.close()


def test_offset_index_lookup_in_cold_and_warm_sections(tmp_path: Path) -> None:
    index = _offset_index(tmp_path, 8 * 5000)
    for i in range(5000):
        index.append(BASE + 2 * i, 100 * i + 1)
    for i in (0, 1, 7, 1234, 3977, 3978, 4500, 4999):
        assert index.lookup(BASE + 2 * i + 1) == (BASE + 2 * i, 100 * i + 1)
        assert index.lookup_by_position(100 * i + 50) == (BASE + 2 * i, 100 * i + 1)
    index.close()


def test_offset_index_rejects_non_increasing_and_full(tmp_path: Path) -> None:
    index = _offset_index(tmp_path, 8 * 2)
    index.append(BASE + 5, 10)
    with pytest.raises(LogStateError):
        index.append(BASE + 5, 20)
    with pytest.raises(LogStateError):
        index.append(BASE + 6, 10)
    index.append(BASE + 6, 20)
    assert index.is_full
    with pytest.raises(LogStateError):
        index.append(BASE + 7, 30)
    index.close()


def test_offset_index_truncate(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    for i in range(10):
        index.append(BASE + 10 * i, 100 * i + 1)
    index.truncate_to(BASE + 50)  # drops the entry for 50 and later
    assert index.entries == 5 and index.last_offset == BASE + 40
    index.truncate_to(BASE + 35)
    assert index.entries == 4 and index.last_offset == BASE + 30
    index.truncate_to(BASE + 1_000)
    assert index.entries == 4
    index.truncate_to(BASE)
    assert index.entries == 0
    index.append(BASE + 3, 7)  # usable after truncation
    assert index.lookup(BASE + 4) == (BASE + 3, 7)
    index.close()


def test_offset_index_trim_reopen_and_regrow(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    for i in range(7):
        index.append(BASE + i, 10 * i + 1)
    index.trim()
    assert os.path.getsize(index.path) == 7 * 8
    index.flush()
    index.close()
    reopened = _offset_index(tmp_path, new=False)
    assert reopened.entries == 7 and reopened.lookup(BASE + 6) == (BASE + 6, 61)
    reopened.sanity_check(log_size=1_000)
    reopened.preallocate()
    assert os.path.getsize(reopened.path) == 800 and reopened.entries == 7
    reopened.append(BASE + 7, 71)
    assert reopened.lookup(BASE + 100) == (BASE + 7, 71)
    reopened.trim()
    reopened.trim()
    assert os.path.getsize(reopened.path) == 8 * 8
    reopened.reset()
    assert reopened.entries == 0 and os.path.getsize(reopened.path) == 800
    reopened.delete()
    assert not reopened.path.exists()


def test_offset_index_sanity_check(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    index.append(BASE + 3, 500)
    index.trim()
    index.close()
    reopened = _offset_index(tmp_path, new=False)
    with pytest.raises(LogStateError):
        reopened.sanity_check(log_size=400)  # position past the log
    reopened.close()
    with open(reopened.path, "ab") as f:
        f.write(b"\x00\x01\x02")
    misaligned = _offset_index(tmp_path, new=False)
    with pytest.raises(LogStateError):
        misaligned.sanity_check(log_size=1_000)
    misaligned.close()


def test_empty_trimmed_index_reopens_empty(tmp_path: Path) -> None:
    index = _offset_index(tmp_path)
    index.trim()
    index.close()
    reopened = _offset_index(tmp_path, new=False)
    assert reopened.entries == 0 and reopened.max_entries == 0 and reopened.is_full
    assert reopened.lookup(BASE + 10) == (BASE, 0)
    reopened.close()


def test_time_index_appends_only_growing_timestamps(tmp_path: Path) -> None:
    index = _time_index(tmp_path)
    assert index.last_entry() == (NO_TIMESTAMP, BASE)
    index.maybe_append(NO_TIMESTAMP, BASE + 1)  # no timestamp: nothing to index
    assert index.entries == 0
    index.maybe_append(100, BASE + 2)
    index.maybe_append(100, BASE + 5)  # not larger: ignored
    index.maybe_append(90, BASE + 6)
    index.maybe_append(150, BASE + 9)
    assert index.entries == 2 and index.last_entry() == (150, BASE + 9)
    with pytest.raises(LogStateError):
        index.maybe_append(200, BASE + 8)  # offset went backwards
    index.close()


def test_time_index_lookup_and_truncate(tmp_path: Path) -> None:
    index = _time_index(tmp_path)
    for i in range(20):
        index.maybe_append(1_000 + 100 * i, BASE + 10 * i)
    assert index.lookup(999) == (NO_TIMESTAMP, BASE)
    assert index.lookup(1_000) == (1_000, BASE)
    assert index.lookup(1_150) == (1_100, BASE + 10)
    assert index.lookup(10**12) == (2_900, BASE + 190)
    index.truncate_to(BASE + 55)
    assert index.entries == 6 and index.last_entry() == (1_500, BASE + 50)
    index.truncate_to(BASE + 50)
    assert index.last_entry() == (1_400, BASE + 40)
    index.close()


def test_time_index_reserves_last_slot_for_final_entry(tmp_path: Path) -> None:
    index = _time_index(tmp_path, 12 * 3)
    index.maybe_append(1, BASE)
    index.maybe_append(2, BASE + 1)
    assert index.is_full  # one slot left, kept for the roll
    index.maybe_append(3, BASE + 2)
    assert index.entries == 2
    index.maybe_append(3, BASE + 2, final=True)
    assert index.entries == 3 and index.last_entry() == (3, BASE + 2)
    index.trim()
    index.close()
    reopened = _time_index(tmp_path, 12 * 3, new=False)
    assert reopened.last_entry() == (3, BASE + 2)
    reopened.sanity_check(next_offset=BASE + 3)
    with pytest.raises(LogStateError):
        reopened.sanity_check(next_offset=BASE + 2)
    reopened.close()
