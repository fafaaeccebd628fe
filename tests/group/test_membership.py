"""JoinGroup, SyncGroup, Heartbeat and LeaveGroup against explicit times."""

from __future__ import annotations

from broker.group import ErrorCode, GroupConfig, GroupState
from tests.group.harness import REBALANCE_MS, SESSION_MS, Shell, subscription

E = ErrorCode


def stable_group(shell: Shell, n: int, group: str = "g") -> list[str]:
    """``n`` dynamic members joined (v9, two-step) and synced. A member whose
    JoinGroup was answered with an older generation rejoins, as clients do."""
    first = [shell.join(group) for _ in range(n)]
    assert all(shell.answer(t).error_code == E.MEMBER_ID_REQUIRED for t in first)
    ids = [shell.answer(t).member_id for t in first]
    joins = {m: shell.join(group, m) for m in ids}
    while True:
        answers = {m: shell.answer(t) for m, t in joins.items()}
        done = [a for a in answers.values() if a is not None]
        assert all(a.error_code == E.NONE for a in done), done
        if len(done) == n and len({a.generation_id for a in done}) == 1:
            break
        if not done:
            shell.advance(max(shell.config.initial_rebalance_delay_ms, 1))
            continue
        joins.update({m: shell.join(group, m) for m, a in answers.items() if a is not None})
    generation = done[0].generation_id
    leader = done[0].leader
    syncs = [
        shell.sync(group, m, generation, {x: x.encode() for x in ids} if m == leader else None)
        for m in ids
    ]
    assert all(shell.answer(t).error_code == E.NONE for t in syncs)
    assert shell.coordinator.group_state(group) is GroupState.STABLE
    return ids


def generation(shell: Shell, group: str = "g") -> int:
    return shell.coordinator.snapshot()[group].generation_id


def test_single_member_join_sync_heartbeat() -> None:
    shell = Shell()
    first = shell.join()
    member_id = shell.answer(first).member_id
    assert shell.answer(first).error_code == E.MEMBER_ID_REQUIRED
    assert member_id.startswith("c-")
    join = shell.answer(shell.join("g", member_id))
    assert join.error_code == E.NONE
    assert join.generation_id == 1
    assert join.leader == member_id
    assert join.protocol_name == "range"
    assert [m.member_id for m in join.members] == [member_id]
    assert join.members[0].metadata == subscription("t")
    assert shell.coordinator.group_state("g") is GroupState.COMPLETING_REBALANCE
    sync = shell.answer(shell.sync("g", member_id, 1, {member_id: b"a1"}))
    assert (sync.error_code, sync.assignment, sync.protocol_name) == (E.NONE, b"a1", "range")
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    assert shell.heartbeat("g", member_id, 1) == E.NONE


def test_second_consumer_is_not_rejected_as_unknown_member() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    b_first = shell.answer(shell.join())
    assert b_first.error_code == E.MEMBER_ID_REQUIRED
    b_join = shell.join("g", b_first.member_id)
    assert shell.answer(b_join) is None  # waits for the rebalance
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    assert shell.heartbeat("g", a, 1) == E.REBALANCE_IN_PROGRESS
    a_join = shell.join("g", a)
    a_ans, b_ans = shell.answer(a_join), shell.answer(b_join)
    assert a_ans.error_code == b_ans.error_code == E.NONE
    assert a_ans.generation_id == b_ans.generation_id == 2
    assert a_ans.leader == b_ans.leader == a
    assert {m.member_id for m in a_ans.members} == {a, b_first.member_id}
    assert b_ans.members == []
    b_sync = shell.sync("g", b_first.member_id, 2)
    assert shell.answer(b_sync) is None  # followers wait for the leader
    a_sync = shell.sync("g", a, 2, {a: b"pa", b_first.member_id: b"pb"})
    assert shell.answer(a_sync).assignment == b"pa"
    assert shell.answer(b_sync).assignment == b"pb"
    assert shell.heartbeat("g", b_first.member_id, 2) == E.NONE


def test_consumers_starting_together_share_the_first_generation() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=3000))
    ids = [shell.answer(shell.join()).member_id for _ in range(3)]
    joins = []
    for member_id in ids:
        joins.append(shell.join("g", member_id))
        shell.advance(500)
    assert all(shell.answer(t) is None for t in joins)
    shell.advance(20_000)
    answers = [shell.answer(t) for t in joins]
    assert {a.generation_id for a in answers} == {1}
    assert [a.error_code for a in answers] == [E.NONE] * 3
    leaders = [a for a in answers if a.members]
    assert len(leaders) == 1 and len(leaders[0].members) == 3


