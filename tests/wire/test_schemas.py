"""Structural checks of our own Kafka-format message specs.

``broker/wire/schemas/*.json`` describe the messages kafka-python does not ship
(KRaft RPCs, KIP-631 metadata records, Raft control records, consumer-offsets
records).  The code generator trusts these files, so a malformed one would turn
into wrong bytes on the wire.  Every file is loaded with ``json.load`` and
validated here; the validator itself is exercised on broken copies so that it
is known to reject what it claims to reject, and on kafka-python's own schemas
so that it is known not to reject real Kafka specs.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "broker" / "wire" / "schemas"

PRIMITIVE_TYPES = frozenset(
    {
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint16",
        "uint32",
        "float64",
        "string",
        "bytes",
        "records",
        "uuid",
    }
)
# Types that may carry nullableVersions (arrays and structs are checked apart).
NULLABLE_PRIMITIVES = frozenset({"string", "bytes", "records"})

MESSAGE_TYPES = frozenset(
    {
        "request",
        "response",
        "header",
        "metadata",
        "data",
        "coordinator-key",
        "coordinator-value",
    }
)
TYPES_WITH_API_KEY = frozenset(
    {"request", "response", "metadata", "coordinator-key", "coordinator-value"}
)

MESSAGE_KEYS = frozenset(
    {
        "apiKey",
        "type",
        "listeners",
        "name",
        "validVersions",
        "flexibleVersions",
        "deprecatedVersions",
        "latestVersionUnstable",
        "fields",
        "commonStructs",
    }
)
FIELD_KEYS = frozenset(
    {
        "name",
        "type",
        "versions",
        "nullableVersions",
        "taggedVersions",
        "tag",
        "default",
        "ignorable",
        "entityType",
        "mapKey",
        "about",
        "fields",
        "flexibleVersions",
        "zeroCopy",
    }
)
STRUCT_KEYS = frozenset({"name", "versions", "fields"})

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
STRUCT_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
VERSION_RANGE = re.compile(r"^(\d+)(?:(\+)|-(\d+))?$")

MAX_VERSION = 0x7FFF

# What Kafka 4.1 has, pinned: name -> (type, apiKey, validVersions, flexibleVersions).
EXPECTED: dict[str, tuple[str, int | None, str, str]] = {
    "VoteRequest": ("request", 52, "0-2", "0+"),
    "VoteResponse": ("response", 52, "0-2", "0+"),
    "BeginQuorumEpochRequest": ("request", 53, "0-1", "1+"),
    "BeginQuorumEpochResponse": ("response", 53, "0-1", "1+"),
    "EndQuorumEpochRequest": ("request", 54, "0-1", "1+"),
    "EndQuorumEpochResponse": ("response", 54, "0-1", "1+"),
    "FetchSnapshotRequest": ("request", 59, "0-1", "0+"),
    "FetchSnapshotResponse": ("response", 59, "0-1", "0+"),
    "BrokerRegistrationRequest": ("request", 62, "0-4", "0+"),
    "BrokerRegistrationResponse": ("response", 62, "0-4", "0+"),
    "BrokerHeartbeatRequest": ("request", 63, "0-1", "0+"),
    "BrokerHeartbeatResponse": ("response", 63, "0-1", "0+"),
    "ConsumerGroupHeartbeatRequest": ("request", 68, "0-1", "0+"),
    "ConsumerGroupHeartbeatResponse": ("response", 68, "0-1", "0+"),
    "ConsumerGroupDescribeRequest": ("request", 69, "0-1", "0+"),
    "ConsumerGroupDescribeResponse": ("response", 69, "0-1", "0+"),
    "AlterPartitionRequest": ("request", 56, "2-3", "0+"),
    "AlterPartitionResponse": ("response", 56, "2-3", "0+"),
    "AddRaftVoterRequest": ("request", 80, "0", "0+"),
    "AddRaftVoterResponse": ("response", 80, "0", "0+"),
    "RemoveRaftVoterRequest": ("request", 81, "0", "0+"),
    "RemoveRaftVoterResponse": ("response", 81, "0", "0+"),
    "UpdateRaftVoterRequest": ("request", 82, "0", "0+"),
    "UpdateRaftVoterResponse": ("response", 82, "0", "0+"),
    "RegisterBrokerRecord": ("metadata", 0, "0-3", "0+"),
    "UnregisterBrokerRecord": ("metadata", 1, "0", "0+"),
    "TopicRecord": ("metadata", 2, "0", "0+"),
    "PartitionRecord": ("metadata", 3, "0-2", "0+"),
    "ConfigRecord": ("metadata", 4, "0", "0+"),
    "PartitionChangeRecord": ("metadata", 5, "0-2", "0+"),
    "FenceBrokerRecord": ("metadata", 7, "0", "0+"),
    "UnfenceBrokerRecord": ("metadata", 8, "0", "0+"),
    "RemoveTopicRecord": ("metadata", 9, "0", "0+"),
    "UserScramCredentialRecord": ("metadata", 11, "0", "0+"),
    "RemoveUserScramCredentialRecord": ("metadata", 22, "0", "0+"),
    "FeatureLevelRecord": ("metadata", 12, "0", "0+"),
    "ProducerIdsRecord": ("metadata", 15, "0", "0+"),
    "BrokerRegistrationChangeRecord": ("metadata", 17, "0-2", "0+"),
    "NoOpRecord": ("metadata", 20, "0", "0+"),
    "OffsetCommitKey": ("coordinator-key", 1, "0", "none"),
    "OffsetCommitValue": ("coordinator-value", 1, "0-4", "4+"),
    "GroupMetadataKey": ("coordinator-key", 2, "0", "none"),
    "GroupMetadataValue": ("coordinator-value", 2, "0-4", "4+"),
    "LeaderChangeMessage": ("data", None, "0", "0+"),
    "VotersRecord": ("data", None, "0", "0+"),
    "KRaftVersionRecord": ("data", None, "0", "0+"),
    "SnapshotHeaderRecord": ("data", None, "0", "0+"),
    "SnapshotFooterRecord": ("data", None, "0", "0+"),
}


@dataclass(frozen=True)
class Versions:
    """An inclusive version range; ``high`` is None for an open ``N+`` range."""

    low: int
    high: int | None

    @property
    def top(self) -> int:
        return MAX_VERSION if self.high is None else self.high

    def overlaps(self, other: Versions) -> bool:
        return self.low <= other.top and other.low <= self.top

    def within(self, other: Versions) -> bool:
        return other.low <= self.low and self.top <= other.top

    def intersect(self, other: Versions) -> Versions | None:
        if not self.overlaps(other):
            return None
        high = None if self.high is None and other.high is None else min(self.top, other.top)
        return Versions(max(self.low, other.low), high)


def parse_versions(text: object) -> Versions | None:
    """Parse Kafka's version syntax ("3", "1-4", "2+"); "none" is None."""
    if text == "none":
        return None
    if not isinstance(text, str):
        raise ValueError(f"version range must be a string, got {text!r}")
    match = VERSION_RANGE.match(text)
    if match is None:
        raise ValueError(f"bad version range {text!r}")
    low = int(match.group(1))
    if match.group(2):
        return Versions(low, None)
    high = int(match.group(3)) if match.group(3) is not None else low
    if high < low or high > MAX_VERSION:
        raise ValueError(f"bad version range {text!r}")
    return Versions(low, high)


