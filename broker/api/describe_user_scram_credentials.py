"""DescribeUserScramCredentials (key 50), version 0 (KIP-554).

Which SCRAM mechanisms (and iteration counts) each user has; never the
salt or keys. No users named (null or empty) lists every user with one.
"""

from __future__ import annotations

from broker.api.context import RequestContext
from broker.security import scram_credentials
from broker.wire.generated.describe_user_scram_credentials_request import (
    DescribeUserScramCredentialsRequest,
)
from broker.wire.generated.describe_user_scram_credentials_response import (
    DescribeUserScramCredentialsResponse,
)

API_KEY = 50
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(
    ctx: RequestContext, body: DescribeUserScramCredentialsRequest
) -> DescribeUserScramCredentialsResponse:
    results = scram_credentials.describe(ctx.node.image, body)
    return DescribeUserScramCredentialsResponse(0, 0, None, results)
