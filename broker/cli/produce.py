"""``raftbroker produce TOPIC``: one record per line of stdin (or per ``--value``).

``-k SEP`` splits each line at the first SEP into key and value (a line
without SEP is a value with no key); ``-H KEY=VALUE`` adds a header to every
record. Every record is acknowledged before the command exits; the first
failed one makes the exit code 1, naming it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any

from broker.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    client_config,
    emit_json,
    kafka_error_text,
    key_value,
    unreachable,
)

COMPRESSION = ("none", "gzip", "snappy", "lz4", "zstd")


def register(sub: Any, parent: argparse.ArgumentParser) -> None:
    produce = sub.add_parser(
        "produce", parents=[parent], help="produce stdin lines (or --value) as records"
    )
    produce.add_argument("topic")
    produce.add_argument(
        "-k", "--key-separator", metavar="SEP", help="split each line into KEY SEP VALUE"
    )
    produce.add_argument(
        "-H",
        "--header",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a header on every record (repeatable)",
    )
    produce.add_argument("-p", "--partition", type=int, default=None, help="default: by key")
    produce.add_argument("--acks", choices=("0", "1", "all", "-1"), default="all")
    produce.add_argument("-z", "--compression", choices=COMPRESSION, default="none")
    produce.add_argument(
        "--value",
        action="append",
        default=None,
        metavar="TEXT",
        help="a record (repeatable) instead of stdin",
    )
    produce.add_argument("--linger-ms", type=int, default=5)
    produce.set_defaults(handler=produce_records)


def _records(args: argparse.Namespace) -> Iterator[tuple[bytes | None, bytes]]:
    lines: Any = args.value if args.value is not None else sys.stdin
    for raw in lines:
        line = raw[:-1] if raw.endswith("\n") else raw
        if args.key_separator:
            key, sep, value = line.partition(args.key_separator)
            if sep:
                yield key.encode(), value.encode()
                continue
        yield None, line.encode()


def produce_records(args: argparse.Namespace) -> int:
    from kafka import KafkaProducer

    acks: int | str = "all" if args.acks in ("all", "-1") else int(args.acks)
    headers = [(k, v.encode()) for k, v in args.header]
    config = client_config(args)
    try:
        producer = KafkaProducer(
            acks=acks,
            compression_type=None if args.compression == "none" else args.compression,
            linger_ms=args.linger_ms,
            max_block_ms=args.timeout_ms,
            **config,
        )
    except Exception as exc:
        raise unreachable(args, exc) from None
    futures = []
    results: list[dict[str, int]] = []
    failure = None
    try:
        for i, (key, value) in enumerate(_records(args)):
            try:
                futures.append(
                    producer.send(
                        args.topic, value=value, key=key, headers=headers, partition=args.partition
                    )
                )
            except Exception as exc:  # no metadata for the topic within the timeout
                failure = f"record {i + 1} to {args.topic}: {kafka_error_text(exc)}"
                break
        producer.flush(timeout=args.timeout_ms / 1000)
        for i, future in enumerate(futures):
            try:
                meta = future.get(timeout=args.timeout_ms / 1000)
            except Exception as exc:
                failure = failure or f"record {i + 1} to {args.topic}: {kafka_error_text(exc)}"
                break
            results.append({"partition": meta.partition, "offset": meta.offset})
    finally:
        producer.close(timeout=args.timeout_ms / 1000)
    if args.output == "json":
        emit_json({"topic": args.topic, "records": results})
    else:
        partitions = sorted({r["partition"] for r in results})
        print(
            f"produced {len(results)} records to {args.topic} "
            f"(partitions {','.join(map(str, partitions)) or '-'})",
            file=sys.stderr,
        )
    if failure:
        print(f"raftbroker: {failure}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK
