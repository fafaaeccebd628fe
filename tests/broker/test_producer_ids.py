"""InitProducerId: concurrent requests never share a producer id.

A block of ids is allocated through the metadata log (an await); requests
that arrive while it is written must not each allocate from the same image.
Two idempotent producers with one id would see each other's batches as
duplicates: acknowledged, and never stored.
"""

from __future__ import annotations

from pathlib import Path

import trio

from broker.wire.generated.init_producer_id_request import InitProducerIdRequest
from tests.admin.helpers import started_node
from tests.broker.helpers import call


async def test_concurrent_init_producer_id_get_distinct_ids(tmp_path: Path) -> None:
    node = await started_node(tmp_path)
    ids: list[int] = []

    async def init() -> None:
        response = await call(node, 22, 4, InitProducerIdRequest(None, 60_000))
        assert response.error_code == 0
        ids.append(response.producer_id)

    for _round in range(2):  # the first block, then ids from it
        async with trio.open_nursery() as nursery:
            for _ in range(4):
                nursery.start_soon(init)
    assert len(ids) == 8 and len(set(ids)) == 8, ids
    await node.shutdown()
