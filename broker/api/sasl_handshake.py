"""SaslHandshake (key 17), version 1 (KIP-152).

Picks the connection's SASL mechanism; SaslAuthenticate carries the exchange.
The response lists the listener's enabled mechanisms. A mechanism the
listener does not enable is UNSUPPORTED_SASL_MECHANISM and the connection
closes after the answer, as in Kafka; so does a second handshake before
authentication completes (ILLEGAL_SASL_STATE). On a listener without SASL,
or once authenticated, the answer is ILLEGAL_SASL_STATE and the connection
stays, unless ``connections.max.reauth.ms`` is set: then a handshake on
an authenticated connection starts a re-authentication (KIP-368), which must
keep the mechanism (another one is UNSUPPORTED_SASL_MECHANISM, then close).
Version 0 (raw tokens after the handshake, pre-KIP-152 clients) is
not implemented: such a request closes the connection.
"""

from __future__ import annotations

from typing import Any

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.security import scram
from broker.security.plain import PlainServer
from broker.wire.generated.sasl_handshake_request import SaslHandshakeRequest
from broker.wire.generated.sasl_handshake_response import SaslHandshakeResponse

API_KEY = 17
MIN_VERSION = 1
MAX_VERSION = 1


async def handle(ctx: RequestContext, body: SaslHandshakeRequest) -> SaslHandshakeResponse:
    session = ctx.session
    sasl = session.sasl
    if sasl is not None and session.authenticated and session.reauth_s > 0:
        if session.reauthenticating or body.mechanism != session.mechanism:
            session.close_after_response = True
            code = (
                ErrorCode.ILLEGAL_SASL_STATE
                if session.reauthenticating
                else ErrorCode.UNSUPPORTED_SASL_MECHANISM
            )
            return SaslHandshakeResponse(code, list(sasl.mechanisms))
        session.reauthenticating = True
        session.exchange = _exchange(ctx, body.mechanism)
        return SaslHandshakeResponse(ErrorCode.NONE, list(sasl.mechanisms))
    if sasl is None or session.authenticated or session.mechanism is not None:
        session.close_after_response = not session.authenticated
        enabled = list(sasl.mechanisms) if sasl is not None else []
        return SaslHandshakeResponse(ErrorCode.ILLEGAL_SASL_STATE, enabled)
    if body.mechanism not in sasl.mechanisms:
        session.close_after_response = True
        return SaslHandshakeResponse(ErrorCode.UNSUPPORTED_SASL_MECHANISM, list(sasl.mechanisms))
    session.mechanism = body.mechanism
    session.exchange = _exchange(ctx, body.mechanism)
    return SaslHandshakeResponse(ErrorCode.NONE, list(sasl.mechanisms))


def _exchange(ctx: RequestContext, mechanism: str) -> Any:
    sasl = ctx.session.sasl
    assert sasl is not None
    if mechanism == "PLAIN":
        return PlainServer(sasl.plain_users)
    node = ctx.node
    mechanism_type = scram.MECHANISM_TYPES[mechanism]

    def lookup(user: str) -> scram.Credential | None:
        found = node.image.scram_credentials.get((user, mechanism_type))
        if found is None:
            return None
        return scram.Credential(found.salt, found.stored_key, found.server_key, found.iterations)

    return scram.ScramServer(mechanism, lookup)
