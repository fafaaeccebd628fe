"""Build populated instances of generated messages for a given version.

Test helper: walks the schema model alongside the generated dataclasses and
fills every field a version carries with a seeded random value of its type,
sometimes null where the version allows it, sometimes the default for
tagged fields (so both the written and the omitted tag paths run).
"""

from __future__ import annotations

import random
import uuid
from types import ModuleType
from typing import Any

from broker.wire.schema import FieldSpec, MessageSpec

_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
}
_TEXT = "abcxyzÄé漢-_.0123456789"


def _scalar(rng: random.Random, t: str) -> Any:
    if t == "bool":
        return rng.random() < 0.5
    if t in _INT_RANGES:
        low, high = _INT_RANGES[t]
        return rng.choice([low, high, 0, -1 if low < 0 else 1, rng.randint(low, high)])
    if t == "float64":
        return rng.choice([0.0, 1.5, -2.25, 1e300])
    if t == "string":
        return "".join(rng.choice(_TEXT) for _ in range(rng.randint(0, 12)))
    if t == "bytes":
        return rng.randbytes(rng.randint(0, 20))
    if t == "records":
        return memoryview(rng.randbytes(rng.randint(0, 64)))
    if t == "uuid":
        return uuid.UUID(int=rng.getrandbits(128))
    raise ValueError(t)


def fill(
    rng: random.Random, module: ModuleType, spec: MessageSpec, version: int, depth: int = 0
) -> Any:
    cls = getattr(module, spec.name)
    return _fill_struct(rng, module, cls, spec.fields, version, spec.flexible, depth)


def _fill_struct(
    rng: random.Random,
    module: ModuleType,
    cls: type,
    fields: list[FieldSpec],
    version: int,
    flexible: Any,
    depth: int,
) -> Any:
    obj = cls()
    for f in fields:
        if version not in f.versions:
            continue
        is_tagged = f.tag is not None and version in f.tagged and version in flexible
        if is_tagged and rng.random() < 0.3:
            continue  # leave the default: the tag is omitted on the wire
        if version in f.nullable and rng.random() < 0.2:
            setattr(obj, f.attr, None)
            continue
        setattr(obj, f.attr, _value(rng, module, f, version, flexible, depth))
    return obj


def _value(
    rng: random.Random, module: ModuleType, f: FieldSpec, version: int, flexible: Any, depth: int
) -> Any:
    count = rng.randint(0, 3 if depth < 2 else 1)
    if f.is_array:
        if f.is_struct:
            sub = getattr(module, f.element_type)
            return [
                _fill_struct(rng, module, sub, f.fields, version, flexible, depth + 1)
                for _ in range(count)
            ]
        return [_scalar(rng, f.element_type) for _ in range(count)]
    if f.is_struct:
        sub = getattr(module, f.type)
        return _fill_struct(rng, module, sub, f.fields, version, flexible, depth + 1)
    return _scalar(rng, f.type)
