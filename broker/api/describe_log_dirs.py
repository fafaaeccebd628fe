"""DescribeLogDirs (key 35), versions 1-4 (advertised; the codec has 5).

One log directory, the node's data directory, with the size on disk of each
hosted partition (all of them when ``topics`` is null, else those asked for
that exist here) and, from v4, the file system's total and usable bytes.
``offset_lag`` is 0: there are no future (moving) replicas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.wire.generated.describe_log_dirs_request import DescribeLogDirsRequest
from broker.wire.generated.describe_log_dirs_response import (
    DescribeLogDirsPartition,
    DescribeLogDirsResponse,
    DescribeLogDirsResult,
    DescribeLogDirsTopic,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 35
MIN_VERSION = 1
MAX_VERSION = 5


async def handle(ctx: RequestContext, body: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    node: Node = ctx.node
    wanted: dict[str, set[int]] | None = None
    if body.topics is not None:
        wanted = {}
        for t in body.topics:
            wanted.setdefault(t.topic, set()).update(t.partitions)
    by_topic: dict[str, list[DescribeLogDirsPartition]] = {}
    for (name, index), part in sorted(node.replicas.partitions.items()):
        if wanted is not None and index not in wanted.get(name, ()):
            continue
        by_topic.setdefault(name, []).append(
            DescribeLogDirsPartition(index, part.log.size_in_bytes, 0, False)
        )
    usage = admin.log_dir_usage(node)
    result = DescribeLogDirsResult(
        log_dir=usage.path,
        topics=[DescribeLogDirsTopic(name, parts) for name, parts in by_topic.items()],
        total_bytes=usage.total_bytes,
        usable_bytes=usage.usable_bytes,
    )
    return DescribeLogDirsResponse(results=[result])
