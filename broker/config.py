"""Broker configuration: Kafka property names, types, defaults and validation.

Sources, later ones winning: built-in defaults, ``--config`` (a Java-style
``server.properties``), ``KAFKA_*`` environment variables mapped the way the
apache/kafka container image maps them (``KAFKA_LOG_DIRS`` -> ``log.dirs``;
``__`` -> ``_``, ``___`` -> ``-``), then ``--override key=value``. An unknown
key in a file or an override, or a value that does not parse, fails start-up
with an error naming it; a ``KAFKA_*`` variable that is not a broker setting
is ignored with a warning, as Kafka does with the properties the image writes
from them. ``CLUSTER_ID`` (the image's variable) is the cluster id.

Three kinds of setting are not plain values:

- ignored: they only tune a feature this broker does not have (share groups,
  metrics reporters, thread pools, replica fetchers); accepted so that stock
  configurations start, and listed once at start-up (:attr:`BrokerConfig.ignored`);
- refused: a value that would promise what is not implemented (security,
  data replication, broker-only or controller-only roles) fails start-up: :data:`NOT_IMPLEMENTED`,
  checked by :func:`refuse_unimplemented`;
- everything else takes effect. docs/configuration.md lists all three.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.security import settings as security_settings


class ConfigError(ValueError):
    """A setting is unknown or invalid; the message names the key."""


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise ValueError("expected true or false")


def _false_only(text: str) -> bool:
    # A boolean whose true is not implemented: refused by name, not ignored.
    if _bool(text):
        raise ValueError("true is not implemented; only false is accepted")
    return False


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


def _port_or_off(text: str) -> int:
    value = int(text.strip())
    if not -1 <= value <= 65535:
        raise ValueError("expected -1 (off), 0 (any free port) or a port up to 65535")
    return value


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
    Key(
        "listener.security.protocol.map",
        _list,
        None,
        doc="Listener name -> security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL).",
    ),
    Key("security.inter.broker.protocol", _str, "PLAINTEXT", doc="Only PLAINTEXT."),
    Key("controller.listener.names", _list, None, doc="Listeners mapped to PLAINTEXT by default."),
    Key("inter.broker.listener.name", _str, None, effective=False),
    Key("controller.quorum.voters", _list, None, doc="id@host:port,...: the controller quorum."),
    Key("controller.quorum.bootstrap.servers", _list, None, doc="host:port; one server."),
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
    Key(
        "unclean.leader.election.enable",
        _false_only,
        "false",
        doc="unclean leader election is not implemented; only false is accepted.",
    ),
    Key(
        "compression.type",
        _choice("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
        "producer",
    ),
    Key("socket.request.max.bytes", _int, str(100 * 1024 * 1024), 1),
    Key("socket.send.buffer.bytes", _int, "102400", effective=False),
    Key("socket.receive.buffer.bytes", _int, "102400", effective=False),
    Key(
        "connections.max.idle.ms", _int, "600000", 1, doc="Close after this long between requests."
    ),
    Key(
        "queued.max.request.bytes",
        _int,
        str(200 * 1024 * 1024),
        -1,
        doc="Request bytes buffered across connections before reading pauses (-1: no bound).",
    ),
    Key(
        "request.receive.timeout.ms",
        _int,
        "30000",
        1,
        doc="A request whose first byte arrived must be complete within this.",
    ),
    Key("max.connections", _int, str(2**31 - 1), 0),
    Key(
        "connections.max.reauth.ms",
        _int,
        "0",
        0,
        doc="SASL sessions last this long, then the client re-authenticates (KIP-368); 0: forever.",
    ),
    Key(
        "connection.failed.authentication.delay.ms",
        _int,
        "100",
        0,
        doc="A failed SASL authentication is answered (then closed) after this delay.",
    ),
    Key("num.network.threads", _int, "3", effective=False),
    Key("num.io.threads", _int, "8", effective=False),
    Key("num.recovery.threads.per.data.dir", _int, "1", effective=False),
    Key("offsets.topic.replication.factor", _int, "1", 1),
    Key("offsets.topic.num.partitions", _int, "50", 1),
    Key("offsets.retention.minutes", _int, "10080", 1),
    Key("transaction.state.log.replication.factor", _int, "1", 1, effective=False),
    Key("transaction.state.log.min.isr", _int, "1", effective=False),
    Key("background.threads", _int, "10", effective=False),
    Key("queued.max.requests", _int, "500", effective=False),
    Key("num.replica.fetchers", _int, "1", effective=False),
    Key("metric.reporters", _str, "", effective=False),
    Key("auto.include.jmx.reporter", _bool, "true", effective=False),
    Key("auto.leader.rebalance.enable", _bool, "true", effective=False),
    Key("group.coordinator.rebalance.protocols", _list, "classic,consumer", effective=False),
    Key("unstable.api.versions.enable", _bool, "false", effective=False),
    Key("group.initial.rebalance.delay.ms", _int, "3000", 0),
    Key("group.min.session.timeout.ms", _int, "6000", 0),
    Key("group.max.session.timeout.ms", _int, "1800000", 0),
    Key("group.max.size", _int, str(2**31 - 1), 1),
    Key("offsets.retention.check.interval.ms", _int, "600000", 1),
    Key("offset.metadata.max.bytes", _int, "4096", 0),
    Key("shutdown.timeout.ms", _int, "5000", 0, doc="Drain deadline on SIGTERM."),
    Key(
        "broker.heartbeat.interval.ms",
        _int,
        "2000",
        1,
        doc="How often a broker heartbeats to the active controller.",
    ),
    Key(
        "initial.broker.registration.timeout.ms",
        _int,
        "60000",
        1,
        doc="Start-up fails if the broker is not registered and unfenced within this.",
    ),
    Key(
        "broker.session.timeout.ms",
        _int,
        "9000",
        1,
        doc="A broker whose heartbeats stop this long is fenced.",
    ),
    Key(
        "metrics.port",
        _port_or_off,
        "-1",
        doc="HTTP port of /metrics, /healthz, /readyz (-1: off; 0: any free port).",
    ),
    Key("metrics.host", _str, "0.0.0.0", doc="Address the metrics listener binds."),
    Key("log.level", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", doc="Broker log level."),
    Key("log.format", _choice("text", "json"), "text", doc="text, or json: one object a line."),
]
KEYS: dict[str, Key] = {k.name: k for k in _KEYS}

# Families of settings that only tune features this broker lacks: accepted
# with any value, listed as ignored at start-up.
IGNORED_PREFIXES = (
    "share.coordinator.",  # share groups (KIP-932)
    "group.share.",
    "group.consumer.",  # the KIP-848 consumer protocol
    "transaction.",  # transactions
    "replica.",  # replica fetchers (replication is refused separately)
    "log.cleaner.",  # compaction
    "metrics.",  # metrics and reporters
    "kafka.metrics.",
    "leader.imbalance.",
    "controlled.shutdown.",
    "log.flush.scheduler.",
    "log.flush.offset.checkpoint.",
    "log.flush.start.offset.checkpoint.",
)


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


# Variables of the apache/kafka image (and of Kafka's start scripts) that
# configure the JVM or the container, not the broker: the image does not turn
# them into properties.
IMAGE_ENV = frozenset(
    {
        "KAFKA_VERSION",
        "KAFKA_HEAP_OPT",
        "KAFKA_HEAP_OPTS",
        "KAFKA_OPTS",
        "KAFKA_JMX_OPTS",
        "KAFKA_JMX_PORT",
        "KAFKA_JMX_HOSTNAME",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_LOG4J_ROOT_LOGLEVEL",
        "KAFKA_LOG4J_LOGGERS",
        "KAFKA_TOOLS_LOG4J_LOGLEVEL",
        "KAFKA_DEBUG",
        "KAFKA_HOME",
    }
)
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


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
    ignored: tuple[str, ...] = ()  # settings given that have no effect here
    ignored_env: tuple[str, ...] = ()  # KAFKA_* variables that are not settings
    # ssl.*, sasl.* and listener.name.* as given (broker/security/settings.py)
    security: Mapping[str, str] = field(default_factory=dict)

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
    def quorum_voters(self) -> dict[int, tuple[str, int]]:
        """``controller.quorum.voters`` as {id: (host, port)}; unset means this
        node alone, at its first advertised listener."""
        given = self.values.get("controller.quorum.voters")
        if not given:
            _name, host, port = self.advertised_listeners[0]
            return {self.node_id: (host or "localhost", port)}
        return dict(parse_voter(entry) for entry in given)

    @property
    def advertised_listeners(self) -> list[tuple[str, str, int]]:
        adv = self.values.get("advertised.listeners")
        return [parse_listener(x) for x in adv] if adv else self.listeners

    def security_protocol(self, listener_name: str) -> str:
        """The listener's security protocol, as Kafka resolves it."""
        mapping = self.values.get("listener.security.protocol.map")
        if mapping is None:
            # Kafka's default map is each protocol to itself; a controller
            # listener missing from an unset map is PLAINTEXT.
            if listener_name in (self.values.get("controller.listener.names") or ()):
                return "PLAINTEXT"
            if listener_name in SECURITY_PROTOCOLS:
                return listener_name
        else:
            for entry in mapping:
                name, _, protocol = entry.partition(":")
                if name.strip() == listener_name:
                    return str(protocol).strip()
        raise ConfigError(
            f"listener.security.protocol.map: no security protocol for listener {listener_name}"
        )


