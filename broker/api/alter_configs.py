"""AlterConfigs (key 33), versions 0-2: replace a resource's whole config set.

Every key the request names is set to its value; every topic config it does
not name goes back to its default (Kafka's semantics for this legacy API;
IncrementalAlterConfigs changes single keys). Values are validated as
CreateTopics validates them: INVALID_CONFIG names the key and why. The
changes are ConfigRecords in the metadata log; once applied, the topic's
partitions run with the new settings. ``validate_only`` writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.controller import topic_configs
from broker.controller.controller import ConfigAlteration
from broker.wire.generated.alter_configs_request import AlterConfigsRequest
from broker.wire.generated.alter_configs_response import (
    AlterConfigsResourceResponse,
    AlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 33
MIN_VERSION = 0
MAX_VERSION = 2


async def handle(ctx: RequestContext, body: AlterConfigsRequest) -> AlterConfigsResponse:
    node: Node = ctx.node
    alterations = [
        ConfigAlteration(
            r.resource_type,
            r.resource_name,
            [(c.name, topic_configs.SET, c.value) for c in r.configs],
        )
        for r in body.resources
    ]
    results = await admin.alter_configs(
        node, alterations, incremental=False, validate_only=body.validate_only
    )
    return AlterConfigsResponse(
        responses=[
            AlterConfigsResourceResponse(r.error, r.message, r.resource_type, r.resource_name)
            for r in results
        ]
    )
