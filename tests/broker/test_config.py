"""Configuration: properties files, KAFKA_* variables, overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import ConfigError, env_to_key, load_config, parse_listener


def test_sources_in_order_of_precedence(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text("# comment\nnum.partitions=3\nlog.dirs = /a\nlog.retention.hours: 5\n")
    config = load_config(
        str(props),
        ["log.dirs=/c"],
        environ={"KAFKA_NUM_PARTITIONS": "4", "KAFKA_LOG_DIRS": "/b", "KAFKA_HEAP_OPTS": "-Xmx1G"},
    )
    assert config["num.partitions"] == 4  # env over file
    assert str(config.data_dir) == "/c"  # override over env
    assert config.retention_ms == 5 * 3_600_000


def test_env_mapping_follows_the_apache_kafka_image() -> None:
    assert env_to_key("KAFKA_LOG_DIRS") == "log.dirs"
    assert env_to_key("KAFKA_ADVERTISED_LISTENERS") == "advertised.listeners"
    assert env_to_key("KAFKA_FOO__BAR") == "foo_bar"
    assert env_to_key("KAFKA_FOO___BAR") == "foo-bar"
    assert env_to_key("PATH") is None


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("no.such.key=1", "no.such.key"),
        ("num.partitions=zero", "num.partitions"),
        ("num.partitions=0", "num.partitions"),
        ("auto.create.topics.enable=maybe", "auto.create.topics.enable"),
        ("listeners=localhost:9092", "listeners"),
    ],
)
def test_bad_settings_fail_naming_the_key(override: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_config(None, [override], environ={})


def test_unknown_environment_variable_fails() -> None:
    with pytest.raises(ConfigError, match=r"no\.such"):
        load_config(None, [], environ={"KAFKA_NO_SUCH": "1"})


def test_listener_parsing_and_retention_precedence() -> None:
    assert parse_listener("PLAINTEXT://[::1]:9092") == ("PLAINTEXT", "::1", 9092)
    assert parse_listener("PLAINTEXT://:9092") == ("PLAINTEXT", "", 9092)
    config = load_config(None, ["log.retention.minutes=2", "log.retention.hours=9"], environ={})
    assert config.retention_ms == 120_000
    config = load_config(None, ["log.retention.ms=7", "log.retention.minutes=2"], environ={})
    assert config.retention_ms == 7


def test_enumerated_settings_are_checked() -> None:
    for bad in (
        "compression.type=brotli",
        "log.message.timestamp.type=Now",
        "log.cleanup.policy=compact",
    ):
        with pytest.raises(ConfigError, match=bad.split("=")[0].replace(".", r"\.")):
            load_config(None, [bad], environ={})
    assert load_config(None, ["compression.type=zstd"], environ={})["compression.type"] == "zstd"


def test_group_settings_reach_the_coordinator_config() -> None:
    from broker.group import GroupConfig

    config = load_config(
        None,
        ["group.max.size=3", "offset.metadata.max.bytes=10", "offsets.retention.minutes=2"],
        environ={},
    )
    group = GroupConfig.from_broker_config(config)
    assert (group.max_size, group.offset_metadata_max_bytes, group.offsets_retention_ms) == (
        3,
        10,
        120_000,
    )
