"""pytest fixtures for a real Kafka-compatible broker (entry point ``pytest11``: ``raftbroker``).

Installed with the package, so ``pip install raftbroker`` gives every test
suite these fixtures, with no JVM and no Docker (``docs/testing.md``):

``kafka_broker``  (session) one broker process for the whole run, on a free
                  port, its data in a temporary directory; a
                  :class:`broker.testing.KafkaBroker` (``.bootstrap_servers``,
                  ``.create_topic()``, ``.restart()``, ``.kill()``)
``kafka_bootstrap`` (session) its ``host:port``
``kafka_topic``   (function) a topic of its own for each test
                  (``@pytest.mark.kafka_topic(partitions=3, configs={...})``)

Options: ``--kafka-broker-arg KEY=VALUE`` (repeatable) sets a broker property
for the session's broker; ``--kafka-broker-mode inprocess`` runs it in a
thread of the test process (:class:`broker.testing.EmbeddedBroker`: faster to
start, no ``kill()``) instead of a child process; ``--kafka-bootstrap
HOST:PORT`` uses a broker that is already running (Apache Kafka or ours)
instead of starting one.

Importing this module costs nothing: the broker and the Kafka client are
imported when a fixture is first used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from broker.testing import EmbeddedBroker, KafkaBroker


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("raftbroker", "Kafka broker fixtures (raftbroker)")
    group.addoption(
        "--kafka-broker-arg",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a broker property for the kafka_broker fixture (repeatable)",
    )
    group.addoption(
        "--kafka-broker-mode",
        choices=("subprocess", "inprocess"),
        default="subprocess",
        help="subprocess (default: isolated, kill() works) or inprocess (faster start)",
    )
    group.addoption(
        "--kafka-bootstrap",
        default=None,
        metavar="HOST:PORT",
        help="use this running broker instead of starting one",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "kafka_topic(partitions=1, configs=None): how kafka_topic creates its topic"
    )


class ExternalBroker:
    """A broker someone else runs (``--kafka-bootstrap``): addresses and topics only."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap_servers = bootstrap

    def create_topic(
        self, name: str | None = None, *, partitions: int = 1, configs: dict[str, str] | None = None
    ) -> str:
        from broker.testing import create_topic

        return create_topic(self.bootstrap_servers, name, partitions=partitions, configs=configs)


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker | EmbeddedBroker | ExternalBroker]:
    external = request.config.getoption("--kafka-bootstrap")
    if external:
        yield ExternalBroker(external)
        return
    from broker.testing import EmbeddedBroker, KafkaBroker

    overrides = {}
    for item in request.config.getoption("--kafka-broker-arg"):
        key, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--kafka-broker-arg {item!r}: expected KEY=VALUE")
        overrides[key] = value
    kind = (
        EmbeddedBroker
        if request.config.getoption("--kafka-broker-mode") == "inprocess"
        else KafkaBroker
    )
    broker = kind(tmp_path_factory.mktemp("kafka-broker") / "data", overrides=overrides)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: Any) -> str:
    return str(kafka_broker.bootstrap_servers)


@pytest.fixture
def kafka_topic(request: pytest.FixtureRequest, kafka_broker: Any) -> str:
    marker = request.node.get_closest_marker("kafka_topic")
    options = dict(marker.kwargs) if marker is not None else {}
    return str(
        kafka_broker.create_topic(
            partitions=int(options.get("partitions", 1)), configs=options.get("configs")
        )
    )
