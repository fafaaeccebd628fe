"""OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups and offsets retention."""

from __future__ import annotations

from broker.group import ErrorCode, GroupConfig, GroupState
from broker.group.records import GroupKey, OffsetKey, decode_key
from broker.wire.generated.offset_fetch_request import (
    OffsetFetchRequest,
    OffsetFetchRequestGroup,
    OffsetFetchRequestTopics,
)
from tests.group.harness import Shell, subscription
from tests.group.test_membership import generation, stable_group

E = ErrorCode
DAY_MS = 24 * 3600 * 1000
LONG_SESSION_MS = 1_800_000  # group.max.session.timeout.ms


def long_lived_member(shell: Shell) -> str:
    """One consumer of topic "t" in group "g", generation 1, 30-minute session."""
    member_id: str = shell.answer(shell.join(session=LONG_SESSION_MS)).member_id
    shell.join("g", member_id, session=LONG_SESSION_MS)
    shell.sync("g", member_id, 1, {member_id: b""})
    return member_id


def stay(shell: Shell, member_id: str, ms: int) -> None:
    """Keep the member alive for ``ms``, heartbeating every 20 minutes."""
    end = shell.now + ms
    while shell.now < end:
        shell.advance(min(1_200_000, end - shell.now))
        assert shell.heartbeat("g", member_id, 1) == E.NONE


def test_simple_commit_creates_a_group_and_fetch_reads_it() -> None:
    shell = Shell()
    token = shell.commit("simple", {("t", 0): 42, ("t", 1): 7, ("u", 0): 1})
    assert set(shell.commit_errors(token).values()) == {E.NONE}
    assert shell.fetched("simple") == {("t", 0): 42, ("t", 1): 7, ("u", 0): 1}
    assert shell.fetched("simple", partitions={"t": [1, 2]}) == {("t", 1): 7, ("t", 2): -1}
    assert shell.fetched("nobody", partitions={"t": [0]}) == {("t", 0): -1}
    assert shell.fetched("nobody") == {}
    fetched = shell.fetch("simple", partitions={"t": [0]}, version=5)
    partition = fetched.topics[0].partitions[0]
    assert (partition.committed_leader_epoch, partition.metadata) == (3, "")
    assert shell.coordinator.group_state("simple") is GroupState.EMPTY


def test_commit_records_are_written_before_the_answer() -> None:
    shell = Shell(auto_persist=False)
    token = shell.commit("g", {("t", 0): 5})
    assert shell.answer(token) is None
    assert shell.fetched("g", partitions={"t": [0]}) == {("t", 0): -1}
    unstable = shell.fetch("g", partitions={"t": [0]}, require_stable=True)
    assert unstable.topics[0].partitions[0].error_code == E.UNSTABLE_OFFSET_COMMIT
    shell.ack()
    assert shell.commit_errors(token) == {("t", 0): E.NONE}
    assert shell.fetched("g", partitions={"t": [0]}) == {("t", 0): 5}
    [record] = shell.log
    assert decode_key(record.key) == OffsetKey("g", "t", 0)


def test_a_failed_append_fails_the_commit() -> None:
    shell = Shell(auto_persist=False)
    shell.commit("g", {("t", 0): 5})
    shell.ack()
    token = shell.commit("g", {("t", 0): 9})
    shell.ack(error=E.NOT_LEADER_OR_FOLLOWER)
    assert shell.commit_errors(token) == {("t", 0): E.NOT_COORDINATOR}
    assert shell.fetched("g") == {("t", 0): 5}
    token = shell.commit("g", {("t", 0): 9})
    shell.ack(error=E.MESSAGE_TOO_LARGE)
    assert shell.commit_errors(token) == {("t", 0): E.INVALID_COMMIT_OFFSET_SIZE}


