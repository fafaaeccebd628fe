"""``raftbroker group list|describe|reset-offsets|delete``.

``reset-offsets`` works as ``kafka-consumer-groups.sh --reset-offsets``: it
prints the plan and changes nothing unless ``--execute`` is given, and it
refuses a group that has members (their commits would overwrite the reset).
Targets are clamped to each partition's [log start, high watermark].
"""

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
    print_fields,
    print_table,
)
from broker.cli.consume import parse_timestamp


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    group = sub.add_parser("group", help="list, describe, reset, delete consumer groups")
    verbs = group.add_subparsers(dest="verb", required=True, metavar="VERB")

    lst = verbs.add_parser("list", parents=[parent], help="list groups")
    lst.set_defaults(handler=list_groups)

    describe = verbs.add_parser(
        "describe", parents=[parent], help="state, members, committed offsets and lag"
    )
    describe.add_argument("groups", nargs="+", metavar="GROUP")
    describe.set_defaults(handler=describe_groups)

    reset = verbs.add_parser(
        "reset-offsets", parents=[parent], help="move a group's committed offsets"
    )
    reset.add_argument("group")
    reset.add_argument("--topic", required=True, action="append", help="repeatable")
    reset.add_argument(
        "-p", "--partition", type=int, action="append", default=None, help="default: all"
    )
    target = reset.add_mutually_exclusive_group(required=True)
    target.add_argument("--to-earliest", action="store_true")
    target.add_argument("--to-latest", action="store_true")
    target.add_argument("--to-offset", type=int, metavar="OFFSET")
    target.add_argument("--to-timestamp", metavar="MS|ISO8601")
    target.add_argument("--shift-by", type=int, metavar="N", help="from the committed offset")
    reset.add_argument("--execute", action="store_true", help="apply (default: show the plan)")
    reset.set_defaults(handler=reset_offsets)

    delete = verbs.add_parser("delete", parents=[parent], help="delete groups without members")
    delete.add_argument("groups", nargs="+", metavar="GROUP")
    delete.set_defaults(handler=delete_groups)


def list_groups(args: argparse.Namespace) -> int:
    with admin_client(args) as admin:
        groups = admin.list_groups()
    rows = sorted(
        (
            {
                "group": g["group_id"],
                "state": g.get("group_state") or None,
                "protocol_type": g.get("protocol_type") or None,
            }
            for g in groups
        ),
        key=lambda r: r["group"],
    )
    if args.output == "json":
        emit_json(rows)
    else:
        print_table(("group", "state", "protocol-type"), [list(r.values()) for r in rows])
    return EXIT_OK


def _lag_rows(admin: Any, group_id: str, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
    owner: dict[tuple[str, int], str] = {}
    for member in members:
        for topic, parts in member["assignment"].items():
            for p in parts:
                owner[(topic, p)] = member["member_id"]
    # Every committed partition, and the assigned ones not committed yet.
    tps = set(committed) | {TopicPartition(topic, p) for topic, p in owner}
    ends = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST)) if tps else {}
    rows = []
    for tp in sorted(tps):
        current = committed[tp].offset if tp in committed else None
        end = ends[tp].offset if tp in ends else None
        rows.append(
            {
                "topic": tp.topic,
                "partition": tp.partition,
                "committed_offset": current,
                "log_end_offset": end,
                "lag": None
                if end is None or current is None or current < 0
                else max(end - current, 0),
                "member": owner.get((tp.topic, tp.partition)),
            }
        )
    return rows


def _assignment(member: dict[str, Any]) -> dict[str, list[int]]:
    """{topic: [partitions]} from a member's decoded assignment (empty if not decoded)."""
    assignment = member.get("member_assignment")
    if isinstance(assignment, dict):
        topics = assignment.get("assigned_partitions") or []
    else:
        topics = getattr(assignment, "assigned_partitions", None) or []
    out: dict[str, list[int]] = {}
    for topic in topics:
        if isinstance(topic, dict):
            name, parts = topic.get("topic"), topic.get("partitions")
        elif isinstance(topic, tuple | list):
            name, parts = topic[0], topic[1]
        else:
            name, parts = getattr(topic, "topic", None), getattr(topic, "partitions", None)
        if name is not None:
            out[str(name)] = sorted(int(p) for p in parts or [])
    return out


