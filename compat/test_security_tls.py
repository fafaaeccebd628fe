"""TLS listeners (``SSL://``) with real clients: kafka-python, confluent-kafka, Java.

Certificates are made at test time (tests/security/certs.py). One broker
requires client certificates (``ssl.client.auth=required``) and maps the
subject to a principal with ``ssl.principal.mapping.rules``; another takes
its key inline (``ssl.keystore.certificate.chain`` + ``ssl.keystore.key``,
encrypted, with ``ssl.key.password``) and only requests a certificate.
"""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from kafka import KafkaProducer
from kafka.errors import KafkaError

from compat.kafka.java_client import JAVA, java_driver
from compat.suite import ClientError
from tests.security.brokers import SecureBroker, started, tls_overrides
from tests.security.certs import KEY_PASSWORD, Identity, Pki
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
_API_VERSIONS_V0 = b"\x00\x00\x00\x0b\x00\x12\x00\x00\x00\x00\x00\x01\x00\x01x"


@pytest.fixture(autouse=True)
def _collect_leaked_sockets() -> Iterator[None]:
    # kafka-python leaves sockets for the collector (see compat/test_kafka_python.py).
    yield
    gc.collect()


RULES = "RULE:^CN=([^,]+),OU=ops,.*$/$1-operator/U,RULE:^CN=([^,]+),.*$/$1/L,DEFAULT"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def alice(pki: Pki) -> Identity:
    return pki.issue("alice", common_name="Alice", organization="example", unit="eng")


@pytest.fixture(scope="module")
def mtls(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    overrides = tls_overrides(pki.server.keystore, pki.ca_path, "required")
    overrides["ssl.principal.mapping.rules"] = RULES
    with started(
        SecureBroker(tmp_path_factory.mktemp("mtls") / "data", "SSL", overrides)
    ) as broker:
        yield broker


@pytest.fixture(scope="module")
def requested(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[SecureBroker]:
    server = pki.issue("server2", "127.0.0.1", "localhost", common_name="localhost", encrypted=True)
    overrides = {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.certificate.chain": server.chain_pem.replace("\n", " ").strip(),
        "ssl.keystore.key": server.key_path.read_text().replace("\n", " ").strip(),
        "ssl.key.password": KEY_PASSWORD,
        "ssl.truststore.type": "PEM",
        "ssl.truststore.certificates": pki.ca_pem.replace("\n", " ").strip(),
        "ssl.client.auth": "requested",
    }
    with started(
        SecureBroker(tmp_path_factory.mktemp("requested") / "data", "SSL", overrides)
    ) as broker:
        yield broker


def _kafka_python_ssl(pki: Pki, who: Identity | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "security_protocol": "SSL",
        "ssl_cafile": str(pki.ca_path),
        "request_timeout_ms": 10_000,
    }
    if who is not None:
        config |= {"ssl_certfile": str(who.cert_path), "ssl_keyfile": str(who.key_path)}
    return config


def _confluent_ssl(pki: Pki, who: Identity | None) -> dict[str, Any]:
    config = {"security.protocol": "SSL", "ssl.ca.location": str(pki.ca_path)}
    if who is not None:
        config |= {
            "ssl.certificate.location": str(who.cert_path),
            "ssl.key.location": str(who.key_path),
        }
    return config


def _java_ssl(pki: Pki, who: Identity | None) -> dict[str, str]:
    config = {
        "security.protocol": "SSL",
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca_path),
    }
    if who is not None:
        config |= {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.certificate.chain": who.chain_pem,
            "ssl.keystore.key": who.key_pem,
        }
    return config


def _principals(broker: SecureBroker, since: int) -> list[str]:
    return [
        line.rsplit(" as ", 1)[1]
        for line in broker.output_since(since, 400).splitlines()
        if "TLS connection from" in line
    ]


def test_kafka_python_over_mutual_tls(mtls: SecureBroker, pki: Pki, alice: Identity) -> None:
    since = mtls.log_position()
    round_trip_kafka_python(mtls.bootstrap, _kafka_python_ssl(pki, alice))
    # RULE:^CN=([^,]+),.*$/$1/L: the subject CN=Alice,OU=eng,O=example is "alice"
    assert set(_principals(mtls, since)) == {"User:alice"}


def test_confluent_kafka_over_mutual_tls(mtls: SecureBroker, pki: Pki) -> None:
    operator = pki.issue("bob", common_name="Bob", organization="example", unit="ops")
    since = mtls.log_position()
    round_trip_confluent(mtls.bootstrap, _confluent_ssl(pki, operator))
    assert set(_principals(mtls, since)) == {"User:BOB-OPERATOR"}


def test_aiokafka_over_mutual_tls(mtls: SecureBroker, pki: Pki, alice: Identity) -> None:
    from aiokafka.helpers import create_ssl_context

    context = create_ssl_context(
        cafile=str(pki.ca_path), certfile=str(alice.cert_path), keyfile=str(alice.key_path)
    )
    since = mtls.log_position()
    round_trip_aiokafka(mtls.bootstrap, {"security_protocol": "SSL", "ssl_context": context})
    assert set(_principals(mtls, since)) == {"User:alice"}


def test_java_client_over_mutual_tls(
    java_driver: Any, mtls: SecureBroker, pki: Pki, alice: Identity
) -> None:
    round_trip_java(mtls.bootstrap, _java_ssl(pki, alice))


def test_a_client_without_a_certificate_is_refused_when_required(
    mtls: SecureBroker, pki: Pki
) -> None:
    errors: list[Any] = []
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": mtls.bootstrap,
            "error_cb": errors.append,
            "message.timeout.ms": 3000,
            **_confluent_ssl(pki, None),
        }
    )
    producer.produce("refused", b"x")
    producer.flush(5)
    assert errors, "the broker accepted a client without a certificate"
    assert mtls.running()


