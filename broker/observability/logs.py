"""Logging of a broker process: ``log.level``, ``log.format``, events, the banner.

``log.format=text`` (the default) writes ``time LEVEL logger: message``;
``log.format=json`` writes one JSON object a line: ``ts`` (ISO 8601, UTC),
``level``, ``logger``, ``message``, plus ``event`` and its fields for the
events below, and ``exception`` with the traceback when there is one.

Events (one line each, ``event`` naming it in JSON):

- ``broker_started``: the banner: version, node id, roles, listeners, data
  dir, cluster id, metrics address;
- ``log_recovered``: a partition log that was not closed cleanly, with the
  segments rescanned and the bytes truncated;
- ``topic_created`` / ``topic_deleted``: seen in the metadata image as it
  changes (whoever asked: CreateTopics, auto-creation, DeleteTopics).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.controller.image import MetadataImage
    from broker.node import Node

log = logging.getLogger("broker.events")

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Configure the root logger once for the process (replacing earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def event(name: str, message: str, *args: Any, level: int = logging.INFO, **fields: Any) -> None:
    log.log(level, message, *args, extra={"event": name, **fields})


def banner(node: Node, bound: list[tuple[str, int]], metrics: tuple[str, int] | None) -> None:
    from broker import __version__

    config = node.config
    listeners = ",".join(
        f"{name}://{host}:{port}"
        for (name, _h, _p), (host, port) in zip(config.listeners, bound, strict=False)
    )
    event(
        "broker_started",
        "raftbroker %s started: node %d, roles %s, listeners %s, data dir %s, cluster id %s%s",
        __version__,
        node.node_id,
        ",".join(config["process.roles"]),
        listeners,
        config.data_dir,
        node.cluster_id,
        f", metrics http://{metrics[0]}:{metrics[1]}/metrics" if metrics else "",
        version=__version__,
        node_id=node.node_id,
        roles=list(config["process.roles"]),
        listeners=listeners,
        data_dir=str(config.data_dir),
        cluster_id=node.cluster_id,
        metrics=f"{metrics[0]}:{metrics[1]}" if metrics else None,
    )


def log_recoveries(node: Node) -> None:
    """One line per partition log that needed recovery at start-up."""
    for (topic, index), part in sorted(node.replicas.partitions.items()):
        stats = part.log.recovery
        if stats.clean_shutdown:
            continue
        event(
            "log_recovered",
            "recovered %s-%d after an unclean shutdown: %d segments rescanned, %d bytes truncated, "
            "log end offset %d",
            topic,
            index,
            stats.segments_recovered,
            stats.bytes_truncated,
            part.log.log_end_offset,
            level=logging.WARNING if stats.bytes_truncated else logging.INFO,
            topic=topic,
            partition=index,
            segments_recovered=stats.segments_recovered,
            bytes_truncated=stats.bytes_truncated,
            log_end_offset=part.log.log_end_offset,
        )


async def log_topic_changes(old: MetadataImage, new: MetadataImage) -> None:
    """A metadata-image listener: one line per topic created or deleted."""
    for name in sorted(new.topics.keys() - old.topics.keys()):
        topic = new.topics[name]
        event(
            "topic_created",
            "topic %s created: %d partitions, id %s",
            name,
            len(topic.partitions),
            topic.topic_id,
            topic=name,
            partitions=len(topic.partitions),
            topic_id=str(topic.topic_id),
        )
    for name in sorted(old.topics.keys() - new.topics.keys()):
        event(
            "topic_deleted",
            "topic %s deleted",
            name,
            topic=name,
            topic_id=str(old.topics[name].topic_id),
        )
