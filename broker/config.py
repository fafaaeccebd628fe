"""Broker configuration: Kafka property names, types, defaults and validation.

Sources, later ones winning: built-in defaults, ``--config`` (a Java-style
``server.properties``), ``KAFKA_*`` environment variables mapped the way the
apache/kafka container image maps them (``KAFKA_LOG_DIRS`` -> ``log.dirs``;
``__`` -> ``_``, ``___`` -> ``-``), then ``--override key=value``. An unknown
key or a value that does not parse fails start-up with an error naming it.
Keys marked "accepted" exist so that stock Kafka configurations start, but
have no effect here; docs/configuration.md lists them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A setting is unknown or invalid; the message names the key."""


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise ValueError("expected true or false")


def _int(text: str) -> int:
    return int(text.strip())


def _str(text: str) -> str:
    return text.strip()


def _choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip()
        if value not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return value

    return parse


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    default: str | None
    minimum: int | None = None
    effective: bool = True  # False: accepted for compatibility, no effect
    doc: str = ""


_KEYS = [
    Key("node.id", _int, "1", 0, doc="This node's id."),
    Key("broker.id", _int, None, 0, doc="Alias of node.id."),
    Key("process.roles", _list, "broker,controller", doc="broker, controller or both."),
    Key("cluster.id", _str, None, doc="Cluster id; generated and stored at first start."),
    Key("listeners", _list, "PLAINTEXT://localhost:9092", doc="Where to listen."),
    Key("advertised.listeners", _list, None, doc="What to tell clients; defaults to listeners."),
    Key("listener.security.protocol.map", _str, None, effective=False),
    Key("controller.listener.names", _str, None, effective=False),
    Key("inter.broker.listener.name", _str, None, effective=False),
    Key("controller.quorum.voters", _str, None, effective=False),
    Key("controller.quorum.bootstrap.servers", _str, None, effective=False),
    Key("log.dirs", _str, None, doc="Data directory (the first one is used)."),
    Key("log.dir", _str, "./data", doc="Data directory when log.dirs is unset."),
    Key("num.partitions", _int, "1", 1),
    Key("default.replication.factor", _int, "1", 1),
    Key("auto.create.topics.enable", _bool, "true"),
    Key("delete.topic.enable", _bool, "true"),
    Key("log.retention.ms", _int, None, -1),
    Key("log.retention.minutes", _int, None, -1),
    Key("log.retention.hours", _int, "168", -1),
    Key("log.retention.bytes", _int, "-1", -1),
    Key("log.retention.check.interval.ms", _int, "300000", 1),
    Key("log.segment.bytes", _int, str(1024 * 1024 * 1024), 14),
    Key("log.roll.ms", _int, None, 1),
    Key("log.roll.hours", _int, "168", 1),
    Key("log.index.interval.bytes", _int, "4096", 0),
    Key("log.index.size.max.bytes", _int, str(10 * 1024 * 1024), 4),
    Key("log.flush.interval.messages", _int, str(2**63 - 1), 1),
    Key("log.flush.interval.ms", _int, None, 0),
    Key("log.message.timestamp.type", _choice("CreateTime", "LogAppendTime"), "CreateTime"),
    Key("log.cleanup.policy", _choice("delete"), "delete", doc="compact is not supported yet."),
    Key("message.max.bytes", _int, str(1024 * 1024 + 12), 0),
    Key("min.insync.replicas", _int, "1", 1),
    Key("unclean.leader.election.enable", _bool, "false"),
    Key(
        "compression.type",
        _choice("producer", "uncompressed", "none", "gzip", "snappy", "lz4", "zstd"),
        "producer",
    ),
    Key("socket.request.max.bytes", _int, str(100 * 1024 * 1024), 1),
    Key("socket.send.buffer.bytes", _int, "102400", effective=False),
    Key("socket.receive.buffer.bytes", _int, "102400", effective=False),
    Key("connections.max.idle.ms", _int, "600000", 1),
    Key("max.connections", _int, str(2**31 - 1), 0),
    Key("num.network.threads", _int, "3", effective=False),
    Key("num.io.threads", _int, "8", effective=False),
    Key("num.recovery.threads.per.data.dir", _int, "1", effective=False),
    Key("offsets.topic.replication.factor", _int, "1", 1),
    Key("offsets.topic.num.partitions", _int, "50", 1),
    Key("offsets.retention.minutes", _int, "10080", 1),
    Key("transaction.state.log.replication.factor", _int, "1", effective=False),
    Key("transaction.state.log.min.isr", _int, "1", effective=False),
    Key("group.initial.rebalance.delay.ms", _int, "3000", 0),
    Key("group.min.session.timeout.ms", _int, "6000", 0),
    Key("group.max.session.timeout.ms", _int, "1800000", 0),
    Key("group.max.size", _int, str(2**31 - 1), 1),
    Key("offsets.retention.check.interval.ms", _int, "600000", 1),
    Key("offset.metadata.max.bytes", _int, "4096", 0),
    Key("shutdown.timeout.ms", _int, "5000", 0, doc="Drain deadline on SIGTERM."),
]
KEYS: dict[str, Key] = {k.name: k for k in _KEYS}