def parse_listener(text: str) -> tuple[str, str, int]:
    """``NAME://host:port`` -> (name, host, port); an empty host means all interfaces."""
    if "://" not in text:
        raise ConfigError(f"listeners: {text!r} is not NAME://host:port")
    name, rest = text.split("://", 1)
    host, _, port = rest.rpartition(":")
    if not port.isdigit():
        raise ConfigError(f"listeners: {text!r} has no port")
    if int(port) > 65535:
        raise ConfigError(f"listeners: {text!r}: port {port} is outside 0..65535")
    return name, host.strip("[]"), int(port)


# -- what is refused until it is implemented ---------------------------------------


@dataclass(frozen=True, slots=True)
class NotImplementedSetting:
    """A setting (or a family: a prefix ending in ".") whose value would promise
    something this broker does not do. ``problem`` returns why, or None when
    the value is one we honour."""

    key: str
    problem: Callable[[Any, BrokerConfig], str | None]


def _roles(value: list[str], config: BrokerConfig) -> str | None:
    roles = sorted(value)
    if roles == ["broker", "controller"]:
        return None
    if roles == ["broker"]:
        if not config.values.get("controller.quorum.voters"):
            return "a broker-only node needs controller.quorum.voters (the controllers it follows)"
        return None  # an observer of the metadata log (docs/cluster.md)
    return (
        "only broker,controller (every node a voter) and broker (an observer of the "
        "controllers' metadata log) are implemented; a controller-only node is not"
    )


