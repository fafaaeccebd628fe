"""SASL listeners with real clients: PLAIN and SCRAM-SHA-256/512 (KIP-152, KIP-554).

A ``SASL_PLAINTEXT`` broker enables PLAIN (users from
``listener.name.sasl_plaintext.plain.sasl.jaas.config``) and both SCRAM
mechanisms; SCRAM users are made with Kafka's own ``kafka-configs
--alter --add-config 'SCRAM-SHA-256=[...]'`` (AlterUserScramCredentials)
and live in the metadata log, so they survive a restart. A ``SASL_SSL``
broker runs SCRAM over TLS. kafka-python, confluent-kafka and the Java
client each authenticate, produce and consume; wrong passwords are
SASL_AUTHENTICATION_FAILED and close the connection; requests before
authentication close it too.
"""

from __future__ import annotations

import gc
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._scram import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)
from kafka import KafkaProducer
from kafka.errors import KafkaError

from compat.kafka.java_client import JAVA, java_driver
from compat.kafka.tools import run_in_driver
from compat.suite import ClientError
from tests.security.brokers import SecureBroker, started
from tests.security.certs import Pki
from tests.security.clients import (
    round_trip_aiokafka,
    round_trip_confluent,
    round_trip_java,
    round_trip_kafka_python,
)

__all__ = ["java_driver"]

pytestmark = pytest.mark.filterwarnings(
    r"ignore:Exception ignored in. <(socket\.socket|ssl\.SSLSocket):pytest.PytestUnraisableExceptionWarning"
)
MECHANISMS = "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
PLAIN_JAAS = (
    "org.apache.kafka.common.security.plain.PlainLoginModule required "
    'username="admin" password="admin-secret" '
    'user_admin="admin-secret" user_alice="alice-secret";'
)


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    yield
    gc.collect()


def _sasl_overrides(listener: str) -> dict[str, str]:
    return {
        "sasl.enabled.mechanisms": MECHANISMS,
        f"listener.name.{listener.lower()}.plain.sasl.jaas.config": PLAIN_JAAS,
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        if listener == "SASL_PLAINTEXT"
        else "",
    }


@pytest.fixture(scope="module")
def sasl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {k: v for k, v in _sasl_overrides("SASL_PLAINTEXT").items() if v}
    with started(
        SecureBroker(tmp_path_factory.mktemp("sasl") / "data", "SASL_PLAINTEXT", overrides)
    ) as broker:
        yield broker


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def sasl_ssl(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    overrides = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.server.keystore),
        "sasl.enabled.mechanisms": MECHANISMS,
        "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
    }
    with started(
        SecureBroker(tmp_path_factory.mktemp("sasl_ssl") / "data", "SASL_SSL", overrides)
    ) as broker:
        yield broker


def _kafka_python(
    mechanism: str, user: str, password: str, tls: Pki | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl_mechanism": mechanism,
        "sasl_plain_username": user,
        "sasl_plain_password": password,
        "request_timeout_ms": 10_000,
    }
    if tls is not None:
        config["ssl_cafile"] = str(tls.ca_path)
    return config


def _confluent(mechanism: str, user: str, password: str, tls: Pki | None = None) -> dict[str, Any]:
    config = {
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.username": user,
        "sasl.password": password,
    }
    if tls is not None:
        config["ssl.ca.location"] = str(tls.ca_path)
    return config


def _jaas(mechanism: str, user: str, password: str) -> str:
    module = "plain.PlainLoginModule" if mechanism == "PLAIN" else "scram.ScramLoginModule"
    return (
        f"org.apache.kafka.common.security.{module} required "
        f'username="{user}" password="{password}";'
    )


def _java(mechanism: str, user: str, password: str, tls: Pki | None = None) -> dict[str, str]:
    config = {
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanism": mechanism,
        "sasl.jaas.config": _jaas(mechanism, user, password),
    }
    if tls is not None:
        config |= {"ssl.truststore.type": "PEM", "ssl.truststore.location": str(tls.ca_path)}
    return config


