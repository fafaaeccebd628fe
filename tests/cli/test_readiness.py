"""``/readyz``'s reasons, from a node's state (no HTTP, no prometheus-client)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest


async def test_readiness_lists_what_is_missing(tmp_path: Path) -> None:
    from broker.observability.http import readiness_problems
    from tests.broker.helpers import make_node

    node = make_node(tmp_path)
    problems = readiness_problems(node)
    assert problems == [
        "Kafka listeners not started",
        "node 1 not registered in the metadata log",
        "group coordinators still loading __consumer_offsets",
    ]
    await node.register([("127.0.0.1", 9092)])
    node.server.ready.set()
    node.groups.ready.set()
    assert readiness_problems(node) == []
    node.replicas.offline[("t", 0)] = "cannot open"
    assert readiness_problems(node) == ["1 partitions offline: t-0"]


def test_metrics_without_prometheus_client_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from broker.net.server import StartupError
    from broker.observability.metrics import BrokerMetrics

    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails
    with pytest.raises(StartupError, match="prometheus-client is not installed"):
        BrokerMetrics(True)
    assert not BrokerMetrics(False).enabled  # off: never imported