def is_broker_only(config: BrokerConfig) -> bool:
    return sorted(config.values.get("process.roles") or []) == ["broker"]


def parse_voter(text: str) -> tuple[int, tuple[str, int]]:
    """One ``controller.quorum.voters`` entry, ``id@host:port``."""
    voter_id, sep, address = text.strip().partition("@")
    host, colon, port = address.rpartition(":")
    if not sep or not voter_id.isdigit() or not colon or not port.isdigit():
        raise ConfigError(f"controller.quorum.voters: {text!r} is not id@host:port")
    return int(voter_id), (host.strip("[]"), int(port))


def _voters(value: list[str] | None, config: BrokerConfig) -> str | None:
    """Every entry id@host:port, ids distinct, this node among them (it is a
    controller), at a port it listens on; a broker-only node not among them."""
    if not value:
        return None
    voters: dict[int, tuple[str, int]] = {}
    for entry in value:
        try:
            voter_id, address = parse_voter(entry)
        except ConfigError as exc:
            return str(exc).split(": ", 1)[1]
        if voter_id in voters:
            return f"node {voter_id} is listed twice"
        voters[voter_id] = address
    own = voters.get(config.node_id)
    if is_broker_only(config):
        if own is not None:
            return (
                f"this node ({config.node_id}) is broker-only (process.roles=broker) "
                "but listed as a voter"
            )
        return None
    if own is None:
        return (
            f"this node ({config.node_id}) is not among the voters {sorted(voters)}, "
            "and every node is a controller (process.roles=broker,controller)"
        )
    ports = {port for _name, _host, port in config.listeners}
    if len(voters) > 1 and 0 not in ports and own[1] not in ports:
        return (
            f"this node ({config.node_id}) is listed at {own[0]}:{own[1]}, but it listens on "
            f"port {', '.join(str(p) for p in sorted(ports))} (the quorum uses the node's listener)"
        )
    return None