def test_initial_rebalance_delay_extends_while_members_arrive() -> None:
    # delay 3000, rebalance timeout 10000: first wait ends at 3000; B arrived,
    # so wait min(3000, 7000) more; nobody new by 6000, so complete then.
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=3000))
    a_id = shell.answer(shell.join()).member_id
    b_id = shell.answer(shell.join()).member_id
    a = shell.join("g", a_id, rebalance=10_000)
    shell.advance(1000)
    b = shell.join("g", b_id, rebalance=10_000)
    assert shell.coordinator.next_deadline() == 3000
    shell.advance(2000)
    assert shell.answer(a) is None
    assert shell.coordinator.next_deadline() == 6000
    shell.advance(2999)
    assert shell.answer(a) is None
    shell.advance(1)
    assert shell.answer(a).generation_id == shell.answer(b).generation_id == 1


def test_three_members_rebalance_and_all_get_assignments() -> None:
    shell = Shell()
    ids = stable_group(shell, 3)
    gen = generation(shell)
    assert shell.heartbeat("g", ids[1], gen) == E.NONE
    d = shell.join_new()
    for member_id in ids:
        assert shell.heartbeat("g", member_id, gen) == E.REBALANCE_IN_PROGRESS
    joins = [shell.join("g", member_id) for member_id in ids]
    answers = [shell.answer(t) for t in joins] + [shell.answer(d)]
    assert {a.generation_id for a in answers} == {gen + 1}
    assert sum(1 for a in answers if a.members) == 1


def test_rebalance_timeout_removes_members_that_did_not_rejoin() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    c = shell.join_new()  # starts a rebalance with deadline now + 30000
    a_join = shell.join("g", a)
    for _ in range(5):  # b stays alive but never rejoins
        shell.advance(5000)
        assert shell.heartbeat("g", b, gen) == E.REBALANCE_IN_PROGRESS
    assert shell.answer(a_join) is None
    shell.advance(REBALANCE_MS - 25_000)
    assert shell.answer(a_join).generation_id == gen + 1
    assert {m.member_id for m in shell.answer(a_join).members} == {a, shell.answer(c).member_id}
    assert shell.heartbeat("g", b, gen) == E.UNKNOWN_MEMBER_ID


def test_session_timeout_expires_a_silent_member() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    for _ in range(3):
        shell.advance(3000)
        assert shell.heartbeat("g", a, gen) == E.NONE
    shell.advance(SESSION_MS - 9000 - 1)
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    shell.advance(1)  # b's last sign of life was at 0
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    assert shell.heartbeat("g", a, gen) == E.REBALANCE_IN_PROGRESS
    rejoin = shell.answer(shell.join("g", a))
    assert rejoin.generation_id == gen + 1 and [m.member_id for m in rejoin.members] == [a]
    assert shell.heartbeat("g", b, gen) == E.UNKNOWN_MEMBER_ID


def test_a_late_call_sees_the_session_already_expired() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    shell.now += SESSION_MS + 5000  # no tick in between
    assert shell.heartbeat("g", a, 1) == E.UNKNOWN_MEMBER_ID