def describe_groups(args: argparse.Namespace) -> int:
    errors, out = [], []
    with admin_client(args) as admin:
        described = admin.describe_groups(list(args.groups))
        for group_id in args.groups:
            group = described.get(group_id)
            if group is None or group.get("error"):
                errors.append(
                    f"group {group_id}: {clean_error((group and group['error']) or 'no answer')}"
                )
                continue
            members = [
                {
                    "member_id": m["member_id"],
                    "group_instance_id": m.get("group_instance_id"),
                    "client_id": m["client_id"],
                    "host": m["client_host"],
                    "assignment": _assignment(m),
                }
                for m in group["members"]
            ]
            state = group["group_state"]
            if state == "Dead":
                errors.append(f"group {group_id}: GROUP_ID_NOT_FOUND: no such group")
                continue
            out.append(
                {
                    "group": group_id,
                    "state": state,
                    "protocol_type": group["protocol_type"] or None,
                    "protocol": group["protocol_data"] or None,
                    "members": members,
                    "offsets": _lag_rows(admin, group_id, members),
                }
            )
    if args.output == "json":
        emit_json(out)
    else:
        for i, g in enumerate(out):
            if i:
                print()
            print_fields(
                [
                    ("group", g["group"]),
                    ("state", g["state"]),
                    ("protocol", f"{g['protocol_type'] or '-'}/{g['protocol'] or '-'}"),
                    ("members", len(g["members"])),
                ]
            )
            if g["members"]:
                print()
                print_table(
                    ("member-id", "client-id", "host", "assignment"),
                    [
                        (
                            m["member_id"],
                            m["client_id"],
                            m["host"],
                            " ".join(
                                f"{t}:{','.join(map(str, ps))}" for t, ps in m["assignment"].items()
                            )
                            or None,
                        )
                        for m in g["members"]
                    ],
                )
            print()
            print_table(
                ("topic", "partition", "committed-offset", "log-end-offset", "lag", "member"),
                [list(r.values()) for r in g["offsets"]],
            )
    return fail_if_errors(errors)


def reset_offsets(args: argparse.Namespace) -> int:
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec

    with admin_client(args) as admin:
        described = admin.describe_groups([args.group]).get(args.group) or {}
        if described.get("error"):
            raise CliError(f"group {args.group}: {clean_error(described['error'])}")
        state = described.get("group_state", "Dead")
        if described.get("members"):
            raise CliError(
                f"group {args.group} has {len(described['members'])} members (state {state}): "
                "stop its consumers before resetting its offsets"
            )
        metadata = {t["name"]: t for t in admin.describe_topics(list(args.topic))}
        tps = []
        for topic in args.topic:
            info = metadata.get(topic)
            if info is None or info["error_code"]:
                raise CliError(f"topic {topic}: UNKNOWN_TOPIC_OR_PARTITION: no such topic")
            have = sorted(p["partition_index"] for p in info["partitions"])
            wanted = have if args.partition is None else args.partition
            missing = sorted(set(wanted) - set(have))
            if missing:
                raise CliError(f"topic {topic} has no partition {','.join(map(str, missing))}")
            tps += [TopicPartition(topic, p) for p in wanted]
        committed = admin.list_group_offsets({args.group: tps}).get(args.group, {})
        earliest = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.EARLIEST))
        latest = admin.list_partition_offsets(dict.fromkeys(tps, OffsetSpec.LATEST))
        if args.to_timestamp is not None:
            by_time = admin.list_partition_offsets(
                dict.fromkeys(tps, parse_timestamp(args.to_timestamp))
            )
        plan = {}
        for tp in tps:
            low, high = earliest[tp].offset, latest[tp].offset
            current = committed[tp].offset if tp in committed else -1
            if args.to_earliest:
                target = low
            elif args.to_latest:
                target = high
            elif args.to_offset is not None:
                target = args.to_offset
            elif args.to_timestamp is not None:
                hit = by_time[tp].offset
                target = high if hit < 0 else hit
            else:
                if current < 0:
                    raise CliError(
                        f"--shift-by: group {args.group} has no committed offset for "
                        f"{tp.topic}-{tp.partition}"
                    )
                target = current + args.shift_by
            plan[tp] = (current, min(max(target, low), high))
        errors = []
        if args.execute:
            from kafka.structs import OffsetAndMetadata

            result = admin.alter_group_offsets(
                args.group,
                {tp: OffsetAndMetadata(new, "", None) for tp, (_, new) in plan.items()},
            )
            for tp, error in result.items():
                if error.errno:
                    errors.append(f"{tp.topic}-{tp.partition}: {error.message}")
    rows = [
        {
            "topic": tp.topic,
            "partition": tp.partition,
            "current_offset": None if current < 0 else current,
            "new_offset": new,
        }
        for tp, (current, new) in sorted(plan.items())
    ]
    if args.output == "json":
        emit_json({"group": args.group, "executed": args.execute, "offsets": rows})
    else:
        print_table(
            ("topic", "partition", "current-offset", "new-offset"), [list(r.values()) for r in rows]
        )
        if not args.execute:
            print("(dry run: add --execute to apply)")
    return fail_if_errors(errors)


def delete_groups(args: argparse.Namespace) -> int:
    import kafka.errors

    with admin_client(args) as admin:
        result = admin.delete_groups(list(args.groups))
    rows, errors = [], []
    for group_id in args.groups:
        outcome = result.get(group_id, "no answer")
        status = "deleted"
        if outcome != "OK":
            error = getattr(kafka.errors, str(outcome), None)
            status = f"{error.message}: {error.description}" if error else str(outcome)
            errors.append(f"group {group_id}: {status}")
        rows.append({"group": group_id, "status": status})
    if args.output == "json":
        emit_json(rows)
    else:
        print_table(("group", "status"), [list(r.values()) for r in rows])
    return fail_if_errors(errors)
