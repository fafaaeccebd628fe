"""DescribeClientQuotas (key 48), versions 0-1.

Client quotas are not implemented and AlterClientQuotas is not offered, so
no quota can exist: every well-formed filter matches nothing. Kafka's tools
ask for them alongside SCRAM credentials (``kafka-configs --describe
--entity-type users``). A filter Kafka rejects is INVALID_REQUEST: an
unknown entity type, an unknown match type, a name with a non-exact match,
or the same entity type twice.
"""

from __future__ import annotations

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.wire.generated.describe_client_quotas_request import DescribeClientQuotasRequest
from broker.wire.generated.describe_client_quotas_response import DescribeClientQuotasResponse

API_KEY = 48
MIN_VERSION = 0
MAX_VERSION = 1

ENTITY_TYPES = ("user", "client-id", "ip")
MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY = 0, 1, 2


async def handle(
    ctx: RequestContext, body: DescribeClientQuotasRequest
) -> DescribeClientQuotasResponse:
    seen: set[str] = set()
    for component in body.components:
        problem = None
        if component.entity_type not in ENTITY_TYPES:
            problem = f"Custom entity type {component.entity_type!r} not supported"
        elif component.entity_type in seen:
            problem = f"Duplicate {component.entity_type} filter component entity type"
        elif component.match_type not in (MATCH_EXACT, MATCH_DEFAULT, MATCH_ANY):
            problem = f"Unknown match type {component.match_type}"
        elif component.match_type != MATCH_EXACT and component.match is not None:
            problem = "Unexpected match value for a default or any match"
        elif component.match_type == MATCH_EXACT and component.match is None:
            problem = "Exact match without a value"
        if problem is not None:
            return DescribeClientQuotasResponse(0, ErrorCode.INVALID_REQUEST, problem, None)
        seen.add(component.entity_type)
    return DescribeClientQuotasResponse(0, ErrorCode.NONE, None, [])
