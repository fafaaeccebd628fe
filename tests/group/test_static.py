"""Static membership (KIP-345): restarts without rebalances, and fencing."""

from __future__ import annotations

from typing import Any

from broker.group import ErrorCode, GroupConfig, GroupState
from tests.group.harness import SESSION_MS, Shell

E = ErrorCode


def static_group(shell: Shell, *instances: str, version: int = 9) -> dict[str, str]:
    """Static members (instance -> member id) joined in one generation, synced
    with the assignment ``b"part-<instance>"`` each."""
    tokens = {i: shell.join(instance=i, version=version) for i in instances}
    shell.advance(shell.config.initial_rebalance_delay_ms * 10)
    answers = {i: shell.answer(t) for i, t in tokens.items()}
    assert all(a.error_code == E.NONE for a in answers.values()), answers
    ids = {i: a.member_id for i, a in answers.items()}
    [leader] = [a for a in answers.values() if a.members]
    assignment = {m.member_id: f"part-{m.group_instance_id}".encode() for m in leader.members}
    gen = leader.generation_id
    for member_id in ids.values():
        shell.sync("g", member_id, gen, assignment if member_id == leader.member_id else None)
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    return ids


def restart(shell: Shell, instance: str, **kwargs: Any) -> Any:
    return shell.answer(shell.join(instance=instance, **kwargs))


def test_static_member_restart_keeps_its_assignment_without_rebalance() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    gen = shell.coordinator.snapshot()["g"].generation_id
    persisted_before = len(shell.log)
    answer = restart(shell, "i2", version=8)
    new_id = answer.member_id
    assert answer.error_code == E.NONE and new_id != ids["i2"] and new_id.startswith("i2-")
    assert answer.generation_id == gen and answer.members == []
    assert shell.coordinator.group_state("g") is GroupState.STABLE
    assert len(shell.log) == persisted_before + 1  # the new member id is recorded
    sync = shell.answer(shell.sync("g", new_id, gen, instance="i2"))
    assert (sync.error_code, sync.assignment) == (E.NONE, b"part-i2")
    assert shell.heartbeat("g", ids["i1"], gen, instance="i1") == E.NONE
    # The old process, if still alive, is fenced.
    assert shell.heartbeat("g", ids["i2"], gen, instance="i2") == E.FENCED_INSTANCE_ID
    assert shell.heartbeat("g", ids["i2"], gen) == E.UNKNOWN_MEMBER_ID
    old_sync = shell.answer(shell.sync("g", ids["i2"], gen, instance="i2"))
    assert old_sync.error_code == E.FENCED_INSTANCE_ID
    old_commit = shell.commit(
        "g", {("t", 0): 1}, member_id=ids["i2"], generation=gen, instance="i2"
    )
    assert shell.commit_errors(old_commit) == {("t", 0): E.FENCED_INSTANCE_ID}
    fenced = shell.answer(shell.join("g", ids["i2"], instance="i2"))
    assert fenced.error_code == E.FENCED_INSTANCE_ID


def test_restarted_static_leader_is_told_the_old_leader_before_v9() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    snapshot = shell.coordinator.snapshot()["g"]
    leader_instance = next(i for i, m in ids.items() if m == snapshot.leader_id)
    old = restart(shell, leader_instance, version=8)
    assert old.leader == ids[leader_instance] != old.member_id
    assert old.members == [] and not old.skip_assignment


def test_restarted_static_leader_skips_assignment_from_v9() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    snapshot = shell.coordinator.snapshot()["g"]
    leader_instance = next(i for i, m in ids.items() if m == snapshot.leader_id)
    new = restart(shell, leader_instance, version=9)
    assert new.leader == new.member_id and new.skip_assignment
    assert {m.group_instance_id for m in new.members} == {"i1", "i2"}
    assert shell.coordinator.group_state("g") is GroupState.STABLE


def test_static_restart_that_changes_the_protocol_rebalances() -> None:
    shell = Shell()
    both = [("range", b"r"), ("rr", b"x")]
    first = shell.answer(shell.join(instance="i1", protocols=both))
    shell.sync("g", first.member_id, 1, {first.member_id: b"a"}, instance="i1")
    rejoin = shell.join(instance="i1", protocols=[("rr", b"x")])
    # A single member: its new JoinGroup completes the rebalance at once.
    answer = shell.answer(rejoin)
    assert (answer.generation_id, answer.protocol_name) == (2, "rr")


def test_static_members_that_do_not_rejoin_stay_through_the_rebalance() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "s1", "s2")
    gen = shell.coordinator.snapshot()["g"].generation_id
    start = shell.now
    newcomer = shell.join_new(session=60_000)
    shell.join("g", ids["s1"], instance="s1")
    while shell.answer(newcomer) is None:  # s2 stays alive, never rejoins
        shell.advance(5000)
        if shell.answer(newcomer) is None:
            assert shell.heartbeat("g", ids["s2"], gen, instance="s2") == E.REBALANCE_IN_PROGRESS
    assert shell.now - start == 30_000  # the rebalance timeout
    assert shell.answer(newcomer).generation_id == gen + 1
    members = [m.member_id for m in shell.coordinator.snapshot()["g"].members]
    assert ids["s2"] in members  # a dynamic member would have been dropped


def test_admin_removes_a_static_member_by_instance_id() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    response = shell.leave("g", ("", "i2"), ("", "ghost"))
    assert [(m.group_instance_id, m.error_code) for m in response.members] == [
        ("i2", E.NONE),
        ("ghost", E.UNKNOWN_MEMBER_ID),
    ]
    fenced = shell.leave("g", ("not-i1", "i1"))
    assert fenced.members[0].error_code == E.FENCED_INSTANCE_ID
    assert [m.member_id for m in shell.coordinator.snapshot()["g"].members] == [ids["i1"]]


def test_static_member_session_expiry_removes_it() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    gen = shell.coordinator.snapshot()["g"].generation_id
    for _ in range(4):
        shell.advance(SESSION_MS // 3)
        shell.heartbeat("g", ids["i1"], gen, instance="i1")
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    assert [m.member_id for m in shell.coordinator.snapshot()["g"].members] == [ids["i1"]]


def test_a_failed_write_undoes_the_static_restart() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    ids = static_group(shell, "i1", "i2")
    gen = shell.coordinator.snapshot()["g"].generation_id
    shell.auto_persist = False
    token = shell.join(instance="i2")
    assert shell.answer(token) is None
    shell.ack(error=E.NOT_LEADER_OR_FOLLOWER)
    answer = shell.answer(token)
    assert (answer.error_code, answer.member_id) == (E.NOT_COORDINATOR, "")
    assert shell.heartbeat("g", ids["i2"], gen, instance="i2") == E.NONE


def test_static_restart_during_completing_rebalance_starts_over() -> None:
    shell = Shell(GroupConfig(initial_rebalance_delay_ms=100))
    tokens = [shell.join(instance=i) for i in ("i1", "i2")]
    shell.advance(1000)
    assert shell.coordinator.group_state("g") is GroupState.COMPLETING_REBALANCE
    waiting_sync = shell.sync("g", shell.answer(tokens[1]).member_id, 1, instance="i2")
    again = shell.join(instance="i2")
    # The old id's SyncGroup is fenced, and the group rebalances.
    assert shell.answer(waiting_sync).error_code == E.FENCED_INSTANCE_ID
    assert shell.coordinator.group_state("g") is GroupState.PREPARING_REBALANCE
    shell.join("g", shell.answer(tokens[0]).member_id, instance="i1")
    assert shell.answer(again).generation_id == 2
