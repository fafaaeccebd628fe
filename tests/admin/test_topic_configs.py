"""Topic config definitions: validation, alteration, broker defaults, describe."""

from __future__ import annotations

import pytest

from broker.config import load_config
from broker.controller import topic_configs as tc
from broker.errors import ErrorCode


def broker(*overrides: str) -> dict[str, object]:
    config = load_config(None, ["listeners=PLAINTEXT://127.0.0.1:9092", *overrides], environ={})
    return dict(config.values)


@pytest.mark.parametrize(
    ("configs", "fragment"),
    [
        (
            {"retention.ms": "soon"},
            "Invalid value soon for configuration retention.ms: Not a number of type LONG",
        ),
        ({"retention.ms": "-2"}, "retention.ms: Value must be at least -1"),
        ({"segment.bytes": str(2**31)}, "segment.bytes: Value must be no more than 2147483647"),
        ({"min.insync.replicas": "0"}, "min.insync.replicas: Value must be at least 1"),
        ({"compression.type": "brotli"}, "compression.type: String must be one of: producer"),
        # The producer's name for no codec; a topic says "uncompressed" (as Kafka 4.1).
        ({"compression.type": "none"}, "compression.type: String must be one of: producer"),
        (
            {"message.timestamp.type": "Wall"},
            "message.timestamp.type: String must be one of: CreateTime, LogAppendTime",
        ),
        ({"write.caching": "yes"}, "write.caching: Expected value to be either true or false"),
        ({"acks.min": "2"}, "acks.min: String must be one of: 0, 1, all"),
        ({"cleanup.policy": "compact"}, "log compaction is not implemented"),
        ({"cleanup.policy": "delete,compact"}, "log compaction is not implemented"),
        ({"cleanup.policy": "shred"}, "cleanup.policy: String must be one of: compact, delete"),
        ({"remote.storage.enable": "true"}, "tiered storage is not supported"),
        ({"no.such.config": "1"}, "Unknown topic config name: no.such.config"),
    ],
)
def test_invalid_values_name_the_key_and_why(configs: dict[str, str], fragment: str) -> None:
    problem = tc.validate(configs)
    assert problem is not None and fragment in problem


def test_valid_values_pass() -> None:
    good = {
        "cleanup.policy": "delete",
        "retention.ms": "-1",
        "segment.bytes": "1048576",
        "compression.type": "zstd",
        "compression.zstd.level": "-5",
        "message.timestamp.type": "LogAppendTime",
        "acks.min": "all",
        "write.caching": "true",
        "min.cleanable.dirty.ratio": "0.25",
        "leader.replication.throttled.replicas": "0:1,1:1",
        # Kafka 4.1's tiered-storage switches, which kafka-configs --all lists.
        "remote.log.copy.disable": "false",
        "remote.log.delete.on.disable": "false",
    }
    assert tc.validate(good) is None


def test_incremental_set_delete_append_subtract() -> None:
    current = {"retention.ms": "1000", "leader.replication.throttled.replicas": "0:1"}
    out = tc.alter(
        current,
        [
            ("retention.ms", tc.DELETE, None),
            ("segment.ms", tc.SET, "5000"),
            ("leader.replication.throttled.replicas", tc.APPEND, "1:1,0:1"),
            ("follower.replication.throttled.replicas", tc.APPEND, "2:1"),
        ],
        incremental=True,
    )
    assert out.error == ErrorCode.NONE
    assert out.configs == {
        "segment.ms": "5000",
        "leader.replication.throttled.replicas": "0:1,1:1",
        "follower.replication.throttled.replicas": "2:1",
    }
    out = tc.alter(
        out.configs,
        [("leader.replication.throttled.replicas", tc.SUBTRACT, "0:1")],
        incremental=True,
    )
    assert out.configs["leader.replication.throttled.replicas"] == "1:1"
    # A list config's default is the base of an APPEND: delete + delete stays one policy.
    assert tc.alter({}, [("cleanup.policy", tc.APPEND, "delete")], incremental=True).configs == {
        "cleanup.policy": "delete"
    }