def _admin(bootstrap: str, **config: Any) -> Any:
    return AdminClient(
        {"bootstrap.servers": bootstrap, **(config or _confluent("PLAIN", "admin", "admin-secret"))}
    )


def _kafka_configs(bootstrap: str, tmp_path: Path, *args: str, check: bool = True) -> str:
    """Kafka's kafka-configs against ``bootstrap``, as admin over SASL/PLAIN."""
    assert JAVA.driver is not None
    command_config = tmp_path / "admin.properties"
    command_config.write_text(
        "security.protocol=SASL_PLAINTEXT\n"
        "sasl.mechanism=PLAIN\n"
        f"sasl.jaas.config={_jaas('PLAIN', 'admin', 'admin-secret')}\n"
    )
    done = run_in_driver(
        JAVA.driver,
        "kafka-configs",
        "--bootstrap-server",
        bootstrap,
        "--command-config",
        str(command_config),
        *args,
        check=check,
    )
    return done.stdout + done.stderr


def _upsert(
    bootstrap: str, user: str, password: str, mechanism: ScramMechanism, iterations: int = 4096
) -> Any:
    admin = _admin(bootstrap)
    futures = admin.alter_user_scram_credentials(
        [
            UserScramCredentialUpsertion(
                user, ScramCredentialInfo(mechanism, iterations), password.encode()
            )
        ]
    )
    return futures[user].result(10)  # while the admin client lives


def _auth_fails_confluent(bootstrap: str, config: dict[str, Any]) -> list[Any]:
    errors: list[Any] = []
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "error_cb": errors.append, **config}
    )
    deadline = time.monotonic() + 10
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    return errors


# -- PLAIN -------------------------------------------------------------------------


def test_kafka_python_plain(sasl: SecureBroker) -> None:
    round_trip_kafka_python(sasl.bootstrap, _kafka_python("PLAIN", "alice", "alice-secret"))


def test_confluent_kafka_plain(sasl: SecureBroker) -> None:
    round_trip_confluent(sasl.bootstrap, _confluent("PLAIN", "alice", "alice-secret"))


def test_java_client_plain(java_driver: Any, sasl: SecureBroker) -> None:
    round_trip_java(sasl.bootstrap, _java("PLAIN", "alice", "alice-secret"))


def test_a_wrong_plain_password_is_sasl_authentication_failed(sasl: SecureBroker) -> None:
    errors = _auth_fails_confluent(sasl.bootstrap, _confluent("PLAIN", "alice", "wrong"))
    assert errors and errors[0].code() == confluent_kafka.KafkaError._AUTHENTICATION
    assert "Invalid username or password" in errors[0].str()


def test_java_client_wrong_password(java_driver: Any, sasl: SecureBroker) -> None:
    with pytest.raises(ClientError) as failed:
        JAVA.call(
            "admin.open",
            id="wrong-password",
            config={"bootstrap.servers": sasl.bootstrap, **_java("PLAIN", "mallory", "x")},
        )
        try:
            JAVA.call("admin.list_topics", id="wrong-password")
        finally:
            JAVA.call("admin.close", id="wrong-password")
    assert "SaslAuthenticationException" in str(failed.value) or "Authentication failed" in str(
        failed.value
    )


# -- SCRAM, managed with kafka-configs -----------------------------------------------