def test_members_waiting_in_a_rebalance_need_no_heartbeats() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    a_join = shell.join("g", a, rebalance=60_000)
    for _ in range(4):  # a waits in JoinGroup for twice its session; b heartbeats
        shell.advance(SESSION_MS // 2)
        assert shell.heartbeat("g", b, gen) == E.REBALANCE_IN_PROGRESS
    b_join = shell.join("g", b)
    assert shell.answer(a_join).generation_id == shell.answer(b_join).generation_id == gen + 1


def test_leave_starts_a_rebalance_and_the_rest_carry_on() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    response = shell.leave("g", (b, None))
    assert response.error_code == E.NONE
    assert [(m.member_id, m.error_code) for m in response.members] == [(b, E.NONE)]
    assert shell.heartbeat("g", a, gen) == E.REBALANCE_IN_PROGRESS
    assert shell.answer(shell.join("g", a)).generation_id == gen + 1


def test_leave_errors_and_old_versions() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    response = shell.leave("g", ("nobody", None), ("", "no-instance"))
    assert [m.error_code for m in response.members] == [E.UNKNOWN_MEMBER_ID] * 2
    assert shell.leave("g", ("nobody", None), version=1).error_code == E.UNKNOWN_MEMBER_ID
    assert shell.leave("other", ("x", None), version=0).error_code == E.UNKNOWN_MEMBER_ID
    assert shell.leave("", ("x", None)).error_code == E.INVALID_GROUP_ID
    assert shell.leave("g", (a, None), version=0).error_code == E.NONE
    shell.advance(0)
    assert shell.coordinator.group_state("g") is GroupState.EMPTY


def test_leaving_pending_member_unblocks_the_rebalance() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    pending = shell.answer(shell.join()).member_id
    a_join = shell.join("g", a)  # the leader's rejoin rebalances; pending b blocks it
    assert shell.answer(a_join) is None
    shell.leave("g", (pending, None))
    assert shell.answer(a_join).generation_id == 2


def test_pending_member_expires_after_its_session_timeout() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    shell.answer(shell.join())  # MEMBER_ID_REQUIRED; never comes back
    a_join = shell.join("g", a)
    shell.advance(SESSION_MS - 1)
    assert shell.answer(a_join) is None
    shell.advance(1)
    assert shell.answer(a_join).generation_id == 2


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    a_id = shell.answer(shell.join()).member_id
    b_id = shell.answer(shell.join()).member_id
    a, b = shell.join("g", a_id), shell.join("g", b_id)
    shell.advance(200)  # the initial delay, extended once for b
    assert shell.answer(a).generation_id == shell.answer(b).generation_id == 1
    shell.sync("g", a_id, 1, {a_id: b"x", b_id: b"y"})
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    for _ in range(6):  # b heartbeats but never syncs
        shell.advance(5000)
        if shell.coordinator.group_state("g") is GroupState.STABLE:
            assert shell.heartbeat("g", b_id, 1) == E.NONE
            assert shell.heartbeat("g", a_id, 1) == E.NONE
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    assert shell.heartbeat("g", b_id, 1) == E.UNKNOWN_MEMBER_ID


def test_sync_errors() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    assert shell.answer(shell.sync("g", a, gen - 1)).error_code == E.ILLEGAL_GENERATION
    assert shell.answer(shell.sync("g", "x", 1)).error_code == E.UNKNOWN_MEMBER_ID
    assert shell.answer(shell.sync("nope", a, 1)).error_code == E.UNKNOWN_MEMBER_ID
    wrong = shell.sync("g", a, gen, protocol_name="roundrobin")
    assert shell.answer(wrong).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    missing = shell.sync("g", a, gen, protocol_name=None)
    assert shell.answer(missing).error_code == E.INCONSISTENT_GROUP_PROTOCOL
    old_version = shell.sync("g", a, gen, version=4, protocol_name=None)
    assert shell.answer(old_version).error_code == E.NONE
    shell.join("g", b)  # a follower changing nothing: no rebalance
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    shell.join("g", a)  # the leader rejoining rebalances
    assert shell.answer(shell.sync("g", b, gen)).error_code == E.REBALANCE_IN_PROGRESS


def test_heartbeat_errors() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    assert shell.heartbeat("g", a, 7) == E.ILLEGAL_GENERATION
    assert shell.heartbeat("g", "x", 1) == E.UNKNOWN_MEMBER_ID
    assert shell.heartbeat("nope", a, 1) == E.UNKNOWN_MEMBER_ID
    assert shell.heartbeat("", a, 1) == E.INVALID_GROUP_ID
    assert shell.heartbeat("g", a, 1, instance="i") == E.UNKNOWN_MEMBER_ID


def test_join_validation() -> None:
    shell = Shell()
    assert shell.answer(shell.join("")).error_code == E.INVALID_GROUP_ID
    assert shell.answer(shell.join(session=1000)).error_code == E.INVALID_SESSION_TIMEOUT
    assert shell.answer(shell.join(session=2_000_000)).error_code == E.INVALID_SESSION_TIMEOUT
    assert shell.answer(shell.join("g", "stranger")).error_code == E.UNKNOWN_MEMBER_ID
    empty = shell.answer(shell.join("h", protocols=[]))
    assert empty.error_code == E.INCONSISTENT_GROUP_PROTOCOL
    stable_group(shell, 1)
    other = shell.answer(shell.join(protocols=[("sticky", b"")]))
    assert other.error_code == E.INCONSISTENT_GROUP_PROTOCOL
    kind = shell.answer(shell.join(protocol_type="connect"))
    assert kind.error_code == E.INCONSISTENT_GROUP_PROTOCOL
    assert shell.answer(shell.join("g", "stranger")).error_code == E.UNKNOWN_MEMBER_ID


def test_old_clients_join_without_member_id_required() -> None:
    shell = Shell()
    answer = shell.answer(shell.join(version=3))
    assert answer.error_code == E.NONE and answer.generation_id == 1
    assert answer.leader == answer.member_id
    v0 = shell.answer(shell.join("h", version=0, session=SESSION_MS))
    assert v0.error_code == E.NONE and v0.protocol_name == "range"


def test_protocol_chosen_by_votes_among_common_protocols() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    prefs = [["range", "rr"], ["range", "rr"], ["rr", "range", "sticky"]]
    tokens = [shell.join(version=3, protocols=[(p, p.encode()) for p in ps]) for ps in prefs]
    shell.advance(100)  # new members came during the delay: wait one more
    assert shell.answer(tokens[0]) is None
    shell.advance(100)
    answers = [shell.answer(t) for t in tokens]
    assert {a.protocol_name for a in answers} == {"range"}
    [leader] = [a for a in answers if a.members]
    assert [m.metadata for m in leader.members] == [b"range"] * 3


def test_group_max_size() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=0, max_size=1))
    [a] = stable_group(shell, 1)
    full = shell.answer(shell.join())
    assert (full.error_code, full.member_id) == (E.GROUP_MAX_SIZE_REACHED, "")
    assert shell.answer(shell.join("g", a)).error_code == E.NONE


