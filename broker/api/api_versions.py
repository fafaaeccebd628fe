"""ApiVersions (key 18), versions 0-4.

Lists the table of supported APIs. A request for a version above ours never
reaches this module: the dispatcher answers it with a v0 UNSUPPORTED_VERSION
reply listing our ApiVersions range, as KIP-511 asks (see
:func:`unsupported_version_reply`). Feature fields (v3+) stay at their
defaults, so no tagged field is written.
"""

from __future__ import annotations

from broker.api.context import RequestContext
from broker.api.registry import ApiTable
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.api_versions_response import ApiVersion, ApiVersionsResponse

API_KEY = 18
MIN_VERSION = 0
MAX_VERSION = 4
UNSUPPORTED_VERSION = 35


async def handle(ctx: RequestContext, body: ApiVersionsRequest) -> ApiVersionsResponse:
    return ApiVersionsResponse(error_code=0, api_keys=api_keys(ctx.apis))


def api_keys(apis: ApiTable) -> list[ApiVersion]:
    return [ApiVersion(key, low, high) for key, low, high in apis.advertised()]


def unsupported_version_reply(apis: ApiTable) -> ApiVersionsResponse:
    """KIP-511: an errored reply carrying only our ApiVersions range, encoded as v0."""
    entry = apis.get(API_KEY)
    assert entry is not None
    low, high = entry.advertised
    return ApiVersionsResponse(
        error_code=UNSUPPORTED_VERSION, api_keys=[ApiVersion(API_KEY, low, high)]
    )
