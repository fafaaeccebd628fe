"""Failover of the controller quorum: 20 SIGKILLs of the active controller.

    PYTHONPATH=. .venv/bin/python -m bench.cluster_failover [--kills 20] [--idle-s 30]

Starts three broker processes on loopback (ports 19160-19162) sharing
``controller.quorum.voters``, then:

* idle CPU: each node's CPU time (user + system, /proc) over ``--idle-s``
  seconds of an idle cluster, as a percentage of one core;
* ``--kills`` times: SIGKILL the leader; *election* is the time until both
  survivors' ``quorum-state`` files name the same new leader in a later
  epoch; *create* is the time from the kill until a CreateTopics sent
  through a survivor that is not the new leader (a fresh confluent-kafka
  admin client: forwarded to the active controller) has succeeded; then the killed
  node is restarted and the next kill waits until it is back as a follower.

Writes bench/results/cluster-failover-<date>.md (with the load average: the
2-core VM is shared) and prints the same table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from bench.broker_procs import proc_cpu_seconds
from compat.broker_cluster import BrokerCluster

BASE_PORT = 19160
RESULTS = Path(__file__).resolve().parent / "results"


def idle_cpu(cluster: BrokerCluster, seconds: float) -> dict[int, float]:
    pids = {i: n.pid for i, n in cluster.nodes.items()}
    before = {i: proc_cpu_seconds(pid) for i, pid in pids.items() if pid}
    start = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return {
        i: 100 * (proc_cpu_seconds(pid) - before[i]) / elapsed for i, pid in pids.items() if pid
    }


def create_through(bootstrap: str, name: str) -> None:
    """CreateTopics through ``bootstrap`` with confluent-kafka (librdkafka skips
    the killed broker, which stays in Metadata until fencing exists)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, 1, 1)], request_timeout=20)
    futures[name].result(30)


def one_kill(cluster: BrokerCluster, round_: int) -> tuple[float, float]:
    leader, epoch = cluster.wait_for_leader()
    survivors = set(cluster.nodes) - {leader}
    start = time.monotonic()
    cluster.nodes[leader].kill()
    new_leader, new_epoch = cluster.wait_for_leader(survivors, after_epoch=epoch)
    elected = time.monotonic() - start
    through = min(survivors - {new_leader})
    create_through(cluster.nodes[through].bootstrap, f"failover-{round_}")
    created = time.monotonic() - start
    cluster.nodes[leader].start()
    deadline = time.monotonic() + 30
    while cluster.leader() != (new_leader, new_epoch):
        if time.monotonic() > deadline:
            raise RuntimeError(f"node {leader} did not rejoin")
        time.sleep(0.05)
    time.sleep(1.0)  # let it fetch up to the high watermark before the next kill
    return elected, created


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cluster-failover-") as tmp:
        cluster = BrokerCluster(Path(tmp), base_port=BASE_PORT)
        try:
            cluster.start()
            cluster.wait_for_leader()
            time.sleep(5)  # registrations, __consumer_offsets
            cpu = idle_cpu(cluster, args.idle_s)
            load_before = os.getloadavg()
            results = [one_kill(cluster, i) for i in range(args.kills)]
            load_after = os.getloadavg()
        finally:
            cluster.close()
    elections = [r[0] for r in results]
    creates = [r[1] for r in results]
    lines = [
        f"# Controller failover, {date.today().isoformat()}",
        "",
        "`PYTHONPATH=. .venv/bin/python -m bench.cluster_failover` "
        f"(3 nodes on loopback, {args.kills} SIGKILLs of the leader; tick 50 ms, "
        "fetch timeout 12 ticks, election timeout 6-12 ticks, long poll 200 ms).",
        "",
        f"Load average before the kills {load_before[0]:.2f}, after {load_after[0]:.2f} "
        "(a 2-core VM shared with other sessions).",
        "",
        "| measure | median | max | min |",
        "|---|---|---|---|",
        f"| new leader agreed by both survivors (s) | {statistics.median(elections):.3f} "
        f"| {max(elections):.3f} | {min(elections):.3f} |",
        f"| CreateTopics through a survivor done, from the kill (s) | "
        f"{statistics.median(creates):.3f} | {max(creates):.3f} | {min(creates):.3f} |",
        "",
        f"Idle CPU over {args.idle_s:.0f} s, % of one core: "
        + ", ".join(f"node {i} {c:.1f}%" for i, c in sorted(cpu.items())),
        "",
        "Each kill (election s, create s): " + ", ".join(f"{e:.2f}/{c:.2f}" for e, c in results),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"cluster-failover-{date.today().isoformat()}.md").write_text(text)


if __name__ == "__main__":
    main()
