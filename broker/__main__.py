"""Command line: ``python -m broker serve [--config FILE] [--override k=v ...]``
and ``python -m broker format --cluster-id ID [--config FILE] [--override k=v ...]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="broker", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
    args = parser.parse_args(argv)
    if args.command == "format":
        from broker.replication.format import format_main

        return format_main(args.cluster_id, args.config, args.override)
    if args.command == "serve":
        from broker.net.main import serve_main

        return serve_main(args.config, args.override)
    return 2


if __name__ == "__main__":
    sys.exit(main())