def test_member_commits_are_fenced_by_generation_and_membership() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    ok = shell.commit("g", {("t", 0): 1}, member_id=a, generation=gen)
    assert shell.commit_errors(ok) == {("t", 0): E.NONE}
    stale = shell.commit("g", {("t", 0): 2}, member_id=a, generation=gen - 1)
    assert shell.commit_errors(stale) == {("t", 0): E.ILLEGAL_GENERATION}
    stranger = shell.commit("g", {("t", 0): 2}, member_id="x", generation=gen)
    assert shell.commit_errors(stranger) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    outsider = shell.commit("g", {("t", 0): 2})  # generation -1 to a group with members
    assert shell.commit_errors(outsider) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    missing = shell.commit("nope", {("t", 0): 2}, member_id=a, generation=1)
    assert shell.commit_errors(missing) == {("t", 0): E.ILLEGAL_GENERATION}
    missing = shell.commit("nope", {("t", 0): 2}, member_id=a, generation=1, version=9)
    assert shell.commit_errors(missing) == {("t", 0): E.GROUP_ID_NOT_FOUND}
    # A rebalance in its first phase still takes commits of the old generation...
    shell.join("g", a)
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    late = shell.commit("g", {("t", 0): 3}, member_id=b, generation=gen)
    assert shell.commit_errors(late) == {("t", 0): E.NONE}
    # ...but not between JoinGroup and SyncGroup.
    shell.join("g", b)
    assert shell.coordinator.group_state("g") is GroupState.COMPLETING_REBALANCE
    early = shell.commit("g", {("t", 0): 4}, member_id=b, generation=gen + 1)
    assert shell.commit_errors(early) == {("t", 0): E.REBALANCE_IN_PROGRESS}
    assert shell.fetched("g") == {("t", 0): 3}


def test_oversized_metadata_is_refused_per_partition() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=0, offset_metadata_max_bytes=4))
    token = shell.commit("g", {("t", 0): 1}, metadata="12345")
    assert shell.commit_errors(token) == {("t", 0): E.OFFSET_METADATA_TOO_LARGE}
    token = shell.commit("g", {("t", 0): 1}, metadata="1234")
    assert shell.commit_errors(token) == {("t", 0): E.NONE}
    assert shell.fetch("g", version=2).topics[0].partitions[0].metadata == "1234"


def test_offset_fetch_v8_answers_per_group() -> None:
    shell = Shell()
    shell.commit("a", {("t", 0): 1})
    shell.commit("b", {("t", 0): 2})
    request = OffsetFetchRequest(
        groups=[
            OffsetFetchRequestGroup(group_id="a", topics=None),
            OffsetFetchRequestGroup(
                group_id="b",
                topics=[OffsetFetchRequestTopics(name="t", partition_indexes=[0, 1])],
            ),
        ]
    )
    response = shell.coordinator.offset_fetch(request, version=8)
    [a, b] = response.groups
    assert [(t.name, [p.committed_offset for p in t.partitions]) for t in a.topics] == [("t", [1])]
    assert [p.committed_offset for p in b.topics[0].partitions] == [2, -1]


def test_delete_groups() -> None:
    shell = Shell()
    stable_group(shell, 1)
    shell.commit("simple", {("t", 0): 1})
    token = shell.delete_groups("g", "simple", "nope", "simple")
    results = {r.group_id: r.error_code for r in shell.answer(token).results}
    assert results == {
        "g": E.NON_EMPTY_GROUP,
        "simple": E.NONE,
        "nope": E.GROUP_ID_NOT_FOUND,
    }
    assert shell.fetched("simple", partitions={"t": [0]}) == {("t", 0): -1}
    assert shell.coordinator.group_state("simple") is None
    assert shell.log[-1].value is None  # the offset's tombstone; no group record existed


def test_deleting_an_emptied_group_writes_tombstones() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    shell.commit("g", {("t", 0): 1}, member_id=a, generation=1)
    shell.leave("g", (a, None))
    shell.advance(0)
    assert shell.coordinator.group_state("g") is GroupState.EMPTY
    token = shell.delete_groups("g")
    assert shell.answer(token).results[0].error_code == E.NONE
    tail = [(decode_key(r.key), r.value) for r in shell.log[-2:]]
    assert tail == [(OffsetKey("g", "t", 0), None), (GroupKey("g"), None)]


