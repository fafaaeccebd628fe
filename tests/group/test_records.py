"""``__consumer_offsets`` records: Kafka's byte layout, and replay."""

from __future__ import annotations

import struct

import pytest

from broker.group import (
    CommittedOffset,
    ErrorCode,
    GroupConfig,
    GroupCoordinator,
    GroupInvariantError,
    GroupState,
    Record,
    partition_for,
)
from broker.group.records import (
    GroupKey,
    OffsetKey,
    decode_group_value,
    decode_key,
    decode_offset_value,
    group_record,
    offset_commit_key,
    offset_commit_value,
    offset_record,
)
from broker.wire.generated.group_metadata_value import GroupMetadataValue, MemberMetadata
from broker.wire.generated.heartbeat_request import HeartbeatRequest
from broker.wire.generated.join_group_request import JoinGroupRequest
from broker.wire.generated.sync_group_request import SyncGroupRequest
from tests.group.harness import TEST_CONFIG, Shell
from tests.group.test_membership import generation, stable_group
from tests.group.test_static import static_group

E = ErrorCode


def kafka_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack(">h", len(data)) + data


def test_offset_commit_key_and_value_bytes_are_kafkas() -> None:
    key = offset_commit_key("grp", ("topic", 3))
    assert key == b"\x00\x01" + kafka_string("grp") + kafka_string("topic") + b"\x00\x00\x00\x03"
    value = offset_commit_value(CommittedOffset(42, 5, "meta", 1000))
    assert value == (
        b"\x00\x03"  # value version 3
        + struct.pack(">q", 42)
        + struct.pack(">i", 5)
        + kafka_string("meta")
        + struct.pack(">q", 1000)
    )
    with_expiry = offset_commit_value(CommittedOffset(42, -1, "", 1000, 9000))
    assert with_expiry == (
        b"\x00\x01" + struct.pack(">q", 42) + kafka_string("") + struct.pack(">qq", 1000, 9000)
    )


def test_group_metadata_key_and_value_round_trip() -> None:
    value = GroupMetadataValue(
        protocol_type="consumer",
        generation=4,
        protocol="range",
        leader="m1",
        current_state_timestamp=77,
        members=[
            MemberMetadata(
                member_id="m1",
                group_instance_id="i1",
                client_id="c",
                client_host="/h",
                rebalance_timeout=300,
                session_timeout=100,
                subscription=b"sub",
                assignment=b"asg",
            )
        ],
    )
    record = group_record("grp", value)
    assert record.key == b"\x00\x02" + kafka_string("grp")
    assert record.value is not None and record.value[:2] == b"\x00\x03"
    assert decode_key(record.key) == GroupKey("grp")
    assert decode_group_value(record.value) == value


def test_decoding_keys_and_values() -> None:
    record = offset_record("g", ("t", 1), CommittedOffset(1, 2, "m", 3, 4))
    assert decode_key(record.key) == OffsetKey("g", "t", 1)
    assert record.value is not None
    assert decode_offset_value(record.value) == CommittedOffset(1, -1, "m", 3, 4)  # v1: no epoch
    version0 = b"\x00\x00" + kafka_string("g") + kafka_string("t") + b"\x00\x00\x00\x01"
    assert decode_key(version0) == OffsetKey("g", "t", 1)
    assert decode_key(b"\x00\x05anything") is None  # a KIP-848 record type


def test_partition_for_matches_javas_string_hash_code() -> None:
    # "hello".hashCode() == 99162322; "polygenelubricants".hashCode() == Integer.MIN_VALUE
    assert partition_for("hello", 1_000_000_000) == 99162322
    assert partition_for("polygenelubricants", 50) == 0
    assert partition_for("", 50) == 0
    assert partition_for("\U0001f600", 1 << 31) == (0xD83D * 31 + 0xDE00)


def replayed(shell: Shell, config: GroupConfig = TEST_CONFIG) -> GroupCoordinator[int]:
    fresh: GroupCoordinator[int] = GroupCoordinator(config, lambda: "x")
    for record in shell.log:
        fresh.replay(record.key, record.value)
    fresh.load_complete(shell.now)
    return fresh


