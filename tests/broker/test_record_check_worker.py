"""The full record check of a large batch runs in a worker thread, in order per partition.

Reading every field of a 10,000-record batch costs 10-30 ms in CPython; on
the Trio thread that stalled every connection (issue 11's remainder). The
tests hold the check of a large batch inside ``check_records`` until
another request has been served, which only a worker thread allows, and
check that a produce to the same partition sent meanwhile is appended after
the held one, not before it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from broker.api import produce as produce_api
from broker.errors import ErrorCode
from broker.storage.batch import BatchHeader, check_records
from broker.storage.config import LogConfig
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest, DeleteTopicState
from tests.admin.helpers import create, fetch, partition, produce, started_node, values
from tests.broker.helpers import call, client_batch

GZIP = 1
BIG = produce_api.WORKER_RECORDS


class HeldCheck:
    """``check_records`` that, for a batch of ``BIG`` records or more, waits for ``release``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.checking = threading.Event()
        self.release = threading.Event()
        self.on_loop = False
        self.loop_thread = threading.get_ident()
        real = check_records

        def held(
            buf: Any, position: int, header: BatchHeader, config: LogConfig, now_ms: int
        ) -> None:
            if header.records_count >= BIG:
                self.on_loop = threading.get_ident() == self.loop_thread
                self.checking.set()
                # On the Trio thread this would wait in vain: no other task runs.
                if not self.release.wait(10):
                    raise AssertionError("nothing else ran while the batch was checked")
            real(buf, position, header, config, now_ms)

        monkeypatch.setattr(produce_api, "check_records", held)

    async def wait_checking(self) -> None:
        while not self.checking.is_set():
            await trio.sleep(0)


def big_values() -> list[bytes]:
    return [b"%05d" % i for i in range(BIG)]


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldCheck]:
    check = HeldCheck(monkeypatch)
    yield check
    check.release.set()


@pytest.mark.parametrize("compression", [0, GZIP])
async def test_checking_a_large_batch_does_not_stall_other_requests(
    tmp_path: Path, held: HeldCheck, compression: int
) -> None:
    node = await started_node(tmp_path)
    await create(node, "big")
    await create(node, "other")
    assert (await produce(node, "other", client_batch([b"ready"]))).error_code == 0
    produced: list[Any] = []

    async def produce_big() -> None:
        batch = client_batch(big_values(), compression=compression)
        produced.append(await produce(node, "big", batch))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce_big)
        await held.wait_checking()
        answered = await fetch(node, "other")  # served while the check runs
        assert values(answered.records) == [b"ready"]
        assert not produced
        held.release.set()
    assert not held.on_loop
    assert produced[0].error_code == 0
    assert partition(node, "big").log.log_end_offset == BIG
    await node.shutdown()


async def test_a_produce_behind_a_checked_batch_appends_after_it(
    tmp_path: Path, held: HeldCheck
) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    results: dict[str, Any] = {}

    async def send(label: str, batch: bytes) -> None:
        results[label] = await produce(node, "t", batch)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send, "big", client_batch(big_values()))
        await held.wait_checking()
        nursery.start_soon(send, "small", client_batch([b"after"]))
        await trio.testing.wait_all_tasks_blocked()
        assert results == {}  # the small one waits behind the big one's check
        held.release.set()
    assert (results["big"].error_code, results["big"].base_offset) == (0, 0)
    assert (results["small"].error_code, results["small"].base_offset) == (0, BIG)
    await node.shutdown()


async def test_a_topic_deleted_during_the_check_is_not_appended_to(
    tmp_path: Path, held: HeldCheck
) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    log = partition(node, "t").log
    results: list[Any] = []

    async def send() -> None:
        results.append(await produce(node, "t", client_batch(big_values())))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(send)
        await held.wait_checking()
        deleted = await call(node, 20, 6, DeleteTopicsRequest([DeleteTopicState("t")], [], 5000))
        assert deleted.responses[0].error_code == 0
        held.release.set()
    assert results[0].error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert log.closed
    await node.shutdown()
