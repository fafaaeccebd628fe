"""Consumer groups with the Apache Kafka Java client (classic protocol) against the broker.

Two members per group, each a ``KafkaConsumer`` that the test polls in turn
(a Java consumer only takes part in a rebalance while it is polled):

- ``range``: two members split a 4-partition topic 2 and 2; between them they
  read every record once; the group describes as Stable with the ``range``
  assignor and the two members' assignments.
- ``cooperative-sticky``: a second member joins a group whose first member
  owns all 4 partitions; the first gives up exactly the 2 that move (never
  all of them: incremental rebalancing) and keeps the other 2.
- static membership (``group.instance.id``): a member that closes without
  leaving and comes back under the same instance id within the session
  timeout gets its partitions back without a new generation.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compat.broker_process import BrokerProcess
from compat.kafka.java_client import JAVA, java_driver
from compat.suite import Record, eventually, make_messages

__all__ = ["java_driver"]

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
RANGE = "org.apache.kafka.clients.consumer.RangeAssignor"
COOPERATIVE = "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"


def _member(bootstrap: str, group: str, assignor: str, **extra: str) -> str:
    return JAVA.consumer(
        bootstrap,
        **{
            "group.id": group,
            "group.protocol": "classic",
            "partition.assignment.strategy": assignor,
            "session.timeout.ms": "10000",
            "heartbeat.interval.ms": "500",
            "max.poll.interval.ms": "20000",
            **extra,
        },
    )


def _assignment(handle: str) -> set[tuple[str, int]]:
    return {(t, p) for t, p in JAVA.call("consumer.assignment", id=handle)}


def _poll_until_split(
    members: list[str], topic: str, partitions: int, into: list[tuple[str, Record]] | None = None
) -> list[set[int]]:
    """Poll every member in turn until they own disjoint shares covering the topic.

    What the polls return goes to ``into`` as (member, record).
    """

    def probe() -> list[set[int]]:
        for handle in members:
            records = JAVA.poll(handle, 100)
            if into is not None:
                into.extend((handle, r) for r in records)
        return [{p for t, p in _assignment(h) if t == topic} for h in members]

    def split(owned: list[set[int]]) -> bool:
        union = set().union(*owned)
        return all(owned) and union == set(range(partitions)) and sum(map(len, owned)) == partitions

    return eventually(probe, split, timeout_s=40, interval_s=0, what="the group's assignment")


@pytest.fixture
def members() -> Iterator[list[str]]:
    handles: list[str] = []
    yield handles
    for handle in handles:
        JAVA.call("consumer.close", id=handle)


@pytest.mark.apis(*GROUP_APIS, "CreateTopics")
def test_range_assignor_splits_and_reads_everything_once(
    broker: BrokerProcess, topic: str, members: list[str]
) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 4)
    group = f"{topic}.range"
    for _ in range(2):
        members.append(_member(broker.bootstrap, group, RANGE))
        JAVA.call("consumer.subscribe", id=members[-1], topics=[topic])
    read: list[tuple[str, Record]] = []
    owned = _poll_until_split(members, topic, 4, read)
    assert sorted(map(len, owned)) == [2, 2]
    assert read == []
    # Produced once the split is settled: a member that owned everything for a
    # moment must not have read (and, uncommitted, handed over) any of it.
    messages = make_messages(JAVA, "range", 8, partitions=[0, 1, 2, 3])
    JAVA.produce(broker.bootstrap, topic, messages)

    def poll_all() -> int:
        for handle in members:
            read.extend((handle, r) for r in JAVA.poll(handle, 100))
        return len(read)

    eventually(poll_all, lambda n: n >= len(messages), timeout_s=30, interval_s=0, what="8 records")
    seen = {(r.partition, r.offset): handle for handle, r in read}
    assert len(seen) == len(read) == len(messages), "a record was read twice"
    for (partition, _), handle in seen.items():
        assert partition in owned[members.index(handle)], "a record came from another's partition"
    for handle in members:
        JAVA.call("consumer.commit", id=handle)

    described = JAVA.admin_call(broker.bootstrap, "describe_groups", groups=[group])[group]
    assert described["state"] == "STABLE"
    assert described["assignor"] == "range"
    assert described["type"] == "CLASSIC"
    assert not described["simple"]
    assert sorted(sorted(p for _, p in m["assignment"]) for m in described["members"]) == sorted(
        sorted(o) for o in owned
    )
    committed = JAVA.admin_call(broker.bootstrap, "list_group_offsets", group=group)
    assert committed == {f"{topic}:{p}": 2 for p in range(4)}


@pytest.mark.apis(*GROUP_APIS, "CreateTopics")
def test_cooperative_sticky_moves_only_what_it_must(
    broker: BrokerProcess, topic: str, members: list[str]
) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 4)
    group = f"{topic}.cooperative"
    members.append(_member(broker.bootstrap, group, COOPERATIVE))
    JAVA.call("consumer.subscribe", id=members[0], topics=[topic])
    [alone] = _poll_until_split(members, topic, 4)
    assert alone == {0, 1, 2, 3}

    members.append(_member(broker.bootstrap, group, COOPERATIVE))
    JAVA.call("consumer.subscribe", id=members[1], topics=[topic])
    first, second = _poll_until_split(members, topic, 4)
    assert len(first) == len(second) == 2
    assert first < alone  # the first member kept two of its partitions
    events = JAVA.call("consumer.rebalances", id=members[0])
    assert "revoked 4" not in events, f"eager revocation of everything: {events}"
    assert "revoked 2" in events, events


@pytest.mark.apis(*GROUP_APIS, "CreateTopics")
def test_static_member_returns_without_a_rebalance(
    broker: BrokerProcess, topic: str, members: list[str]
) -> None:
    JAVA.create_topic(broker.bootstrap, topic, 4)
    group = f"{topic}.static"
    for instance in ("static-a", "static-b"):
        members.append(_member(broker.bootstrap, group, RANGE, **{"group.instance.id": instance}))
        JAVA.call("consumer.subscribe", id=members[-1], topics=[topic])
    owned = _poll_until_split(members, topic, 4)
    before = JAVA.call("consumer.group", id=members[0])
    assert before["group_instance_id"] == "static-a"

    # A static member's close() does not send LeaveGroup: the group keeps its slot.
    JAVA.call("consumer.close", id=members.pop(0))
    members.insert(0, _member(broker.bootstrap, group, RANGE, **{"group.instance.id": "static-a"}))
    JAVA.call("consumer.subscribe", id=members[0], topics=[topic])

    def rejoined() -> set[tuple[str, int]]:
        JAVA.poll(members[0], 100)
        return _assignment(members[0])

    again = eventually(
        rejoined,
        bool,
        timeout_s=30,
        interval_s=0,
        what="the returning static member's assignment",
    )
    assert {p for _, p in again} == owned[0]
    after = JAVA.call("consumer.group", id=members[0])
    assert after["generation_id"] == before["generation_id"], "the group rebalanced"
    assert after["member_id"] != before["member_id"]  # a new member id for the same instance
    JAVA.poll(members[1], 100)
    assert {p for _, p in _assignment(members[1])} == owned[1]
    described = JAVA.admin_call(broker.bootstrap, "describe_groups", groups=[group])[group]
    assert sorted(m["group_instance_id"] for m in described["members"]) == [
        "static-a",
        "static-b",
    ]
