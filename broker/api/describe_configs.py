"""DescribeConfigs (key 32), versions 1-4.

For a topic: every topic config (or the ``configuration_keys`` asked for)
with its effective value and where it comes from (``config_source``: the
topic's own value, a property in the broker's configuration, or a default);
with ``include_synonyms`` the whole chain in priority order (the topic's
value, then each broker synonym that has a value, e.g. ``log.retention.ms``
before ``log.retention.hours``). From v3 each entry carries its type and,
when asked, a line of documentation. For a broker (its id, or "" for the
cluster-wide dynamic defaults, of which there are none yet): its
properties, all read-only. Other resource types get INVALID_REQUEST.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import admin
from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.describe_configs_request import DescribeConfigsRequest
from broker.wire.generated.describe_configs_response import (
    DescribeConfigsResourceResult,
    DescribeConfigsResponse,
    DescribeConfigsResult,
    DescribeConfigsSynonym,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 32
MIN_VERSION = 1
MAX_VERSION = 4


async def handle(ctx: RequestContext, body: DescribeConfigsRequest) -> DescribeConfigsResponse:
    node: Node = ctx.node
    response = DescribeConfigsResponse()
    for resource in body.resources:
        keys = resource.configuration_keys
        outcome = admin.describe_configs(
            node,
            resource.resource_type,
            resource.resource_name,
            None if keys is None else set(keys),
        )
        result = DescribeConfigsResult(
            error_code=outcome.error,
            error_message=outcome.message,
            resource_type=resource.resource_type,
            resource_name=resource.resource_name,
        )
        response.results.append(result)
        if outcome.error != ErrorCode.NONE:
            continue
        for c in outcome.configs:
            result.configs.append(
                DescribeConfigsResourceResult(
                    name=c.name,
                    value=c.value,
                    read_only=c.read_only,
                    config_source=c.source,
                    is_sensitive=c.sensitive,
                    synonyms=[DescribeConfigsSynonym(s.name, s.value, s.source) for s in c.synonyms]
                    if body.include_synonyms
                    else [],
                    config_type=c.type,
                    documentation=c.doc if body.include_documentation else None,
                )
            )
    return response
