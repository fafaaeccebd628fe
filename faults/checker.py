"""Checkers: a history and the final reads in, a verdict out (pure functions).

Queue (per Jepsen's queue/Kafka checkers):

* ``lost``: an acknowledged send missing from the final read of its
  partition. A row of the durability table may allow a bounded loss, but
  only of writes acknowledged before a power loss of a node hosting the
  partition; any other missing write is a violation.
* ``duplicated``: a value at two offsets (unless the row allows it: a
  producer without idempotence may retry a write that landed).
* ``unexpected``: a value in the log that no producer ever sent.
* ``inconsistent-offsets``: one (partition, offset) seen with two values
  (acks, polls, the final read), or an ack's offset holding another value.
* ``reordered``: one producer's writes to one partition not in send order.
* ``non-monotonic-poll``: a consumer, within one assignment, polling a
  partition's offsets other than strictly increasing.
* ``committed-regressed``: a group's committed offset for a partition going
  backwards across successful commits, or the final one below the last.
* ``unavailable-after-heal``: the final read could not reach every record
  below each high watermark (with RF=1 a partition of a dead node is
  unavailable during the fault, which is allowed; after heal it must be back).

Metadata: every acknowledged create is in every node's view with the
partitions asked for and one topic id everywhere; the nodes' views agree; no
definitely failed create appears; no topic appears that nobody created.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

from faults.history import Event
from faults.workloads import Row

MAX_EXAMPLES = 10


class Verdict:
    def __init__(self) -> None:
        self.violations: dict[str, list[Any]] = defaultdict(list)
        self.stats: dict[str, Any] = {}

    def flag(self, kind: str, example: Any) -> None:
        self.violations[kind].append(example)

    def as_dict(self) -> dict[str, Any]:
        return {
            "valid": not self.violations,
            "violations": {
                k: {"count": len(v), "examples": v[:MAX_EXAMPLES]}
                for k, v in sorted(self.violations.items())
            },
            "stats": self.stats,
        }


def _power_losses(history: list[Event]) -> list[tuple[float, int]]:
    return [
        (e["time"], e["value"]["node"])
        for e in history
        if e["process"] == "nemesis" and e["f"] == "start" and e["value"]["kind"] == "power-loss"
    ]


def check_queue(history: list[Event], final: dict[str, Any], row: Row) -> dict[str, Any]:
    v = Verdict()
    setup = next(e["value"] for e in history if e["f"] == "topic" and e["type"] == "ok")
    replicas: dict[str, list[int]] = setup["replicas"]
    losses = _power_losses(history)
    # partition -> times of power losses of a node hosting it
    lost_power: dict[str, list[float]] = {
        p: [t for t, n in losses if n in hosts] for p, hosts in replicas.items()
    }
    loss_tolerant = {p for p, ts in lost_power.items() if ts and row.power_loss_bound != 0}

    sent = {e["value"]["value"] for e in history if e["f"] == "send" and e["type"] == "invoke"}
    acked: dict[str, Event] = {
        e["value"]["value"]: e for e in history if e["f"] == "send" and e["type"] == "ok"
    }
    # where each value is in the final read
    where: dict[str, list[tuple[str, int]]] = defaultdict(list)
    at: dict[tuple[str, int], set[str]] = defaultdict(set)
    for p, records in final["records"].items():
        for offset, value in records:
            where[value].append((p, offset))
            at[(p, offset)].add(value)

    # lost, within the row's bound
    lost_by_partition: dict[str, list[str]] = defaultdict(list)
    for value, e in acked.items():
        if value not in where:
            lost_by_partition[str(e["value"]["partition"])].append(value)
    allowed_lost = 0
    for p, values in sorted(lost_by_partition.items()):
        times = lost_power.get(p, [])
        bound = row.power_loss_bound
        late = [x for x in values if not times or acked[x]["time"] > max(times)]
        if bound == 0 or late:
            for x in late or values:
                v.flag("lost", {"value": x, "partition": p, "ack": acked[x]["value"]})
        elif bound is not None and len(values) > bound * len(times):
            v.flag(
                "lost-beyond-bound",
                {"partition": p, "lost": len(values), "bound": bound * len(times)},
            )
        else:
            allowed_lost += len(values)

    # duplicates, unexpected values
    for value, places in where.items():
        if value not in sent:
            v.flag("unexpected", {"value": value, "at": places})
        elif len(places) > 1 and not row.duplicates_allowed:
            v.flag("duplicated", {"value": value, "at": places})

    # one offset, one value: acks, polls and the final read
    for value, e in acked.items():
        p, offset = str(e["value"]["partition"]), e["value"]["offset"]
        if p in loss_tolerant:
            continue
        seen = at.get((p, offset))
        if seen is not None and value not in seen:
            v.flag(
                "inconsistent-offsets",
                {"partition": p, "offset": offset, "ack": value, "log": sorted(seen)},
            )
    polled: dict[tuple[str, int], set[str]] = defaultdict(set)
    for e in history:
        if e["f"] == "poll" and e["type"] == "ok":
            for p, offset, value in e["value"]["records"]:
                polled[(str(p), offset)].add(value)
    for spot, polled_values in polled.items():
        if spot[0] in loss_tolerant:
            continue
        every = polled_values | at.get(spot, set())
        if len(every) > 1:
            v.flag(
                "inconsistent-offsets",
                {"partition": spot[0], "offset": spot[1], "values": sorted(every)},
            )

    # per producer, per partition: offsets in send order
    by_producer: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for value, found in where.items():
        process, _, seq = value.rpartition(":")
        if value in sent and seq.isdigit():
            p, offset = found[0]
            by_producer[(process, p)].append((int(seq), offset))
    for (process, p), pairs in by_producer.items():
        pairs.sort()
        for (s1, o1), (s2, o2) in itertools.pairwise(pairs):
            if o2 <= o1:
                v.flag(
                    "reordered",
                    {"producer": process, "partition": p, "seqs": [s1, s2], "offsets": [o1, o2]},
                )

    # consumers: strictly increasing offsets per partition within an assignment
    last: dict[tuple[Any, int, str], int] = {}
    polls = 0
    for e in history:
        if e["f"] == "poll" and e["type"] == "ok":
            session = e["value"]["session"]
            for p, offset, _value in e["value"]["records"]:
                polls += 1
                key = (e["process"], session, str(p))
                if key in last and offset <= last[key] and str(p) not in loss_tolerant:
                    v.flag(
                        "non-monotonic-poll",
                        {
                            "process": e["process"],
                            "partition": p,
                            "after": last[key],
                            "offset": offset,
                        },
                    )
                last[key] = offset

    # committed offsets never go back
    committed: dict[str, int] = {}
    for e in history:
        if e["f"] == "commit" and e["type"] == "ok":
            for p, offset in e["value"].items():
                if p in committed and offset < committed[p] and p not in loss_tolerant:
                    v.flag(
                        "committed-regressed", {"partition": p, "from": committed[p], "to": offset}
                    )
                committed[p] = max(offset, committed.get(p, offset))
    for p, offset in final.get("committed", {}).items():
        if p in committed and offset < committed[p] and p not in loss_tolerant:
            v.flag(
                "committed-regressed", {"partition": p, "last-ok": committed[p], "final": offset}
            )

    for error in final.get("errors", []):
        v.flag("unavailable-after-heal", error)

    indeterminate = sent - set(acked)
    v.stats = {
        "row": row.name,
        "sent": len(sent),
        "acknowledged": len(acked),
        "indeterminate": len(indeterminate),
        "indeterminate-present": sum(1 for x in indeterminate if x in where),
        "lost": sum(len(x) for x in lost_by_partition.values()),
        "lost-allowed": allowed_lost,
        "read": sum(len(r) for r in final["records"].values()),
        "polled": polls,
        "power-losses": len(losses),
    }
    return v.as_dict()


def check_metadata(history: list[Event], final: dict[str, Any]) -> dict[str, Any]:
    v = Verdict()
    invoked = {e["value"]["topic"] for e in history if e["f"] == "create" and e["type"] == "invoke"}
    ok = {
        e["value"]["topic"]: e["value"] for e in history if e["f"] == "create" and e["type"] == "ok"
    }
    failed = {e["value"]["topic"] for e in history if e["f"] == "create" and e["type"] == "fail"}
    views: dict[str, dict[str, Any]] = final["views"]
    for node, view in views.items():
        if isinstance(view.get("error"), str):
            v.flag("unavailable-after-heal", {"node": node, "error": view["error"]})
    good = {n: view for n, view in views.items() if not isinstance(view.get("error"), str)}
    for topic, value in ok.items():
        ids = set()
        for node, view in good.items():
            if topic not in view:
                v.flag("acknowledged-create-missing", {"topic": topic, "node": node})
                continue
            topic_id, partitions = view[topic]
            ids.add(topic_id)
            if partitions != value["partitions"]:
                v.flag(
                    "wrong-partition-count",
                    {"topic": topic, "node": node, "partitions": partitions},
                )
        if len(ids) > 1:
            v.flag("two-topic-ids", {"topic": topic, "ids": sorted(ids)})
    names = set().union(*(set(view) for view in good.values())) if good else set()
    for topic in names:
        if topic.startswith("m-") and topic not in invoked:
            v.flag("unexpected", {"topic": topic})
        if topic in failed:
            v.flag("failed-create-visible", {"topic": topic})
        ids = {view[topic][0] for view in good.values() if topic in view}
        if topic not in ok and len(ids) > 1:
            v.flag("two-topic-ids", {"topic": topic, "ids": sorted(ids)})
    if len({repr(sorted(view.items())) for view in good.values()}) > 1:
        v.flag("views-differ", {n: sorted(view) for n, view in good.items()})
    v.stats = {
        "creates": len(invoked),
        "acknowledged": len(ok),
        "failed": len(failed),
        "indeterminate": len(invoked) - len(ok) - len(failed),
        "indeterminate-visible": sum(1 for t in invoked - set(ok) - failed if t in names),
    }
    return v.as_dict()
