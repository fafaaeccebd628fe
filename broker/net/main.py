"""``python -m broker serve``: load the config, run the node until a signal."""

from __future__ import annotations

import gc
import logging
import signal
import sys

import trio

from broker.config import BrokerConfig, ConfigError, load_config

log = logging.getLogger("broker")


def serve_main(config_path: str | None, overrides: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(config_path, overrides)
    except (ConfigError, OSError) as exc:
        print(f"broker: configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        trio.run(run_until_signal, config)
    except KeyboardInterrupt:  # a second Ctrl-C during the drain
        return 130
    return 0


async def run_until_signal(config: BrokerConfig) -> None:
    from broker.node import Node

    node = Node(config)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(node.run)
            # Everything allocated at start-up (generated codecs, the metadata
            # image) lives for the whole process: keep the cyclic GC from
            # rescanning it on every full collection.
            gc.freeze()
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                break
            await node.server.drain_connections(config["shutdown.timeout.ms"] / 1000)
            nursery.cancel_scope.cancel()
    await node.shutdown()