def element_type(type_name: str) -> tuple[bool, str]:
    """Split ``[]T`` into (True, T); a scalar type gives (False, type)."""
    if type_name.startswith("[]"):
        return True, type_name[2:]
    return False, type_name


class Validator:
    """Collects every structural problem of one message spec."""

    def __init__(self, spec: dict[str, Any], stem: str | None = None, strict: bool = True) -> None:
        self.spec = spec
        self.stem = stem
        # Kafka itself keeps fields of versions it has since dropped ("0" under
        # validVersions "1-9") and nullableVersions wider than versions; our own
        # files have no such history and are held to the strict reading.
        self.strict = strict
        self.problems: list[str] = []
        self.common: dict[str, Any] = {}
        self.declared: dict[str, str] = {}
        self.valid: Versions | None = None
        self.flexible: Versions | None = None

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def versions_of(self, where: str, key: str, value: object) -> Versions | None:
        try:
            parsed = parse_versions(value)
        except ValueError as exc:
            self.fail(where, f"{key}: {exc}")
            return None
        if parsed is None:
            self.fail(where, f"{key} may not be 'none'")
        return parsed

    def run(self) -> list[str]:
        spec = self.spec
        name = spec.get("name")
        where = str(name)
        for key in ("name", "type", "validVersions", "flexibleVersions", "fields"):
            if key not in spec:
                self.fail(where, f"missing required key {key!r}")
        for key in spec:
            if key not in MESSAGE_KEYS:
                self.fail(where, f"unknown message key {key!r}")
        if not isinstance(name, str) or not STRUCT_NAME.match(name):
            self.fail(where, f"bad message name {name!r}")
        if self.stem is not None and name != self.stem:
            self.fail(where, f"file name {self.stem!r} differs from name {name!r}")
        kind = spec.get("type")
        if kind not in MESSAGE_TYPES:
            self.fail(where, f"unknown message type {kind!r}")
        suffix = str(kind).capitalize()
        if kind in ("request", "response") and not str(name).endswith(suffix):
            self.fail(where, f"a {kind} must be named ...{suffix}")
        api_key = spec.get("apiKey")
        if kind in TYPES_WITH_API_KEY:
            if not isinstance(api_key, int) or isinstance(api_key, bool) or api_key < 0:
                self.fail(where, f"{kind} needs a non-negative integer apiKey, got {api_key!r}")
        elif api_key is not None:
            self.fail(where, f"a {kind} message carries no apiKey")
        if "validVersions" in spec:
            self.valid = self.versions_of(where, "validVersions", spec["validVersions"])
            if self.valid is not None and self.valid.high is None:
                self.fail(where, "validVersions must be bounded")
        if "flexibleVersions" in spec:
            try:
                self.flexible = parse_versions(spec["flexibleVersions"])
            except ValueError as exc:
                self.fail(where, f"flexibleVersions: {exc}")
            flexible, valid = self.flexible, self.valid
            if flexible is not None and valid is not None and not flexible.overlaps(valid):
                self.fail(where, "flexibleVersions lie outside validVersions")
        self.collect_common(where)
        fields = spec.get("fields")
        if not isinstance(fields, list):
            self.fail(where, "fields must be a list")
        elif self.valid is not None:
            self.check_fields(where, fields, self.valid)
        for struct_name, struct in self.common.items():
            struct_versions = self.versions_of(
                f"{where}.{struct_name}", "versions", struct.get("versions")
            )
            struct_fields = struct.get("fields")
            if struct_versions is None or self.valid is None:
                continue
            scope = struct_versions.intersect(self.valid)
            if scope is None:
                self.fail(f"{where}.{struct_name}", "struct versions outside validVersions")
            elif isinstance(struct_fields, list):
                self.check_fields(f"{where}.{struct_name}", struct_fields, scope)
        return self.problems

    def collect_common(self, where: str) -> None:
        common = self.spec.get("commonStructs", [])
        if not isinstance(common, list):
            self.fail(where, "commonStructs must be a list")
            return
        for struct in common:
            if not isinstance(struct, dict):
                self.fail(where, "a common struct must be an object")
                continue
            struct_name = struct.get("name")
            for key in struct:
                if key not in STRUCT_KEYS:
                    self.fail(f"{where}.{struct_name}", f"unknown struct key {key!r}")
            for key in STRUCT_KEYS:
                if key not in struct:
                    self.fail(f"{where}.{struct_name}", f"missing struct key {key!r}")
            if not isinstance(struct_name, str) or not STRUCT_NAME.match(struct_name):
                self.fail(where, f"bad common struct name {struct_name!r}")
                continue
            if struct_name in self.common:
                self.fail(where, f"common struct {struct_name!r} declared twice")
            self.common[struct_name] = struct

    def check_fields(self, where: str, fields: list[Any], scope: Versions) -> None:
        """Check one struct's field list; ``scope`` is the versions it exists in."""
        names: set[str] = set()
        tags: dict[int, str] = {}
        for field in fields:
            if not isinstance(field, dict):
                self.fail(where, f"a field must be an object, got {field!r}")
                continue
            self.check_field(where, field, scope, names, tags)

    def check_field(
        self,
        where: str,
        field: dict[str, Any],
        scope: Versions,
        names: set[str],
        tags: dict[int, str],
    ) -> None:
        field_name = field.get("name")
        here = f"{where}.{field_name}"
        for key in ("name", "type", "versions"):
            if key not in field:
                self.fail(here, f"missing required key {key!r}")
        for key in field:
            if key not in FIELD_KEYS:
                self.fail(here, f"unknown field key {key!r}")
        if not isinstance(field_name, str) or not IDENTIFIER.match(field_name):
            self.fail(here, f"bad field name {field_name!r}")
        elif field_name in names:
            self.fail(here, "field name used twice in one struct")
        else:
            names.add(field_name)
        for key in ("ignorable", "mapKey", "zeroCopy"):
            if key in field and not isinstance(field[key], bool):
                self.fail(here, f"{key} must be true or false")
        if "about" in field and not isinstance(field["about"], str):
            self.fail(here, "about must be a string")

        versions = self.versions_of(here, "versions", field.get("versions"))
        active: Versions | None = None
        if versions is not None:
            active = versions.intersect(scope)
            if active is None and (self.strict or versions.low > scope.top):
                self.fail(here, f"versions {field['versions']!r} exist in no valid version")
            elif versions.high is not None and versions.high > scope.top:
                self.fail(here, f"versions {field['versions']!r} go past {scope.top}")

        type_name = field.get("type")
        if not isinstance(type_name, str):
            self.fail(here, f"type must be a string, got {type_name!r}")
            return
        is_array, base = element_type(type_name)
        is_struct = base not in PRIMITIVE_TYPES
        if is_struct and not STRUCT_NAME.match(base):
            self.fail(here, f"unknown type {type_name!r}")
            return
        if is_array and base == "records":
            self.fail(here, "records cannot be an array element")
        inline = field.get("fields")
        if not is_struct:
            if inline is not None:
                self.fail(here, f"primitive type {type_name!r} cannot have fields")
        elif inline is None:
            if base not in self.common:
                self.fail(here, f"struct type {base!r} has neither fields nor a commonStruct")
        elif base in self.common:
            self.fail(here, f"struct {base!r} is both inline and a commonStruct")
        elif not isinstance(inline, list):
            self.fail(here, "fields must be a list")
        else:
            previous = self.declared.get(base)
            if previous is not None:
                self.fail(here, f"struct name {base!r} already declared at {previous}")
            self.declared[base] = here
            if active is not None:
                self.check_fields(f"{where}.{base}", inline, active)

        if "nullableVersions" in field:
            nullable = self.versions_of(here, "nullableVersions", field["nullableVersions"])
            if not (is_array or is_struct or base in NULLABLE_PRIMITIVES):
                self.fail(here, f"type {type_name!r} cannot be nullable")
            if nullable is not None and versions is not None:
                if self.strict and not nullable.within(versions):
                    self.fail(here, "nullableVersions not within versions")
                elif not nullable.overlaps(versions):
                    self.fail(here, "nullableVersions do not meet versions")
        if field.get("default") == "null" and "nullableVersions" not in field:
            self.fail(here, "a null default needs nullableVersions")
        if field.get("mapKey") is True and is_struct:
            self.fail(here, "a struct cannot be a map key")

        has_tag = "tag" in field
        has_tagged = "taggedVersions" in field
        if has_tag != has_tagged:
            self.fail(here, "tag and taggedVersions must come together")
            return
        if not has_tag:
            return
        tag = field["tag"]
        if not isinstance(tag, int) or isinstance(tag, bool) or tag < 0:
            self.fail(here, f"tag must be a non-negative integer, got {tag!r}")
        elif tag in tags:
            self.fail(here, f"tag {tag} already used by {tags[tag]!r}")
        else:
            tags[tag] = str(field_name)
        tagged = self.versions_of(here, "taggedVersions", field["taggedVersions"])
        if tagged is None:
            return
        if tagged.high is not None:
            self.fail(here, "taggedVersions must be open-ended (N+)")
        if self.flexible is None:
            self.fail(here, "tagged field in a message with no flexible versions")
        elif not tagged.within(self.flexible):
            self.fail(here, "taggedVersions not within flexibleVersions")
        if versions is not None and not tagged.within(versions):
            self.fail(here, "taggedVersions not within versions")


