"""Consumer groups with real clients: members joining, leaving, dying; broker restarts;
mixed clients; kcat's balanced consumer; rebalance times.

Every member is a process of its own (``compat/groups_member.py`` for
kafka-python, aiokafka and confluent-kafka, ``compat/node/group-member.js``
for KafkaJS) that commits synchronously after each batch it processes and
reports, record by record, what it processed and which commits succeeded
(``compat/groups_harness.py``). The checks: every produced record is
processed; none is processed again after a processing whose commit
succeeded (a re-read is only allowed for a processing whose commit did not
happen: a killed member, a commit refused in a rebalance); at the end the
group's committed offsets are the partitions' end offsets.

The broker runs with ``group.initial.rebalance.delay.ms=0``; members use a
6 s session timeout (the broker's ``group.min.session.timeout.ms``) and
1 s heartbeats. Rebalance times are printed (``pytest -s`` or ``-rP``) and
recorded in ``docs/groups-compat.md``.
"""

from __future__ import annotations

import contextlib
import logging
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka import KafkaAdminClient

from compat import tools
from compat.broker_process import BrokerProcess
from compat.groups_harness import (
    ALL_CLIENTS,
    Member,
    MemberConfig,
    Members,
    balanced,
    check_exactly_once,
    count_processed,
    fully_committed,
    settle_time,
    wait_until,
)

PARTITIONS = 6
SESSION_MS = 6000
HEARTBEAT_MS = 1000
# After a member's death: its session runs out (at most SESSION_MS after its
# last heartbeat), the survivors learn of the rebalance at their next
# heartbeat, rejoin and sync. The margin covers a loaded 2-core machine.
KILL_BOUND_MS = SESSION_MS + HEARTBEAT_MS + 2500
GROUP_WAIT_S = 30.0

GROUP_APIS = (
    "Metadata",
    "Produce",
    "Fetch",
    "FindCoordinator",
    "JoinGroup",
    "SyncGroup",
    "Heartbeat",
    "LeaveGroup",
    "OffsetCommit",
    "OffsetFetch",
)
pytestmark = pytest.mark.apis(*GROUP_APIS)

_LOG = logging.getLogger("compat.test_groups")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    """This module's broker (it replaces conftest's): 6 partitions per topic."""
    proc = BrokerProcess(
        tmp_path_factory.mktemp("groups") / "data",
        num_partitions=PARTITIONS,
        overrides={"group.initial.rebalance.delay.ms": "0"},
    )
    try:
        proc.start()
        yield proc
        if proc.running():
            proc.stop()
    finally:
        proc.close()


@pytest.fixture
def members(tmp_path: Path) -> Iterator[Members]:
    started = Members(tmp_path)
    try:
        yield started
    finally:
        started.close()


@contextlib.contextmanager
def explained(members: Members) -> Iterator[None]:
    """On failure, print every member's state (pytest shows a failed test's stdout)."""
    try:
        yield
    except BaseException:
        print("== members ==")
        print(members.describe())
        print("events:", " ".join(str(p) for p in members.dump_events()))
        raise


@pytest.fixture
def names(request: pytest.FixtureRequest) -> tuple[str, str]:
    """A topic and a group of this test's own."""
    base = re.sub(r"[^a-zA-Z0-9.-]", "-", request.node.name)[:150]
    stamp = f"{int(time.time() * 1000) % 10**8}"
    return f"groups.{base}.{stamp}", f"group.{base}.{stamp}"


# -- data and the group's state as the broker reports it -------------------------------


