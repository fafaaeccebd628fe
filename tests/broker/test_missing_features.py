"""Issue 11 item 14: a feature the broker lacks fails fast, in the client's words.

A transactional producer used to spin on a retriable COORDINATOR_NOT_AVAILABLE
until its own timeout. Now FindCoordinator (key type 1) and InitProducerId
with a transactional id answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED, fatal
to every client, with the message "transactions are not supported by this
broker", and the broker logs the request. Real clients against a real broker
process; the clients' own timeouts (30 s, 60 s max.block) are far above what
a fast failure takes, so a timeout shows up as the wrong error kind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from compat.broker_process import BrokerProcess


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[BrokerProcess]:
    proc = BrokerProcess(tmp_path / "data", num_partitions=1)
    try:
        proc.start()
        yield proc
    finally:
        proc.close()


def _log(tmp_path: Path) -> str:
    return (tmp_path / "data.log").read_text()


def test_confluent_kafka_transactional_producer_fails_fast(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    from confluent_kafka import KafkaError, KafkaException, Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap, "transactional.id": "tx-ck"})
    with pytest.raises(KafkaException) as exc:
        producer.init_transactions(30)
    error = exc.value.args[0]
    assert error.code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, error
    assert error.fatal() and not error.retriable()
    assert "transactions are not supported by this broker" in error.str()
    assert "transactional id 'tx-ck'" in _log(tmp_path)


def test_kafka_python_transactional_producer_fails_fast(
    broker: BrokerProcess, tmp_path: Path
) -> None:
    from kafka import KafkaProducer
    from kafka.errors import TransactionalIdAuthorizationFailedError

    producer = KafkaProducer(
        bootstrap_servers=broker.bootstrap, transactional_id="tx-kp", max_block_ms=60_000
    )
    try:
        with pytest.raises(TransactionalIdAuthorizationFailedError):
            producer.init_transactions()
    finally:
        producer.close(timeout=5)
    assert "transactional id 'tx-kp'" in _log(tmp_path)
