"""The perf tools' output, as bench/bench_kafka_tools.py reads it."""

from __future__ import annotations

import pytest

from bench.bench_kafka_tools import parse_consumer, parse_producer

PRODUCER_OUT = """\
711842 records sent, 142368.4 records/sec (13.58 MB/sec), 30.1 ms avg latency, 245.0 ms max latency.
2000000 records sent, 151630.3 records/sec (14.46 MB/sec), 24.17 ms avg latency, 301.00 ms max \
latency, 8 ms 50th, 77 ms 95th, 120 ms 99th, 250 ms 99.9th.
"""

CONSUMER_OUT = """\
start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, \
rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
2026-12-02 13:40:01:123, 2026-12-02 13:40:05:123, 190.7349, 47.6837, 2000000, 500000.0000, \
578, 3422, 55.7377, 584453.5359
"""


def test_producer_summary_is_the_line_with_percentiles() -> None:
    got = parse_producer(PRODUCER_OUT)
    assert got["msgs"] == 2_000_000 and got["msgs/s"] == 151630.3 and got["MB/s"] == 14.46
    assert (got["p50 ms"], got["p99 ms"], got["p99.9 ms"]) == (8.0, 120.0, 250.0)
    with pytest.raises(ValueError):
        parse_producer(PRODUCER_OUT.splitlines()[0])


def test_consumer_row_by_header_names() -> None:
    got = parse_consumer(CONSUMER_OUT)
    assert got == {
        "msgs": 2_000_000,
        "msgs/s": 500000.0,
        "MB/s": 47.6837,
        "fetch msgs/s": 584453.5359,
        "rebalance ms": 578.0,
    }
    with pytest.raises(ValueError):
        parse_consumer("WARN something\n")
