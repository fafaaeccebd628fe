"""The checkers bite: hand-made histories with one violation each are reported.

A valid history (two producers, a consumer, a group's commits, a kill that
made a partition unavailable and then healed) passes; each mutation of it --
a lost ack, a duplicate, a foreign value, one offset with two values, a
reordering, a poll going back, a commit going back, a partition unreadable
after heal -- is reported under its own name. The durability rows' bounds:
a power loss excuses a bounded loss on its partitions only.
"""

from __future__ import annotations

import copy
from typing import Any

from faults.checker import check_metadata, check_queue
from faults.history import Event, History
from faults.workloads import ROWS


def valid_run() -> tuple[list[Event], dict[str, Any]]:
    h = History()
    h.add("setup", "ok", "topic", {"replicas": {"0": [1], "1": [2]}, "row": "default"})
    records: dict[str, list[list[Any]]] = {"0": [], "1": []}
    for seq in range(6):
        for producer in ("p0.0", "p1.0"):
            value, partition = f"{producer}:{seq}", seq % 2
            offset = len(records[str(partition)])
            h.add(producer, "invoke", "send", {"value": value, "partition": partition})
            h.add(
                producer, "ok", "send", {"value": value, "partition": partition, "offset": offset}
            )
            records[str(partition)].append([offset, value])
        if seq == 2:
            h.add("nemesis", "info", "start", {"kind": "kill", "node": 2})
            h.add("nemesis", "ok", "heal", {"kind": "kill"})
    # an indeterminate send that did land, once
    h.add("p0.0", "invoke", "send", {"value": "p0.0:6", "partition": 0})
    h.add("p0.0", "info", "send", {"value": "p0.0:6", "error": "timed out"})
    records["0"].append([6, "p0.0:6"])
    h.add("assign", "ok", "poll", {"session": 0, "records": [[0, o, v] for o, v in records["0"]]})
    h.add("group", "ok", "commit", {"0": 3})
    h.add("group", "ok", "commit", {"0": 7, "1": 6})
    final = {
        "records": records,
        "highs": {"0": 7, "1": 6},
        "committed": {"0": 7, "1": 6},
        "errors": [],
    }
    return h.events, final


def violations(history: list[Event], final: dict[str, Any], row: str = "default") -> set[str]:
    verdict = check_queue(history, final, ROWS[row])
    assert verdict["valid"] is (not verdict["violations"])
    return set(verdict["violations"])


def test_a_valid_history_passes() -> None:
    history, final = valid_run()
    verdict = check_queue(history, final, ROWS["default"])
    assert verdict["valid"], verdict
    assert verdict["stats"]["acknowledged"] == 12
    assert verdict["stats"]["indeterminate-present"] == 1


def test_a_lost_acknowledged_write() -> None:
    history, final = valid_run()
    del final["records"]["1"][2]
    assert "lost" in violations(history, final)


def test_a_duplicate() -> None:
    history, final = valid_run()
    final["records"]["1"].append([6, "p0.0:1"])
    assert violations(history, final) == {"duplicated"}
    # acks=1 without idempotence may retry a write that landed
    assert violations(history, final, "acks-1") == set()


def test_a_value_nobody_sent() -> None:
    history, final = valid_run()
    final["records"]["1"].append([6, "p9.0:0"])
    assert violations(history, final) == {"unexpected"}


def test_one_offset_two_values() -> None:
    history, final = valid_run()
    history.append(
        {"index": 999, "time": 9.0, "process": "group", "type": "ok", "f": "poll",
         "value": {"session": 1, "records": [[1, 0, "p0.0:3"]]}}
    )  # fmt: skip
    assert "inconsistent-offsets" in violations(history, final)


def test_an_ack_whose_offset_holds_another_value() -> None:
    history, final = valid_run()
    records = final["records"]["1"]
    records[0][1], records[1][1] = records[1][1], records[0][1]
    assert "inconsistent-offsets" in violations(history, final)


def test_reordering_within_a_partition() -> None:
    history, final = valid_run()
    records = final["records"]["0"]
    # p0.0's seq 0 and seq 2 swapped, acks rewritten to match (no offset conflict)
    a, b = records[0], records[2]
    a[1], b[1] = b[1], a[1]
    for e in history:
        if e["f"] == "send" and e["type"] == "ok" and e["value"]["value"] in (a[1], b[1]):
            e["value"]["offset"] = a[0] if e["value"]["value"] == a[1] else b[0]
    history = [e for e in history if e["f"] != "poll"]
    assert violations(history, final) == {"reordered"}


