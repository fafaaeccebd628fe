"""How long the event loop stalls while one request does blocking-prone work.

    PYTHONPATH=. .venv/bin/python -m bench.bench_loop_stall

An in-process node (data in a temporary directory on the default temp disk)
runs a ticker task that only yields (``trio.sleep(0)``) and records the gaps
between its turns while another task dispatches pre-encoded requests: 1 MB
batches recompressed to a topic's ``compression.type``, produces on a
``flush.messages=1`` topic that roll segments, CreateTopics, and produces of
10,000-record batches (uncompressed and zstd), whose records are all checked. The baseline is
the same ticker while the loop is idle (the machine's scheduling noise).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from broker.api.dispatch import dispatch
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from broker.wire.protocol import RequestHeader, encode_request
from tests.admin.helpers import create, started_node
from tests.broker.helpers import client_batch


def produce_frame(topic: str, batch: bytes) -> bytes:
    data = [TopicProduceData(topic, partition_data=[PartitionProduceData(0, batch)])]
    body = ProduceRequest(None, 1, 5000, data)
    return encode_request(RequestHeader(0, 9, 7, "bench"), body)[4:]


async def stalls(work: Callable[[], Awaitable[None]]) -> str:
    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = trio.current_time()
        while not done:
            await trio.sleep(0)
            now = trio.current_time()
            gaps.append(now - last)
            last = now

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.sleep(0.01)
        await work()
        done = True
    over = [g for g in gaps if g > 0.010]
    return f"max {max(gaps) * 1000:5.1f} ms, {len(over)} gaps > 10 ms ({sum(over) * 1000:.1f} ms)"


async def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        node = await started_node(tmp)
        gzip_configs = {"compression.type": "gzip", "max.message.bytes": str(4 << 20)}
        await create(node, "gz", gzip_configs)
        await create(node, "fm", {"flush.messages": "1", "segment.bytes": "2000000"})
        big = produce_frame("gz", client_batch([bytes([i % 7]) * 62_500 for i in range(16)]))
        small = [produce_frame("fm", client_batch([bytes([i]) * 100_000])) for i in range(20)]
        await create(node, "many")
        records = [b"%08d" % i * 12 for i in range(10_000)]  # 100 B values
        many = produce_frame("many", client_batch(records))
        many_zstd = produce_frame("many", client_batch(records, compression=4))

        async def idle() -> None:
            await trio.sleep(1)

        async def recompress() -> None:
            for _ in range(5):
                await dispatch(bytearray(big), node.apis, node)

        async def flush_messages() -> None:
            for frame in small:
                await dispatch(bytearray(frame), node.apis, node)

        async def create_topics() -> None:
            for i in range(20):
                await create(node, f"c{i}", {})

        async def many_records() -> None:
            for frame in (many, many_zstd) * 5:
                await dispatch(bytearray(frame), node.apis, node)
                await trio.sleep(0)  # as between two requests: a gap is one request

        print("idle loop, 1 s (noise floor):   ", await stalls(idle))
        print("5+5 x 10,000 records (none, zstd):", await stalls(many_records))
        print("5 x 1 MB batches -> gzip:        ", await stalls(recompress))
        print("20 x 100 KB, flush.messages=1:   ", await stalls(flush_messages))
        print("20 CreateTopics:                 ", await stalls(create_topics))
        await node.shutdown()
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    trio.run(main)