def _bootstrap(value: list[str] | None, _config: BrokerConfig) -> str | None:
    if value and len(value) > 1:
        return (
            f"{len(value)} servers: a dynamic quorum (KIP-853) is not implemented; "
            "list the voters in controller.quorum.voters instead"
        )
    return None


def _replication(value: int, _config: BrokerConfig) -> str | None:
    if value > 1:
        return f"{value} replicas: replication is not implemented, every partition has one"
    return None


def _plaintext_only(value: str, _config: BrokerConfig) -> str | None:
    if value == "PLAINTEXT":
        return None
    return f"{value}: only PLAINTEXT is implemented between nodes (TLS and SASL are for clients)"


def _listeners(_value: Any, config: BrokerConfig) -> str | None:
    mapping = config.values.get("listener.security.protocol.map") or []
    for entry in mapping:
        name, sep, protocol = entry.partition(":")
        if not sep or protocol.strip() not in SECURITY_PROTOCOLS:
            return (
                f"listener.security.protocol.map entry {entry!r} is not "
                f"LISTENER:PROTOCOL with PROTOCOL one of {', '.join(SECURITY_PROTOCOLS)}"
            )
    names = [name for name, _host, _port in config.listeners]
    for name, _host, _port in config.listeners + config.advertised_listeners:
        config.security_protocol(name)  # every listener has a protocol
        if name not in names:
            return f"advertised.listeners: {name} is not one of the listeners ({', '.join(names)})"
    return None


def _security(_value: Any, _config: BrokerConfig) -> str | None:
    return None  # checked as a whole by broker.security.settings.check


def _set(reason: str) -> Callable[[Any, BrokerConfig], str | None]:
    return lambda value, _config: reason if value not in (None, "") else None


# The one table of refusals: a row goes when the feature lands (the cluster
# work replaces the quorum rows). Security and replication are refused rather
# than ignored because their absence changes what the operator is promised.
NOT_IMPLEMENTED: tuple[NotImplementedSetting, ...] = (
    NotImplementedSetting("process.roles", _roles),
    NotImplementedSetting("controller.quorum.voters", _voters),
    NotImplementedSetting("controller.quorum.bootstrap.servers", _bootstrap),
    NotImplementedSetting("default.replication.factor", _replication),
    NotImplementedSetting("offsets.topic.replication.factor", _replication),
    NotImplementedSetting("transaction.state.log.replication.factor", _replication),
    NotImplementedSetting("listeners", _listeners),
    NotImplementedSetting("security.inter.broker.protocol", _plaintext_only),
    # TLS and SASL: broker/security/settings.py refuses what it does not honour.
    NotImplementedSetting("ssl.", _security),
    NotImplementedSetting("sasl.", _security),
    NotImplementedSetting("listener.name.", _security),
    NotImplementedSetting("security.providers", _set("security is not implemented")),
    NotImplementedSetting("principal.builder.class", _set("authentication is not implemented")),
    NotImplementedSetting("delegation.token.", _set("delegation tokens are not implemented")),
    NotImplementedSetting(
        "authorizer.class.name", _set("authorization (ACLs) is not implemented: all is allowed")
    ),
    NotImplementedSetting("super.users", _set("authorization (ACLs) is not implemented")),
    NotImplementedSetting(
        "allow.everyone.if.no.acl.found", _set("authorization (ACLs) is not implemented")
    ),
)


