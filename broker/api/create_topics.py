"""CreateTopics (key 19), versions 2-7.

Validated by the controller against the metadata image (name, partitions,
replication factor or explicit assignments, configs); ``validate_only``
returns the outcome without writing a record. Configs of created topics are
returned from v5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.api.context import RequestContext
from broker.controller import topic_configs
from broker.controller.controller import TopicSpec
from broker.errors import ErrorCode
from broker.wire.generated.create_topics_request import CreateTopicsRequest
from broker.wire.generated.create_topics_response import (
    CreatableTopicConfigs,
    CreatableTopicResult,
    CreateTopicsResponse,
)

if TYPE_CHECKING:
    from broker.node import Node

API_KEY = 19
MIN_VERSION = 2
MAX_VERSION = 7
DEFAULT_CONFIG = 5  # DescribeConfigs source: DEFAULT_CONFIG
DYNAMIC_TOPIC_CONFIG = 1


async def handle(ctx: RequestContext, body: CreateTopicsRequest) -> CreateTopicsResponse:
    node: Node = ctx.node
    specs = [
        TopicSpec(
            t.name,
            t.num_partitions,
            t.replication_factor,
            {a.partition_index: list(a.broker_ids) for a in t.assignments},
            {c.name: c.value for c in t.configs},
        )
        for t in body.topics
    ]
    results = await node.create_topics_results(specs, validate_only=body.validate_only)
    response = CreateTopicsResponse()
    for spec, r in zip(specs, results, strict=True):
        out = CreatableTopicResult(
            name=r.name,
            topic_id=r.topic_id,
            error_code=r.error,
            error_message=r.message,
            num_partitions=r.num_partitions,
            replication_factor=r.replication_factor,
        )
        if r.error == ErrorCode.NONE:
            own = {k: v for k, v in spec.configs.items() if v is not None}
            out.configs = [
                CreatableTopicConfigs(
                    name=key,
                    value=value,
                    config_source=DYNAMIC_TOPIC_CONFIG if key in own else DEFAULT_CONFIG,
                )
                for key, value in sorted(node.topic_config(own).items())
            ]
        else:
            out.num_partitions = out.replication_factor = -1
            out.configs = []  # empty, not null, as Kafka answers a failed topic
        response.topics.append(out)
    return response


__all__ = ["handle", "topic_configs"]
