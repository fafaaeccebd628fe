"""``raftbroker cluster info|health`` and ``raftbroker cluster quorum describe``.

``health`` checks what a client needs: a broker answers, a controller is
known, every partition has a leader, no replica is offline and every ISR is
full. It exits 0 when all pass and 1 otherwise, so it serves as a probe.
"""

from __future__ import annotations

import argparse
from typing import Any

from broker.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    CliError,
    admin_client,
    emit_json,
    print_fields,
    print_table,
)


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    cluster = sub.add_parser("cluster", help="cluster id, brokers, health, metadata quorum")
    verbs = cluster.add_subparsers(dest="verb", required=True, metavar="VERB")

    info = verbs.add_parser("info", parents=[parent], help="cluster id, controller, brokers")
    info.set_defaults(handler=cluster_info)

    health = verbs.add_parser(
        "health", parents=[parent], help="leaders, offline and under-replicated partitions"
    )
    health.set_defaults(handler=cluster_health)

    quorum = verbs.add_parser("quorum", help="the metadata quorum (KRaft)")
    quorum_verbs = quorum.add_subparsers(dest="quorum_verb", required=True, metavar="VERB")
    describe = quorum_verbs.add_parser(
        "describe", parents=[parent], help="leader, epoch, voters and observers (DescribeQuorum)"
    )
    describe.set_defaults(handler=quorum_describe)


def cluster_info(args: argparse.Namespace) -> int:
    with admin_client(args) as admin:
        described = admin.describe_cluster()
        topics = admin.describe_topics()
    brokers = sorted(described["brokers"], key=lambda b: b["broker_id"])
    out = {
        "cluster_id": described.get("cluster_id"),
        "controller_id": described.get("controller_id"),
        "brokers": [
            {
                "id": b["broker_id"],
                "host": b["host"],
                "port": b["port"],
                "rack": b.get("rack"),
                "fenced": bool(b.get("is_fenced")),
            }
            for b in brokers
        ],
        "topics": len(topics),
        "partitions": sum(len(t["partitions"]) for t in topics),
    }
    if args.output == "json":
        emit_json(out)
        return EXIT_OK
    print_fields(
        [
            ("cluster id", out["cluster_id"]),
            ("controller", out["controller_id"]),
            ("topics", f"{out['topics']} ({out['partitions']} partitions)"),
        ]
    )
    print()
    print_table(
        ("broker", "host", "port", "rack", "fenced"),
        [
            (b["id"], b["host"], b["port"], b["rack"], "yes" if b["fenced"] else "no")
            for b in out["brokers"]
        ],
    )
    return EXIT_OK


def cluster_health(args: argparse.Namespace) -> int:
    with admin_client(args) as admin:
        described = admin.describe_cluster()
        topics = admin.describe_topics()
    brokers = {b["broker_id"] for b in described["brokers"] if not b.get("is_fenced")}
    leaderless, offline, under = [], [], []
    for topic in topics:
        for p in topic["partitions"]:
            name = f"{topic['name']}-{p['partition_index']}"
            if p["leader_id"] < 0 or p["leader_id"] not in brokers:
                leaderless.append(name)
            if p.get("offline_replicas"):
                offline.append(name)
            if len(p["isr_nodes"]) < len(p["replica_nodes"]):
                under.append(name)
    controller = described.get("controller_id")
    checks = [
        ("brokers", bool(brokers), f"{len(brokers)} unfenced"),
        ("controller", controller is not None and controller >= 0, f"node {controller}"),
        ("leaders", not leaderless, _partitions(leaderless, "without a leader")),
        ("offline replicas", not offline, _partitions(offline, "with offline replicas")),
        ("under-replicated", not under, _partitions(under, "under-replicated")),
    ]
    healthy = all(ok for _, ok, _ in checks)
    if args.output == "json":
        emit_json(
            {
                "healthy": healthy,
                "checks": [{"check": c, "ok": ok, "detail": d} for c, ok, d in checks],
                "leaderless_partitions": leaderless,
                "offline_partitions": offline,
                "under_replicated_partitions": under,
            }
        )
    else:
        print_table(
            ("check", "status", "detail"), [(c, "ok" if ok else "FAIL", d) for c, ok, d in checks]
        )
        print(f"\ncluster is {'healthy' if healthy else 'NOT healthy'}")
    return EXIT_OK if healthy else EXIT_FAILED


def _partitions(names: list[str], what: str) -> str:
    if not names:
        return "none"
    shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return f"{len(names)} partitions {what}: {shown}"


def quorum_describe(args: argparse.Namespace) -> int:
    import kafka.errors

    with admin_client(args) as admin:
        try:
            result = admin.describe_metadata_quorum()
        except kafka.errors.IncompatibleBrokerVersion:
            raise CliError(
                "the broker does not serve DescribeQuorum (API key 55): its metadata quorum "
                "cannot be described over the Kafka protocol"
            ) from None
        except kafka.errors.UnsupportedVersionError as exc:
            raise CliError(f"DescribeQuorum (API key 55) refused: {exc}") from None
    partition = result["topics"][0]["partitions"][0]
    if partition.get("error"):
        raise CliError(f"DescribeQuorum: {partition['error']}")

    def replicas(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": r["replica_id"],
                "directory_id": str(r.get("replica_directory_id") or "") or None,
                "log_end_offset": r["log_end_offset"],
                "last_fetch_timestamp": r.get("last_fetch_timestamp"),
                "last_caught_up_timestamp": r.get("last_caught_up_timestamp"),
            }
            for r in items
        ]

    hw = partition["high_watermark"]
    out = {
        "leader_id": partition["leader_id"],
        "leader_epoch": partition["leader_epoch"],
        "high_watermark": hw,
        "voters": replicas(partition["current_voters"]),
        "observers": replicas(partition["observers"]),
    }
    if args.output == "json":
        emit_json(out)
        return EXIT_OK
    print_fields(
        [
            ("leader", out["leader_id"]),
            ("leader epoch", out["leader_epoch"]),
            ("high watermark", hw),
        ]
    )
    print()
    rows = [
        (
            r["id"],
            role,
            r["log_end_offset"],
            max(hw - r["log_end_offset"], 0) if r["log_end_offset"] >= 0 else None,
            r["last_caught_up_timestamp"],
        )
        for role, group in (("voter", out["voters"]), ("observer", out["observers"]))
        for r in group
    ]
    for i, row in enumerate(rows):
        if row[0] == out["leader_id"] and row[1] == "voter":
            rows[i] = (row[0], "leader", *row[2:])
    print_table(("node", "role", "log-end-offset", "lag", "last-caught-up-ms"), rows)
    return EXIT_OK