def produce_keyed(bootstrap: str, topic: str, label: str, count: int) -> dict[tuple[int, int], str]:
    """``count`` records round-robin over the partitions, acks=all: {(partition, offset): key}."""
    producer = Producer(
        {
            "logger": _LOG,
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "message.timeout.ms": 20_000,
            "reconnect.backoff.max.ms": 500,
        }
    )
    out: dict[tuple[int, int], str] = {}
    errors: list[Any] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)
        else:
            out[(msg.partition(), msg.offset())] = msg.key().decode()

    for i in range(count):
        producer.produce(
            topic,
            key=f"{label}-{i}".encode(),
            value=f"value {label} {i}".encode(),
            partition=i % PARTITIONS,
            on_delivery=delivered,
        )
    left = producer.flush(30)
    assert left == 0 and not errors, f"{left} undelivered, errors {errors[:3]}"
    assert len(out) == count
    return out


def create_topic(bootstrap: str, topic: str) -> None:
    """Auto-create ``topic`` (a producer's Metadata request) with 6 partitions."""
    producer = Producer({"logger": _LOG, "bootstrap.servers": bootstrap})
    metadata = producer.list_topics(topic, timeout=10)
    described = metadata.topics[topic]
    assert described.error is None and len(described.partitions) == PARTITIONS, described


@contextlib.contextmanager
def admin(bootstrap: str) -> Iterator[Any]:
    client = KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="compat-groups-admin", request_timeout_ms=10_000
    )
    try:
        yield client
    finally:
        client.close()


def committed_offsets(bootstrap: str, group: str) -> dict[int, int]:
    with admin(bootstrap) as client:
        found = client.list_group_offsets(group)[group]
    return {tp.partition: meta.offset for tp, meta in found.items()}


def describe_group(bootstrap: str, group: str) -> dict[str, Any]:
    with admin(bootstrap) as client:
        described: dict[str, Any] = client.describe_groups([group])[group]
    return described


def end_offsets(produced: Mapping[tuple[int, int], str]) -> dict[int, int]:
    out: dict[int, int] = {}
    for partition, offset in produced:
        out[partition] = max(out.get(partition, 0), offset + 1)
    return out


def check_final_commit(bootstrap: str, group: str, produced: Mapping[tuple[int, int], str]) -> None:
    """After every member left: the group is Empty and its committed offsets
    are the end of every partition (OffsetFetch, DescribeGroups)."""
    assert committed_offsets(bootstrap, group) == end_offsets(produced)
    described = describe_group(bootstrap, group)
    assert described["error"] is None, described
    assert described["group_state"] == "Empty", described
    assert described["members"] == [], described


def member(
    members: Members,
    client: str,
    broker: BrokerProcess,
    names: tuple[str, str],
    name: str,
    **options: Any,
) -> Member:
    topic, group = names
    return members.start(
        MemberConfig(
            client=client,
            bootstrap=broker.bootstrap,
            topic=topic,
            group=group,
            name=name,
            session_ms=SESSION_MS,
            heartbeat_ms=HEARTBEAT_MS,
            **options,
        )
    )


def wait_done(
    members: Members,
    produced: Mapping[tuple[int, int], str],
    broker: BrokerProcess,
    group: str,
    timeout_s: float = GROUP_WAIT_S,
) -> None:
    """Wait until every record is processed and the group's committed offsets
    reach the end of every partition. (A killed member's last commit may have
    been stored without the member living to say so: the broker's offsets
    are what counts.)"""
    wanted = end_offsets(produced)
    deadline = time.monotonic() + timeout_s
    processed = count_processed(members)
    wait_until(
        lambda: processed() >= len(produced),
        timeout_s,
        f"all {len(produced)} records processed",
        members=members,
    )
    last: dict[int, int] = {}
    with admin(broker.bootstrap) as client:

        def at_end() -> bool:
            nonlocal last
            found = client.list_group_offsets(group)[group]
            last = {tp.partition: meta.offset for tp, meta in found.items()}
            return last == wanted

        try:
            wait_until(
                at_end,
                max(1.0, deadline - time.monotonic()),
                "committed offsets at the end of every partition",
                members=members,
                interval_s=0.2,
            )
        except AssertionError:
            print(f"committed offsets {last}, end offsets {wanted}")
            raise


