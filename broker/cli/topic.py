"""``raftbroker topic create|list|describe|delete|alter-config``."""

from __future__ import annotations

import argparse
from typing import Any

from broker.cli.common import (
    EXIT_OK,
    CliError,
    admin_client,
    clean_error,
    emit_json,
    fail_if_errors,
    key_value,
    positive_int,
    print_fields,
    print_table,
    response_error,
)

UNKNOWN_TOPIC_OR_PARTITION = 3
TOPIC_ALREADY_EXISTS = 36


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    topic = sub.add_parser("topic", help="create, list, describe, delete topics, alter configs")
    verbs = topic.add_subparsers(dest="verb", required=True, metavar="VERB")

    create = verbs.add_parser("create", parents=[parent], help="create topics")
    create.add_argument("topics", nargs="+", metavar="TOPIC")
    create.add_argument(
        "-p", "--partitions", type=positive_int, default=None, help="default: num.partitions"
    )
    create.add_argument(
        "-r",
        "--replication-factor",
        type=positive_int,
        default=None,
        help="default: default.replication.factor",
    )
    create.add_argument(
        "-c", "--config", type=key_value, action="append", default=[], metavar="KEY=VALUE"
    )
    create.add_argument(
        "--if-not-exists", action="store_true", help="a topic that exists is not an error"
    )
    create.add_argument("--dry-run", action="store_true", help="validate only")
    create.set_defaults(handler=create_topics)

    lst = verbs.add_parser("list", parents=[parent], help="list topics")
    lst.add_argument("-i", "--internal", action="store_true", help="include internal topics")
    lst.set_defaults(handler=list_topics)

    describe = verbs.add_parser(
        "describe", parents=[parent], help="partitions, offsets and configs of topics"
    )
    describe.add_argument("topics", nargs="+", metavar="TOPIC")
    describe.add_argument(
        "-a", "--all-configs", action="store_true", help="also configs left at their default"
    )
    describe.set_defaults(handler=describe_topics)

    delete = verbs.add_parser("delete", parents=[parent], help="delete topics")
    delete.add_argument("topics", nargs="+", metavar="TOPIC")
    delete.add_argument("--if-exists", action="store_true", help="a missing topic is not an error")
    delete.set_defaults(handler=delete_topics)

    alter = verbs.add_parser(
        "alter-config", parents=[parent], help="set or delete topic configs (incremental)"
    )
    alter.add_argument("topics", nargs="+", metavar="TOPIC")
    alter.add_argument(
        "-s", "--set", type=key_value, action="append", default=[], metavar="KEY=VALUE"
    )
    alter.add_argument(
        "-d", "--delete", action="append", default=[], metavar="KEY", help="back to the default"
    )
    alter.add_argument("--dry-run", action="store_true", help="validate only")
    alter.set_defaults(handler=alter_config)


def create_topics(args: argparse.Namespace) -> int:
    spec = {
        "num_partitions": args.partitions or -1,
        "replication_factor": args.replication_factor or -1,
        "configs": dict(args.config),
    }
    with admin_client(args) as admin:
        response = admin.create_topics(
            {name: spec for name in args.topics},
            timeout_ms=args.timeout_ms,
            validate_only=args.dry_run,
            raise_errors=False,
        )
    rows, errors = [], []
    for topic in response["topics"]:
        error = response_error(topic["error_code"], topic.get("error_message"))
        if error and args.if_not_exists and topic["error_code"] == TOPIC_ALREADY_EXISTS:
            error = None
            status = "exists"
        else:
            status = "validated" if args.dry_run else "created"
        if error:
            errors.append(f"topic {topic['name']}: {error}")
            status = error
        rows.append(
            {
                "topic": topic["name"],
                "status": status,
                "topic_id": str(topic.get("topic_id") or "") or None,
                "partitions": _known(topic.get("num_partitions")),
                "replication_factor": _known(topic.get("replication_factor")),
            }
        )
    _print_rows(args, rows, ("topic", "status", "partitions", "replication_factor"))
    return fail_if_errors(errors)


def list_topics(args: argparse.Namespace) -> int:
    with admin_client(args) as admin:
        topics = admin.describe_topics()
    rows = []
    for topic in sorted(topics, key=lambda t: t["name"]):
        if topic.get("is_internal") and not args.internal:
            continue
        partitions = topic["partitions"]
        replicas = max((len(p["replica_nodes"]) for p in partitions), default=0)
        rows.append(
            {
                "topic": topic["name"],
                "partitions": len(partitions),
                "replication_factor": replicas,
                "internal": bool(topic.get("is_internal")),
            }
        )
    _print_rows(args, rows, ("topic", "partitions", "replication_factor"))
    return EXIT_OK