def test_kafka_configs_adds_scram_users_that_clients_log_in_with(
    java_driver: Any, sasl: SecureBroker, tmp_path: Path
) -> None:
    entity = ("--entity-type", "users", "--entity-name", "bob")
    _kafka_configs(
        sasl.bootstrap,
        tmp_path,
        "--alter",
        "--add-config",
        "SCRAM-SHA-256=[iterations=8192,password=bob-secret],SCRAM-SHA-512=[password=bob-512]",
        *entity,
    )
    described = _kafka_configs(sasl.bootstrap, tmp_path, "--describe", *entity)
    assert "SCRAM-SHA-256=iterations=8192" in described
    assert "SCRAM-SHA-512=iterations=4096" in described
    round_trip_kafka_python(sasl.bootstrap, _kafka_python("SCRAM-SHA-256", "bob", "bob-secret"))
    round_trip_confluent(sasl.bootstrap, _confluent("SCRAM-SHA-512", "bob", "bob-512"))
    round_trip_java(sasl.bootstrap, _java("SCRAM-SHA-256", "bob", "bob-secret"))
    # a password of the other mechanism is wrong here
    errors = _auth_fails_confluent(sasl.bootstrap, _confluent("SCRAM-SHA-256", "bob", "bob-512"))
    assert errors and errors[0].code() == confluent_kafka.KafkaError._AUTHENTICATION
    _kafka_configs(sasl.bootstrap, tmp_path, "--alter", "--delete-config", "SCRAM-SHA-512", *entity)
    described = _kafka_configs(sasl.bootstrap, tmp_path, "--describe", *entity)
    assert "SCRAM-SHA-512" not in described and "SCRAM-SHA-256=iterations=8192" in described
    errors = _auth_fails_confluent(sasl.bootstrap, _confluent("SCRAM-SHA-512", "bob", "bob-512"))
    assert errors and errors[0].code() == confluent_kafka.KafkaError._AUTHENTICATION


def test_scram_credential_errors_are_kafkas(sasl: SecureBroker) -> None:
    with pytest.raises(confluent_kafka.KafkaException) as few:
        _upsert(sasl.bootstrap, "carol", "pw", ScramMechanism.SCRAM_SHA_256, 1000)
    assert few.value.args[0].code() == confluent_kafka.KafkaError.UNACCEPTABLE_CREDENTIAL
    admin = _admin(sasl.bootstrap)
    deletion = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion("nobody", ScramMechanism.SCRAM_SHA_512)]
    )["nobody"]
    with pytest.raises(confluent_kafka.KafkaException) as missing:
        deletion.result(10)
    assert missing.value.args[0].code() == confluent_kafka.KafkaError.RESOURCE_NOT_FOUND
    described = admin.describe_user_scram_credentials(["nobody"])["nobody"]
    with pytest.raises(confluent_kafka.KafkaException) as unknown:
        described.result(10)
    assert unknown.value.args[0].code() == confluent_kafka.KafkaError.RESOURCE_NOT_FOUND


def test_scram_users_survive_a_restart(sasl: SecureBroker) -> None:
    _upsert(sasl.bootstrap, "dave", "dave-secret", ScramMechanism.SCRAM_SHA_512)
    sasl.restart()
    round_trip_confluent(sasl.bootstrap, _confluent("SCRAM-SHA-512", "dave", "dave-secret"))
    admin = _admin(sasl.bootstrap)
    every = admin.describe_user_scram_credentials().result(10)
    assert "dave" in every


def test_an_unknown_scram_user_fails(sasl: SecureBroker) -> None:
    with pytest.raises(KafkaError):
        KafkaProducer(
            bootstrap_servers=sasl.bootstrap,
            max_block_ms=3000,
            **_kafka_python("SCRAM-SHA-256", "nobody", "x"),
        ).close()


# -- the protocol, raw ----------------------------------------------------------------


def _request(api_key: int, version: int, body: bytes, correlation_id: int = 1) -> bytes:
    client = b"raw"
    header = struct.pack(">hhih", api_key, version, correlation_id, len(client)) + client
    return struct.pack(">i", len(header) + len(body)) + header + body


def _response(sock: socket.socket) -> bytes | None:
    head = sock.recv(4, socket.MSG_WAITALL)
    if len(head) < 4:
        return None
    size = struct.unpack(">i", head)[0]
    return sock.recv(size, socket.MSG_WAITALL)


def _closed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True


def test_a_request_before_authentication_closes_the_connection(sasl: SecureBroker) -> None:
    with socket.create_connection((sasl.host, sasl.port or 0), timeout=5) as sock:
        sock.sendall(_request(18, 0, b""))  # ApiVersions is allowed
        assert _response(sock) is not None
        sock.sendall(_request(3, 0, struct.pack(">i", 0)))  # Metadata v0: all topics
        assert _closed(sock)


