"""``python -m broker serve``: load the config, run the node until a signal.

A problem a person can fix (a bad setting, a busy port, a host that does not
resolve, a data directory that cannot be written) is one line on stderr and
a non-zero exit, not a traceback.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import signal
import sys
from pathlib import Path

import trio

from broker.config import BrokerConfig, ConfigError, load_config
from broker.net.server import StartupError
from broker.observability import logs
from broker.observability.logs import setup_logging

log = logging.getLogger("broker")


def serve_main(config_path: str | None, overrides: list[str]) -> int:
    try:
        config = load_config(config_path, overrides)
    except (ConfigError, OSError) as exc:
        print(f"broker: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config["log.level"], config["log.format"])
    if config.ignored_env:
        log.warning(
            "ignoring environment variables that are not broker settings: %s",
            ", ".join(config.ignored_env),
        )
    if config.ignored:
        log.warning("ignoring settings that have no effect here: %s", ", ".join(config.ignored))
    raise_open_file_limit()
    try:
        check_data_dir(config.data_dir)
        trio.run(run_until_signal, config)
    except KeyboardInterrupt:  # a second Ctrl-C during the drain
        return 130
    except BaseException as exc:
        error = _startup_error(exc)
        if error is None:
            raise
        print(f"broker: {error}", file=sys.stderr)
        return 1
    return 0


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one (connections and segments
    each hold descriptors); returns (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if target == resource.RLIM_INFINITY:
        target = max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open file limit from %d to %d: %s", soft, target, exc)
            return soft, soft
        log.info("open file limit raised from %d to %d (the hard limit)", soft, target)
        return soft, target
    log.info("open file limit is %d", soft)
    return soft, soft


def check_data_dir(path: Path) -> None:
    """Create the data directory if needed and prove it is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StartupError(f"data directory {path} exists and is not a directory") from None
    except OSError as exc:
        raise StartupError(f"data directory {path} cannot be created: {exc.strerror}") from None
    probe = path / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise StartupError(f"data directory {path} is not writable: {exc.strerror}") from None


def _startup_error(exc: BaseException) -> StartupError | None:
    """The StartupError inside ``exc`` (possibly nested in exception groups)."""
    if isinstance(exc, StartupError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _startup_error(inner)
            if found is not None:
                return found
    return None


async def run_until_signal(config: BrokerConfig) -> None:
    from broker.node import Node

    try:
        node = Node(config)
    except (OSError, ValueError) as exc:  # e.g. cluster.id differs from meta.properties
        log.debug("opening %s failed", config.data_dir, exc_info=True)
        raise StartupError(f"data directory {config.data_dir}: {exc}") from None
    logs.log_recoveries(node)
    node.quorum.listeners.append(logs.log_topic_changes)
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            metrics = None
            if config["metrics.port"] >= 0:
                from broker.observability.http import serve_metrics

                metrics = await nursery.start(
                    serve_metrics, node, config["metrics.host"], config["metrics.port"]
                )
            bound = await nursery.start(node.run)
            logs.banner(node, bound, metrics)
            # One machine-readable line on stdout (logs go to stderr): the
            # address clients reach, also when listeners asked for port 0.
            _name, host, port = config.advertised_listeners[0]
            print(f"raftbroker ready on {host or 'localhost'}:{port or bound[0][1]}", flush=True)
            # Everything allocated at start-up (generated codecs, the metadata
            # image) lives for the whole process: keep the cyclic GC from
            # rescanning it on every full collection.
            gc.freeze()
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                break
            await node.controlled_shutdown()
            await node.server.drain_connections(config["shutdown.timeout.ms"] / 1000)
            nursery.cancel_scope.cancel()
    await node.shutdown()