def test_a_certificate_from_another_ca_is_refused(mtls: SecureBroker, pki: Pki) -> None:
    import trustme

    stranger = pki.issue("mallory", common_name="Mallory", ca=trustme.CA())
    context = ssl.create_default_context(cafile=str(pki.ca_path))
    context.load_cert_chain(str(stranger.cert_path), str(stranger.key_path))
    with socket.create_connection((mtls.host, mtls.port or 0), timeout=5) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost") as tls:
                tls.sendall(_API_VERSIONS_V0)
                reply = tls.recv(100)  # TLS 1.3: the alert comes after the handshake
        except (ssl.SSLError, ConnectionError):
            reply = b""
    assert reply == b"", "the broker answered a client whose certificate it cannot trust"
    assert mtls.running()


def test_plaintext_bytes_on_a_tls_listener_close_that_connection_only(
    mtls: SecureBroker, pki: Pki, alice: Identity
) -> None:
    with socket.create_connection((mtls.host, mtls.port or 0), timeout=5) as raw:
        raw.sendall(_API_VERSIONS_V0)
        data = b""
        with contextlib.suppress(ConnectionError):
            while chunk := raw.recv(100):
                data += chunk
        assert not data.startswith(b"\x00\x00"), "a Kafka reply in plaintext"
    round_trip_kafka_python(mtls.bootstrap, _kafka_python_ssl(pki, alice))


def test_kafka_python_with_an_untrusted_broker_fails(mtls: SecureBroker, tmp_path: Path) -> None:
    other = Pki(tmp_path / "other")
    with pytest.raises(KafkaError):
        producer = KafkaProducer(
            bootstrap_servers=mtls.bootstrap,
            security_protocol="SSL",
            ssl_cafile=str(other.ca_path),
            max_block_ms=3000,
        )
        producer.close()


def test_requested_client_auth_takes_clients_with_and_without_certificates(
    requested: SecureBroker, pki: Pki, alice: Identity
) -> None:
    since = requested.log_position()
    round_trip_kafka_python(requested.bootstrap, _kafka_python_ssl(pki, None))
    round_trip_confluent(requested.bootstrap, _confluent_ssl(pki, alice))
    principals = set(_principals(requested, since))
    assert principals == {"User:ANONYMOUS", "User:CN=Alice,OU=eng,O=example"}


def test_java_client_without_a_certificate_on_requested(
    java_driver: Any, requested: SecureBroker, pki: Pki
) -> None:
    round_trip_java(requested.bootstrap, _java_ssl(pki, None))


def test_java_client_without_a_certificate_is_refused_when_required(
    java_driver: Any, mtls: SecureBroker, pki: Pki
) -> None:
    with pytest.raises(ClientError):
        JAVA.call(
            "admin.open",
            id="refused-admin",
            config={
                "bootstrap.servers": mtls.bootstrap,
                "default.api.timeout.ms": "4000",
                "request.timeout.ms": "3000",
                **_java_ssl(pki, None),
            },
        )
        try:
            JAVA.call("admin.list_topics", id="refused-admin")
        finally:
            JAVA.call("admin.close", id="refused-admin")