def env_to_key(var: str) -> str | None:
    """``KAFKA_LOG_DIRS`` -> ``log.dirs``, as the apache/kafka image maps them."""
    if not var.startswith("KAFKA_"):
        return None
    name = var[len("KAFKA_") :].lower()
    return (
        name.replace("___", "\0")
        .replace("__", "\1")
        .replace("_", ".")
        .replace("\0", "-")
        .replace("\1", "_")
    )


# Variables of the apache/kafka image that configure the container, not Kafka.
_IMAGE_ENV = {"KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_LOG4J_OPTS"}


def read_properties(path: Path) -> dict[str, str]:
    """A Java properties file: ``key=value`` or ``key: value``, ``#``/``!`` comments."""
    out: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        for sep in ("=", ":"):
            if sep in line:
                key, value = line.split(sep, 1)
                out[key.strip()] = value.strip()
                break
        else:
            raise ConfigError(f"{path}:{lineno}: expected key=value, got {raw!r}")
    return out


@dataclass(frozen=True)
class BrokerConfig:
    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def node_id(self) -> int:
        broker_id = self.values.get("broker.id")
        return int(broker_id if broker_id is not None else self.values["node.id"])

    @property
    def data_dir(self) -> Path:
        dirs = self.values.get("log.dirs") or self.values["log.dir"]
        return Path(str(dirs).split(",")[0].strip())

    @property
    def retention_ms(self) -> int:
        for key, scale in (("log.retention.ms", 1), ("log.retention.minutes", 60_000)):
            if self.values.get(key) is not None:
                return int(self.values[key]) * scale
        return int(self.values["log.retention.hours"]) * 3_600_000

    @property
    def segment_ms(self) -> int:
        if self.values.get("log.roll.ms") is not None:
            return int(self.values["log.roll.ms"])
        return int(self.values["log.roll.hours"]) * 3_600_000

    @property
    def listeners(self) -> list[tuple[str, str, int]]:
        return [parse_listener(x) for x in self.values["listeners"]]

    @property
    def advertised_listeners(self) -> list[tuple[str, str, int]]:
        adv = self.values.get("advertised.listeners")
        return [parse_listener(x) for x in adv] if adv else self.listeners


def parse_listener(text: str) -> tuple[str, str, int]:
    """``NAME://host:port`` -> (name, host, port); an empty host means all interfaces."""
    if "://" not in text:
        raise ConfigError(f"listeners: {text!r} is not NAME://host:port")
    name, rest = text.split("://", 1)
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"listeners: {text!r} has no port")
    return name, host.strip("[]"), int(port)


def load_config(
    path: str | None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> BrokerConfig:
    raw: dict[str, str] = {}
    if path:
        raw.update(read_properties(Path(path)))
    env = os.environ if environ is None else environ
    for var, value in env.items():
        if var in _IMAGE_ENV:
            continue
        key = env_to_key(var)
        if key is not None:
            raw[key] = value
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--override {item!r}: expected key=value")
        key, value = item.split("=", 1)
        raw[key.strip()] = value
    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        text = raw.pop(key, spec.default)
        values[key] = None if text is None else _parse(spec, text)
    if raw:
        unknown = ", ".join(sorted(raw))
        raise ConfigError(f"unknown setting(s): {unknown}")
    config = BrokerConfig(values)
    for listener in config.listeners + config.advertised_listeners:
        _ = listener  # parsing validates each one
    return config


def _parse(spec: Key, text: str) -> Any:
    try:
        value = spec.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{spec.name}: invalid value {text!r} ({exc})") from None
    if spec.minimum is not None and isinstance(value, int) and value < spec.minimum:
        raise ConfigError(f"{spec.name}: {value} is below the minimum {spec.minimum}")
    return value
