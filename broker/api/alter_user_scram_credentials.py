"""AlterUserScramCredentials (key 51), version 0 (KIP-554).

Upserts and deletes SCRAM credentials; the client sends the salted
password, never the password. Validation is in
broker/security/scram_credentials.py; what passes goes to the metadata log.
"""

from __future__ import annotations

from broker.api.context import RequestContext
from broker.security import scram_credentials
from broker.wire.generated.alter_user_scram_credentials_request import (
    AlterUserScramCredentialsRequest,
)
from broker.wire.generated.alter_user_scram_credentials_response import (
    AlterUserScramCredentialsResponse,
)

API_KEY = 51
MIN_VERSION = 0
MAX_VERSION = 0


async def handle(
    ctx: RequestContext, body: AlterUserScramCredentialsRequest
) -> AlterUserScramCredentialsResponse:
    results, records = scram_credentials.alter(ctx.node.image, body)
    if records:
        await ctx.node.quorum.append(records)
    return AlterUserScramCredentialsResponse(0, results)