def describe_topics(args: argparse.Namespace) -> int:
    from kafka import TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, OffsetSpec

    with admin_client(args) as admin:
        described = admin.describe_topics(list(args.topics))
        errors = []
        found = []
        for topic in described:
            error = response_error(topic["error_code"], None)
            if error:
                errors.append(f"topic {topic['name']}: {error}")
            else:
                found.append(topic)
        tps = [
            TopicPartition(t["name"], p["partition_index"]) for t in found for p in t["partitions"]
        ]
        starts = (
            admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.EARLIEST)) if tps else {}
        )
        ends = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST)) if tps else {}
        configs: dict[str, Any] = {}
        if found:
            resources = [ConfigResource(ConfigResourceType.TOPIC, t["name"]) for t in found]
            filter_ = "all" if args.all_configs else "modified"
            configs = admin.describe_configs(resources, config_filter=filter_).get("topic", {})
    out = []
    for topic in found:
        name = topic["name"]
        partitions = []
        for p in sorted(topic["partitions"], key=lambda p: p["partition_index"]):
            tp = TopicPartition(name, p["partition_index"])
            partitions.append(
                {
                    "partition": p["partition_index"],
                    "leader": p["leader_id"],
                    "leader_epoch": p.get("leader_epoch"),
                    "replicas": p["replica_nodes"],
                    "isr": p["isr_nodes"],
                    "offline_replicas": p.get("offline_replicas", []),
                    "log_start_offset": starts[tp].offset if tp in starts else None,
                    "high_watermark": ends[tp].offset if tp in ends else None,
                    "error": response_error(p["error_code"], None),
                }
            )
        topic_configs = {
            key: {"value": entry["value"], "source": entry["config_source"]}
            for key, entry in sorted(configs.get(name, {}).items())
        }
        out.append(
            {
                "topic": name,
                "topic_id": str(topic.get("topic_id")),
                "internal": bool(topic.get("is_internal")),
                "partitions": partitions,
                "configs": topic_configs,
            }
        )
    if args.output == "json":
        emit_json(out)
    else:
        for i, topic in enumerate(out):
            if i:
                print()
            parts = topic["partitions"]
            rf = max((len(p["replicas"]) for p in parts), default=0)
            print_fields(
                [
                    ("topic", topic["topic"]),
                    ("topic id", topic["topic_id"]),
                    ("partitions", len(parts)),
                    ("replication", rf),
                ]
            )
            if topic["configs"]:
                print()
                print_table(
                    ("config", "value", "source"),
                    [(k, v["value"], v["source"]) for k, v in topic["configs"].items()],
                )
            print()
            print_table(
                ("partition", "leader", "epoch", "replicas", "isr", "log-start", "high-watermark"),
                [
                    (
                        p["partition"],
                        p["leader"],
                        p["leader_epoch"],
                        _ids(p["replicas"]),
                        _ids(p["isr"]),
                        p["log_start_offset"],
                        p["high_watermark"],
                    )
                    for p in parts
                ],
            )
    return fail_if_errors(errors)


def delete_topics(args: argparse.Namespace) -> int:
    with admin_client(args) as admin:
        response = admin.delete_topics(
            list(args.topics), timeout_ms=args.timeout_ms, raise_errors=False
        )
    rows, errors = [], []
    for topic in response["topics"]:
        code = topic["error_code"]
        error = response_error(code, topic.get("error_message"))
        status = error or "deleted"
        if code == UNKNOWN_TOPIC_OR_PARTITION and args.if_exists:
            status, error = "absent", None
        if error:
            errors.append(f"topic {topic['name']}: {error}")
        rows.append({"topic": topic["name"], "status": status})
    _print_rows(args, rows, ("topic", "status"))
    return fail_if_errors(errors)


def alter_config(args: argparse.Namespace) -> int:
    from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType

    if not args.set and not args.delete:
        raise CliError("nothing to change: give --set KEY=VALUE and/or --delete KEY", 2)
    changes: dict[str, Any] = {key: (AlterConfigOp.SET, value) for key, value in args.set}
    for key in args.delete:
        if key in changes:
            raise CliError(f"{key} is both set and deleted", 2)
        changes[key] = (AlterConfigOp.DELETE, None)
    resources = [ConfigResource(ConfigResourceType.TOPIC, name, changes) for name in args.topics]
    with admin_client(args) as admin:
        result = admin.alter_configs(
            resources, validate_only=args.dry_run, raise_on_unknown=False, incremental=True
        )
    rows, errors = [], []
    for name in args.topics:
        status = clean_error(result.get("topic", {}).get(name, "no answer"))
        if status != "OK":
            errors.append(f"topic {name}: {status}")
        rows.append(
            {"topic": name, "status": "validated" if args.dry_run and status == "OK" else status}
        )
    _print_rows(args, rows, ("topic", "status"))
    return fail_if_errors(errors)


def _known(value: int | None) -> int | None:
    return None if value is None or value < 0 else value


def _ids(nodes: list[int]) -> str:
    return ",".join(str(n) for n in nodes)


def _print_rows(
    args: argparse.Namespace, rows: list[dict[str, Any]], columns: tuple[str, ...]
) -> None:
    if args.output == "json":
        emit_json(rows)
    else:
        print_table([c.replace("_", "-") for c in columns], [[r[c] for c in columns] for r in rows])
