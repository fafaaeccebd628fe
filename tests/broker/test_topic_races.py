"""Topic removal and creation racing other work (issue 11's remainder, item 4).

- Deleting a topic while one of its partitions is being flushed in a worker
  thread: the removal closed the log's files and moved its directory away
  under the running fsyncs (``_remove_topic`` ran on the loop without the
  partition's ``append_lock``). Now the removal waits for the flush.
- Two CreateTopics of one name at once: both were validated against the same
  image, then both appended their records, so both answered success and the
  second's TopicRecord replaced the first topic's id (its partition was
  deleted and recreated empty). Now validation and append happen under one
  lock, and the second gets TOPIC_ALREADY_EXISTS, as Kafka answers.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from broker.errors import ErrorCode
from broker.storage.log import PartitionLog, PendingFlush
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest, DeleteTopicState
from tests.admin.helpers import create, partition, produce, started_node
from tests.broker.helpers import call, client_batch


async def test_deleting_a_topic_waits_for_its_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = await started_node(tmp_path)
    await create(node, "t")
    part = partition(node, "t")
    flushing = threading.Event()
    release = threading.Event()
    events: list[str] = []
    real_run = PendingFlush.run
    real_abandon = PartitionLog.abandon

    def held_run(self: PendingFlush) -> None:
        if self.directory.name == "t-0":  # not the metadata log's
            flushing.set()
            if not release.wait(10):
                raise AssertionError("the flush was never released")
        real_run(self)
        events.append(f"flushed {self.directory.name}")

    def noted_abandon(self: PartitionLog) -> None:
        events.append(f"closed {self.directory.name}")
        real_abandon(self)

    monkeypatch.setattr(PendingFlush, "run", held_run)
    monkeypatch.setattr(PartitionLog, "abandon", noted_abandon)
    results: list[Any] = []

    async def produce_durably() -> None:
        results.append(await produce(node, "t", client_batch([b"x"]), acks=-1))

    async def delete() -> None:
        body = DeleteTopicsRequest([DeleteTopicState("t")], [], 5000)
        results.append(await call(node, 20, 6, body))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce_durably)  # acks=all: fsyncs in a worker thread
        while not flushing.is_set():
            await trio.sleep(0)
        nursery.start_soon(delete)
        while "t" in node.image.topics:  # the deletion is committed meanwhile
            await trio.sleep(0.01)
        await trio.testing.wait_all_tasks_blocked()
        assert "closed t-0" not in events  # the removal waits for the flush to end
        release.set()
    # (The metadata log's flushes go through run too.)
    assert [e for e in events if e.endswith("t-0")] == ["flushed t-0", "closed t-0"]
    assert part.log.closed
    assert not part.log.directory.exists()
    produced, deleted = results
    assert produced.error_code == ErrorCode.NONE
    assert deleted.responses[0].error_code == ErrorCode.NONE
    assert "t" not in node.image.topics
    await node.shutdown()


async def test_concurrent_creates_of_one_name_make_one_topic(tmp_path: Path) -> None:
    node = await started_node(tmp_path)
    results: list[Any] = []

    async def create_one() -> None:
        results.append(await create(node, "same"))

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(create_one)
    codes = sorted(r.error_code for r in results)
    assert codes == [ErrorCode.NONE, ErrorCode.TOPIC_ALREADY_EXISTS, ErrorCode.TOPIC_ALREADY_EXISTS]
    created = next(r for r in results if r.error_code == ErrorCode.NONE)
    assert node.image.topics["same"].topic_id == created.topic_id
    assert (await produce(node, "same", client_batch([b"kept"]))).base_offset == 0
    await node.shutdown()
