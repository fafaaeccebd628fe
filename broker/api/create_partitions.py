"""CreatePartitions (key 37), versions 0-3.

Adds partitions to existing topics up to each topic's new total ``count``,
placed round-robin over the live brokers or where ``assignments`` says (one
replica list per new partition). The controller validates against the
metadata image (the topic exists, the count grows, assignments match the
topic's replication factor and name registered brokers); ``validate_only``
answers without writing a record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.controller.controller import PartitionsSpec
from broker.wire.generated.create_partitions_request import CreatePartitionsRequest
from broker.wire.generated.create_partitions_response import (
    CreatePartitionsResponse,
    CreatePartitionsTopicResult,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 37
MIN_VERSION = 0
MAX_VERSION = 3


async def handle(ctx: RequestContext, body: CreatePartitionsRequest) -> CreatePartitionsResponse:
    node: Node = ctx.node
    specs = [
        PartitionsSpec(
            t.name,
            t.count,
            None if t.assignments is None else [list(a.broker_ids) for a in t.assignments],
        )
        for t in body.topics
    ]
    results = await admin.create_partitions(node, specs, validate_only=body.validate_only)
    return CreatePartitionsResponse(
        results=[
            CreatePartitionsTopicResult(name=r.name, error_code=r.error, error_message=r.message)
            for r in results
        ]
    )
