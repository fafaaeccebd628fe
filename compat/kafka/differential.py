"""Differential testing: one request, two brokers (ours and Apache Kafka), one comparison.

``Duo`` holds a ``WireClient`` to each broker; ``duo.send(body, version)``
sends the same request body, encoded by our generated codec, to both and
returns both decoded responses as plain data (dicts, lists, scalars), after
``normalise`` has replaced what legitimately differs between two brokers:

- ids a broker picks: topic ids, cluster ids, member ids (kept as "set" or
  "empty" so that their presence is still compared), producer ids;
- addresses: host and port of brokers and coordinators;
- ``throttle_time_ms``;
- free-text ``error_message`` fields and Produce's per-record
  ``batch_index_error_message`` (the error *code* and the batch index are
  always compared);
- null and empty ``aborted_transactions`` (Kafka itself answers either);
- record batches, replaced by the records they hold as (offset, timestamp,
  key, value), so a broker's own batch framing (leader epoch stamped in the
  batch, compression) does not count.

``duo.same(body, version)`` asserts that the two agree and returns the
response; tests assert on top of it what the response must say.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from broker.recordbatch import iter_records
from broker.wire.codec import ZERO_UUID
from compat.kafka.wire_client import WireClient

Plain = Any

_ADDRESS_KEYS = frozenset({"host", "port"})
_IDS = frozenset({"topic_id", "cluster_id", "member_id", "leader", "producer_id"})
_DROPPED = frozenset({"throttle_time_ms", "error_message", "batch_index_error_message"})


def plain(value: Any) -> Plain:
    """A generated message (dataclasses, lists, memoryviews) as plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _records(data: bytes) -> list[tuple[int, int, bytes | None, bytes | None]]:
    return [(r.offset, r.timestamp, r.key, r.value) for _, r in iter_records(data)]


def normalise(value: Plain, key: str | None = None) -> Plain:
    if isinstance(value, dict):
        out: dict[str, Plain] = {}
        for k, v in value.items():
            if k in _DROPPED:
                continue
            if k in _ADDRESS_KEYS:
                out[k] = "<address>"
            elif k == "aborted_transactions" and not v:
                out[k] = []  # null or empty: no aborted transactions either way
            elif k == "records" and isinstance(v, bytes):
                out[k] = _records(v)
            elif k in _IDS and isinstance(v, str):
                out[k] = "<empty>" if v in ("", str(ZERO_UUID)) else "<set>"
            elif k == "producer_id" and isinstance(v, int):
                out[k] = v if v < 0 else "<set>"
            else:
                out[k] = normalise(v, k)
        return out
    if isinstance(value, list):
        return [normalise(v, key) for v in value]
    return value


@dataclasses.dataclass
class Pair:
    ours: Plain
    kafka: Plain


class Duo:
    def __init__(self, ours: tuple[str, int], kafka: tuple[str, int]) -> None:
        self.ours = WireClient(*ours, client_id="compat-differential")
        self.kafka = WireClient(*kafka, client_id="compat-differential")

    def close(self) -> None:
        self.ours.close()
        self.kafka.close()

    def send(self, body: Any, version: int) -> Pair:
        return Pair(
            normalise(plain(self.ours.send(body, version))),
            normalise(plain(self.kafka.send(body, version))),
        )

    def same(
        self, body: Any, version: int, *, known: Callable[[Plain], Plain] | None = None
    ) -> Plain:
        """Both responses after ``known`` (a documented difference) is applied to each."""
        pair = self.send(body, version)
        ours, theirs = pair.ours, pair.kafka
        if known is not None:
            ours, theirs = known(ours), known(theirs)
        assert ours == theirs, (
            _diff(ours, theirs) + f"\nours:  {_short(ours)}\nkafka: {_short(theirs)}"
        )
        return ours


def _diff(ours: Plain, theirs: Plain, path: str = "") -> str:
    """Where two plain values first differ, for the assertion message."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        for k in sorted(set(ours) | set(theirs)):
            if ours.get(k, "<missing>") != theirs.get(k, "<missing>"):
                return _diff(ours.get(k, "<missing>"), theirs.get(k, "<missing>"), f"{path}.{k}")
    if isinstance(ours, list) and isinstance(theirs, list) and len(ours) == len(theirs):
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            if a != b:
                return _diff(a, b, f"{path}[{i}]")
    return (
        f"ours and Kafka's responses differ at {path or '<top>'}:\n"
        f"  ours:  {_short(ours)}\n  kafka: {_short(theirs)}"
    )


def _short(value: Plain) -> str:
    text = repr(value)
    return text if len(text) < 600 else text[:600] + "..."


def drop_keys(value: Plain, keys: frozenset[str]) -> Plain:
    """``value`` without any dict entries named in ``keys``, at any depth."""
    if isinstance(value, dict):
        return {k: drop_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [drop_keys(v, keys) for v in value]
    return value


def without(entries: list[Mapping[str, Any]], field: str, names: frozenset[str]) -> list[Any]:
    return [e for e in entries if e[field] not in names]