def test_offset_delete() -> None:
    shell = Shell()
    a_id = shell.answer(shell.join()).member_id
    shell.join("g", a_id, protocols=[("range", subscription("t"))])
    shell.sync("g", a_id, 1, {a_id: b""})
    shell.commit("g", {("t", 0): 1, ("u", 0): 2}, member_id=a_id, generation=1)
    answer = shell.answer(shell.offset_delete("g", {"t": [0], "u": [0, 1]}))
    assert answer.error_code == E.NONE
    errors = {
        (t.name, p.partition_index): p.error_code for t in answer.topics for p in t.partitions
    }
    assert errors == {
        ("t", 0): E.GROUP_SUBSCRIBED_TO_TOPIC,
        ("u", 0): E.NONE,
        ("u", 1): E.NONE,
    }
    assert shell.fetched("g") == {("t", 0): 1}
    missing = shell.answer(shell.offset_delete("nope", {"t": [0]}))
    assert (missing.error_code, missing.topics) == (E.GROUP_ID_NOT_FOUND, [])
    # Once the group is empty, everything may go; the group goes with its last offset.
    shell.leave("g", (a_id, None))
    shell.advance(0)
    assert shell.answer(shell.offset_delete("g", {"t": [0]})).error_code == E.NONE
    assert shell.coordinator.group_state("g") is None


def test_offset_delete_in_a_non_consumer_group() -> None:
    shell = Shell()
    member = shell.answer(shell.join(protocol_type="connect")).member_id
    shell.join("g", member, protocol_type="connect")
    answer = shell.answer(shell.offset_delete("g", {"t": [0]}))
    assert answer.error_code == E.NON_EMPTY_GROUP


def test_offsets_of_an_empty_group_expire_after_retention() -> None:
    config = GroupConfig(
        initial_rebalance_delay_ms=0,
        offsets_retention_ms=DAY_MS,
        offsets_retention_check_interval_ms=60_000,
    )
    shell = Shell(config)
    [a] = stable_group(shell, 1)
    shell.commit("g", {("t", 0): 1}, member_id=a, generation=1)
    shell.advance(2 * DAY_MS)  # the member's session ends, the group empties, a day passes
    assert shell.coordinator.group_state("g") is None
    kinds = [(decode_key(r.key), r.value is None) for r in shell.log[-2:]]
    assert kinds == [(OffsetKey("g", "t", 0), True), (GroupKey("g"), True)]


def test_retention_counts_from_when_the_group_became_empty() -> None:
    config = GroupConfig(
        initial_rebalance_delay_ms=0,
        offsets_retention_ms=DAY_MS,
        offsets_retention_check_interval_ms=60_000,
    )
    shell = Shell(config)
    a = long_lived_member(shell)
    shell.commit("g", {("t", 0): 1}, member_id=a, generation=1)
    stay(shell, a, 2 * DAY_MS)  # committing nothing new
    shell.leave("g", (a, None))
    shell.advance(DAY_MS - 60_000)
    assert shell.fetched("g") == {("t", 0): 1}
    shell.advance(60_000)
    assert shell.coordinator.group_state("g") is None


