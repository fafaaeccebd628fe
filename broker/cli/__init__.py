"""The client commands of ``raftbroker`` (``docs/cli.md``): one module per group.

``add_client_commands`` adds them to the top-level parser of
``broker/__main__.py``; each leaf parser sets ``handler``, which
``broker.cli.common.run`` calls with its errors turned into exit codes.
"""

from __future__ import annotations

import argparse
from typing import Any

from broker.cli import cluster, consume, group, produce, topic
from broker.cli.common import client_options, run


def add_client_commands(sub: Any) -> None:
    parent = client_options()
    for module in (topic, produce, consume, group, cluster):
        module.register(sub, parent)


def run_client_command(args: argparse.Namespace) -> int | None:
    """The exit code of the client command ``args`` names; None if it names none."""
    handler = getattr(args, "handler", None)
    if handler is None:
        return None
    return run(handler, args)
