"""Stand-ins for the two Kafka command line tools librdkafka's tests call.

A few librdkafka tests shell out to ``$KAFKA_PATH/bin/kafka-topics.sh`` (to
create a topic with configs, add partitions, delete) or ``kafka-acls.sh`` (to
add ACLs). Kafka's tools need a JVM; these do the same through the broker's
admin APIs with kafka-python, so a test exercises the broker exactly as the
real tool would (and fails where the broker lacks the API, e.g. ACLs).
``write_bin_dir`` makes a ``bin/`` of shell wrappers for ``KAFKA_PATH``.

Only the options those tests use are understood::

    kafka-topics.sh --bootstrap-server B --create --topic T --partitions N
                    --replication-factor R [--config k=v ...]
    kafka-topics.sh --bootstrap-server B --alter --topic T --partitions N
    kafka-topics.sh --bootstrap-server B --delete --topic T
    kafka-acls.sh --bootstrap-server B --add (--allow-principal|--deny-principal) P
                  --operation OP (--allow-host|--deny-host) H --topic T
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TOOLS = {"kafka-topics.sh": "topics", "kafka-acls.sh": "acls"}
TIMEOUT_MS = 30_000


def write_bin_dir(root: Path, python: str) -> Path:
    """``root/bin/kafka-*.sh`` wrappers running this module with ``python``; returns root."""
    from compat.broker_process import REPO_ROOT

    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for script, command in TOOLS.items():
        path = bin_dir / script
        path.write_text(
            "#!/bin/sh\n"
            "# Written by compat/suites (raftbroker): a stand-in for Kafka's tool.\n"
            f"PYTHONPATH={shlex.quote(str(REPO_ROOT))}${{PYTHONPATH:+:$PYTHONPATH}} "
            f'exec {shlex.quote(python)} -m compat.suites.kafka_tools {command} "$@"\n'
        )
        path.chmod(0o755)
    return root


def _admin(bootstrap: str) -> Any:
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="compat-kafka-tools", request_timeout_ms=TIMEOUT_MS
    )


def topics(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="kafka-topics.sh")
    parser.add_argument("--bootstrap-server", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true")
    action.add_argument("--alter", action="store_true")
    action.add_argument("--delete", action="store_true")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--replication-factor", type=int)
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--if-not-exists", action="store_true")
    args = parser.parse_args(argv)
    admin = _admin(args.bootstrap_server)
    try:
        if args.create:
            configs = dict(item.split("=", 1) for item in args.config)
            spec = {
                "num_partitions": args.partitions or -1,
                "replication_factor": args.replication_factor or -1,
                "configs": configs,
            }
            admin.create_topics({args.topic: spec}, timeout_ms=TIMEOUT_MS)
        elif args.alter:
            if args.partitions is None:
                parser.error("--alter needs --partitions")
            admin.create_partitions({args.topic: args.partitions}, timeout_ms=TIMEOUT_MS)
        else:
            admin.delete_topics([args.topic], timeout_ms=TIMEOUT_MS)
    finally:
        admin.close()


def acls(argv: Sequence[str]) -> None:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    parser = argparse.ArgumentParser(prog="kafka-acls.sh")
    parser.add_argument("--bootstrap-server", required=True)
    parser.add_argument("--add", action="store_true", required=True)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--allow-principal")
    who.add_argument("--deny-principal")
    host = parser.add_mutually_exclusive_group()
    host.add_argument("--allow-host", default=None)
    host.add_argument("--deny-host", default=None)
    parser.add_argument("--operation", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args(argv)
    allow = args.allow_principal is not None
    acl = ACL(
        principal=args.allow_principal if allow else args.deny_principal,
        host=(args.allow_host if allow else args.deny_host) or "*",
        operation=ACLOperation[args.operation.upper().replace("-", "_")],
        permission_type=ACLPermissionType.ALLOW if allow else ACLPermissionType.DENY,
        resource_pattern=ResourcePattern(
            ResourceType.TOPIC, args.topic, ACLResourcePatternType.LITERAL
        ),
    )
    admin = _admin(args.bootstrap_server)
    try:
        result = admin.create_acls([acl])
    finally:
        admin.close()
    failed = result.get("failed") if isinstance(result, dict) else None
    if failed:
        raise RuntimeError(f"CreateAcls failed: {failed}")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in TOOLS.values():
        print(f"usage: python -m compat.suites.kafka_tools {{{','.join(TOOLS.values())}}} ...")
        return 2
    command, rest = args[0], args[1:]
    try:
        (topics if command == "topics" else acls)(rest)
    except Exception as exc:  # the calling test prints our exit status, we print why
        print(f"{command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