def finish(
    members: Members,
    produced: Mapping[tuple[int, int], str],
    broker: BrokerProcess,
    group: str,
    timeout_s: float = GROUP_WAIT_S,
) -> None:
    """``wait_done``, stop the live members cleanly, and run the checks."""
    wait_done(members, produced, broker, group, timeout_s)
    members.stop_live()
    outcome = check_exactly_once(produced, members.processings(), members.committed())
    print(f"{group}: {outcome}")
    check_final_commit(broker.bootstrap, group, produced)


def count_committed(members: Members) -> Callable[[], int]:
    """A probe: how many distinct records have a processing whose commit succeeded."""

    def probe() -> int:
        committed = members.committed()
        return len(
            {
                (p.partition, p.offset)
                for p in members.processings()
                if p.batch in committed[p.member]
            }
        )

    return probe


def assignment_changes(m: Member) -> int:
    return sum(1 for e in m.snapshot() if e["ev"] == "assignment")


# -- 1. members join and leave ----------------------------------------------------------


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_join_and_leave(
    broker: BrokerProcess, members: Members, names: tuple[str, str], client: str
) -> None:
    """Three members of one client share 600 records of a 6-partition topic:
    one starts, two join while it reads, the first leaves cleanly mid-way;
    every record is processed, none again after its commit."""
    topic, group = names
    produced = produce_keyed(broker.bootstrap, topic, "jl", 600)
    with explained(members):
        first = member(members, client, broker, names, f"{client}-1", delay_ms=10)
        wait_until(
            lambda: count_processed(members)() >= 100,
            GROUP_WAIT_S,
            "100 processed",
            members=members,
        )
        joined = [
            member(members, client, broker, names, f"{client}-{i}", delay_ms=10) for i in (2, 3)
        ]
        wait_until(
            lambda: balanced([first, *joined], PARTITIONS),
            GROUP_WAIT_S,
            "three members sharing the partitions",
            members=members,
        )
        assert count_processed(members)() < len(produced), "joined too late to share the work"
        subscribed = max(m.first_time("subscribe") for m in joined)
        join_ms = settle_time([first, *joined], PARTITIONS, subscribed) - subscribed
        first.stop()
        wait_until(
            lambda: balanced(joined, PARTITIONS),
            GROUP_WAIT_S,
            "two members sharing the partitions",
            members=members,
        )
        assert first.stopped_at is not None
        leave_ms = settle_time(joined, PARTITIONS, first.stopped_at) - first.stopped_at
        print(
            f"rebalance timing [{client}] 2 members join a busy member -> 3 assigned "
            f"{join_ms:.0f} ms; 1 stops cleanly -> 2 assigned {leave_ms:.0f} ms"
        )
        finish(members, produced, broker, group)


# -- 2 and 6. a 4th member joins; a member is SIGKILLed ------------------------------------


