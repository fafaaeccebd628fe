"""Seeded fault schedules and their application to a :class:`FaultCluster`.

A schedule is a list of faults that never overlap: each starts at ``at``
seconds into the run, lasts ``duration`` seconds, then is healed (every link
up, every node running and awake) before a quiet gap. Random victims are
drawn when the schedule is generated (so a replay hits the same nodes);
``"controller"`` is resolved when the fault starts, to whichever node is
the active controller then, and the history records who it was.
"""

from __future__ import annotations

import random
import signal
from typing import Any

from faults.cluster import FaultCluster
from faults.history import History
from faults.proxy import CUT, REPLIES_LOST

Fault = dict[str, Any]

KINDS = (
    "kill",  # SIGKILL one node, restart it at the end
    "kill-majority",  # SIGKILL a majority at once
    "pause",  # SIGSTOP one node (often the controller), SIGCONT at the end
    "partition-majority",  # a minority cut off from a majority, both ways
    "isolate-controller",  # the active controller cut off from every other node
    "bridge",  # two halves that only one node (the bridge) reaches both of
    "one-way",  # the controller's outbound links cut; it still hears the others
    "replies-lost",  # requests to the controller arrive, its answers do not
    "slow",  # every peer link delayed
    "power-loss",  # SIGKILL, segment files cut to the last fsync, restart at the end
)


def generate(
    seed: int, duration_s: float, nodes: int, kinds: tuple[str, ...] = KINDS
) -> list[Fault]:
    rng = random.Random(seed)
    ids = list(range(1, nodes + 1))
    schedule: list[Fault] = []
    at = rng.uniform(1.0, 3.0)
    while True:
        length = round(rng.uniform(2.0, 6.0), 2)
        if at + length > duration_s:
            return schedule
        kind = rng.choice(kinds)
        fault: Fault = {"at": round(at, 2), "duration": length, "kind": kind}
        victim: int | str = rng.choice([*map(str, ids), "controller"])
        if kind in ("kill", "pause", "power-loss"):
            fault["node"] = victim
        elif kind == "kill-majority":
            fault["nodes"] = sorted(rng.sample(ids, nodes // 2 + 1))
        elif kind == "partition-majority":
            shuffled = rng.sample(ids, nodes)
            fault["minority"] = sorted(shuffled[: (nodes - 1) // 2])
        elif kind == "bridge":
            shuffled = rng.sample(ids, nodes)
            fault["bridge"] = shuffled[0]
            half = (nodes - 1) // 2
            fault["halves"] = [sorted(shuffled[1 : 1 + half]), sorted(shuffled[1 + half :])]
        elif kind == "slow":
            fault["delay_ms"] = rng.choice([20, 50, 100, 200])
        schedule.append(fault)
        at += length + rng.uniform(1.0, 4.0)


def _resolve(cluster: FaultCluster, target: int | str, rng: random.Random) -> int:
    if target == "controller":
        found = cluster.controller()
        return found if found is not None else rng.choice(sorted(cluster.nodes))
    return int(target)


def _cut(cluster: FaultCluster, a: list[int], b: list[int], mode: str = CUT) -> None:
    for x in a:
        for y in b:
            if x != y:
                cluster.proxy.set(x, y, mode)
                cluster.proxy.set(y, x, mode)


def start(cluster: FaultCluster, fault: Fault, history: History, rng: random.Random) -> None:
    """Inject ``fault``; records what it did (victims resolved) in the history."""
    kind = fault["kind"]
    ids = sorted(cluster.nodes)
    done: dict[str, Any] = {"kind": kind, "controller": cluster.controller()}
    if kind in ("kill", "pause", "power-loss"):
        victim = _resolve(cluster, fault["node"], rng)
        done["node"] = victim
        if kind == "kill":
            cluster.kill(victim)
        elif kind == "pause":
            cluster.pause(victim)
        else:
            done["bytes_lost"] = sum(cluster.lose_power(victim).values())
    elif kind == "kill-majority":
        for victim in fault["nodes"]:
            cluster.kill(victim)
        done["nodes"] = fault["nodes"]
    elif kind == "partition-majority":
        minority = fault["minority"]
        _cut(cluster, minority, [i for i in ids if i not in minority])
        done["minority"] = minority
    elif kind == "isolate-controller":
        victim = _resolve(cluster, "controller", rng)
        _cut(cluster, [victim], [i for i in ids if i != victim])
        done["node"] = victim
    elif kind == "bridge":
        left, right = fault["halves"]
        _cut(cluster, left, right)
        done.update(bridge=fault["bridge"], halves=fault["halves"])
    elif kind in ("one-way", "replies-lost"):
        victim = _resolve(cluster, "controller", rng)
        for other in ids:
            if other != victim:
                if kind == "one-way":
                    cluster.proxy.set(victim, other, CUT)
                else:
                    cluster.proxy.set(other, victim, REPLIES_LOST)
        done["node"] = victim
    elif kind == "slow":
        for src, dst in list(cluster.proxy.links):
            cluster.proxy.set(src, dst, "up", fault["delay_ms"] / 1000)
        done["delay_ms"] = fault["delay_ms"]
    else:
        raise ValueError(f"unknown fault {kind!r}")
    done["links"] = cluster.proxy.describe()
    history.add("nemesis", "info", "start", done)


def stop(cluster: FaultCluster, fault: Fault, history: History) -> None:
    history.add("nemesis", "invoke", "heal", {"kind": fault["kind"]})
    cluster.heal()
    history.add("nemesis", "ok", "heal", {"kind": fault["kind"]})


__all__ = ["KINDS", "generate", "signal", "start", "stop"]
