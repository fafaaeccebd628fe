"""Deleted topics stay deleted: partition directories carry their topic id.

A topic deleted and re-created under the same name must never serve the old
incarnation's records, whatever survived on disk: the directory itself (a
crash between the recorded delete and its removal), its ``-delete`` rename,
or a directory whose removal failed while the broker kept running.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from broker.node import Node
from broker.storage import log_dir
from broker.wire.generated.delete_topics_request import DeleteTopicsRequest
from tests.admin.helpers import create, fetch, partition, produce, started_node, values
from tests.broker.helpers import call, client_batch


async def delete(node: Node, name: str) -> int:
    body = DeleteTopicsRequest(topic_names=[name], timeout_ms=1000)
    response = await call(node, 20, 4, body)
    return int(response.responses[0].error_code)


def crash(node: Node) -> None:
    """Stop without a clean shutdown (no flush, no markers)."""
    for part in node.replicas.partitions.values():
        part.log.abandon()
    node.quorum.log.abandon()


async def old_incarnation(tmp_path: Path) -> tuple[Node, Path]:
    node = await started_node(tmp_path)
    assert (await create(node, "t")).error_code == 0
    for i in range(3):
        assert (await produce(node, "t", client_batch([b"old-%d" % i]))).error_code == 0
    return node, partition(node, "t").log.directory


async def test_partition_metadata_holds_the_topic_id_in_kafka_format(tmp_path: Path) -> None:
    node, directory = await old_incarnation(tmp_path)
    topic_id = node.image.topics["t"].topic_id
    text = (directory / "partition.metadata").read_text()
    assert text.splitlines() == ["version: 0", f"topic_id: {log_dir.kafka_uuid(topic_id)}"]
    assert log_dir.parse_kafka_uuid(log_dir.kafka_uuid(topic_id)) == topic_id
    assert len(log_dir.kafka_uuid(topic_id)) == 22  # Kafka's Uuid.toString
    await node.shutdown()


async def test_crash_before_directory_removal_then_recreate_serves_nothing_old(
    tmp_path: Path,
) -> None:
    node, directory = await old_incarnation(tmp_path)
    survivor = tmp_path.parent / (tmp_path.name + "-survivor")
    shutil.copytree(directory, survivor)
    assert await delete(node, "t") == 0  # RemoveTopic is in the metadata log
    crash(node)
    # The crash came before the directory was removed: it is still there.
    shutil.rmtree(directory, ignore_errors=True)
    shutil.move(survivor, directory)

    again = await started_node(tmp_path)
    assert (await create(again, "t")).error_code == 0
    assert values((await fetch(again, "t")).records) == []
    assert partition(again, "t").log.log_end_offset == 0
    assert (await produce(again, "t", client_batch([b"new"]))).base_offset == 0
    assert values((await fetch(again, "t")).records) == [b"new"]
    await again.shutdown()


async def test_leftover_delete_directory_is_removed_at_start(tmp_path: Path) -> None:
    node, directory = await old_incarnation(tmp_path)
    await node.shutdown()
    moved = log_dir.move_aside_for_delete(directory)
    assert moved.name.startswith("t-0.") and moved.name.endswith("-delete")
    assert len(moved.name.split(".")[1].removesuffix("-delete")) == 32
    again = await started_node(tmp_path)
    assert not moved.exists()
    await again.shutdown()


async def test_directory_of_another_topic_id_is_never_served(tmp_path: Path) -> None:
    """The image's topic has another id than the directory (re-created while
    the old removal failed, or a directory copied in): the directory goes."""
    node, directory = await old_incarnation(tmp_path)
    await node.shutdown()
    log_dir.write_partition_metadata(directory, uuid.uuid4())
    again = await started_node(tmp_path)
    assert values((await fetch(again, "t")).records) == []
    assert partition(again, "t").log.log_end_offset == 0
    await again.shutdown()


async def test_failed_removal_while_running_then_recreate(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    node, directory = await old_incarnation(tmp_path)
    monkeypatch.setattr(log_dir, "delete_partition_dir", lambda directory: None)
    assert await delete(node, "t") == 0
    monkeypatch.undo()
    assert directory.exists()  # the removal "failed"
    assert (await create(node, "t")).error_code == 0
    assert values((await fetch(node, "t")).records) == []
    await node.shutdown()


async def test_directory_without_partition_metadata_is_adopted(tmp_path: Path) -> None:
    """Data directories written before topic ids keep their data."""
    node, directory = await old_incarnation(tmp_path)
    await node.shutdown()
    (directory / "partition.metadata").unlink()
    again = await started_node(tmp_path)
    assert values((await fetch(again, "t")).records) == [b"old-0", b"old-1", b"old-2"]
    topic_id = again.image.topics["t"].topic_id
    assert log_dir.read_partition_metadata(directory) == topic_id
    await again.shutdown()


def test_delete_dir_name_is_capped_at_255_bytes() -> None:
    name = log_dir.delete_dir_name("x" * 249, 12345)
    assert len(name.encode()) == 255 and name.endswith("-12345." + name[-39:-7] + "-delete")
    assert log_dir.parse_partition_dir("my-topic-12") == ("my-topic", 12)
    assert log_dir.parse_partition_dir(name) is None