def validate(spec: dict[str, Any], stem: str | None = None, strict: bool = True) -> list[str]:
    return Validator(spec, stem, strict).run()


def strip_line_comments(text: str) -> str:
    """Drop whole-line ``//`` comments, the only kind Kafka's schema files use."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def kafka_python_schema_dir() -> Path:
    spec = importlib.util.find_spec("kafka")
    assert spec is not None and spec.submodule_search_locations is not None
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / "protocol" / "schemas" / "resources"


def load_ours() -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        with path.open(encoding="utf-8") as handle:
            loaded = json.load(handle)
        assert isinstance(loaded, dict), path.name
        specs[path.stem] = loaded
    return specs


def load_kafka_python() -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {}
    for path in sorted(kafka_python_schema_dir().glob("*.json")):
        loaded = json.loads(strip_line_comments(path.read_text(encoding="utf-8")))
        assert isinstance(loaded, dict), path.name
        specs[path.stem] = loaded
    return specs


OURS = load_ours()
SHIPPED = load_kafka_python()


def walk_fields(fields: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for field in fields:
        yield field
        yield from walk_fields(field.get("fields", []))


# ---------------------------------------------------------------- our files


def test_schema_directory_holds_only_the_expected_json_files() -> None:
    others = sorted(p.name for p in SCHEMA_DIR.iterdir() if p.suffix != ".json")
    assert others == []
    assert sorted(OURS) == sorted(EXPECTED)


@pytest.mark.parametrize("stem", sorted(OURS))
def test_schema_is_structurally_sound(stem: str) -> None:
    assert validate(OURS[stem], stem) == []


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_schema_matches_kafka_4_1_header(stem: str) -> None:
    kind, api_key, valid, flexible = EXPECTED[stem]
    spec = OURS[stem]
    assert (spec["type"], spec.get("apiKey"), spec["validVersions"], spec["flexibleVersions"]) == (
        kind,
        api_key,
        valid,
        flexible,
    )


def test_no_comments_and_no_licence_text_in_our_files() -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert "//" not in text, path.name
        assert "Apache Software Foundation" not in text, path.name


def test_requests_and_responses_pair_up() -> None:
    requests = {n[: -len("Request")]: s for n, s in OURS.items() if s["type"] == "request"}
    responses = {n[: -len("Response")]: s for n, s in OURS.items() if s["type"] == "response"}
    assert sorted(requests) == sorted(responses)
    for base, request in requests.items():
        response = responses[base]
        assert request["apiKey"] == response["apiKey"], base
        assert request["validVersions"] == response["validVersions"], base
        assert request["flexibleVersions"] == response["flexibleVersions"], base
        assert request.get("listeners"), f"{base}Request names no listeners"
        assert "listeners" not in response, f"{base}Response must not name listeners"


def test_api_keys_are_unique_within_each_kind() -> None:
    seen: dict[tuple[str, int], str] = {}
    for name, spec in OURS.items():
        if "apiKey" not in spec:
            continue
        key = (str(spec["type"]), int(spec["apiKey"]))
        assert key not in seen, f"{name} and {seen[key]} share {key}"
        seen[key] = name


def test_coordinator_keys_and_values_pair_up() -> None:
    keys = {n[: -len("Key")]: s for n, s in OURS.items() if s["type"] == "coordinator-key"}
    values = {n[: -len("Value")]: s for n, s in OURS.items() if s["type"] == "coordinator-value"}
    assert sorted(keys) == sorted(values)
    for base, key_spec in keys.items():
        assert key_spec["apiKey"] == values[base]["apiKey"], base


def test_no_api_key_collides_with_a_shipped_kafka_python_schema() -> None:
    shipped: dict[tuple[str, int], str] = {}
    for name, spec in SHIPPED.items():
        if spec.get("type") in ("request", "response") and "apiKey" in spec:
            shipped[(str(spec["type"]), int(spec["apiKey"]))] = name
    assert len(shipped) > 50, "kafka-python's schemas were not found"
    for name, spec in OURS.items():
        if spec["type"] not in ("request", "response"):
            continue
        other = shipped.get((str(spec["type"]), int(spec["apiKey"])))
        assert other is None or other == name, f"{name} reuses api key of {other}"
        assert name not in SHIPPED, f"{name} duplicates a file kafka-python ships"


def test_known_kraft_fields_are_tagged() -> None:
    # A spot check of the one rule that silently changes bytes: tagged fields
    # live in the tagged-field section, never inline.
    tagged = {
        (name, field["name"])
        for name, spec in OURS.items()
        for field in walk_fields(spec["fields"])
        if "tag" in field
    }
    assert ("FetchSnapshotRequest", "ClusterId") in tagged
    assert ("FetchSnapshotResponse", "CurrentLeader") in tagged
    assert ("PartitionChangeRecord", "Directories") in tagged
    assert ("BrokerHeartbeatRequest", "OfflineLogDirs") in tagged
    assert ("VoteRequest", "ClusterId") not in tagged


# ------------------------------------------- the validator accepts real Kafka


@pytest.mark.parametrize("stem", sorted(SHIPPED))
def test_validator_accepts_kafka_pythons_shipped_schemas(stem: str) -> None:
    assert validate(SHIPPED[stem], stem, strict=False) == []


def test_shipped_fetch_schemas_carry_the_kraft_fields() -> None:
    request = {f["name"]: f for f in walk_fields(SHIPPED["FetchRequest"]["fields"])}
    response = {f["name"]: f for f in walk_fields(SHIPPED["FetchResponse"]["fields"])}
    assert (request["ClusterId"]["tag"], request["ClusterId"]["taggedVersions"]) == (0, "12+")
    assert (request["ReplicaState"]["tag"], request["ReplicaState"]["versions"]) == (1, "15+")
    assert request["ReplicaEpoch"]["type"] == "int64"
    assert request["LastFetchedEpoch"]["versions"] == "12+"
    assert (request["ReplicaDirectoryId"]["tag"], request["ReplicaDirectoryId"]["type"]) == (
        0,
        "uuid",
    )
    assert (request["HighWatermark"]["tag"], request["HighWatermark"]["versions"]) == (1, "18+")
    assert response["DivergingEpoch"]["tag"] == 0
    assert response["CurrentLeader"]["tag"] == 1
    assert response["SnapshotId"]["tag"] == 2
    assert (response["NodeEndpoints"]["tag"], response["NodeEndpoints"]["versions"]) == (0, "16+")
    assert SHIPPED["FetchRequest"]["validVersions"] == "4-18"
    assert SHIPPED["FetchResponse"]["validVersions"] == "4-18"


# ------------------------------------------ the validator rejects broken specs


def broken(stem: str) -> dict[str, Any]:
    return copy.deepcopy(OURS[stem])


def field_named(spec: dict[str, Any], name: str) -> dict[str, Any]:
    for field in walk_fields(spec["fields"]):
        if field["name"] == name:
            return field
    raise KeyError(name)


def test_parse_versions() -> None:
    assert parse_versions("3") == Versions(3, 3)
    assert parse_versions("1-4") == Versions(1, 4)
    assert parse_versions("2+") == Versions(2, None)
    assert parse_versions("none") is None
    for bad in ("", "+1", "4-1", "1-", "a", "1.0", 3):
        with pytest.raises(ValueError):
            parse_versions(bad)


def test_about_is_optional() -> None:
    spec = broken("VoteRequest")
    del field_named(spec, "ReplicaEpoch")["about"]
    assert validate(spec, "VoteRequest") == []


def _drop_key(key: str) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        del spec[key]

    return mutate


def _set_field(name: str, key: str, value: object) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        field_named(spec, name)[key] = value

    return mutate


def _del_field_key(name: str, key: str) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        del field_named(spec, name)[key]

    return mutate


def _set_top(key: str, value: object) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        spec[key] = value

    return mutate


def _duplicate_first_field(spec: dict[str, Any]) -> None:
    spec["fields"].append(copy.deepcopy(spec["fields"][0]))


def _tag_field(name: str, tag: int, tagged: str) -> Any:
    def mutate(spec: dict[str, Any]) -> None:
        field = field_named(spec, name)
        field["tag"] = tag
        field["taggedVersions"] = tagged

    return mutate


def _reuse_struct_name(spec: dict[str, Any]) -> None:
    field_named(spec, "LeaderEndpoints")["type"] = "[]TopicData"


def _drop_common_structs(spec: dict[str, Any]) -> None:
    del spec["commonStructs"]


BREAKAGES: dict[str, tuple[str, str, Any]] = {
    # id: (file, fragment of the expected complaint, mutation)
    "missing validVersions": ("VoteRequest", "validVersions", _drop_key("validVersions")),
    "missing flexibleVersions": ("TopicRecord", "flexibleVersions", _drop_key("flexibleVersions")),
    "missing fields": ("TopicRecord", "'fields'", _drop_key("fields")),
    "missing name": ("TopicRecord", "missing required key 'name'", _drop_key("name")),
    "unknown message key": ("TopicRecord", "unknown message key", _set_top("apikey", 2)),
    "unknown message type": ("TopicRecord", "unknown message type", _set_top("type", "record")),
    "string api key": ("TopicRecord", "apiKey", _set_top("apiKey", "2")),
    "data with api key": ("VotersRecord", "carries no apiKey", _set_top("apiKey", 3)),
    "open validVersions": ("VoteRequest", "bounded", _set_top("validVersions", "0+")),
    "garbled validVersions": (
        "VoteRequest",
        "bad version range",
        _set_top("validVersions", "0..2"),
    ),
    "flexible past valid": ("OffsetCommitValue", "outside", _set_top("flexibleVersions", "5+")),
    "name differs from file": ("TopicRecord", "differs", _set_top("name", "TopicsRecord")),
    "response named request": ("VoteResponse", "must be named", _set_top("name", "VoteRequest")),
    "unknown primitive": ("TopicRecord", "unknown type", _set_field("Name", "type", "str")),
    "lowercase struct type": ("VoteRequest", "unknown type", _set_field("Topics", "type", "[]x")),
    "array of records": ("TopicRecord", "array element", _set_field("Name", "type", "[]records")),
    "struct without fields": (
        "VoteRequest",
        "neither fields nor a commonStruct",
        _del_field_key("Topics", "fields"),
    ),
    "missing common struct": ("LeaderChangeMessage", "neither fields", _drop_common_structs),
    "struct name declared twice": (
        "BeginQuorumEpochRequest",
        "already declared",
        _reuse_struct_name,
    ),
    "primitive with fields": (
        "VoteRequest",
        "cannot have fields",
        _set_field("VoterId", "fields", []),
    ),
    "unknown field key": (
        "VoteResponse",
        "unknown field key",
        _set_field("NodeEndpoints", "tagVersions", "1+"),
    ),
    "field missing versions": ("TopicRecord", "'versions'", _del_field_key("TopicId", "versions")),
    "field past validVersions": (
        "VoteRequest",
        "go past",
        _set_field("PreVote", "versions", "2-3"),
    ),
    "field in no valid version": (
        "VoteRequest",
        "no valid version",
        _set_field("PreVote", "versions", "5+"),
    ),
    "nested past parent": (
        "EndQuorumEpochRequest",
        "go past",
        _set_field("CandidateId", "versions", "1-2"),
    ),
    "tag without taggedVersions": (
        "VoteResponse",
        "must come together",
        _del_field_key("NodeEndpoints", "taggedVersions"),
    ),
    "taggedVersions without tag": (
        "VoteResponse",
        "must come together",
        _del_field_key("NodeEndpoints", "tag"),
    ),
    "tagged outside flexible": (
        "BeginQuorumEpochResponse",
        "within flexibleVersions",
        _set_field("NodeEndpoints", "taggedVersions", "0+"),
    ),
    "tagged before the field exists": (
        "BrokerHeartbeatRequest",
        "within versions",
        _set_field("OfflineLogDirs", "taggedVersions", "0+"),
    ),
    "tagged in non-flexible message": (
        "OffsetCommitKey",
        "no flexible versions",
        _tag_field("group", 0, "0+"),
    ),
    "bounded taggedVersions": (
        "PartitionChangeRecord",
        "open-ended",
        _set_field("Leader", "taggedVersions", "0-1"),
    ),
    "duplicate tag": ("PartitionChangeRecord", "already used", _set_field("Directories", "tag", 6)),
    "negative tag": ("PartitionChangeRecord", "non-negative", _set_field("Directories", "tag", -1)),
    "string tag": ("PartitionChangeRecord", "non-negative", _set_field("Directories", "tag", "8")),
    "nullable int": (
        "TopicRecord",
        "cannot be nullable",
        _set_field("TopicId", "nullableVersions", "0+"),
    ),
    "nullable before the field exists": (
        "PartitionRecord",
        "nullableVersions not within",
        _set_field("LastKnownElr", "nullableVersions", "1+"),
    ),
    "null default, not nullable": (
        "PartitionRecord",
        "null default",
        _set_field("Replicas", "default", "null"),
    ),
    "ignorable as string": (
        "VoteRequest",
        "true or false",
        _set_field("VoterId", "ignorable", "true"),
    ),
    "struct as map key": ("VoteRequest", "map key", _set_field("Topics", "mapKey", True)),
    "duplicate field name": ("TopicRecord", "used twice", _duplicate_first_field),
}


@pytest.mark.parametrize("case", sorted(BREAKAGES))
def test_validator_rejects_broken_spec(case: str) -> None:
    stem, fragment, mutate = BREAKAGES[case]
    spec = broken(stem)
    assert validate(spec, stem) == [], "the unbroken file must pass first"
    mutate(spec)
    problems = validate(spec, stem)
    assert any(fragment in problem for problem in problems), problems


def test_a_broken_file_on_disk_fails_loading_or_validation(tmp_path: Path) -> None:
    # The same path the real files take: bytes on disk -> json.load -> validate.
    good = (SCHEMA_DIR / "VoteRequest.json").read_text(encoding="utf-8")
    truncated = tmp_path / "VoteRequest.json"
    truncated.write_text(good[: len(good) // 2], encoding="utf-8")
    with pytest.raises(json.JSONDecodeError), truncated.open(encoding="utf-8") as handle:
        json.load(handle)
    commented = tmp_path / "Commented.json"
    commented.write_text("// a comment\n" + good, encoding="utf-8")
    with pytest.raises(json.JSONDecodeError), commented.open(encoding="utf-8") as handle:
        json.load(handle)
    renamed = tmp_path / "VoteRequestX.json"
    renamed.write_text(good, encoding="utf-8")
    with renamed.open(encoding="utf-8") as handle:
        assert any("differs" in p for p in validate(json.load(handle), renamed.stem))
