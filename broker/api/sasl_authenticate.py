"""SaslAuthenticate (key 36), versions 0-2 (KIP-152).

One token of the mechanism chosen by SaslHandshake in, the server's token
out. On success the connection is authenticated as ``User:<name>``. A failed
exchange answers SASL_AUTHENTICATION_FAILED with Kafka's message after
``connection.failed.authentication.delay.ms`` (which slows password guessing
on this connection) and then closes the connection. A SaslAuthenticate
without a handshake, or after authentication, is ILLEGAL_SASL_STATE.

With ``connections.max.reauth.ms`` the answer (v1+) carries the session
lifetime; a client re-authenticates before it ends (KIP-368) and may not
change principal doing so (SASL_AUTHENTICATION_FAILED, then close). A
request other than these two after the session ends closes the connection
(broker/api/dispatch.py), as it does for v0 clients, which cannot be told.
"""

from __future__ import annotations

import logging

import trio

from broker.api.context import RequestContext
from broker.errors import ErrorCode
from broker.security.scram import AuthenticationFailed
from broker.wire.generated.sasl_authenticate_request import SaslAuthenticateRequest
from broker.wire.generated.sasl_authenticate_response import SaslAuthenticateResponse

API_KEY = 36
MIN_VERSION = 0
MAX_VERSION = 2

log = logging.getLogger(__name__)


async def handle(ctx: RequestContext, body: SaslAuthenticateRequest) -> SaslAuthenticateResponse:
    session = ctx.session
    if session.exchange is None or (session.authenticated and not session.reauthenticating):
        session.close_after_response = not session.authenticated
        return SaslAuthenticateResponse(
            ErrorCode.ILLEGAL_SASL_STATE,
            "Unexpected SaslAuthenticate request"
            + (" after authentication" if session.authenticated else " before SaslHandshake"),
        )
    try:
        reply = session.exchange.step(bytes(body.auth_bytes))
    except AuthenticationFailed as exc:
        session.close_after_response = True
        log.info(
            "failed %s authentication from %s on %s: %s",
            session.mechanism,
            ctx.client_host,
            session.listener,
            exc,
        )
        await trio.sleep(session.failed_delay_s)
        return SaslAuthenticateResponse(ErrorCode.SASL_AUTHENTICATION_FAILED, str(exc))
    lifetime_ms = 0
    if session.exchange.done:
        again = session.reauthenticating
        principal = f"User:{session.exchange.user}"
        if not session.authenticated_as(principal, trio.current_time()):
            session.close_after_response = True
            message = f"Cannot change principals during re-authentication from {session.principal}: {principal}"
            log.info("closing connection from %s: %s", ctx.client_host, message)
            return SaslAuthenticateResponse(ErrorCode.SASL_AUTHENTICATION_FAILED, message)
        lifetime_ms = int(session.reauth_s * 1000)
        log.info(
            "SASL/%s %s from %s on %s as %s",
            session.mechanism,
            "re-authentication" if again else "connection",
            ctx.client_host,
            session.listener,
            session.principal,
        )
    return SaslAuthenticateResponse(ErrorCode.NONE, None, reply, lifetime_ms)
