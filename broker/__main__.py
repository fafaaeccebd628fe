"""Command line: ``raftbroker serve [--config FILE] [--override k=v ...]`` (also
``python -m broker``), ``raftbroker format --cluster-id ID [--config FILE]``
(as kafka-storage.sh format), and the client commands of ``broker/cli``
(``docs/cli.md``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    from broker import __version__
    from broker.cli import add_client_commands, run_client_command

    parser = argparse.ArgumentParser(
        prog="raftbroker",
        description="A Kafka-compatible broker (serve) and Kafka client commands for any "
        "broker. Exit codes: 0 done, 1 refused or failed, 2 bad usage, 3 no broker reachable.",
        epilog="raftbroker COMMAND --help lists each command's options; docs/cli.md has more.",
    )
    parser.add_argument("--version", action="version", version=f"raftbroker {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = sub.add_parser("serve", help="run a broker process")
    serve.add_argument("--config", help="a Kafka-style server.properties file")
    serve.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE", help="override a property"
    )
    fmt = sub.add_parser("format", help="prepare a data directory (kafka-storage.sh format)")
    fmt.add_argument("--cluster-id", required=True, help="the cluster id to write")
    fmt.add_argument("--config", help="a Kafka-style server.properties file")
    fmt.add_argument(
        "--override", action="append", default=[], metavar="KEY=VALUE", help="override a property"
    )
    add_client_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "format":
        from broker.replication.format import format_main

        return format_main(args.cluster_id, args.config, args.override)
    code = run_client_command(args)
    if code is not None:
        return code
    if args.command == "serve":
        from broker.net.main import serve_main

        return serve_main(args.config, args.override)
    return 2


if __name__ == "__main__":
    sys.exit(main())
