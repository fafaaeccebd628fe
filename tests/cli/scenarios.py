"""What the CLI must do against any Kafka-protocol broker: ours (tests/cli) and
Apache Kafka (compat/test_cli_kafka.py) run the same steps."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.cli.runner import Cli

EXIT_FAILED = 1
EXIT_USAGE = 2


def topic_lifecycle(cli: Cli, topic: str) -> None:
    created = cli(
        "topic", "create", topic, "-p", "3", "-c", "retention.ms=3600000", "--format", "json"
    )
    assert created.json() == [
        {
            "topic": topic,
            "status": "created",
            "topic_id": created.json()[0]["topic_id"],
            "partitions": 3,
            "replication_factor": 1,
        }
    ]
    again = cli("topic", "create", topic, expect=EXIT_FAILED)
    assert f"topic {topic}: TOPIC_ALREADY_EXISTS" in again.err
    assert len(again.err.strip().splitlines()) == 1
    cli("topic", "create", topic, "--if-not-exists")

    listed = cli("topic", "list", "--format", "json").json()
    assert {"topic": topic, "partitions": 3, "replication_factor": 1, "internal": False} in listed
    table = cli("topic", "list")
    assert table.lines()[0].split() == ["TOPIC", "PARTITIONS", "REPLICATION-FACTOR"]
    assert [topic, "3", "1"] in [line.split() for line in table.lines()]

    described = cli("topic", "describe", topic, "--format", "json").json()
    [info] = described
    assert [p["partition"] for p in info["partitions"]] == [0, 1, 2]
    assert all(p["high_watermark"] == 0 and p["log_start_offset"] == 0 for p in info["partitions"])
    assert info["configs"]["retention.ms"]["value"] == "3600000"

    cli("topic", "alter-config", topic, "-s", "retention.ms=7200000", "-s", "segment.ms=600000")
    configs = cli("topic", "describe", topic, "--format", "json").json()[0]["configs"]
    assert configs["retention.ms"]["value"] == "7200000"
    assert configs["segment.ms"]["value"] == "600000"
    cli("topic", "alter-config", topic, "-d", "segment.ms")
    configs = cli("topic", "describe", topic, "--format", "json").json()[0]["configs"]
    assert "segment.ms" not in configs
    bad = cli("topic", "alter-config", topic, "-s", "retention.ms=soon", expect=EXIT_FAILED)
    assert "INVALID_CONFIG" in bad.err

    cli("topic", "delete", topic)
    gone = cli("topic", "describe", topic, expect=EXIT_FAILED)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in gone.err
    cli("topic", "delete", topic, "--if-exists")
    missing = cli("topic", "delete", topic, expect=EXIT_FAILED)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in missing.err


def produce_consume(cli: Cli, topic: str) -> None:
    cli("topic", "create", topic, "-p", "2")
    before = int(time.time() * 1000)
    produced = cli(
        "produce",
        topic,
        "-k",
        ":",
        "-H",
        "origin=cli",
        "-H",
        "n=1",
        "-p",
        "1",
        "-z",
        "gzip",
        "--format",
        "json",
        stdin="k1:v1\nk2:v2\nno key\n",
    ).json()
    assert produced == {
        "topic": topic,
        "records": [{"partition": 1, "offset": i} for i in range(3)],
    }
    cli(
        "produce", topic, "--acks", "1", "-z", "lz4", "-p", "0", "--value", "zero", "--value", "one"
    )
    cli("produce", topic, "--acks", "0", "-z", "zstd", "-p", "0", "--value", "two")

    records = [
        json.loads(line) for line in cli("consume", topic, "-p", "1", "-e", "-f", "json").lines()
    ]
    assert [(r["key"], r["value"], r["offset"]) for r in records] == [
        ("k1", "v1", 0),
        ("k2", "v2", 1),
        (None, "no key", 2),
    ]
    assert records[0]["headers"] == [["origin", "cli"], ["n", "1"]]
    assert records[0]["timestamp"] >= before - 1000

    # acks=0 is not acknowledged: wait until the record is there.
    deadline = time.monotonic() + 10
    while True:
        out = cli("consume", topic, "-p", "0", "-e").lines()
        if len(out) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert out == ["zero", "one", "two"]
    assert cli("consume", topic, "-p", "0", "-o", "1", "-n", "1").lines() == ["one"]
    assert cli("consume", topic, "-p", "0", "-o", "-1", "-e").lines() == ["two"]
    assert cli("consume", topic, "-p", "0", "-o", "end", "--idle-ms", "500").lines() == []
    assert cli("consume", topic, "-p", "1", "-n", "2", "-f", "kv").lines() == ["k1\tv1", "k2\tv2"]
    # Everything was written after `before`; nothing after a time in the future.
    assert len(cli("consume", topic, "-t", str(before - 60_000), "-e").lines()) == 6
    assert cli("consume", topic, "-t", "2100-01-01T00:00:00Z", "-e").lines() == []
    assert len(cli("consume", topic, "-n", "6").lines()) == 6

    nope = cli("consume", topic + "-missing", "-n", "1", expect=EXIT_FAILED)
    assert "UNKNOWN_TOPIC_OR_PARTITION" in nope.err
    bad = cli("consume", topic, "-p", "7", "-n", "1", expect=EXIT_FAILED)
    assert "has no partition 7" in bad.err
    usage = cli("consume", topic, "-g", "g", "-o", "5", expect=EXIT_USAGE)
    assert "group reset-offsets" in usage.err


def group_lifecycle(cli: Cli, topic: str, group: str) -> None:
    cli("topic", "create", topic, "-p", "2")
    for p in ("0", "1"):
        cli("produce", topic, "-p", p, stdin="".join(f"{p}-{i}\n" for i in range(5)))

    first = cli("consume", topic, "-g", group, "-n", "4")
    assert len(first.lines()) == 4
    groups = cli("group", "list", "--format", "json").json()
    assert {"group": group, "state": "Empty", "protocol_type": "consumer"} in groups

    [described] = cli("group", "describe", group, "--format", "json").json()
    assert described["state"] == "Empty"
    assert described["members"] == []
    offsets = {(r["topic"], r["partition"]): r for r in described["offsets"]}
    assert sum(r["committed_offset"] for r in offsets.values()) == 4
    assert sum(r["lag"] for r in offsets.values()) == 6
    assert all(r["log_end_offset"] == 5 for r in offsets.values())
    table = cli("group", "describe", group)
    assert "COMMITTED-OFFSET" in table.out and "LAG" in table.out

    # The group continues where it left off.
    assert len(cli("consume", topic, "-g", group, "-e").lines()) == 6

    plan = cli("group", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert "dry run" in plan.out
    [described] = cli("group", "describe", group, "--format", "json").json()
    assert sum(r["lag"] for r in described["offsets"]) == 0  # nothing changed
    reset = cli(
        "group",
        "reset-offsets",
        group,
        "--topic",
        topic,
        "--to-offset",
        "2",
        "--execute",
        "--format",
        "json",
    ).json()
    assert [r["new_offset"] for r in reset["offsets"]] == [2, 2]
    shifted = cli(
        "group",
        "reset-offsets",
        group,
        "--topic",
        topic,
        "-p",
        "1",
        "--shift-by",
        "-10",
        "--execute",
        "--format",
        "json",
    ).json()
    assert shifted["offsets"] == [
        {"topic": topic, "partition": 1, "current_offset": 2, "new_offset": 0}
    ]
    latest = cli(
        "group",
        "reset-offsets",
        group,
        "--topic",
        topic,
        "-p",
        "0",
        "--to-latest",
        "--execute",
        "--format",
        "json",
    ).json()
    assert latest["offsets"][0]["new_offset"] == 5
    assert len(cli("consume", topic, "-g", group, "-e").lines()) == 5  # partition 1 from 0

    future = cli(
        "group",
        "reset-offsets",
        group,
        "--topic",
        topic,
        "--to-timestamp",
        "2100-01-01",
        "--format",
        "json",
    ).json()
    assert [r["new_offset"] for r in future["offsets"]] == [5, 5]

    # A member holds the partitions: describe shows it, reset-offsets refuses.
    member = cli.spawn("consume", topic, "-g", group, "-o", "end", "--idle-ms", "60000")
    try:
        deadline = time.monotonic() + 30
        while True:
            [described] = cli("group", "describe", group, "--format", "json").json()
            if described["state"] == "Stable" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        [m] = described["members"]
        assert m["assignment"] == {topic: [0, 1]}
        assert {r["member"] for r in described["offsets"]} == {m["member_id"]}
        refused = cli(
            "group",
            "reset-offsets",
            group,
            "--topic",
            topic,
            "--to-earliest",
            "--execute",
            expect=EXIT_FAILED,
        )
        assert "has 1 members" in refused.err
    finally:
        member.terminate()
        member.wait(30)

    unknown = cli("group", "describe", group + "-none", expect=EXIT_FAILED)
    assert "GROUP_ID_NOT_FOUND" in unknown.err or "no such group" in unknown.err
    cli("group", "delete", group)
    assert group not in {g["group"] for g in cli("group", "list", "--format", "json").json()}
    again = cli("group", "delete", group, expect=EXIT_FAILED)
    assert "GROUP_ID_NOT_FOUND" in again.err


def cluster_commands(cli: Cli) -> dict[str, Any]:
    info = cli("cluster", "info", "--format", "json").json()
    assert info["cluster_id"]
    assert [b["id"] for b in info["brokers"]] == [info["controller_id"]] or info["brokers"]
    assert "CLUSTER ID" in cli("cluster", "info").out
    health = cli("cluster", "health", "--format", "json").json()
    assert health["healthy"] is True
    assert {c["check"] for c in health["checks"]} >= {"leaders", "under-replicated"}
    assert "cluster is healthy" in cli("cluster", "health").out
    return dict(info)


def unreachable(port: int) -> None:
    # --timeout-ms bounds every client's bootstrap (kafka-python's own default is 30 s).
    cli = Cli(f"127.0.0.1:{port}", timeout_s=20)
    for args, stdin in (
        (("topic", "list"), None),
        (("consume", "t", "-n", "1"), None),
        (("produce", "t"), "x\n"),
    ):
        result = cli(*args, "--timeout-ms", "1000", stdin=stdin, expect=3)
        assert f"cannot reach a broker at 127.0.0.1:{port}" in result.err
        assert len(result.err.strip().splitlines()) == 1