def refuse_unimplemented(config: BrokerConfig, given: Mapping[str, str]) -> None:
    """Fail start-up, naming the key, on a setting whose promise we cannot keep.

    ``given`` holds the settings as given, including families that are not in
    :data:`KEYS` (``ssl.*``); keys in :data:`KEYS` are checked parsed.
    """
    for row in NOT_IMPLEMENTED:
        hits: list[tuple[str, Any]]
        if row.key.endswith("."):
            hits = sorted((k, v) for k, v in given.items() if k.startswith(row.key))
        elif row.key in KEYS:
            hits = [(row.key, config.values.get(row.key))]
        else:
            hits = [(row.key, given[row.key])] if row.key in given else []
        for key, value in hits:
            problem = row.problem(value, config)
            if problem is not None:
                raise ConfigError(f"{key}: {problem}")


def _is_refused_family(key: str) -> bool:
    return any(
        key == row.key or (row.key.endswith(".") and key.startswith(row.key))
        for row in NOT_IMPLEMENTED
        if row.key not in KEYS
    )


def _is_ignored(key: str) -> bool:
    spec = KEYS.get(key)
    if spec is not None:
        return not spec.effective
    return key.startswith(IGNORED_PREFIXES)


def load_config(
    path: str | None,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> BrokerConfig:
    raw: dict[str, str] = {}
    if path:
        raw.update(read_properties(Path(path)))
    env = os.environ if environ is None else environ
    ignored_env: list[str] = []
    for var, value in sorted(env.items()):
        if var in IMAGE_ENV:
            ignored_env.append(var)
            continue
        key = env_to_key(var)
        if key is None:
            continue
        if key in KEYS or _is_refused_family(key) or key.startswith(IGNORED_PREFIXES):
            raw[key] = value
        else:
            ignored_env.append(var)  # as Kafka warns of a property it does not know
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--override {item!r}: expected key=value")
        key, value = item.split("=", 1)
        raw[key.strip()] = value
    cluster_env = env.get("CLUSTER_ID")
    if cluster_env:
        given_id = raw.get("cluster.id")
        if given_id is not None and given_id.strip() != cluster_env.strip():
            raise ConfigError(f"cluster.id {given_id!r} differs from CLUSTER_ID {cluster_env!r}")
        raw["cluster.id"] = cluster_env
    given = dict(raw)
    ignored = sorted(k for k in raw if _is_ignored(k))
    values: dict[str, Any] = {}
    for key, spec in KEYS.items():
        text = raw.pop(key, spec.default)
        values[key] = None if text is None else _parse(spec, text)
    unknown = sorted(
        k for k in raw if not _is_refused_family(k) and not k.startswith(IGNORED_PREFIXES)
    )
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    if values["queued.max.request.bytes"] == 0:
        raise ConfigError("queued.max.request.bytes: 0 would never read a request (-1: no bound)")
    config = BrokerConfig(
        values, tuple(ignored), tuple(ignored_env), security_settings.security_settings(given)
    )
    for listener in config.listeners + config.advertised_listeners:
        _ = listener  # parsing validates each one
    refuse_unimplemented(config, given)
    try:
        security_settings.check(config)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return config


def _parse(spec: Key, text: str) -> Any:
    try:
        value = spec.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{spec.name}: invalid value {text!r} ({exc})") from None
    if spec.minimum is not None and isinstance(value, int) and value < spec.minimum:
        raise ConfigError(f"{spec.name}: {value} is below the minimum {spec.minimum}")
    return value
