"""What every client command shares: connection options, output, errors, exit codes.

The client commands speak the Kafka protocol through kafka-python's clients
(admin, producer, consumer), so they work against this broker and against
Apache Kafka alike. kafka-python is imported only when a client command
runs: ``raftbroker serve`` never pays for it.

Exit codes (``docs/cli.md``):

====  ============================================================
 0    done
 1    the broker refused or the operation failed (the error names it)
 2    bad usage (argparse's own code)
 3    no broker reachable at the bootstrap addresses
====  ============================================================
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

BROKERS_ENV = "RAFTBROKER_BROKERS"
DEFAULT_BROKERS = "localhost:9092"


class CliError(Exception):
    """A failure the user can act on: one line on stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[argparse.Namespace], int]


def client_options() -> argparse.ArgumentParser:
    """The options of every client command (a parent parser)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "-b",
        "--brokers",
        default=os.environ.get(BROKERS_ENV, DEFAULT_BROKERS),
        metavar="HOST:PORT[,...]",
        help=f"bootstrap brokers (env {BROKERS_ENV}; default {DEFAULT_BROKERS})",
    )
    group.add_argument(
        "--format",
        dest="output",
        choices=("table", "json"),
        default="table",
        help="tables for people, json for scripts (default table)",
    )
    group.add_argument(
        "--timeout-ms",
        type=positive_int,
        default=10_000,
        metavar="MS",
        help="how long to wait for the brokers and each request (default 10000)",
    )
    group.add_argument(
        "-v", "--verbose", action="store_true", help="show the Kafka client's own log"
    )
    return parent


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text}")
    return value


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE`` (the value may be empty, the key may not)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def bootstrap(args: argparse.Namespace) -> list[str]:
    servers = [s.strip() for s in str(args.brokers).split(",") if s.strip()]
    if not servers:
        raise CliError("no brokers given (-b HOST:PORT or RAFTBROKER_BROKERS)", EXIT_USAGE)
    return servers


def client_config(args: argparse.Namespace) -> dict[str, Any]:
    """Settings every kafka-python client of a command gets."""
    return {
        "bootstrap_servers": bootstrap(args),
        "client_id": "raftbroker-cli",
        "request_timeout_ms": args.timeout_ms,
        "bootstrap_timeout_ms": args.timeout_ms,
    }


@contextmanager
def admin_client(args: argparse.Namespace) -> Iterator[Any]:
    """A connected ``KafkaAdminClient``; unreachable brokers are exit code 3."""
    from kafka.admin import KafkaAdminClient

    config = client_config(args)
    try:
        client = KafkaAdminClient(**config)
    except Exception as exc:
        raise unreachable(args, exc) from None
    try:
        yield client
    finally:
        client.close()


def unreachable(args: argparse.Namespace, exc: BaseException) -> CliError:
    return CliError(
        f"cannot reach a broker at {','.join(bootstrap(args))} within {args.timeout_ms} ms "
        f"({kafka_error_text(exc)})",
        EXIT_UNREACHABLE,
    )


def error_name(code: int) -> str:
    """``TOPIC_ALREADY_EXISTS``-style name of a Kafka error code."""
    import kafka.errors

    cls = kafka.errors.for_code(code)
    return str(getattr(cls, "message", cls.__name__))


def kafka_error_text(exc: BaseException) -> str:
    """A Kafka client exception as ``NAME: description`` without the class noise."""
    import kafka.errors

    if isinstance(exc, kafka.errors.KafkaError):
        text = clean_error(str(exc))
        if text != str(exc):
            return text
        name = getattr(exc, "message", None) or type(exc).__name__
        detail = ", ".join(str(a) for a in exc.args if str(a)) or getattr(exc, "description", "")
        return f"{name}: {detail}" if detail else str(name)
    return f"{type(exc).__name__}: {exc}"


def response_error(code: int, message: str | None) -> str | None:
    """None for NONE, else ``NAME: message`` (the broker's message if it sent one)."""
    if not code:
        return None
    import kafka.errors

    cls = kafka.errors.for_code(code)
    detail = message or getattr(cls, "description", "")
    return f"{error_name(code)}: {detail}" if detail else error_name(code)


_ERROR_TEXT = re.compile(r"\[Error (-?\d+)\] \w+:?\s*(.*)", re.DOTALL)


def clean_error(text: str) -> str:
    """kafka-python's ``[Error 40] InvalidConfigurationError: detail`` as
    ``INVALID_CONFIG: detail`` (Kafka's own name for the code)."""
    match = _ERROR_TEXT.fullmatch(text.strip())
    if match is None:
        return text
    code, detail = int(match.group(1)), match.group(2).strip()
    return f"{error_name(code)}: {detail}" if detail else error_name(code)


def run(handler: Handler, args: argparse.Namespace) -> int:
    """Run one command: Kafka and I/O failures become one stderr line and an exit code."""
    if not args.verbose:
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
    else:
        logging.basicConfig(level=logging.DEBUG)
    try:
        return handler(args)
    except CliError as exc:
        print(f"raftbroker: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head`: the reader left, that is fine
        sys.stderr.close()
        return EXIT_OK
    except Exception as exc:
        import kafka.errors

        if isinstance(exc, kafka.errors.KafkaConnectionError | kafka.errors.KafkaTimeoutError):
            print(f"raftbroker: {unreachable(args, exc)}", file=sys.stderr)
            return EXIT_UNREACHABLE
        if isinstance(exc, kafka.errors.KafkaError):
            print(f"raftbroker: {kafka_error_text(exc)}", file=sys.stderr)
            return EXIT_FAILED
        if args.verbose:
            raise
        print(
            f"raftbroker: unexpected {type(exc).__name__}: {exc} (-v shows the traceback)",
            file=sys.stderr,
        )
        return EXIT_FAILED


# -- output --------------------------------------------------------------------


def emit_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=False, default=str)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces, headers in capitals."""
    cells = [[str(h).upper() for h in headers]] + [
        ["-" if v is None else str(v) for v in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    return "\n".join(lines)


def print_fields(fields: Sequence[tuple[str, Any]]) -> None:
    """``LABEL  value`` lines with the values aligned (a record's header for people)."""
    width = max(len(label) for label, _ in fields)
    for label, value in fields:
        print(f"{label.upper().ljust(width)}  {'-' if value is None else value}")


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print(table(headers, rows))


def fail_if_errors(errors: Sequence[str]) -> int:
    """Print each error on stderr; the exit code for the lot."""
    for error in errors:
        print(f"raftbroker: {error}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK
