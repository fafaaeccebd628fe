"""Topic configs: which keys exist, how each value is checked, broker defaults.

Theory of operation
-------------------
A topic's own configs live in the metadata log as ConfigRecords; everything a
topic does not set comes from the broker. Each topic config names its broker
*synonyms* (Kafka's ``ServerTopicConfigSynonyms``), highest priority first:
``retention.ms`` <- ``log.retention.ms``, ``log.retention.minutes`` (x 60 000),
``log.retention.hours`` (x 3 600 000). The first synonym the broker has a value
for wins; with none, the topic config's built-in default applies.

DescribeConfigs reports where a value came from, as Kafka's ``ConfigSource``:
the topic itself (DYNAMIC_TOPIC_CONFIG), a property in the broker's
configuration (STATIC_BROKER_CONFIG), or a default (DEFAULT_CONFIG).
Validation returns an error message naming the key and why, which
CreateTopics and (Incremental)AlterConfigs put in an INVALID_CONFIG result.

Everything here is a pure function of its arguments: no I/O, no clock.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from broker.config import KEYS as BROKER_KEYS
from broker.errors import ErrorCode

_NEVER: Final = str(2**63 - 1)
_INT32_MAX: Final = 2**31 - 1
_INT64_MAX: Final = 2**63 - 1
_INT64_MIN: Final = -(2**63)

# DescribeConfigs ConfigType
BOOLEAN: Final = 1
STRING: Final = 2
INT: Final = 3
LONG: Final = 5
DOUBLE: Final = 6
LIST: Final = 7

# DescribeConfigs ConfigSource
DYNAMIC_TOPIC_CONFIG: Final = 1
DYNAMIC_BROKER_CONFIG: Final = 2
DYNAMIC_DEFAULT_BROKER_CONFIG: Final = 3
STATIC_BROKER_CONFIG: Final = 4
DEFAULT_CONFIG: Final = 5

# IncrementalAlterConfigs operations
SET: Final = 0
DELETE: Final = 1
APPEND: Final = 2
SUBTRACT: Final = 3

Check = Callable[[str], str | None]


# The reasons below are worded as Kafka's ConfigDef words them, so that tools
# show operators the message a Kafka broker would give.


def _integer(low: int, high: int, kind: str = "INT") -> Check:
    def check(value: str) -> str | None:
        try:
            n = int(value.strip())
        except ValueError:
            return f"Not a number of type {kind}"
        if n < low:
            return f"Value must be at least {low}"
        if n > high:
            return f"Value must be no more than {high}"
        return None

    return check


def _long_at_least(low: int) -> Check:
    return _integer(low, _INT64_MAX, "LONG")


def _int_at_least(low: int) -> Check:
    return _integer(low, _INT32_MAX, "INT")


def _ratio(value: str) -> str | None:
    try:
        x = float(value)
    except ValueError:
        return "Not a number of type DOUBLE"
    if x < 0.0:
        return "Value must be at least 0"
    return None if x <= 1.0 else "Value must be no more than 1"


def _one_of(*options: str) -> Check:
    def check(value: str) -> str | None:
        return None if value.strip() in options else f"String must be one of: {', '.join(options)}"

    return check


def _boolean(value: str) -> str | None:
    if value.strip().lower() in ("true", "false"):
        return None
    return "Expected value to be either true or false"


def _false_only(value: str) -> str | None:
    problem = _boolean(value)
    if problem:
        return problem
    return None if value.strip().lower() == "false" else "tiered storage is not supported"


def _unclean_false_only(value: str) -> str | None:
    problem = _boolean(value)
    if problem:
        return problem
    if value.strip().lower() == "false":
        return None
    return "unclean leader election is not implemented; only false is accepted"


def _cleanup_policy(value: str) -> str | None:
    # An empty list is valid, as in Kafka: no cleanup at all, so the log keeps
    # everything (retention.ms and retention.bytes do not apply; see
    # `deletes_by_retention`).
    parts = split_list(value)
    bad = [p for p in parts if p not in ("delete", "compact")]
    if bad:
        return "String must be one of: compact, delete"
    if "compact" in parts:
        return (
            "log compaction is not implemented by this broker yet; only "
            "cleanup.policy=delete is supported"
        )
    return None


def deletes_by_retention(policy: str) -> bool:
    """Whether a topic with this ``cleanup.policy`` deletes old segments by
    ``retention.ms``/``retention.bytes``: only if the list names ``delete``
    (Kafka's ``LogConfig.delete``). Without it only the log start offset
    (DeleteRecords) removes segments."""
    return "delete" in split_list(policy)


def _throttled_replicas(value: str) -> str | None:
    parts = split_list(value)
    if parts == ["*"]:
        return None
    for part in parts:
        partition, _, broker = part.partition(":")
        if not (partition.isdigit() and broker.isdigit()):
            return "must be * or a list of partition:broker pairs"
    return None


def split_list(value: str) -> list[str]:
    return [p.strip() for p in value.split(",") if p.strip()]


@dataclass(frozen=True, slots=True)
class TopicConfig:
    """One topic config: its type, check, built-in default and broker synonyms."""

    name: str
    type: int
    default: str | None
    check: Check
    doc: str
    # Broker properties that supply the default, highest priority first, with
    # the factor that turns the property's unit into the topic config's.
    synonyms: tuple[tuple[str, int], ...] = ()
    acted_on: bool = True  # False: accepted for compatibility, no effect here


def _log(name: str) -> tuple[tuple[str, int], ...]:
    return ((f"log.{name}", 1),)


_HOUR = 3_600_000
_CONFIGS = [
    TopicConfig(
        "cleanup.policy", LIST, "delete", _cleanup_policy,
        "What happens to old segments: delete removes them by retention.ms and "
        "retention.bytes; an empty list keeps them forever. compact is not implemented yet.",
        _log("cleanup.policy"),
    ),
    TopicConfig(
        "retention.ms", LONG, "604800000", _long_at_least(-1),
        "Delete a segment once its newest record is older than this; -1 keeps it forever.",
        (("log.retention.ms", 1), ("log.retention.minutes", 60_000), ("log.retention.hours", _HOUR)),
    ),
    TopicConfig(
        "retention.bytes", LONG, "-1", _long_at_least(-1),
        "Delete the oldest segments while a partition is larger than this; -1: no limit.",
        _log("retention.bytes"),
    ),
    TopicConfig(
        "segment.bytes", INT, "1073741824", _int_at_least(14),
        "Start a new segment file when the active one would grow past this size.",
        _log("segment.bytes"),
    ),
    TopicConfig(
        "segment.ms", LONG, "604800000", _long_at_least(1),
        "Start a new segment when the active one's first record is older than this.",
        (("log.roll.ms", 1), ("log.roll.hours", _HOUR)),
    ),
    TopicConfig(
        "segment.index.bytes", INT, "10485760", _int_at_least(24),
        "Size of the preallocated offset and time index files of a segment.",
        (("log.index.size.max.bytes", 1),),
    ),
    TopicConfig(
        "index.interval.bytes", INT, "4096", _int_at_least(0),
        "Bytes of log between two offset index entries.",
        _log("index.interval.bytes"),
    ),
    TopicConfig(
        "max.message.bytes", INT, "1048588", _int_at_least(0),
        "Largest record batch (after any recompression) the topic accepts.",
        (("message.max.bytes", 1),),
    ),
    TopicConfig(
        "message.timestamp.type", STRING, "CreateTime", _one_of("CreateTime", "LogAppendTime"),
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch "
        "with the broker's clock when it is appended.",
        _log("message.timestamp.type"),
    ),
    TopicConfig(
        "message.timestamp.before.max.ms", LONG, _NEVER, _long_at_least(0),
        "With CreateTime: reject batches whose timestamp is further in the past than this.",
        _log("message.timestamp.before.max.ms"),
    ),
    TopicConfig(
        "message.timestamp.after.max.ms", LONG, "3600000", _long_at_least(0),
        "With CreateTime: reject batches whose timestamp is further in the future than this.",
        _log("message.timestamp.after.max.ms"),
    ),
    TopicConfig(
        "compression.type", STRING, "producer",
        _one_of("producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"),
        "Codec batches are stored with: producer keeps the producer's; any other "
        "value recompresses batches that arrive with a different codec.",
        (("compression.type", 1),),
    ),
    TopicConfig(
        "compression.gzip.level", INT, "-1", _integer(-1, 9),
        "gzip level used when the broker recompresses (-1: the codec's default).",
        (("compression.gzip.level", 1),),
    ),
    TopicConfig(
        "compression.lz4.level", INT, "9", _integer(1, 17),
        "lz4 level used when the broker recompresses.",
        (("compression.lz4.level", 1),),
    ),
    TopicConfig(
        "compression.zstd.level", INT, "3", _integer(-131072, 22),
        "zstd level used when the broker recompresses.",
        (("compression.zstd.level", 1),),
    ),
    TopicConfig(
        "min.insync.replicas", INT, "1", _int_at_least(1),
        "Replicas that must be in sync for an acks=all produce to be accepted; "
        "fewer fails it with NOT_ENOUGH_REPLICAS.",
        (("min.insync.replicas", 1),),
    ),
    TopicConfig(
        "flush.ms", LONG, _NEVER, _long_at_least(0),
        "fsync a partition's log at least this often (checked by the broker's "
        "housekeeping, every few seconds).",
        (("log.flush.interval.ms", 1),),
    ),
    TopicConfig(
        "flush.messages", LONG, _NEVER, _long_at_least(1),
        "fsync a partition's log after this many appended messages.",
        (("log.flush.interval.messages", 1),),
    ),
    TopicConfig(
        "unclean.leader.election.enable", BOOLEAN, "false", _unclean_false_only,
        "Only false: a partition that lost a majority of its replicas stays "
        "unavailable until they return (unclean election is not implemented, "
        "so true is refused).",
        (("unclean.leader.election.enable", 1),),
    ),
    TopicConfig(
        "write.caching", BOOLEAN, "false", _boolean,
        "false: acks=all is answered after the batch is fsynced. true: after it is "
        "appended; fsync follows flush.ms / flush.messages.",
    ),
    TopicConfig(
        "acks.min", STRING, "0", _one_of("0", "1", "all", "-1"),
        "The weakest acks the broker honours for this topic: a produce with weaker "
        "acks is treated as this level (all: waits as acks=all does).",
    ),
    # Accepted so that existing tooling can create topics with them; no effect.
    TopicConfig("segment.jitter.ms", LONG, "0", _long_at_least(0), "Not used by this broker.",
                (("log.roll.jitter.ms", 1), ("log.roll.jitter.hours", _HOUR)), acted_on=False),
    TopicConfig("file.delete.delay.ms", LONG, "60000", _long_at_least(0),
                "Not used: deleted segments are removed at once.",
                (("log.segment.delete.delay.ms", 1),), acted_on=False),
    TopicConfig("preallocate", BOOLEAN, "false", _boolean, "Not used by this broker.",
                _log("preallocate"), acted_on=False),
    TopicConfig("delete.retention.ms", LONG, "86400000", _long_at_least(0),
                "Compaction setting; not used until compaction exists.",
                (("log.cleaner.delete.retention.ms", 1),), acted_on=False),
    TopicConfig("min.compaction.lag.ms", LONG, "0", _long_at_least(0),
                "Compaction setting; not used until compaction exists.",
                (("log.cleaner.min.compaction.lag.ms", 1),), acted_on=False),
    TopicConfig("max.compaction.lag.ms", LONG, _NEVER, _long_at_least(1),
                "Compaction setting; not used until compaction exists.",
                (("log.cleaner.max.compaction.lag.ms", 1),), acted_on=False),
    TopicConfig("min.cleanable.dirty.ratio", DOUBLE, "0.5", _ratio,
                "Compaction setting; not used until compaction exists.",
                (("log.cleaner.min.cleanable.ratio", 1),), acted_on=False),
    TopicConfig("remote.storage.enable", BOOLEAN, "false", _false_only,
                "Tiered storage is not supported; only false is accepted.", acted_on=False),
    TopicConfig("remote.log.copy.disable", BOOLEAN, "false", _boolean,
                "Tiered storage setting; not used.", acted_on=False),
    TopicConfig("remote.log.delete.on.disable", BOOLEAN, "false", _boolean,
                "Tiered storage setting; not used.", acted_on=False),
    TopicConfig("local.retention.ms", LONG, "-2", _long_at_least(-2),
                "Tiered storage setting; not used.", _log("local.retention.ms"), acted_on=False),
    TopicConfig("local.retention.bytes", LONG, "-2", _long_at_least(-2),
                "Tiered storage setting; not used.", _log("local.retention.bytes"), acted_on=False),
    TopicConfig("leader.replication.throttled.replicas", LIST, "", _throttled_replicas,
                "Replication throttling; not used.", acted_on=False),
    TopicConfig("follower.replication.throttled.replicas", LIST, "", _throttled_replicas,
                "Replication throttling; not used.", acted_on=False),
]  # fmt: skip
TOPIC_CONFIGS: dict[str, TopicConfig] = {c.name: c for c in _CONFIGS}


# -- validation ----------------------------------------------------------------------


def check_value(key: str, value: str) -> str | None:
    """Why ``value`` is not valid for topic config ``key``, or None."""
    config = TOPIC_CONFIGS.get(key)
    if config is None:
        return f"Unknown topic config name: {key}"
    problem = config.check(value)
    if problem:
        return f"Invalid value {value} for configuration {key}: {problem}"
    return None


def validate(configs: Mapping[str, str | None]) -> str | None:
    """None if every key is known and every value valid; otherwise why not."""
    for key, value in configs.items():
        if key not in TOPIC_CONFIGS:
            return f"Unknown topic config name: {key}"
        if value is None:
            continue
        problem = check_value(key, value)
        if problem:
            return problem
    return None


@dataclass(frozen=True, slots=True)
class AlterOutcome:
    """The configs a topic would have after an alteration, or why it cannot."""

    configs: dict[str, str]
    error: ErrorCode = ErrorCode.NONE
    message: str | None = None


def alter(
    current: Mapping[str, str],
    changes: Sequence[tuple[str, int, str | None]],
    *,
    incremental: bool,
) -> AlterOutcome:
    """Apply (key, operation, value) changes to a topic's own configs.

    ``incremental`` (IncrementalAlterConfigs): SET, DELETE, APPEND and SUBTRACT
    apply to the named keys; the rest stay. Otherwise (AlterConfigs) the
    request replaces the whole set: keys it does not name revert to defaults.
    """
    seen: set[str] = set()
    for key, _op, _value in changes:
        if key in seen:
            return AlterOutcome({}, ErrorCode.INVALID_REQUEST, f"Duplicate config key {key}")
        seen.add(key)
    result = dict(current) if incremental else {}
    for key, op, value in changes:
        config = TOPIC_CONFIGS.get(key)
        if config is None:
            return AlterOutcome({}, ErrorCode.INVALID_CONFIG, f"Unknown topic config name: {key}")
        if op == DELETE:
            result.pop(key, None)
            continue
        if op not in (SET, APPEND, SUBTRACT):
            return AlterOutcome({}, ErrorCode.INVALID_REQUEST, f"Unknown config operation {op}")
        if value is None:
            if not incremental:
                continue  # AlterConfigs: a null value resets the key
            return AlterOutcome(
                {}, ErrorCode.INVALID_REQUEST, f"Null value not supported for {key}"
            )
        if op == SET:
            result[key] = value
            continue
        if config.type != LIST:
            name = "APPEND" if op == APPEND else "SUBTRACT"
            return AlterOutcome(
                {},
                ErrorCode.INVALID_CONFIG,
                f"Config {key} is not a list: {name} applies only to list configs",
            )
        base = current.get(key)
        items = split_list(base if base is not None else (config.default or ""))
        given = split_list(value)
        if op == APPEND:
            items += [v for v in given if v not in items]
        else:
            items = [v for v in items if v not in given]
        result[key] = ",".join(items)
    for key, value in result.items():
        problem = check_value(key, value)
        if problem:
            return AlterOutcome({}, ErrorCode.INVALID_CONFIG, problem)
    return AlterOutcome(result)


# -- broker defaults -------------------------------------------------------------------


def broker_property(name: str, broker: Mapping[str, Any]) -> tuple[str | None, int]:
    """A broker property's value as text and its ConfigSource: STATIC_BROKER_CONFIG
    when it differs from the built-in default, else DEFAULT_CONFIG."""
    value = broker.get(name)
    if value is None:
        return None, DEFAULT_CONFIG
    if value == _parsed_default(name):
        return _text(value), DEFAULT_CONFIG
    return _text(value), STATIC_BROKER_CONFIG


@functools.cache
def _parsed_default(name: str) -> Any:
    key = BROKER_KEYS.get(name)
    if key is None or key.default is None:
        return None
    try:
        return key.parse(key.default)
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _from_synonyms(key: str, broker: Mapping[str, Any]) -> tuple[str, int] | None:
    for prop, factor in TOPIC_CONFIGS[key].synonyms:
        value = broker.get(prop)
        if value is None:
            continue
        text, source = broker_property(prop, broker)
        assert text is not None
        if factor != 1:
            text = str(int(text) * factor)
        return text, source
    return None


def broker_default(key: str, broker: Mapping[str, Any]) -> str:
    """The default a topic gets for ``key`` from the broker's properties."""
    if key == "retention.ms" and "retention_ms" in broker:
        return str(broker["retention_ms"])
    if key == "segment.ms" and "segment_ms" in broker:
        return str(broker["segment_ms"])
    found = _from_synonyms(key, broker)
    if found is not None:
        return found[0]
    return TOPIC_CONFIGS[key].default or ""


def effective(topic: Mapping[str, str], broker: Mapping[str, Any]) -> dict[str, str]:
    """Every topic config's value for a topic: its own, else the broker default."""
    return {key: topic.get(key, broker_default(key, broker)) for key in TOPIC_CONFIGS}


# -- describing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Synonym:
    name: str
    value: str | None
    source: int


@dataclass(frozen=True, slots=True)
class DescribedConfig:
    """One entry of a DescribeConfigs result."""

    name: str
    value: str | None
    source: int
    type: int
    doc: str
    read_only: bool = False
    sensitive: bool = False
    synonyms: tuple[Synonym, ...] = ()


def describe_topic(
    own: Mapping[str, str], broker: Mapping[str, Any], keys: Collection[str] | None = None
) -> list[DescribedConfig]:
    """A topic's configs (all of them, or those in ``keys``) with their sources
    and synonyms in priority order: the topic's own value, then each broker
    synonym the broker has a value for, then the built-in default."""
    out = []
    for config in _CONFIGS:
        if keys is not None and config.name not in keys:
            continue
        synonyms: list[Synonym] = []
        if config.name in own:
            synonyms.append(Synonym(config.name, own[config.name], DYNAMIC_TOPIC_CONFIG))
        for prop, _factor in config.synonyms:
            text, source = broker_property(prop, broker)
            if text is not None:
                synonyms.append(Synonym(prop, text, source))
        value: str | None
        if config.name in own:
            value, source = own[config.name], DYNAMIC_TOPIC_CONFIG
        else:
            found = _from_synonyms(config.name, broker)
            value, source = found if found is not None else (config.default, DEFAULT_CONFIG)
            if not synonyms:
                synonyms.append(Synonym(config.name, config.default, DEFAULT_CONFIG))
        out.append(
            DescribedConfig(config.name, value, source, config.type, config.doc, False, False,
                            tuple(synonyms))
        )  # fmt: skip
    return out
