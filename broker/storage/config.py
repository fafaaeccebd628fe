"""Per-log configuration, named after Kafka's topic configs.

Every field is the Kafka topic config of the same name with dots turned into
underscores, with Kafka's default (4.x). `LogConfig.from_properties` accepts the
dotted names, so the broker can pass a topic's config map through unchanged.

The fsync policy is two of these knobs, as in Kafka; the log never fsyncs
in an append, it tells its owner (``flush_due``) and the owner flushes:

=========================  ===============================================
policy                     settings
=========================  ===============================================
every append               ``flush_messages=1``
every N messages           ``flush_messages=N``
every T ms (caller ticks)  ``flush_ms=T``, the owner checks
                           `flush_interval_elapsed` on its timer
never (Kafka's default)    both left at ``NEVER`` (rolled segments are
                           still flushed when ``flush_on_roll``)
=========================  ===============================================
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Final, Literal

NEVER: Final = (1 << 63) - 1
"""Kafka's Long.MAX_VALUE, the "disabled" value of the flush knobs."""

CREATE_TIME: Final = "CreateTime"
LOG_APPEND_TIME: Final = "LogAppendTime"

TimestampType = Literal["CreateTime", "LogAppendTime"]

_MAX_INT32: Final = (1 << 31) - 1


@dataclasses.dataclass(frozen=True, slots=True)
class LogConfig:
    segment_bytes: int = 1 << 30
    segment_ms: int = 7 * 24 * 3600 * 1000
    segment_index_bytes: int = 10 * 1024 * 1024
    index_interval_bytes: int = 4096
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    max_message_bytes: int = 1024 * 1024 + 12
    flush_messages: int = NEVER
    flush_ms: int = NEVER
    message_timestamp_type: TimestampType = CREATE_TIME
    message_timestamp_before_max_ms: int = NEVER
    message_timestamp_after_max_ms: int = 3600 * 1000
    # Not a Kafka config: a roll asks the owner to flush the rolled segment
    # (``flush_due``), which it does in the background, as Kafka does.
    flush_on_roll: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.segment_bytes <= _MAX_INT32:
            raise ValueError(f"segment.bytes must be in 1..{_MAX_INT32}: {self.segment_bytes}")
        if self.segment_index_bytes < 24:
            raise ValueError(f"segment.index.bytes too small: {self.segment_index_bytes}")
        if self.index_interval_bytes < 0:
            raise ValueError(f"index.interval.bytes must be >= 0: {self.index_interval_bytes}")
        if self.flush_messages < 1 or self.flush_ms < 0:
            raise ValueError("flush.messages must be >= 1 and flush.ms >= 0")
        if self.message_timestamp_type not in (CREATE_TIME, LOG_APPEND_TIME):
            raise ValueError(f"bad message.timestamp.type: {self.message_timestamp_type}")

    @classmethod
    def from_properties(cls, props: Mapping[str, str | int | bool]) -> LogConfig:
        """Build from Kafka's dotted names; unknown keys are ignored (they belong
        to other layers, e.g. ``cleanup.policy``)."""
        kwargs: dict[str, object] = {}
        for field in dataclasses.fields(cls):
            key = field.name.replace("_", ".")
            if key not in props:
                continue
            value = props[key]
            if field.name == "message_timestamp_type":
                kwargs[field.name] = str(value)
            elif field.name == "flush_on_roll":
                kwargs[field.name] = value in (True, "true", "True", "1", 1)
            else:
                kwargs[field.name] = int(value)
        return cls(**kwargs)  # type: ignore[arg-type]
