"""Kafka JSON message schemas: loading and the model the generator walks.

Theory of operation
-------------------
Kafka describes every message in a JSON file (``ProduceRequest.json`` ...).
Two sources feed us: the files kafka-python ships in
``kafka/protocol/schemas/resources`` (the pinned release in pyproject.toml),
and our own files in ``broker/wire/schemas`` for what it lacks (KRaft RPCs,
metadata records, control records). Ours win when a name is in both.

A schema is a tree of :class:`FieldSpec`; struct-typed fields carry their own
fields, and ``commonStructs`` are resolved into the fields that name them.
Version ranges ("3+", "0-5", "none") become :class:`Versions`. Nothing here
emits code: :mod:`broker.wire.gen` does, from this model.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KAFKA_PYTHON_PACKAGE = "kafka.protocol.schemas.resources"
OWN_SCHEMA_DIR = Path(__file__).parent / "schemas"

_COMMENT = re.compile(r"^\s*//.*$", re.MULTILINE)

FIXED_TYPES = {
    "bool": "?",
    "int8": "b",
    "int16": "h",
    "int32": "i",
    "int64": "q",
    "uint16": "H",
    "uint32": "I",
    "float64": "d",
}
VARIABLE_TYPES = {"string", "bytes", "records", "uuid"}


@dataclass(frozen=True, slots=True)
class Versions:
    """An inclusive version range; ``high`` None means open-ended."""

    low: int
    high: int | None

    @classmethod
    def parse(cls, text: str | None) -> Versions:
        if text is None or text == "none":
            return NONE
        if text.endswith("+"):
            return cls(int(text[:-1]), None)
        if "-" in text:
            low, high = text.split("-")
            return cls(int(low), int(high))
        return cls(int(text), int(text))

    def __contains__(self, version: int) -> bool:
        return self.low <= version and (self.high is None or version <= self.high)


NONE = Versions(1, 0)


def snake(name: str) -> str:
    """``ReplicaDirectoryId`` -> ``replica_directory_id``; ``ISR`` -> ``isr``."""
    out = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    out = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", out)
    return out.lower()


@dataclass(slots=True)
class FieldSpec:
    name: str
    type: str
    versions: Versions
    nullable: Versions
    tagged: Versions
    tag: int | None
    default: Any
    flexible: Versions | None
    fields: list[FieldSpec] = field(default_factory=list)

    @property
    def attr(self) -> str:
        attr = snake(self.name)
        return attr + "_" if attr in _RESERVED else attr

    @property
    def element_type(self) -> str:
        return self.type[2:] if self.is_array else self.type

    @property
    def is_array(self) -> bool:
        return self.type.startswith("[]")

    @property
    def is_struct(self) -> bool:
        return bool(self.fields)


_RESERVED = {"from", "type", "id", "global", "class", "is", "in", "not", "or", "and"}


@dataclass(slots=True)
class MessageSpec:
    name: str
    type: str  # request, response, header, metadata, data, ...
    api_key: int | None
    valid: Versions
    flexible: Versions
    fields: list[FieldSpec]

    @property
    def module(self) -> str:
        return snake(self.name)

    def versions(self) -> range:
        assert self.valid.high is not None, self.name
        return range(self.valid.low, self.valid.high + 1)


def _field(raw: dict[str, Any], structs: dict[str, list[dict[str, Any]]]) -> FieldSpec:
    ftype: str = raw["type"]
    sub = raw.get("fields")
    element = ftype[2:] if ftype.startswith("[]") else ftype
    if sub is None and element[:1].isupper():
        sub = structs[element]
    return FieldSpec(
        name=raw["name"],
        type=ftype,
        versions=Versions.parse(raw.get("versions")),
        nullable=Versions.parse(raw.get("nullableVersions")),
        tagged=Versions.parse(raw.get("taggedVersions")),
        tag=raw.get("tag"),
        default=raw.get("default"),
        flexible=Versions.parse(raw["flexibleVersions"]) if "flexibleVersions" in raw else None,
        fields=[_field(f, structs) for f in sub or []],
    )


# Request header v0 (no client id) predates the JSON files' "1-2"; Kafka still
# reads it for ControlledShutdown v0, so we generate it too.
_LOWEST_VERSION = {"RequestHeader": 0}


def parse_message(raw: dict[str, Any]) -> MessageSpec:
    structs = {s["name"]: s["fields"] for s in raw.get("commonStructs", [])}
    valid = Versions.parse(raw["validVersions"])
    if raw["name"] in _LOWEST_VERSION:
        valid = Versions(_LOWEST_VERSION[raw["name"]], valid.high)
    return MessageSpec(
        name=raw["name"],
        type=raw["type"],
        api_key=raw.get("apiKey"),
        valid=valid,
        flexible=Versions.parse(raw.get("flexibleVersions", "none")),
        fields=[_field(f, structs) for f in raw["fields"]],
    )


def _loads(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_COMMENT.sub("", text))
    return data


def load_all() -> dict[str, MessageSpec]:
    """Every schema by name: kafka-python's first, then ours on top."""
    specs: dict[str, MessageSpec] = {}
    resources = importlib.resources.files(KAFKA_PYTHON_PACKAGE)
    for entry in sorted(resources.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            spec = parse_message(_loads(entry.read_text()))
            specs[spec.name] = spec
    if OWN_SCHEMA_DIR.is_dir():
        for path in sorted(OWN_SCHEMA_DIR.glob("*.json")):
            spec = parse_message(_loads(path.read_text()))
            specs[spec.name] = spec
    return specs
