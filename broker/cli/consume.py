"""``raftbroker consume TOPIC``: print records, one per line.

Without ``--group`` the command assigns itself the partitions (all, or
``-p``) and starts each at ``--offset`` (``beginning``, ``end``, a number, or
``-N`` for N before the end) or at the first record at or after
``--timestamp``. With ``--group`` it joins the group and starts where the
group left off (``--offset beginning|end`` only chooses where a group without
committed offsets starts), committing what it printed when it stops.

It stops after ``-n`` records, at the end of the partitions as they were when
it started (``-e``), after ``--idle-ms`` without a record, or on Ctrl-C or
SIGTERM (leaving its group, having committed what it printed).

Formats (``-f``): ``value`` (the value), ``kv`` (key, tab, value), ``json``
(one object a line: topic, partition, offset, timestamp, key, value, headers;
bytes that are not UTF-8 are given as base64 with ``"encoding": "base64"``).
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import sys
import time
from datetime import datetime
from typing import Any

from broker.cli.common import (
    EXIT_OK,
    CliError,
    client_config,
    positive_int,
    unreachable,
)

FORMATS = ("value", "kv", "json")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    consume = sub.add_parser("consume", parents=[parent], help="print records of a topic")
    consume.add_argument("topic")
    start = consume.add_mutually_exclusive_group()
    start.add_argument(
        "-o",
        "--offset",
        default=None,
        help="beginning (default), end, OFFSET, or -N (N records before the end)",
    )
    start.add_argument(
        "-t",
        "--timestamp",
        default=None,
        help="start at the first record at or after this time (ms since epoch or ISO 8601)",
    )
    consume.add_argument(
        "-p", "--partition", type=int, action="append", default=None, help="repeatable; default all"
    )
    consume.add_argument(
        "-n", "--count", type=positive_int, default=None, help="stop after N records"
    )
    consume.add_argument(
        "-e", "--exit-at-end", action="store_true", help="stop at the end of the partitions"
    )
    consume.add_argument(
        "--idle-ms", type=positive_int, default=None, help="stop after MS without a record"
    )
    consume.add_argument("-g", "--group", default=None, help="consume as this consumer group")
    consume.add_argument(
        "-f",
        "--record-format",
        choices=FORMATS,
        default=None,
        help="default value (json with --format json)",
    )
    consume.add_argument(
        "--isolation", choices=("read_uncommitted", "read_committed"), default="read_uncommitted"
    )
    consume.set_defaults(handler=consume_records)


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch, from a number or an ISO 8601 time (UTC if naive)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"--timestamp: not milliseconds or ISO 8601: {text!r}", 2) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _text(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return {"encoding": "base64", "data": base64.b64encode(data).decode()}


def render(record: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(
            {
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "timestamp": record.timestamp,
                "key": _text(record.key),
                "value": _text(record.value),
                "headers": [[k, _text(v)] for k, v in record.headers or []],
            }
        )
    value = (record.value or b"").decode(errors="replace")
    if fmt == "kv":
        key = (record.key or b"").decode(errors="replace")
        return f"{key}\t{value}"
    return value


def consume_records(args: argparse.Namespace) -> int:
    from kafka import KafkaConsumer, TopicPartition

    fmt = args.record_format or ("json" if args.output == "json" else "value")
    offset = args.offset or "beginning"
    if args.group and (args.timestamp or offset not in ("beginning", "end")):
        raise CliError(
            "with --group, --offset is only beginning or end (where a group without committed "
            "offsets starts); move a group with `raftbroker group reset-offsets`",
            2,
        )
    if args.group and args.partition:
        raise CliError(
            "--partition and --group exclude each other (the group assigns partitions)", 2
        )
    config = client_config(args)
    try:
        consumer = KafkaConsumer(
            group_id=args.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if offset == "beginning" else "latest",
            isolation_level=args.isolation,
            **config,
        )
    except Exception as exc:
        raise unreachable(args, exc) from None
    try:
        partitions = consumer.partitions_for_topic(args.topic)
        if not partitions:
            raise CliError(f"topic {args.topic}: UNKNOWN_TOPIC_OR_PARTITION: no such topic")
        if args.group:
            consumer.subscribe([args.topic])
        else:
            wanted = sorted(partitions) if args.partition is None else args.partition
            unknown = sorted(set(wanted) - set(partitions))
            if unknown:
                raise CliError(
                    f"topic {args.topic} has no partition {','.join(map(str, unknown))} "
                    f"(it has {len(partitions)})"
                )
            tps = [TopicPartition(args.topic, p) for p in wanted]
            consumer.assign(tps)
            _seek(consumer, tps, offset, args.timestamp)
        return _loop(consumer, args, fmt)
    finally:
        consumer.close(autocommit=False)


def _seek(consumer: Any, tps: list[Any], offset: str, timestamp: str | None) -> None:
    if timestamp is not None:
        wanted = parse_timestamp(timestamp)
        found = consumer.offsets_for_times(dict.fromkeys(tps, wanted))
        ends = consumer.end_offsets(tps)
        for tp in tps:
            hit = found.get(tp)
            consumer.seek(tp, hit.offset if hit is not None else ends[tp])
    elif offset == "beginning":
        consumer.seek_to_beginning(*tps)
    elif offset == "end":
        consumer.seek_to_end(*tps)
    else:
        try:
            number = int(offset)
        except ValueError:
            raise CliError(f"--offset: beginning, end, a number or -N, not {offset!r}", 2) from None
        starts = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        for tp in tps:
            target = ends[tp] + number if number < 0 else number
            consumer.seek(tp, min(max(target, starts[tp]), ends[tp]))


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # leave the group and commit, as on Ctrl-C


def _loop(consumer: Any, args: argparse.Namespace, fmt: str) -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    printed = 0
    ends: dict[Any, int] = {}
    last_record = time.monotonic()
    try:
        while True:
            if args.count is not None and printed >= args.count:
                break
            if args.exit_at_end and _at_end(consumer, ends):
                break
            remaining = None if args.count is None else args.count - printed
            batches = consumer.poll(timeout_ms=200, max_records=remaining)
            got = False
            for records in batches.values():
                for record in records:
                    print(render(record, fmt), flush=False)
                    printed += 1
                    got = True
            sys.stdout.flush()
            if got:
                last_record = time.monotonic()
            elif (
                args.idle_ms is not None and (time.monotonic() - last_record) * 1000 >= args.idle_ms
            ):
                break
    except KeyboardInterrupt:
        pass
    finally:
        if args.group and printed:
            consumer.commit()
        print(f"consumed {printed} records", file=sys.stderr)
    return EXIT_OK


def _at_end(consumer: Any, ends: dict[Any, int]) -> bool:
    """Every assigned partition has reached the end it had when first seen."""
    assigned = consumer.assignment()
    if not assigned:
        return False
    new = [tp for tp in assigned if tp not in ends]
    if new:
        ends.update(consumer.end_offsets(new))
    return all(consumer.position(tp) >= ends[tp] for tp in assigned)