def test_a_poll_going_back() -> None:
    history, final = valid_run()
    history.append(
        {"index": 999, "time": 9.0, "process": "assign", "type": "ok", "f": "poll",
         "value": {"session": 0, "records": [[0, 2, "p0.0:2"]]}}
    )  # fmt: skip
    assert violations(history, final) == {"non-monotonic-poll"}


def test_a_commit_going_back() -> None:
    history, final = valid_run()
    mutated = copy.deepcopy(final)
    mutated["committed"]["0"] = 2
    assert violations(history, mutated) == {"committed-regressed"}
    history.append(
        {
            "index": 999,
            "time": 9.0,
            "process": "group",
            "type": "ok",
            "f": "commit",
            "value": {"1": 1},
        }
    )
    assert "committed-regressed" in violations(history, final)


def test_unavailable_after_heal() -> None:
    history, final = valid_run()
    final["errors"].append("partition 1: no high watermark")
    assert violations(history, final) == {"unavailable-after-heal"}


def power_loss_run(lost: int, *, before_acks: bool = False) -> tuple[list[Event], dict[str, Any]]:
    """Node 2 (partition 1's host) lost power after every ack (or before them all);
    the last ``lost`` records of partition 1 are gone."""
    history, final = valid_run()
    event = {"index": 0, "time": -1.0 if before_acks else 99.0, "process": "nemesis",
             "type": "info", "f": "start", "value": {"kind": "power-loss", "node": 2}}  # fmt: skip
    history.append(event)
    del final["records"]["1"][-lost:]
    return history, final


def test_a_power_loss_excuses_what_the_row_allows() -> None:
    history, final = power_loss_run(2)
    # the default row (fsync before the ack) allows nothing
    assert "lost" in violations(history, final, "default")
    # write.caching=true without a flush policy: any number, before the power loss
    assert violations(history, final, "write-caching") == set()
    # flush.messages=10: at most 9 per power loss
    assert violations(history, final, "write-caching-flush-10") == set()
    history, final = power_loss_run(5)
    final["records"]["1"].extend([[3, "p0.0:9"]])
    history.insert(0, {"index": 0, "time": 0, "process": "p0.0", "type": "invoke", "f": "send",
                       "value": {"value": "p0.0:9", "partition": 1}})  # fmt: skip
    assert violations(history, final, "write-caching") == set()


def test_a_loss_not_explained_by_a_power_loss_is_a_violation() -> None:
    history, final = power_loss_run(2, before_acks=True)
    assert "lost" in violations(history, final, "write-caching")


def test_a_loss_beyond_the_bound() -> None:
    history, final = valid_run()
    history.insert(0, {"index": 0, "time": 99.0, "process": "nemesis", "type": "info",
                       "f": "start", "value": {"kind": "power-loss", "node": 1}})  # fmt: skip
    final["records"]["0"] = final["records"]["0"][:1]  # 6 of 7 lost; 9 allowed
    assert violations(history, final, "write-caching-flush-10") == set()
    row = ROWS["write-caching-flush-10"]
    tight = type(row)(row.name, row.topic_configs, row.producer, power_loss_bound=3)
    assert "lost-beyond-bound" in set(check_queue(history, final, tight)["violations"])


def metadata_run() -> tuple[list[Event], dict[str, Any]]:
    h = History()
    for name, outcome in (("m-0-0", "ok"), ("m-0-1", "fail"), ("m-1-0", "info")):
        h.add(0, "invoke", "create", {"topic": name, "via": 1})
        h.add(0, outcome, "create", {"topic": name, "partitions": 2})
    view = {"m-0-0": ["id-a", 2], "m-1-0": ["id-b", 1]}
    return h.events, {"views": {"1": dict(view), "2": dict(view), "3": dict(view)}}


def test_metadata_valid_and_each_violation() -> None:
    history, final = metadata_run()
    assert check_metadata(history, final)["valid"]

    def bad(mutate: Any) -> set[str]:
        h, f = metadata_run()
        mutate(f["views"])
        return set(check_metadata(h, f)["violations"])

    assert "acknowledged-create-missing" in bad(lambda v: v["2"].pop("m-0-0"))
    assert "two-topic-ids" in bad(lambda v: v["3"].__setitem__("m-0-0", ["id-z", 2]))
    assert "wrong-partition-count" in bad(lambda v: v["1"].__setitem__("m-0-0", ["id-a", 3]))
    assert "failed-create-visible" in bad(
        lambda v: [view.__setitem__("m-0-1", ["id-c", 2]) for view in v.values()]
    )
    assert "unexpected" in bad(
        lambda v: [view.__setitem__("m-7-7", ["id-d", 1]) for view in v.values()]
    )
    assert "views-differ" in bad(lambda v: v["1"].pop("m-1-0"))
    assert "unavailable-after-heal" in bad(lambda v: v.__setitem__("2", {"error": "refused"}))