def test_an_unsupported_mechanism_is_answered_then_closed(sasl: SecureBroker) -> None:
    with socket.create_connection((sasl.host, sasl.port or 0), timeout=5) as sock:
        mechanism = b"GSSAPI"
        sock.sendall(_request(17, 1, struct.pack(">h", len(mechanism)) + mechanism))
        reply = _response(sock)
        assert reply is not None
        error_code = struct.unpack_from(">h", reply, 4)[0]
        assert error_code == 33  # UNSUPPORTED_SASL_MECHANISM
        assert b"SCRAM-SHA-512" in reply
        assert _closed(sock)


def test_authenticate_without_a_handshake_is_illegal_sasl_state(sasl: SecureBroker) -> None:
    with socket.create_connection((sasl.host, sasl.port or 0), timeout=5) as sock:
        sock.sendall(_request(36, 0, struct.pack(">i", 3) + b"abc"))
        reply = _response(sock)
        assert reply is not None
        assert struct.unpack_from(">h", reply, 4)[0] == 34  # ILLEGAL_SASL_STATE
        assert _closed(sock)


# -- SASL_SSL ------------------------------------------------------------------------


CLIENTS = ("kafka-python", "confluent-kafka", "aiokafka", "java")


@pytest.fixture(scope="module")
def matrix_users(sasl: SecureBroker, sasl_ssl: SecureBroker, pki: Pki) -> None:
    """User "mat" with both SCRAM mechanisms on both brokers."""
    for broker, tls in ((sasl, None), (sasl_ssl, pki)):
        admin = _admin(broker.bootstrap, **_confluent("PLAIN", "admin", "admin-secret", tls))
        futures = admin.alter_user_scram_credentials(
            [
                UserScramCredentialUpsertion(
                    "mat", ScramCredentialInfo(mechanism, 4096), b"mat-secret"
                )
                for mechanism in (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
            ]
        )
        futures["mat"].result(10)


def _aiokafka(mechanism: str, user: str, password: str, tls: Pki | None = None) -> dict[str, Any]:
    """kafka-python's settings; aiokafka takes TLS as an ``ssl_context``."""
    from aiokafka.helpers import create_ssl_context

    config = _kafka_python(mechanism, user, password)
    if tls is not None:
        config["security_protocol"] = "SASL_SSL"
        config["ssl_context"] = create_ssl_context(cafile=str(tls.ca_path))
    return config


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("listener", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_matrix(
    request: pytest.FixtureRequest,
    matrix_users: None,
    pki: Pki,
    listener: str,
    mechanism: str,
    client: str,
) -> None:
    """Every client, every mechanism, with and without TLS: produce, then consume."""
    broker: SecureBroker = request.getfixturevalue(
        "sasl" if listener == "SASL_PLAINTEXT" else "sasl_ssl"
    )
    tls = pki if listener == "SASL_SSL" else None
    user, password = ("alice", "alice-secret") if mechanism == "PLAIN" else ("mat", "mat-secret")
    if client == "kafka-python":
        round_trip_kafka_python(broker.bootstrap, _kafka_python(mechanism, user, password, tls))
    elif client == "confluent-kafka":
        round_trip_confluent(broker.bootstrap, _confluent(mechanism, user, password, tls))
    elif client == "aiokafka":
        round_trip_aiokafka(broker.bootstrap, _aiokafka(mechanism, user, password, tls))
    else:
        request.getfixturevalue("java_driver")
        round_trip_java(broker.bootstrap, _java(mechanism, user, password, tls))


# -- two listeners ---------------------------------------------------------------------

MIXED_PORT = 19611  # this helper's port range


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    overrides = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.server.keystore),
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_ssl.plain.sasl.jaas.config": PLAIN_JAAS,
    }
    with started(
        SecureBroker(
            tmp_path_factory.mktemp("mixed") / "data",
            "PLAINTEXT",
            overrides,
            extra_listeners=[f"SASL_SSL://127.0.0.1:{MIXED_PORT}"],
        )
    ) as broker:
        yield broker


