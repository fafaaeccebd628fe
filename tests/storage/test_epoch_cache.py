"""Leader-epoch cache and checkpoint files."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.storage import checkpoint
from broker.storage.checkpoint import (
    CheckpointError,
    decode_checkpoint,
    encode_checkpoint,
    read_checkpoint,
    read_offset,
    write_offset,
)
from broker.storage.epoch_cache import (
    UNDEFINED_EPOCH,
    UNDEFINED_EPOCH_OFFSET,
    EpochEntry,
    LeaderEpochCache,
)


def _cache(tmp_path: Path, *entries: tuple[int, int]) -> LeaderEpochCache:
    cache = LeaderEpochCache(tmp_path / checkpoint.LEADER_EPOCH_CHECKPOINT)
    for epoch, start in entries:
        cache.assign(epoch, start)
    return cache


def test_checkpoint_format_is_kafkas(tmp_path: Path) -> None:
    assert encode_checkpoint([(3, 0), (5, 1200)]) == b"0\n2\n3 0\n5 1200\n"
    assert decode_checkpoint(b"0\n2\n3 0\n5 1200\n", 2) == [(3, 0), (5, 1200)]
    for bad in (b"", b"1\n0\n", b"0\n2\n3 0\n", b"0\n1\n3\n", b"0\n1\nx y\n", b"\xff"):
        with pytest.raises(CheckpointError):
            decode_checkpoint(bad, 2)
    path = tmp_path / "cp"
    assert read_checkpoint(path, 1) is None
    write_offset(path, 77)
    assert path.read_bytes() == b"0\n1\n77\n"
    assert read_offset(path) == 77
    assert not list(tmp_path.glob("*.tmp"))
    path.write_bytes(b"garbage")
    assert read_offset(path) is None


def test_clean_shutdown_marker(tmp_path: Path) -> None:
    assert not checkpoint.has_clean_shutdown_marker(tmp_path)
    checkpoint.write_clean_shutdown_marker(tmp_path)
    assert checkpoint.has_clean_shutdown_marker(tmp_path)
    checkpoint.remove_clean_shutdown_marker(tmp_path)
    checkpoint.remove_clean_shutdown_marker(tmp_path)
    assert not checkpoint.has_clean_shutdown_marker(tmp_path)


def test_assign_is_idempotent_and_persisted(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (1, 0), (1, 5), (2, 10), (2, 10), (4, 30))
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(2, 10), EpochEntry(4, 30)]
    assert cache.latest_epoch == 4
    again = LeaderEpochCache(cache.path)
    assert again.loaded and again.entries == cache.entries


def test_assign_drops_contradicted_entries(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (1, 0), (2, 10), (4, 30))
    cache.assign(3, 20)  # a lower epoch at a lower offset: 4 was never committed
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(2, 10), EpochEntry(3, 20)]
    cache.assign(5, 15)
    assert cache.entries == [EpochEntry(1, 0), EpochEntry(2, 10), EpochEntry(5, 15)]
    with pytest.raises(ValueError):
        cache.assign(-1, 0)


def test_end_offset_for_follows_kafka_rules(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (2, 10), (4, 30), (7, 55))
    leo = 80
    assert cache.end_offset_for(UNDEFINED_EPOCH, leo) == (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
    assert cache.end_offset_for(7, leo) == (7, 80)  # latest epoch: the log end offset
    assert cache.end_offset_for(8, leo) == (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)
    assert cache.end_offset_for(1, leo) == (1, 10)  # below the earliest
    assert cache.end_offset_for(2, leo) == (2, 30)
    assert cache.end_offset_for(3, leo) == (2, 30)  # unknown epoch: the floor's end
    assert cache.end_offset_for(5, leo) == (4, 55)
    empty = LeaderEpochCache(tmp_path / "other")
    assert empty.end_offset_for(3, leo) == (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)


def test_epoch_for_offset(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (2, 10), (4, 30))
    assert [cache.epoch_for_offset(o) for o in (0, 9, 10, 29, 30, 999)] == [-1, -1, 2, 2, 4, 4]


def test_truncate_from_end(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (2, 10), (4, 30), (7, 55))
    cache.truncate_from_end(56)
    assert cache.latest_epoch == 7
    cache.truncate_from_end(55)
    assert cache.entries == [EpochEntry(2, 10), EpochEntry(4, 30)]
    cache.truncate_from_end(0)
    assert cache.entries == []
    assert LeaderEpochCache(cache.path).entries == []


def test_truncate_from_start(tmp_path: Path) -> None:
    cache = _cache(tmp_path, (2, 10), (4, 30), (7, 55))
    cache.truncate_from_start(5)
    assert cache.entries[0] == EpochEntry(2, 10)
    cache.truncate_from_start(10)
    assert cache.entries[0] == EpochEntry(2, 10)
    cache.truncate_from_start(40)
    assert cache.entries == [EpochEntry(4, 40), EpochEntry(7, 55)]
    cache.truncate_from_start(55)
    assert cache.entries == [EpochEntry(7, 55)]
    assert LeaderEpochCache(cache.path).entries == [EpochEntry(7, 55)]


def test_unreadable_checkpoint_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / checkpoint.LEADER_EPOCH_CHECKPOINT
    path.write_bytes(b"0\n2\n1 0\n")
    cache = LeaderEpochCache(path)
    assert not cache.loaded and cache.entries == []
    path.write_bytes(b"0\n2\n5 0\n3 10\n")  # not monotonic
    assert not LeaderEpochCache(path).loaded
    path.write_bytes(b"0\n2\n3 0\n5 10\n")
    assert LeaderEpochCache(path).loaded
    path.write_bytes(b"0\n1\n-3 10\n")
    assert not LeaderEpochCache(path).loaded
