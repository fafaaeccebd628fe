"""Pytest helpers for tests that run Apache Kafka or its Java tools.

``require_kafka()`` installs Kafka on first use (Maven; a few seconds once the
jars are in ``~/.m2``) and skips the test when java or mvn is missing, or
fails it in CI (``CI=true``), like every other missing compat tool.
``kafka`` is a module-scoped one-node Kafka (import it into a test module
to use it). ``pick_ports(n)`` hands out free loopback ports from this suite's own range
(``COMPAT_KAFKA_PORTS``, default ``19700-19799``).
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator

import pytest

from compat import tools
from compat.kafka import install
from compat.kafka.cluster import KafkaCluster

_DEFAULT_RANGE = "19700-19799"
_handed_out: set[int] = set()


def require_kafka() -> None:
    """Kafka's jars are installed and java runs them; else skip (fail in CI)."""
    tools.require_tool("java", os.environ.get("JAVA") or shutil.which("java"))
    if not install.installed():
        tools.require_tool("mvn", os.environ.get("MVN") or shutil.which("mvn"))
        install.ensure_installed()


def require_javac() -> str:
    return tools.require_tool("javac", os.environ.get("JAVAC") or shutil.which("javac"))


def _port_range() -> range:
    low, _, high = os.environ.get("COMPAT_KAFKA_PORTS", _DEFAULT_RANGE).partition("-")
    return range(int(low), int(high) + 1)


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int) -> list[int]:
    """``count`` ports of the range that nothing listens on and no test got before."""
    out = []
    for port in _port_range():
        if port not in _handed_out and _free(port):
            out.append(port)
            _handed_out.add(port)
            if len(out) == count:
                return out
    raise RuntimeError(f"fewer than {count} free ports left in {_port_range()}")


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """A one-node Apache Kafka for the module (the reference beside ``broker``)."""
    require_kafka()
    port, controller_port = pick_ports(2)
    cluster = KafkaCluster(
        tmp_path_factory.mktemp("kafka"), ports=[port], controller_ports=[controller_port]
    )
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