@pytest.mark.parametrize("client", ALL_CLIENTS)
def test_join_and_kill_timing(
    broker: BrokerProcess, members: Members, names: tuple[str, str], client: str
) -> None:
    """Three members share the topic; a 4th joins (time until all four hold
    their new assignments); one is SIGKILLed while it processes (its
    partitions must go to the survivors within its session timeout plus
    a heartbeat and a margin); the survivors finish from its commits."""
    topic, group = names
    phase1 = produce_keyed(broker.bootstrap, topic, "p1", 300)
    with explained(members):
        three = [
            member(members, client, broker, names, f"{client}-{i}", delay_ms=5) for i in (1, 2, 3)
        ]
        wait_until(
            lambda: balanced(three, PARTITIONS) and fully_committed(phase1, members)(),
            GROUP_WAIT_S,
            "three members balanced, the first 300 records committed",
            members=members,
        )
        fourth = member(members, client, broker, names, f"{client}-4", delay_ms=5)
        four = [*three, fourth]
        wait_until(
            lambda: balanced(four, PARTITIONS),
            GROUP_WAIT_S,
            "four members balanced",
            members=members,
        )
        joined_at = fourth.first_time("subscribe")
        join_ms = settle_time(four, PARTITIONS, joined_at) - joined_at

        phase2 = produce_keyed(broker.bootstrap, topic, "p2", 300)
        victim = three[0]
        wait_until(
            lambda: any(p.key and p.key.startswith("p2-") for p in victim.processings()),
            GROUP_WAIT_S,
            f"{victim.name} processing new records",
            members=members,
        )
        killed_at = victim.kill()
        survivors = [m for m in four if m is not victim]
        wait_until(
            lambda: balanced(survivors, PARTITIONS),
            KILL_BOUND_MS / 1000 + 10,
            "survivors owning every partition",
            members=members,
        )
        kill_ms = settle_time(survivors, PARTITIONS, killed_at) - killed_at

        print(
            f"rebalance timing [{client}] session {SESSION_MS} ms, heartbeat {HEARTBEAT_MS} ms: "
            f"4th member joins -> all 4 assigned {join_ms:.0f} ms; "
            f"member SIGKILLed -> 3 survivors own all partitions {kill_ms:.0f} ms"
        )
        assert join_ms < SESSION_MS, f"a join took {join_ms:.0f} ms"
        assert kill_ms <= KILL_BOUND_MS, (
            f"partitions of the killed member reassigned after {kill_ms:.0f} ms "
            f"(session timeout {SESSION_MS} ms, bound {KILL_BOUND_MS} ms)"
        )
        finish(members, {**phase1, **phase2}, broker, group)


# -- 4. mixed clients ---------------------------------------------------------------------


def test_mixed_clients(broker: BrokerProcess, members: Members, names: tuple[str, str]) -> None:
    """kafka-python (assignors range, roundrobin), aiokafka (roundrobin) and
    confluent-kafka (range, roundrobin) in one group, with their default
    assignors: the broker must choose the one protocol all support,
    roundrobin; members join and leave as in test_join_and_leave.
    DescribeGroups and ListGroups agree with the members; DeleteGroups
    removes the group and its offsets at the end."""
    topic, group = names
    produced = produce_keyed(broker.bootstrap, topic, "mixed", 600)
    with explained(members):
        first = member(members, "kafka-python", broker, names, "mixed-kafka-python", delay_ms=10)
        wait_until(
            lambda: count_processed(members)() >= 100,
            GROUP_WAIT_S,
            "100 processed",
            members=members,
        )
        others = [
            member(members, client, broker, names, f"mixed-{client}", delay_ms=10)
            for client in ("aiokafka", "confluent-kafka")
        ]
        three = [first, *others]
        wait_until(
            lambda: balanced(three, PARTITIONS),
            GROUP_WAIT_S,
            "three members balanced",
            members=members,
        )
        described = describe_group(broker.bootstrap, group)
        assert described["protocol_type"] == "consumer"
        assert described["protocol_data"] == "roundrobin", described
        assert described["group_state"] == "Stable", described
        stored = {
            m["client_id"]: sorted(
                p for t in m["member_assignment"]["assigned_partitions"] for p in t["partitions"]
            )
            for m in described["members"]
        }
        reported = {m.name: sorted(m.assignment() or ()) for m in three}
        assert stored == reported, "DescribeGroups disagrees with the members' assignments"
        with admin(broker.bootstrap) as client:
            listed = {g["group_id"]: g for g in client.list_groups()}
        assert listed[group]["protocol_type"] == "consumer"
        assert listed[group]["group_state"] == "Stable", listed[group]
        first.stop()
        wait_until(
            lambda: balanced(others, PARTITIONS),
            GROUP_WAIT_S,
            "two members balanced",
            members=members,
        )
        finish(members, produced, broker, group)

    # DeleteGroups on the Empty group: its offsets and the group are gone.
    with admin(broker.bootstrap) as client:
        assert client.delete_groups([group]) == {group: "OK"}
        assert client.list_group_offsets(group) == {group: {}}
        assert client.describe_groups([group])[group]["group_state"] == "Dead"
        assert group not in {g["group_id"] for g in client.list_groups()}