def test_each_listener_advertises_itself(mixed: SecureBroker, pki: Pki) -> None:
    secure = f"127.0.0.1:{MIXED_PORT}"
    plain_admin = AdminClient({"bootstrap.servers": mixed.bootstrap})
    brokers: dict[int, Any] = plain_admin.list_topics(timeout=10).brokers
    assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", mixed.port)]
    secure_admin = AdminClient(
        {"bootstrap.servers": secure, **_confluent("PLAIN", "alice", "alice-secret", pki)}
    )
    brokers = dict(secure_admin.list_topics(timeout=10).brokers)
    assert [(b.host, b.port) for b in brokers.values()] == [("127.0.0.1", MIXED_PORT)]
    round_trip_confluent(secure, _confluent("PLAIN", "alice", "alice-secret", pki))
    round_trip_kafka_python(secure, _kafka_python("PLAIN", "alice", "alice-secret", pki))


# -- re-authentication (KIP-368) ---------------------------------------------------------


@pytest.fixture(scope="module")
def reauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    overrides = {k: v for k, v in _sasl_overrides("SASL_PLAINTEXT").items() if v}
    overrides["connections.max.reauth.ms"] = "1500"
    with started(
        SecureBroker(tmp_path_factory.mktemp("reauth") / "data", "SASL_PLAINTEXT", overrides)
    ) as broker:
        yield broker


def test_java_client_reauthenticates_on_its_connection(
    java_driver: Any, reauth: SecureBroker
) -> None:
    since = reauth.log_position()
    producer = JAVA.producer(reauth.bootstrap, **_java("PLAIN", "alice", "alice-secret"))
    record: dict[str, Any] = {"partition": 0, "key": None, "value": "eA==", "headers": []}
    try:
        first = JAVA.call("producer.send", id=producer, topic="reauth", records=[record])
        time.sleep(3.5)  # two session lifetimes: the client must re-authenticate to go on
        second = JAVA.call("producer.send", id=producer, topic="reauth", records=[record])
    finally:
        JAVA.call("producer.close", id=producer)
    assert second[0] == first[0] + 1
    log = reauth.output_since(since, 400)
    assert "SASL/PLAIN re-authentication" in log, log
    assert "expired" not in log, log


def test_confluent_kafka_reauthenticates_on_its_connection(reauth: SecureBroker) -> None:
    since = reauth.log_position()
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": reauth.bootstrap, **_confluent("PLAIN", "alice", "alice-secret")}
    )
    producer.produce("reauth-rd", b"1", partition=0)
    assert producer.flush(10) == 0
    time.sleep(3.5)  # two session lifetimes
    delivered: list[Any] = []
    producer.produce("reauth-rd", b"2", partition=0, on_delivery=lambda e, m: delivered.append(e))
    assert producer.flush(10) == 0 and delivered == [None]
    log = reauth.output_since(since, 400)
    assert "SASL/PLAIN re-authentication" in log, log
    assert "expired" not in log, log


def test_an_expired_session_is_closed(reauth: SecureBroker) -> None:
    with socket.create_connection((reauth.host, reauth.port or 0), timeout=5) as sock:
        mechanism = b"PLAIN"
        sock.sendall(_request(17, 1, struct.pack(">h", len(mechanism)) + mechanism))
        assert _response(sock) is not None
        token = b"\0alice\0alice-secret"
        sock.sendall(_request(36, 1, struct.pack(">i", len(token)) + token, 2))
        reply = _response(sock)
        assert reply is not None and struct.unpack_from(">h", reply, 4)[0] == 0
        assert struct.unpack_from(">q", reply, len(reply) - 8)[0] == 1500  # session lifetime
        sock.sendall(_request(3, 0, struct.pack(">i", 0), 3))
        assert _response(sock) is not None  # served within the session
        time.sleep(2)
        sock.sendall(_request(3, 0, struct.pack(">i", 0), 4))
        assert _closed(sock)
