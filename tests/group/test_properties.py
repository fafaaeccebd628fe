"""Random interleavings of client requests and time keep the group's invariants.

Four clients (two dynamic, two static) join, sync, heartbeat, commit, leave
and restart at random, while time advances in random steps and some writes
fail. After every step: the leader is a member (and there is one exactly
when there are members), generations never go back, at most one member per
generation is asked to compute an assignment, a member is only ever handed
its own assignment, and every request is either answered or counted as
waiting. At the end the log replays to the same durable state, and once the
clients leave every request has been answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.group import ErrorCode, GroupCoordinator, GroupState
from broker.wire.generated.join_group_response import JoinGroupResponse
from broker.wire.generated.sync_group_response import SyncGroupResponse
from tests.group.harness import TEST_CONFIG, Shell, subscription

E = ErrorCode
GROUP = "g"
PROTOCOLS = [
    [("range", subscription("t"))],
    [("range", subscription("t")), ("rr", subscription("t"))],
    [("rr", subscription("u")), ("range", subscription("u"))],
]
INSTANCES = [None, None, "static-2", "static-3"]


@dataclass
class Client:
    instance: str | None
    member_id: str = ""
    generation: int = -1
    protocol: str = "range"
    needs: str = "join"  # what a well-behaved consumer would send next
    leader_of: list[tuple[str, str | None]] = field(default_factory=list)
    tokens: dict[int, tuple[str, str]] = field(default_factory=dict)  # token -> (api, member id)


@dataclass
class World:
    shell: Shell
    clients: list[Client]
    generation: int = -1
    assigners: dict[int, set[str]] = field(default_factory=dict)
    failures: int = 0
    # Requests of clients that restarted since: still checked, no longer acted on.
    orphans: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)


def identity(member_id: str, instance: str | None) -> bytes:
    return f"part-{instance or member_id}".encode()


def process_answers(world: World) -> None:
    for client in world.clients:
        for token, (api, member_id) in list(client.tokens.items()):
            response = world.shell.answer(token)
            if response is None:
                continue
            del client.tokens[token]
            if api == "join":
                check_join(world, response)
                on_join(client, response)
            elif api == "sync":
                check_assignment(response, member_id, client.instance)
                on_sync(client, response)
    for token, (api, member_id, instance) in list(world.orphans.items()):
        response = world.shell.answer(token)
        if response is not None:
            del world.orphans[token]
            if api == "join":
                check_join(world, response)
            elif api == "sync":
                check_assignment(response, member_id, instance)


def check_join(world: World, response: JoinGroupResponse) -> None:
    """At most one member per generation is asked to compute the assignment."""
    if response.error_code == E.NONE:
        assert response.leader
        if response.members and not response.skip_assignment:
            assigners = world.assigners.setdefault(response.generation_id, set())
            assigners.add(response.member_id)
            assert len(assigners) == 1, f"two assigners in generation {response.generation_id}"


def on_join(client: Client, response: JoinGroupResponse) -> None:
    client.needs = "sync" if response.error_code == E.NONE else "join"
    if response.error_code == E.NONE:
        client.member_id = response.member_id
        client.generation = response.generation_id
        client.protocol = response.protocol_name or "range"
        client.leader_of = []
        if response.members and not response.skip_assignment:
            client.leader_of = [(m.member_id, m.group_instance_id) for m in response.members]
    elif response.error_code == E.MEMBER_ID_REQUIRED:
        client.member_id = response.member_id
    elif response.error_code in (E.UNKNOWN_MEMBER_ID, E.FENCED_INSTANCE_ID):
        client.member_id, client.generation = "", -1


def check_assignment(response: SyncGroupResponse, member_id: str, instance: str | None) -> None:
    """A member is only ever handed its own part (or nothing)."""
    if response.error_code == E.NONE:
        assert response.assignment in (b"", identity(member_id, instance))


def on_sync(client: Client, response: SyncGroupResponse) -> None:
    client.needs = "heartbeat" if response.error_code == E.NONE else "join"
    if response.error_code in (E.UNKNOWN_MEMBER_ID, E.FENCED_INSTANCE_ID):
        client.member_id, client.generation = "", -1


def check(world: World) -> None:
    coordinator = world.shell.coordinator
    view = coordinator.snapshot().get(GROUP)
    if view is None:
        world.generation = -1
        world.assigners.clear()
    else:
        ids = [m.member_id for m in view.members]
        assert (view.leader_id is None) == (not ids)
        assert view.leader_id is None or view.leader_id in ids
        assert len(set(ids)) == len(ids)
        instances = [m.group_instance_id for m in view.members if m.group_instance_id]
        assert len(set(instances)) == len(instances)
        assert view.generation_id >= world.generation
        world.generation = view.generation_id
        if view.state in (GroupState.STABLE, GroupState.COMPLETING_REBALANCE):
            assert view.protocol_name is not None and ids
    waiting = sum(len(c.tokens) for c in world.clients) + len(world.orphans)
    assert coordinator.statistics().waiting_requests == waiting


def step(world: World, op: tuple[Any, ...]) -> None:
    shell = world.shell
    kind = op[0]
    if kind == "advance":
        shell.advance(op[1])
        return
    if kind == "round":  # every consumer takes its next step
        for slot in range(len(world.clients)):
            step(world, ("act", slot, op[1]))
            process_answers(world)
        return
    if kind == "fail":
        shell.fail_next = E.NOT_LEADER_OR_FOLLOWER
        world.failures += 1
        return
    client = world.clients[op[1]]
    if kind == "act":  # the next step of a consumer's life, unless it is waiting
        if client.tokens:
            return
        kind = client.needs
        op = (kind, op[1], 9, op[2], True)
    if kind == "restart":
        for token, (api, member_id) in client.tokens.items():
            world.orphans[token] = (api, member_id, client.instance)
        client.tokens.clear()
        client.member_id, client.generation = "", -1
        kind = "join"
    if kind == "join":
        version = 9 if client.instance else op[2]
        token = shell.join(
            GROUP,
            client.member_id,
            version=version,
            instance=client.instance,
            protocols=PROTOCOLS[op[3]],
        )
        client.tokens[token] = ("join", client.member_id)
    elif kind == "sync":
        assignments = None
        if client.leader_of and op[-1]:
            assignments = {m: identity(m, i) for m, i in client.leader_of}
        token = shell.sync(
            GROUP,
            client.member_id,
            client.generation,
            assignments,
            instance=client.instance,
            protocol_name=client.protocol,
        )
        client.tokens[token] = ("sync", client.member_id)
    elif kind == "heartbeat":
        code = shell.heartbeat(GROUP, client.member_id, client.generation, instance=client.instance)
        if code != E.NONE:
            client.needs = "join"
        if code in (E.UNKNOWN_MEMBER_ID, E.FENCED_INSTANCE_ID):
            client.member_id, client.generation = "", -1
    elif kind == "commit":
        shell.commit(
            GROUP,
            {("t", op[1]): op[2]},
            member_id=client.member_id,
            generation=client.generation,
            instance=client.instance,
        )
    elif kind == "leave":
        shell.leave(GROUP, (client.member_id, client.instance))
        client.needs = "join"


slots = st.integers(0, len(INSTANCES) - 1)
chaos = [
    st.tuples(st.just("join"), slots, st.sampled_from([3, 5, 9]), st.integers(0, 2)),
    st.tuples(st.just("restart"), slots, st.sampled_from([3, 9]), st.integers(0, 2)),
    st.tuples(st.just("sync"), slots, st.booleans()),
    st.tuples(st.just("heartbeat"), slots),
    st.tuples(st.just("commit"), slots, st.integers(0, 100)),
    st.tuples(st.just("leave"), slots),
    st.tuples(st.just("advance"), st.sampled_from([0, 6000, 11_000, 31_000])),
    st.tuples(st.just("fail")),
]
# Mostly consumers behaving (and time passing a little), with some chaos.
behaving = [
    st.tuples(st.just("act"), slots, st.integers(0, 2)),
    st.tuples(st.just("round"), st.integers(0, 2)),
    st.tuples(st.just("advance"), st.sampled_from([100, 1000, 3000])),
]
calm = st.one_of(*(behaving * 20), *chaos)  # groups mostly settle between upsets
stormy = st.one_of(*(behaving * 2), *chaos)  # clients rarely get anywhere


def replays_to_the_same_state(shell: Shell) -> None:
    fresh: GroupCoordinator[int] = GroupCoordinator(TEST_CONFIG, lambda: "x")
    for record in shell.log:
        fresh.replay(record.key, record.value)
    fresh.load_complete(shell.now)
    live = shell.coordinator.snapshot()
    replayed = fresh.snapshot()
    for group_id, view in live.items():
        if view.state in (GroupState.STABLE, GroupState.EMPTY):
            assert replayed.get(group_id) == view
    assert set(replayed) <= set(live)


def run(ops: list[tuple[Any, ...]]) -> None:
    world = World(Shell(TEST_CONFIG), [Client(i) for i in INSTANCES])
    for op in ops:
        step(world, op)
        process_answers(world)
        check(world)
    if world.failures == 0:
        replays_to_the_same_state(world.shell)
    for client in world.clients:
        if client.member_id:
            world.shell.leave(GROUP, (client.member_id, client.instance))
        process_answers(world)
    for _ in range(12):
        world.shell.advance(31_000)
        process_answers(world)
        check(world)
    unanswered = [t for c in world.clients for t in c.tokens] + list(world.orphans)
    assert unanswered == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(calm, min_size=30, max_size=100))
def test_mostly_orderly_consumers_keep_the_invariants(ops: list[tuple[Any, ...]]) -> None:
    run(ops)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(stormy, max_size=60))
def test_chaotic_clients_keep_the_invariants(ops: list[tuple[Any, ...]]) -> None:
    run(ops)
