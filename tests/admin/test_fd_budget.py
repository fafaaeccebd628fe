"""Partition creation that would run the broker out of descriptors is refused.

Creating a partition opens its files; with the process at its RLIMIT_NOFILE
that open failed *after* the topic was committed, the image listener raised,
and the broker could not start again. Now CreateTopics, CreatePartitions and
auto-creation are refused first, with POLICY_VIOLATION naming the limit.
The open-file budget itself (idle segments hold nothing) is tested with
10,000 partitions in test_many_partitions.py.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

from broker.errors import ErrorCode
from broker.wire.generated.create_partitions_request import (
    CreatePartitionsRequest,
    CreatePartitionsTopic,
)
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from tests.admin.helpers import create, fetch, produce, started_node, values
from tests.broker.helpers import call, client_batch


@pytest.fixture
def squeeze() -> Iterator[list[int]]:
    """Lowers this process's soft limit; the test fills it with /dev/null descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[int] = []
    try:
        yield held
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def hold_all_but(held: list[int], free: int) -> None:
    in_use = open_fds()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (in_use + 200, hard))
    while open_fds() < in_use + 200 - free:
        held.append(os.open(os.devnull, os.O_RDONLY))


def release(held: list[int]) -> None:
    while held:
        os.close(held.pop())


async def test_creation_refused_near_the_descriptor_limit(tmp_path, squeeze) -> None:  # type: ignore[no-untyped-def]
    node = await started_node(tmp_path)
    assert (await create(node, "existing")).error_code == 0
    hold_all_but(squeeze, free=3)

    refused = await create(node, "t")
    assert refused.error_code == ErrorCode.POLICY_VIOLATION
    assert "RLIMIT_NOFILE" in refused.error_message
    assert "t" not in node.image.topics  # nothing was committed

    more = CreatePartitionsRequest(
        topics=[CreatePartitionsTopic("existing", 3, None)], timeout_ms=1000
    )
    result = (await call(node, 37, 3, more)).results[0]
    assert result.error_code == ErrorCode.POLICY_VIOLATION
    assert "RLIMIT_NOFILE" in result.error_message
    assert len(node.image.topics["existing"].partitions) == 1

    metadata = MetadataRequest(topics=[MetadataRequestTopic(name="auto")])
    response = await call(node, 3, 12, metadata)
    assert response.topics[0].error_code != 0
    assert "auto" not in node.image.topics

    # The existing partition keeps working meanwhile.
    assert (await produce(node, "existing", client_batch([b"x"]), acks=1)).error_code == 0

    release(squeeze)
    assert (await create(node, "t")).error_code == 0
    assert (await produce(node, "t", client_batch([b"y"]))).error_code == 0
    assert values((await fetch(node, "t")).records) == [b"y"]
    await node.shutdown()
    again = await started_node(tmp_path)
    assert values((await fetch(again, "t")).records) == [b"y"]
    await again.shutdown()


async def test_partition_that_cannot_be_opened_is_offline_not_fatal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A committed partition whose log does not open at start-up (here its
    epoch checkpoint is unreadable; a full disk or EMFILE alike) no longer
    stops the broker: it answers KAFKA_STORAGE_ERROR, the rest is served."""
    node = await started_node(tmp_path)
    for name in ("bad", "good"):
        assert (await create(node, name)).error_code == 0
        assert (await produce(node, name, client_batch([name.encode()]))).error_code == 0
    await node.shutdown()
    checkpoint = tmp_path / "bad-0" / "leader-epoch-checkpoint"
    checkpoint.unlink()
    checkpoint.mkdir()  # reading it now fails with an OSError

    again = await started_node(tmp_path)
    assert again.replicas.is_offline("bad", 0)
    result = await produce(again, "bad", client_batch([b"x"]))
    assert result.error_code == ErrorCode.KAFKA_STORAGE_ERROR
    assert (await fetch(again, "bad")).error_code == ErrorCode.KAFKA_STORAGE_ERROR
    assert values((await fetch(again, "good")).records) == [b"good"]
    await again.shutdown()
