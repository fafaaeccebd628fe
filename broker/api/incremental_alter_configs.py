"""IncrementalAlterConfigs (key 44), versions 0-1: change single config keys.

Operations per key: SET (0) a value, DELETE (1) the topic's own value so the
broker default applies again, APPEND (2) / SUBTRACT (3) items of a list
config (``cleanup.policy``, the throttled-replica lists); APPEND or SUBTRACT
on a non-list key is INVALID_CONFIG. The resulting config set is validated
as a whole, then written as ConfigRecords; ``validate_only`` writes nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.controller.controller import ConfigAlteration
from broker.wire.generated.incremental_alter_configs_request import (
    IncrementalAlterConfigsRequest,
)
from broker.wire.generated.incremental_alter_configs_response import (
    AlterConfigsResourceResponse,
    IncrementalAlterConfigsResponse,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 44
MIN_VERSION = 0
MAX_VERSION = 1


async def handle(
    ctx: RequestContext, body: IncrementalAlterConfigsRequest
) -> IncrementalAlterConfigsResponse:
    node: Node = ctx.node
    alterations = [
        ConfigAlteration(
            r.resource_type,
            r.resource_name,
            [(c.name, c.config_operation, c.value) for c in r.configs],
        )
        for r in body.resources
    ]
    results = await admin.alter_configs(
        node, alterations, incremental=True, validate_only=body.validate_only
    )
    return IncrementalAlterConfigsResponse(
        responses=[
            AlterConfigsResourceResponse(r.error, r.message, r.resource_type, r.resource_name)
            for r in results
        ]
    )
