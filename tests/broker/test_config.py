"""Configuration: properties files, KAFKA_* variables, overrides, validation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker.config import NOT_IMPLEMENTED, ConfigError, env_to_key, load_config, parse_listener


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


def test_stray_kafka_variables_are_ignored_and_listed() -> None:
    """As the apache/kafka image: JVM/log4j variables and unknown settings do not stop
    start-up; they are listed so the operator sees them (issue 11, item 13)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
        "KAFKA_JMX_PORT": "9999",
        "KAFKA_LOG4J_ROOT_LOGLEVEL": "WARN",
        "KAFKA_LOG4J_LOGGERS": "kafka=INFO",
        "KAFKA_HEAP_OPTS": "-Xmx1G",
        "KAFKA_OPTS": "-Dx=y",
        "KAFKA_NUM_PARTITIONS": "3",
        "PATH": "/bin",
    }
    config = load_config(None, [], environ=env)
    assert config["num.partitions"] == 3
    assert config.ignored_env == tuple(sorted(set(env) - {"KAFKA_NUM_PARTITIONS", "PATH"}))


def test_cluster_id_variable_is_the_cluster_id() -> None:
    assert load_config(None, [], environ={"CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk"})[
        "cluster.id"
    ] == ("MkU3OEVBNTcwNTJENDM2Qk")
    with pytest.raises(ConfigError, match=r"cluster\.id"):
        load_config(None, ["cluster.id=other"], environ={"CLUSTER_ID": "MkU3OEVBNTcwNTJENDM2Qk"})


FIXTURES = Path(__file__).parent / "fixtures"


def test_kafka4_stock_server_properties_loads_and_lists_what_it_ignores() -> None:
    config = load_config(str(FIXTURES / "kafka4-server.properties"), [], environ={})
    assert config.listeners == [("PLAINTEXT", "", 9092), ("CONTROLLER", "", 9093)]
    assert config.security_protocol("CONTROLLER") == "PLAINTEXT"
    for key in (
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
        "num.network.threads",
        "num.io.threads",
        "transaction.state.log.min.isr",
        "inter.broker.listener.name",
    ):
        assert key in config.ignored
    for key in ("log.dirs", "listeners", "process.roles", "log.segment.bytes"):
        assert key not in config.ignored  # these take effect


@pytest.mark.parametrize(
    ("settings", "names"),
    [
        # item 9: security protocols need their settings (tests/security has the rest)
        (["listeners=SSL://:9093"], "the SSL listener needs a keystore"),
        (["listeners=SASL_PLAINTEXT://:9093"], "SASL_PLAINTEXT"),
        (["listeners=SASL_SSL://:9093"], "SASL_SSL"),
        (["listeners=PLAINTEXT://:9092", "advertised.listeners=SSL://h:9092"], "advertised"),
        (
            ["listeners=CLIENT://:9092", "listener.security.protocol.map=CLIENT:SASL_SSL"],
            "CLIENT listener",
        ),
        (["listeners=CLIENT://:9092"], "listener.security.protocol.map"),
        (["listener.security.protocol.map=PLAINTEXT:TLS"], "listener.security.protocol.map"),
        (["security.inter.broker.protocol=SSL"], "security.inter.broker.protocol"),
        (["ssl.keystore.location=/etc/ks.jks"], "ssl.keystore.location"),
        (["sasl.enabled.mechanisms=GSSAPI"], "sasl.enabled.mechanisms"),
        (["listener.name.client.ssl.key.password=x"], "listener.name.client"),
        (["authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"], "ACL"),
        (["super.users=User:admin"], "super.users"),
        # item 10: accepted and doing nothing
        (["process.roles=broker"], "needs controller.quorum.voters"),
        (["process.roles=broker", "controller.quorum.voters=1@a:9092"], "listed as a voter"),
        (["process.roles=controller"], "controller-only"),
        (["offsets.topic.replication.factor=3"], "offsets.topic.replication.factor"),
        (["default.replication.factor=3"], "default.replication.factor"),
        (["transaction.state.log.replication.factor=3"], "transaction.state.log.replication"),
        (["controller.quorum.voters=2@a:9093,3@b:9093"], "not among the voters"),
        (["controller.quorum.voters=2@a:9093"], "controller.quorum.voters"),
        (["controller.quorum.voters=1@a:9092,1@b:9093"], "listed twice"),
        (["controller.quorum.voters=1@a:9092,2@b"], "not id@host:port"),
        (["controller.quorum.voters=1@a:9999,2@b:9093"], "listens on port 9092"),
        (["controller.quorum.bootstrap.servers=a:9093,b:9093"], "bootstrap.servers"),
        # item 13
        (["listeners=PLAINTEXT://:70000"], "70000"),
        (["queued.max.request.bytes=0"], "queued.max.request.bytes"),
    ],
)
def test_unimplemented_promises_are_refused_naming_the_key(settings: list[str], names: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(names)):
        load_config(None, settings, environ={})


def test_refusals_apply_to_environment_variables_too() -> None:
    with pytest.raises(ConfigError, match=r"ssl\.keystore\.location"):
        load_config(None, [], environ={"KAFKA_SSL_KEYSTORE_LOCATION": "/ks"})
    with pytest.raises(ConfigError, match=r"process\.roles"):
        load_config(None, [], environ={"KAFKA_PROCESS_ROLES": "broker"})


def test_what_we_do_implement_is_accepted() -> None:
    config = load_config(
        None,
        [
            "process.roles=controller,broker",
            "controller.quorum.voters=1@localhost:9093",
            "node.id=1",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL",  # SSL unused
            "ssl.endpoint.identification.algorithm=",  # empty: nothing promised
            "queued.max.request.bytes=-1",
        ],
        environ={},
    )
    assert config["queued.max.request.bytes"] == -1


def test_refusals_are_one_table() -> None:
    """The cluster work replaces rows of this table; keep them in one place."""
    keys = {row.key for row in NOT_IMPLEMENTED}
    assert {"process.roles", "controller.quorum.voters", "listeners", "ssl."} <= keys


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
        "unclean.leader.election.enable=true",
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


def test_unclean_leader_election_false_is_case_insensitive_and_true_refused() -> None:
    # Kafka's booleans ignore case: FALSE must start, true must fail by name.
    assert load_config(None, ["unclean.leader.election.enable=FALSE"], environ={}) is not None
    with pytest.raises(ConfigError, match=r"unclean\.leader\.election\.enable"):
        load_config(None, ["unclean.leader.election.enable=True"], environ={})
