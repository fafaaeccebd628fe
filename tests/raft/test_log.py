"""MemoryLog and the control-record codecs against naive models."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.raft.control import (
    VoterHistory,
    decode_leader_change,
    decode_snapshot,
    decode_voters,
    encode_leader_change,
    encode_snapshot,
    encode_voters,
)
from broker.raft.log import MemoryLog, Snapshot
from broker.raft.messages import LogEntry, OffsetAndEpoch, SnapshotId

# An operation: ("append", epoch bump 0..2) | ("truncate", fraction) | ("snapshot", fraction)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 2)),
        st.tuples(st.just("truncate"), st.floats(0, 1)),
        st.tuples(st.just("snapshot"), st.floats(0, 1)),
    ),
    max_size=40,
)


def naive_end_offset_for_epoch(epochs: list[int], start: int, epoch: int) -> OffsetAndEpoch:
    """``epochs[o]`` is the epoch of offset ``o`` (including snapshotted ones)."""
    best = None
    for offset in range(start - 1 if start > 0 else 0, len(epochs)):
        if epochs[offset] <= epoch:
            best = epochs[offset]
    if best is None:
        return OffsetAndEpoch(start, 0)
    end = max(o for o in range(len(epochs)) if epochs[o] == best) + 1
    return OffsetAndEpoch(max(end, start), best)


@settings(max_examples=200, deadline=None)
@given(ops, st.integers(0, 6))
def test_end_offset_for_epoch_matches_a_naive_scan(
    operations: list[tuple[str, float]], q: int
) -> None:
    log = MemoryLog()
    epochs: list[int] = []  # model: epoch of every offset ever kept
    epoch = 1
    for name, arg in operations:
        start, end = log.log_start_offset, log.end_offset
        if name == "append":
            epoch += int(arg)
            log.append([LogEntry(end, epoch, b"x")])
            epochs.append(epoch)
        elif name == "truncate":
            offset = start + int(arg * (end - start))
            log.truncate_to(offset)
            del epochs[offset:]
            epoch = max([epoch, *epochs[-1:]])
        elif end > start:
            offset = start + 1 + int(arg * (end - start - 1))
            snap = Snapshot(SnapshotId(offset, epochs[offset - 1]), (1,), b"")
            log.create_snapshot(snap)
        assert log.end_offset == len(epochs)
    start = log.log_start_offset
    assert log.end_offset_for_epoch(q) == naive_end_offset_for_epoch(epochs, start, q)
    assert log.last_epoch == (epochs[-1] if epochs else 0)
    entries = log.read(start, 1000)
    assert [e.epoch for e in entries] == epochs[start:]


def test_crash_keeps_durable_prefix_and_part_of_the_rest() -> None:
    log = MemoryLog()
    log.append([LogEntry(o, 1, b"a") for o in range(3)])
    assert log.flush() == 3
    log.append([LogEntry(o, 2, b"b") for o in range(3, 8)])
    log.crash(keep_unflushed=2)
    assert log.end_offset == 5
    assert log.durable_end_offset == 5
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(5, 2)


def test_install_snapshot_replaces_the_log() -> None:
    log = MemoryLog()
    log.append([LogEntry(o, 1, b"a") for o in range(4)])
    log.install_snapshot(Snapshot(SnapshotId(10, 3), (1, 2, 3), b"state"))
    assert (log.log_start_offset, log.end_offset, log.last_epoch) == (10, 10, 3)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(10, 3)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(10, 0)


@given(st.sets(st.integers(0, 2**31 - 1), max_size=8), st.integers(-1, 2**31 - 1), st.binary())
def test_control_payloads_round_trip(voters: set[int], leader: int, data: bytes) -> None:
    assert decode_voters(encode_voters(voters)) == (tuple(sorted(voters)), 4 + 4 * len(voters))
    assert decode_leader_change(encode_leader_change(leader, voters)) == (
        leader,
        tuple(sorted(voters)),
    )
    snapshot = Snapshot(SnapshotId(7, 2), tuple(sorted(voters)), data)
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot


def test_voter_history_follows_truncation_and_compaction() -> None:
    history = VoterHistory([1, 2, 3])
    history.record(5, [1, 2, 3, 4])
    history.record(9, [1, 2, 4])
    assert history.latest == {1, 2, 4}
    assert history.at(5) == {1, 2, 3}
    assert history.at(6) == {1, 2, 3, 4}
    history.truncate_to(9)
    assert history.latest == {1, 2, 3, 4}
    assert history.latest_offset == 5
    history.compact_to(7)
    assert history.latest_offset == -1
    assert history.at(0) == {1, 2, 3, 4}
