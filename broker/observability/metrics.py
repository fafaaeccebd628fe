"""Broker metrics in Prometheus text, under the names Kafka's exporters use.

The names follow what Strimzi's JMX-exporter rules make of Kafka's MBeans
(``kafka.server<type=BrokerTopicMetrics, name=MessagesInPerSec, topic=T>``
becomes ``kafka_server_brokertopicmetrics_messagesin_total{topic="T"}``), so
dashboards built for Kafka read them unchanged; the group lag gauges are named
as the Kafka Exporter (``kafka_consumergroup_lag``) names them. docs/metrics.md
lists every series.

Two kinds:

- counters and histograms moved on the hot path by the three hooks below,
  called from the connection loop (``request_done``), Produce (``produced``)
  and Fetch (``fetched``). A hook adds to plain ints in a dict (per topic,
  per API); prometheus-client reads them when scraped (``_HotPathCollector``);
- gauges computed when scraped (``refresh``): partition and leader counts,
  under-replicated and offline partitions, the active controller, group lag.

With ``metrics.port`` unset (the default) nothing is registered and
prometheus-client is never imported: every hook returns at its first line.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import trio

if TYPE_CHECKING:
    from broker.controller.image import MetadataImage
    from broker.node import Node

# Bucket bounds of the request latency histogram, in milliseconds as Kafka's
# TotalTimeMs.
LATENCY_BUCKETS_MS = (0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000)


def api_name(module: str) -> str:
    """``broker.api.describe_groups`` -> ``DescribeGroups`` (Kafka's request name)."""
    return "".join(word.capitalize() for word in module.rsplit(".", 1)[-1].split("_"))


class BrokerMetrics:
    """The node's metrics registry; inert unless ``enabled``."""

    def __init__(self, enabled: bool, handlers: Iterable[ModuleType] = ()) -> None:
        self.enabled = enabled
        # topic -> [records in, bytes in, bytes out]
        self._topics: dict[str, list[int]] = {}
        # api key -> [count, sum of ms, count per bucket (the last: +Inf)]
        self._apis: dict[int, list[Any]] = {}
        # The request label of each API key, from its handler module's name.
        self._api_names = {m.API_KEY: api_name(m.__name__) for m in handlers}
        if not enabled:
            return
        try:
            from prometheus_client import CollectorRegistry, Gauge
        except ImportError:
            from broker.net.server import StartupError

            raise StartupError(
                "metrics.port is set but prometheus-client is not installed "
                "(pip install prometheus-client)"
            ) from None

        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        reg.register(_HotPathCollector(self))

        def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Any:
            return Gauge(name, doc, list(labels), registry=reg)

        self.partition_count = gauge(
            "kafka_server_replicamanager_partitioncount", "Partitions hosted by this broker."
        )
        self.leader_count = gauge(
            "kafka_server_replicamanager_leadercount", "Partitions this broker leads."
        )
        self.under_replicated = gauge(
            "kafka_server_replicamanager_underreplicatedpartitions",
            "Led partitions whose ISR is smaller than their replica set.",
        )
        self.offline_partitions = gauge(
            "kafka_controller_kafkacontroller_offlinepartitionscount",
            "Partitions without a live leader (or whose log cannot be opened).",
        )
        self.active_controller = gauge(
            "kafka_controller_kafkacontroller_activecontrollercount",
            "1 on the node that is the active controller, else 0.",
        )
        self.topic_count = gauge(
            "kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster."
        )
        self.global_partitions = gauge(
            "kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster."
        )
        self.group_offset = gauge(
            "kafka_consumergroup_current_offset",
            "A group's committed offset.",
            ("consumergroup", "topic", "partition"),
        )
        self.group_lag = gauge(
            "kafka_consumergroup_lag",
            "High watermark minus a group's committed offset.",
            ("consumergroup", "topic", "partition"),
        )

    # -- hot-path hooks ----------------------------------------------------------

    def request_done(self, api_key: int, started: float) -> None:
        """One request of ``api_key`` answered; ``started`` is its Trio time."""
        if not self.enabled:
            return
        series = self._apis.get(api_key)
        if series is None:
            series = self._apis[api_key] = [0, 0.0, [0] * (len(LATENCY_BUCKETS_MS) + 1)]
        ms = (trio.current_time() - started) * 1000
        series[0] += 1
        series[1] += ms
        series[2][bisect_left(LATENCY_BUCKETS_MS, ms)] += 1  # first bound >= ms

    def _topic(self, topic: str) -> list[int]:
        series = self._topics.get(topic)
        if series is None:
            series = self._topics[topic] = [0, 0, 0]
        return series

    def produced(self, topic: str, records: int, size: int) -> None:
        if not self.enabled:
            return
        series = self._topic(topic)
        series[0] += records
        series[1] += size

    def fetched(self, image: MetadataImage, response: Any, version: int) -> None:
        """Record bytes of a Fetch response, per topic (named by id from v13)."""
        if not self.enabled:
            return
        for topic in response.responses:
            size = 0
            for partition in topic.partitions:
                records = partition.records
                if records is not None:
                    size += len(records)
            if size:
                name = image.resolve_topic(topic.topic, topic.topic_id, by_id=version >= 13)
                if name:
                    self._topic(name)[2] += size

    def forget_topic(self, topic: str) -> None:
        """Drop a deleted topic's series."""
        self._topics.pop(topic, None)

    # -- scrape-time gauges --------------------------------------------------------

    async def refresh(self, node: Node) -> None:
        """Set the gauges from the node's state (the group offsets through each
        coordinator's own task)."""
        image = node.image
        snapshots = []
        if node.groups.ready.is_set():
            snapshots = await node.groups.call_each(lambda coord, _token, _now: coord.snapshot())
        me = node.node_id
        hosted = led = under = offline = partitions = 0
        for topic in image.topics.values():
            for p in topic.partitions.values():
                partitions += 1
                if me in p.replicas:
                    hosted += 1
                if p.leader == me:
                    led += 1
                    if len(p.isr) < len(p.replicas):
                        under += 1
                leader = image.brokers.get(p.leader)
                no_leader = leader is None or leader.fenced
                unopened = p.leader == me and node.replicas.is_offline(topic.name, p.partition_id)
                if no_leader or unopened:
                    offline += 1
        self.partition_count.set(hosted)
        self.leader_count.set(led)
        self.under_replicated.set(under)
        self.offline_partitions.set(offline)
        self.active_controller.set(1 if node.quorum.is_active_controller else 0)
        self.topic_count.set(len(image.topics))
        self.global_partitions.set(partitions)
        self.group_offset.clear()
        self.group_lag.clear()
        for views in snapshots:
            for group_id, view in views.items():
                for (topic, index), committed in view.offsets:
                    part = node.replicas.get(topic, index)
                    labels = (group_id, topic, str(index))
                    self.group_offset.labels(*labels).set(committed.offset)
                    if part is not None:
                        self.group_lag.labels(*labels).set(
                            max(part.high_watermark - committed.offset, 0)
                        )

    async def exposition(self, node: Node) -> bytes:
        """The Prometheus text of every series, gauges refreshed."""
        from prometheus_client import generate_latest

        await self.refresh(node)
        return bytes(generate_latest(self.registry))


class _HotPathCollector:
    """The hot-path series, read from the plain counters at scrape time.

    The hooks add to ints in dicts (a fraction of a microsecond) rather than
    call prometheus-client's Counter and Histogram, which take a lock per
    update (several microseconds per request, measured by
    ``bench/bench_metrics.py``); prometheus-client renders them.
    """

    def __init__(self, metrics: BrokerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        return []  # unchecked collector: names are fixed, no duplicates to guard

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

        m = self.metrics
        topic_families = [
            CounterMetricFamily(
                "kafka_server_brokertopicmetrics_messagesin",
                "Records appended by Produce, per topic.",
                labels=["topic"],
            ),
            CounterMetricFamily(
                "kafka_server_brokertopicmetrics_bytesin",
                "Record-batch bytes appended by Produce, per topic.",
                labels=["topic"],
            ),
            CounterMetricFamily(
                "kafka_server_brokertopicmetrics_bytesout",
                "Record bytes sent by Fetch, per topic.",
                labels=["topic"],
            ),
        ]
        for topic, series in sorted(m._topics.items()):
            for family, total in zip(topic_families, series, strict=True):
                family.add_metric([topic], total)
        yield from topic_families
        requests = CounterMetricFamily(
            "kafka_network_requestmetrics_requests",
            "Requests handled, per API.",
            labels=["request"],
        )
        latency = HistogramMetricFamily(
            "kafka_network_requestmetrics_totaltimems",
            "Milliseconds from a request's last byte in to its response's last byte out.",
            labels=["request"],
        )
        for api_key, (count, total_ms, per_bucket) in sorted(m._apis.items()):
            name = m._api_names.get(api_key, str(api_key))
            requests.add_metric([name], count)
            cumulative, buckets = 0, []
            for bound, n in zip((*LATENCY_BUCKETS_MS, math.inf), per_bucket, strict=True):
                cumulative += n
                buckets.append((_bound(bound), cumulative))
            latency.add_metric([name], buckets, total_ms)
        yield requests
        yield latency


def _bound(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))