def test_kafkajs_cannot_join_a_range_group(
    broker: BrokerProcess, members: Members, names: tuple[str, str]
) -> None:
    """KafkaJS names its assignor "RoundRobinAssigner", which no other client
    offers: joining a group of kafka-python members (range, roundrobin) it is
    refused INCONSISTENT_GROUP_PROTOCOL, and the group is left undisturbed."""
    topic, group = names
    produce_keyed(broker.bootstrap, topic, "nomix", 60)
    with explained(members):
        python = member(members, "kafka-python", broker, names, "nomix-kafka-python")
        wait_until(
            lambda: python.assignment() == frozenset(range(PARTITIONS)),
            GROUP_WAIT_S,
            "kafka-python member owning every partition",
            members=members,
        )
        changes = sum(1 for e in python.snapshot() if e["ev"] == "assignment")
        kafkajs = member(members, "kafkajs", broker, names, "nomix-kafkajs")
        kafkajs.wait_for(
            lambda evs: any(
                e["ev"] == "client_error" and e.get("type") == "INCONSISTENT_GROUP_PROTOCOL"
                for e in evs
            ),
            GROUP_WAIT_S,
            "KafkaJS refused with INCONSISTENT_GROUP_PROTOCOL",
        )
        kafkajs.kill()
        assert sum(1 for e in python.snapshot() if e["ev"] == "assignment") == changes, (
            "the refused join disturbed the group"
        )
        assert kafkajs.assignment() is None
        described = describe_group(broker.bootstrap, group)
        assert described["group_state"] == "Stable"
        assert [m["client_id"] for m in described["members"]] == ["nomix-kafka-python"]
        python.stop()


# -- 5. kcat's balanced consumer --------------------------------------------------------

_KCAT_REBALANCE = re.compile(r"rebalanced \(memberid [^)]*\): (assigned|revoked): (.*)$")