def test_empty_cleanup_policy_is_valid() -> None:
    # Kafka's cleanup.policy is a list that may be empty (no cleanup: keep everything).
    emptied = tc.alter({}, [("cleanup.policy", tc.SUBTRACT, "delete")], incremental=True)
    assert emptied.error == ErrorCode.NONE and emptied.configs == {"cleanup.policy": ""}
    cleared = tc.alter({}, [("cleanup.policy", tc.SET, "")], incremental=True)
    assert cleared.error == ErrorCode.NONE and cleared.configs == {"cleanup.policy": ""}
    assert tc.validate({"cleanup.policy": ""}) is None
    assert not tc.deletes_by_retention("")
    assert tc.deletes_by_retention("delete")


def test_incremental_errors() -> None:
    non_list = tc.alter({}, [("retention.ms", tc.APPEND, "5")], incremental=True)
    assert non_list.error == ErrorCode.INVALID_CONFIG
    assert "retention.ms is not a list" in (non_list.message or "")
    dup = tc.alter({}, [("segment.ms", 0, "1"), ("segment.ms", 0, "2")], incremental=True)
    assert dup.error == ErrorCode.INVALID_REQUEST
    null = tc.alter({}, [("segment.ms", tc.SET, None)], incremental=True)
    assert null.error == ErrorCode.INVALID_REQUEST
    assert (
        tc.alter({}, [("segment.ms", 7, "1")], incremental=True).error == ErrorCode.INVALID_REQUEST
    )
    unknown = tc.alter({}, [("bogus", tc.SET, "1")], incremental=True)
    assert unknown.error == ErrorCode.INVALID_CONFIG and "bogus" in (unknown.message or "")


def test_full_alter_replaces_the_set() -> None:
    out = tc.alter(
        {"retention.ms": "1", "segment.ms": "2"}, [("segment.ms", tc.SET, "3")], incremental=False
    )
    assert out.configs == {"segment.ms": "3"}


def test_broker_defaults_follow_synonym_priority() -> None:
    assert tc.broker_default("retention.ms", broker()) == str(168 * 3_600_000)
    assert tc.broker_default("retention.ms", broker("log.retention.minutes=5")) == "300000"
    both = broker("log.retention.minutes=5", "log.retention.ms=7")
    assert tc.broker_default("retention.ms", both) == "7"
    assert tc.broker_default("segment.ms", broker("log.roll.hours=2")) == str(2 * 3_600_000)
    assert tc.broker_default("segment.bytes", broker("log.segment.bytes=4096")) == "4096"
    assert tc.broker_default("max.message.bytes", broker("message.max.bytes=999")) == "999"
    assert tc.broker_default("flush.ms", broker("log.flush.interval.ms=50")) == "50"
    assert tc.broker_default("compression.type", broker("compression.type=zstd")) == "zstd"
    assert tc.broker_default("write.caching", broker()) == "false"
    assert tc.effective({"write.caching": "true"}, broker())["write.caching"] == "true"


def test_describe_sources_and_synonyms() -> None:
    props = broker("log.retention.minutes=5")
    described = {c.name: c for c in tc.describe_topic({"segment.ms": "9"}, props)}
    assert set(described) == set(tc.TOPIC_CONFIGS)
    seg = described["segment.ms"]
    assert (seg.value, seg.source) == ("9", tc.DYNAMIC_TOPIC_CONFIG)
    assert [(s.name, s.source) for s in seg.synonyms] == [
        ("segment.ms", tc.DYNAMIC_TOPIC_CONFIG),
        ("log.roll.hours", tc.DEFAULT_CONFIG),
    ]
    ret = described["retention.ms"]
    assert (ret.value, ret.source, ret.type) == ("300000", tc.STATIC_BROKER_CONFIG, tc.LONG)
    assert [(s.name, s.value, s.source) for s in ret.synonyms] == [
        ("log.retention.minutes", "5", tc.STATIC_BROKER_CONFIG),
        ("log.retention.hours", "168", tc.DEFAULT_CONFIG),
    ]
    wc = described["write.caching"]
    assert (wc.value, wc.source, wc.type) == ("false", tc.DEFAULT_CONFIG, tc.BOOLEAN)
    assert [s.name for s in wc.synonyms] == ["write.caching"]
    assert all(c.doc for c in described.values())
    only = tc.describe_topic({}, props, {"retention.bytes", "nope"})
    assert [c.name for c in only] == ["retention.bytes"]