def test_simple_group_offsets_expire_by_commit_time() -> None:
    config = GroupConfig(offsets_retention_ms=DAY_MS, offsets_retention_check_interval_ms=3600_000)
    shell = Shell(config)
    shell.commit("simple", {("t", 0): 1})
    shell.advance(DAY_MS // 2)
    shell.commit("simple", {("t", 1): 1})
    shell.advance(DAY_MS // 2)
    assert shell.fetched("simple") == {("t", 1): 1}
    shell.advance(DAY_MS // 2)
    assert shell.coordinator.group_state("simple") is None


def test_stable_group_keeps_offsets_of_subscribed_topics() -> None:
    config = GroupConfig(
        initial_rebalance_delay_ms=0,
        offsets_retention_ms=DAY_MS,
        offsets_retention_check_interval_ms=3600_000,
    )
    shell = Shell(config)
    a = long_lived_member(shell)
    shell.commit("g", {("t", 0): 1, ("old", 0): 2}, member_id=a, generation=1)
    stay(shell, a, 2 * DAY_MS)
    assert shell.fetched("g") == {("t", 0): 1}


def test_commits_with_a_retention_time_expire_at_it() -> None:
    config = GroupConfig(offsets_retention_check_interval_ms=1000)
    shell = Shell(config)
    shell.commit("g", {("t", 0): 1}, version=2, retention_ms=5000)
    shell.advance(4000)
    assert shell.fetched("g") == {("t", 0): 1}
    shell.advance(1000)
    assert shell.fetched("g") == {}


def test_librdkafka_0118_sequence_gets_kafkas_answers() -> None:
    """librdkafka's 0118_commit_rebalance, message by message (eager protocol).
    With group.initial.rebalance.delay.ms=0, consumer c2's join completes
    before c1's arrives: c2 alone holds every partition, c1's join revokes it,
    and c2's revoke callback commits after it has rejoined. That commit comes
    from a live member of the current generation, so Kafka accepts it, and so
    do we (the test's "closing consumer's commit must fail" then fails: that is
    the test relying on Kafka's 3000 ms default delay, not a coordinator race).
    Commits that must fail do: a stale generation while the group rebalances,
    and any commit after the member has left."""
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=0))
    c2 = shell.answer(shell.join()).member_id
    c1 = shell.answer(shell.join()).member_id  # pending until it comes back
    assert shell.answer(shell.join("g", c2)).generation_id == 1  # c2 alone
    assert shell.answer(shell.sync("g", c2, 1, {c2: b"all"})).assignment == b"all"
    c1_join = shell.join("g", c1)
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    # Before rejoining: generation 1 is still current, as in Kafka.
    assert set(
        shell.commit_errors(shell.commit("g", {("t", 0): 1}, member_id=c2, generation=1)).values()
    ) == {E.NONE}
    assert shell.heartbeat("g", c2, 1) == E.REBALANCE_IN_PROGRESS
    c2_join = shell.join("g", c2)
    assert shell.answer(c1_join).generation_id == shell.answer(c2_join).generation_id == 2
    stale = shell.commit("g", {("t", 0): 2}, member_id=c2, generation=1)
    assert shell.commit_errors(stale) == {("t", 0): E.ILLEGAL_GENERATION}
    early = shell.commit("g", {("t", 0): 2}, member_id=c2, generation=2)
    assert shell.commit_errors(early) == {("t", 0): E.REBALANCE_IN_PROGRESS}  # CompletingRebalance
    leader = shell.answer(c2_join).leader
    follower = c1 if leader == c2 else c2
    follower_sync = shell.sync("g", follower, 2)
    shell.sync("g", leader, 2, {c1: b"half", c2: b"half"})
    assert shell.answer(follower_sync).error_code == E.NONE
    # The revoke callback's commit, 5 s later, from a live member: accepted.
    shell.advance(5000)
    live = shell.commit("g", {("t", 0): 3}, member_id=c2, generation=2)
    assert shell.commit_errors(live) == {("t", 0): E.NONE}
    # Closing: c2 leaves, the group rebalances, c2's late commit is refused.
    assert shell.leave("g", (c2, None)).error_code == E.NONE
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    late = shell.commit("g", {("t", 0): 4}, member_id=c2, generation=2)
    assert shell.commit_errors(late) == {("t", 0): E.UNKNOWN_MEMBER_ID}
    assert shell.fetched("g", partitions={"t": [0]}) == {("t", 0): 3}


def test_consumers_subscribing_together_share_generation_one_with_kafkas_delay() -> None:
    """The same start as 0118 with Kafka's default 3000 ms delay: c1's join,
    a few ms after c2's, lands in generation 1 too, so nobody is revoked
    before c2 closes."""
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=3000))
    c2 = shell.answer(shell.join()).member_id
    c1 = shell.answer(shell.join()).member_id
    c2_join = shell.join("g", c2)
    shell.advance(50)
    c1_join = shell.join("g", c1)
    shell.advance(3000)  # c1 arrived during the delay: it is extended once
    assert shell.answer(c2_join) is None
    shell.advance(3000)
    assert shell.answer(c1_join).generation_id == shell.answer(c2_join).generation_id == 1