class KcatMember:
    """``kcat -G``: records as JSON lines on stdout, rebalances on stderr."""

    def __init__(self, bootstrap: str, topic: str, group: str, workdir: Path, name: str) -> None:
        kcat = tools.require_tool("kcat", tools.kcat_path())
        self.out = workdir / f"{name}.out"
        self.err = workdir / f"{name}.err"
        self.topic = topic
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [kcat, "-b", bootstrap, "-G", group, "-J", "-u",
                 "-X", f"client.id={name}",
                 "-X", "auto.offset.reset=earliest",
                 "-X", f"session.timeout.ms={SESSION_MS}",
                 "-X", f"heartbeat.interval.ms={HEARTBEAT_MS}",
                 topic],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True,
            )  # fmt: skip

    def assignment(self) -> frozenset[int] | None:
        owned: set[int] | None = None
        for line in self.err.read_text(errors="replace").splitlines():
            found = _KCAT_REBALANCE.search(line)
            if found is None:
                continue
            parts = {int(p) for p in re.findall(rf"{re.escape(self.topic)} \[(\d+)\]", line)}
            owned = owned or set()
            owned = owned | parts if found.group(1) == "assigned" else owned - parts
        return None if owned is None else frozenset(owned)

    def records(self) -> list[tuple[int, int, str]]:
        import json

        out = []
        for line in self.out.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                doc = json.loads(line)
                out.append((doc["partition"], doc["offset"], doc["key"]))
        return out

    def stop(self) -> None:
        """SIGTERM: kcat closes its consumer (commits, leaves the group) and exits 0."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("kcat -G still running 15 s after SIGTERM") from None
        assert code == 0, f"kcat -G exited {code}: {self.err.read_text()[-2000:]}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_kcat_balanced_consumers(
    broker: BrokerProcess, names: tuple[str, str], tmp_path: Path
) -> None:
    """Two ``kcat -G`` processes in one group split the partitions and
    together read every record once; on SIGTERM they commit and leave."""
    topic, group = names
    create_topic(broker.bootstrap, topic)  # consumers do not auto-create topics
    kcats = [KcatMember(broker.bootstrap, topic, group, tmp_path, f"kcat-{i}") for i in (1, 2)]
    try:

        def split() -> bool:
            owned = [k.assignment() for k in kcats]
            return all(owned) and sorted(p for a in owned if a for p in a) == list(
                range(PARTITIONS)
            )

        wait_until(split, GROUP_WAIT_S, "two kcat -G members sharing the partitions")
        produced = produce_keyed(broker.bootstrap, topic, "kcat", 300)
        wait_until(
            lambda: len({(p, o) for k in kcats for p, o, _ in k.records()}) >= len(produced),
            GROUP_WAIT_S,
            "every record read",
        )
        owned = [k.assignment() for k in kcats]
        for k in kcats:
            k.stop()
        read = [r for k in kcats for r in k.records()]
        assert sorted(read) == sorted((p, o, key) for (p, o), key in produced.items()), (
            "the two kcat -G members did not read every record exactly once"
        )
        for k, mine in zip(kcats, owned, strict=True):
            assert mine, "a kcat -G member without partitions"
            assert {p for p, _, _ in k.records()} <= mine, "read outside its assignment"
        check_final_commit(broker.bootstrap, group, produced)
    finally:
        for k in kcats:
            k.close()


# -- 3. broker restarts ---------------------------------------------------------------------


@pytest.mark.parametrize("hard", [False, True], ids=["sigterm", "sigkill"])
def test_broker_restart(
    broker: BrokerProcess, members: Members, names: tuple[str, str], hard: bool
) -> None:
    """A kafka-python and a confluent-kafka member (range assignor) share 400
    records; the broker restarts (SIGTERM or SIGKILL, data kept) while they
    process and commit. They carry on, and no record whose commit succeeded
    is read again. Then they leave, 100 more records arrive, the broker
    restarts again, and two new members read exactly those 100: the group
    resumed from the offsets committed before the restart."""
    topic, group = names
    clients: Sequence[str] = ("kafka-python", "confluent-kafka")
    during = produce_keyed(broker.bootstrap, topic, "during", 400)
    with explained(members):
        pair = [
            member(members, c, broker, names, f"restart-{c}", delay_ms=10, assignors=["range"])
            for c in clients
        ]
        committed = count_committed(members)
        wait_until(
            lambda: balanced(pair, PARTITIONS) and committed() >= 100,
            GROUP_WAIT_S, "both members balanced and committing", members=members,
        )  # fmt: skip
        rejoins = [assignment_changes(m) for m in pair]
        broker.restart(hard=hard)
        assert committed() < len(during), "the members finished before the restart"
        wait_done(members, during, broker, group, GROUP_WAIT_S + 15)
        # The restarted broker knows the group, its generation and members
        # (one that forgot them answers UNKNOWN_MEMBER_ID and they rejoin).
        rejoins = [assignment_changes(m) - n for m, n in zip(pair, rejoins, strict=True)]
        assert rejoins == [0, 0], f"assignment changes after the restart: {rejoins}"
        members.stop_live()
        check_exactly_once(during, members.processings(), members.committed())

        # The group is Empty with its offsets: new members start from them.
        broker.restart(hard=hard)
        fresh = [
            member(members, c, broker, names, f"restart-new-{c}", delay_ms=5,
                   assignors=["range"])
            for c in clients
        ]  # fmt: skip
        wait_until(lambda: balanced(fresh, PARTITIONS), GROUP_WAIT_S, "new members balanced",
                   members=members)  # fmt: skip
        later = produce_keyed(broker.bootstrap, topic, "later", 100)
        finish(members, {**during, **later}, broker, group, timeout_s=GROUP_WAIT_S + 15)
        read_by_fresh = sorted((p.partition, p.offset) for m in fresh for p in m.processings())
        assert read_by_fresh == sorted(later), (
            "new members after the restart did not resume exactly at the committed offsets"
        )