def test_a_second_join_while_waiting_answers_the_first() -> None:
    shell = Shell()
    a, b = stable_group(shell, 2)
    gen = generation(shell)
    first = shell.join("g", a)
    second = shell.join("g", a)
    assert shell.answer(first).error_code == E.REBALANCE_IN_PROGRESS
    assert shell.answer(second) is None
    shell.join("g", b)
    assert shell.answer(second).generation_id == gen + 1


def test_join_retry_during_completing_rebalance_gets_the_same_answer() -> None:
    shell = Shell()
    a_id = shell.answer(shell.join()).member_id
    first = shell.answer(shell.join("g", a_id))
    again = shell.answer(shell.join("g", a_id))
    assert again.generation_id == first.generation_id == 1
    assert again.members == first.members
    assert shell.coordinator.group_state("g") is GroupState.COMPLETING_REBALANCE


def test_commit_sync_and_heartbeat_move_the_session_deadline() -> None:
    shell = Shell()
    [a] = stable_group(shell, 1)
    assert shell.coordinator.next_deadline() == SESSION_MS
    shell.advance(4000)
    shell.heartbeat("g", a, 1)
    assert shell.coordinator.next_deadline() == 4000 + SESSION_MS


def test_describe_and_list_groups() -> None:
    from broker.wire.generated.describe_groups_request import DescribeGroupsRequest
    from broker.wire.generated.list_groups_request import ListGroupsRequest

    shell = Shell()
    a, b = stable_group(shell, 2)
    shell.join_new("h")
    described = shell.coordinator.describe_groups(
        DescribeGroupsRequest(groups=["g", "h", "nope"]), version=6
    )
    g, h, nope = described.groups
    assert (g.group_state, g.protocol_type, g.protocol_data) == ("Stable", "consumer", "range")
    assert [(m.member_id, m.member_assignment) for m in g.members] == [
        (a, a.encode()),
        (b, b.encode()),
    ]
    assert g.members[0].member_metadata == subscription("t")
    assert h.group_state == "CompletingRebalance" and h.members[0].member_metadata == b""
    assert (nope.error_code, nope.group_state) == (E.GROUP_ID_NOT_FOUND, "Dead")
    old = shell.coordinator.describe_group("nope", version=5)
    assert (old.error_code, old.group_state) == (E.NONE, "Dead")
    listed = shell.coordinator.list_groups(ListGroupsRequest(), version=5)
    assert [(x.group_id, x.group_state, x.group_type) for x in listed.groups] == [
        ("g", "Stable", "classic"),
        ("h", "CompletingRebalance", "classic"),
    ]
    stable = shell.coordinator.list_groups(ListGroupsRequest(states_filter=["stable"]), version=4)
    assert [x.group_id for x in stable.groups] == ["g"]
    modern = ListGroupsRequest(types_filter=["consumer"])
    assert shell.coordinator.list_groups(modern, version=5).groups == []