def test_replay_rebuilds_groups_and_offsets() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    static_group(shell, "i1", "i2")
    shell.join(instance="i2")  # a static restart: recorded without a rebalance
    ids = stable_group(shell, 2, group="dyn")
    gen = generation(shell, "dyn")
    shell.commit("dyn", {("t", 0): 10, ("t", 1): 11}, member_id=ids[0], generation=gen)
    shell.commit("dyn", {("t", 0): 12}, member_id=ids[1], generation=gen)
    shell.commit("simple", {("t", 0): 1})
    [lonely] = stable_group(shell, 1, group="emptied")
    shell.commit("emptied", {("t", 0): 3}, member_id=lonely, generation=1)
    shell.leave("emptied", (lonely, None))
    shell.commit("gone", {("t", 0): 1})
    shell.delete_groups("gone")
    shell.advance(150)
    before = shell.coordinator.snapshot()
    assert set(before) == {"g", "dyn", "simple", "emptied"}
    assert before["emptied"].state is GroupState.EMPTY
    after = replayed(shell).snapshot()
    assert after == before


def test_replayed_members_carry_on_where_they_were() -> None:
    shell = Shell()
    a, _silent = stable_group(shell, 2)
    gen = generation(shell)
    fresh = replayed(shell)
    out = fresh.heartbeat(
        1, HeartbeatRequest(group_id="g", generation_id=gen, member_id=a), version=4, now_ms=1000
    )
    assert out[0].response.error_code == E.NONE  # type: ignore[union-attr]
    # Sessions restart at load time: b, silent, is gone a session later.
    fresh.tick(10_000)
    assert fresh.group_state("g") is GroupState.PREPARING_REBALANCE


def test_a_group_whose_sync_was_not_recorded_comes_back_at_its_last_generation() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    shell.join("g", a)  # leader rejoins: generation 2, not synced yet
    assert generation(shell) == 2
    fresh = replayed(shell)
    assert fresh.snapshot()["g"].generation_id == 1
    assert fresh.group_state("g") is GroupState.STABLE


def test_loading_coordinator_answers_as_kafka_does() -> None:
    coordinator: GroupCoordinator[int] = GroupCoordinator(TEST_CONFIG, lambda: "x")
    join = coordinator.join_group(
        1,
        JoinGroupRequest(group_id="g", session_timeout_ms=10_000),
        version=9,
        client_id="c",
        client_host="/h",
        now_ms=0,
    )
    sync = coordinator.sync_group(
        2, SyncGroupRequest(group_id="g", member_id="m"), version=3, now_ms=0
    )
    heartbeat = coordinator.heartbeat(3, HeartbeatRequest(group_id="g"), version=4, now_ms=0)
    codes = [effects[0].response.error_code for effects in (join, sync, heartbeat)]  # type: ignore[union-attr]
    assert codes == [E.COORDINATOR_LOAD_IN_PROGRESS, E.REBALANCE_IN_PROGRESS, E.NONE]
    assert coordinator.next_deadline() is None
    coordinator.load_complete(0)
    with pytest.raises(GroupInvariantError):
        coordinator.replay(b"\x00\x02\x00\x01g", None)


def test_unload_answers_everyone_waiting() -> None:
    shell = Shell(auto_persist=False)
    waiting_join = shell.join("g", version=3)  # completes at once: generation 1
    member = shell.answer(waiting_join).member_id
    shell.join("h", version=3)
    second = shell.join("h", version=3)  # h rebalances: both wait in JoinGroup
    sync = shell.sync("g", member, 1)  # the leader's SyncGroup waits for its record
    commit = shell.commit("s", {("t", 0): 1})
    shell.run(shell.coordinator.unload())
    assert shell.answer(second).error_code == E.NOT_COORDINATOR
    assert shell.answer(sync).error_code == E.NOT_COORDINATOR
    assert shell.commit_errors(commit) == {("t", 0): E.NOT_COORDINATOR}
    assert all(t in shell.answers for t in shell.versions)
    with pytest.raises(GroupInvariantError):
        shell.coordinator.tick(0)


def test_tombstones_in_the_log_remove_what_they_name() -> None:
    shell = Shell()
    shell.commit("a", {("t", 0): 1, ("t", 1): 2})
    shell.commit("b", {("t", 0): 1})
    shell.log.append(Record(offset_commit_key("a", ("t", 0)), None))
    shell.log.append(Record(offset_commit_key("b", ("t", 0)), None))
    fresh = replayed(shell)
    assert set(fresh.snapshot()) == {"a"}
    assert [tp for tp, _ in fresh.snapshot()["a"].offsets] == [("t", 1)]


def test_group_config_from_broker_config() -> None:
    from broker.config import load_config

    config = load_config(
        None,
        overrides=["group.initial.rebalance.delay.ms=0", "offsets.retention.minutes=60"],
        environ={},
    )
    group_config = GroupConfig.from_broker_config(config)
    assert group_config.initial_rebalance_delay_ms == 0
    assert group_config.offsets_retention_ms == 3_600_000
    assert group_config.min_session_timeout_ms == 6000
    assert group_config.max_size == 2**31 - 1
