"""Topic configs: which keys exist, how each value is checked, broker defaults.

A topic config overrides the broker's ``log.*`` default of the same meaning
(``retention.ms`` <- ``log.retention.ms`` ...). Validation returns an error
message naming the key and why, which CreateTopics and AlterConfigs put in
an INVALID_CONFIG result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_NEVER = str(2**63 - 1)


def _int_at_least(low: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            n = int(value)
        except ValueError:
            return "is not an integer"
        return None if n >= low else f"must be >= {low}"

    return check


def _one_of(*options: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        parts = [p.strip() for p in value.split(",")]
        bad = [p for p in parts if p not in options]
        return None if not bad else f"must be one of {', '.join(options)}"

    return check


def _boolean(value: str) -> str | None:
    return None if value.lower() in ("true", "false") else "must be true or false"


# topic config -> (validator, broker property holding its default, built-in default)
TOPIC_CONFIGS: dict[str, tuple[Callable[[str], str | None], str | None, str]] = {
    "cleanup.policy": (_one_of("delete"), "log.cleanup.policy", "delete"),
    "retention.ms": (_int_at_least(-1), None, "604800000"),
    "retention.bytes": (_int_at_least(-1), "log.retention.bytes", "-1"),
    "segment.bytes": (_int_at_least(14), "log.segment.bytes", "1073741824"),
    "segment.ms": (_int_at_least(1), None, "604800000"),
    "segment.index.bytes": (_int_at_least(4), "log.index.size.max.bytes", "10485760"),
    "index.interval.bytes": (_int_at_least(0), "log.index.interval.bytes", "4096"),
    "max.message.bytes": (_int_at_least(0), "message.max.bytes", "1048588"),
    "message.timestamp.type": (
        _one_of("CreateTime", "LogAppendTime"),
        "log.message.timestamp.type",
        "CreateTime",
    ),
    "message.timestamp.before.max.ms": (_int_at_least(0), None, _NEVER),
    "message.timestamp.after.max.ms": (_int_at_least(0), None, "3600000"),
    "compression.type": (
        _one_of("producer", "uncompressed", "none", "gzip", "snappy", "lz4", "zstd"),
        "compression.type",
        "producer",
    ),
    "min.insync.replicas": (_int_at_least(1), "min.insync.replicas", "1"),
    "flush.ms": (_int_at_least(0), None, _NEVER),
    "flush.messages": (_int_at_least(1), "log.flush.interval.messages", _NEVER),
    "unclean.leader.election.enable": (_boolean, "unclean.leader.election.enable", "false"),
    "write.caching": (_boolean, None, "false"),
    "acks.min": (_one_of("0", "1", "all", "-1"), None, "0"),
}


def validate(configs: Mapping[str, str | None]) -> str | None:
    """None if every key is known and every value valid; otherwise why not."""
    for key, value in configs.items():
        if key not in TOPIC_CONFIGS:
            return f"Unknown topic config name: {key}"
        if value is None:
            continue
        problem = TOPIC_CONFIGS[key][0](value)
        if problem:
            return f"Invalid value {value} for configuration {key}: {problem}"
    return None


def broker_default(key: str, broker: Mapping[str, Any]) -> str:
    """The default a topic gets for ``key`` from the broker's properties."""
    _check, prop, builtin = TOPIC_CONFIGS[key]
    if key == "retention.ms":
        return str(broker.get("retention_ms", builtin))
    if key == "segment.ms":
        return str(broker.get("segment_ms", builtin))
    if key == "flush.ms" and broker.get("log.flush.interval.ms") is not None:
        return str(broker["log.flush.interval.ms"])
    if prop is not None and broker.get(prop) is not None:
        value = broker[prop]
        return str(value).lower() if isinstance(value, bool) else str(value)
    return builtin


def effective(topic: Mapping[str, str], broker: Mapping[str, Any]) -> dict[str, str]:
    """Every topic config's value for a topic: its own, else the broker default."""
    return {key: topic.get(key, broker_default(key, broker)) for key in TOPIC_CONFIGS}
