"""From a request frame to response buffers: decode, route, encode.

Kafka's rules, which this module keeps:
- a frame that does not decode closes the connection (Kafka's
  InvalidRequestException path), as does an API key or version we do not
  implement, except ApiVersions;
- an ApiVersions request above our maximum gets a v0 UNSUPPORTED_VERSION reply
  listing our ApiVersions range (KIP-511), so the client can retry lower;
- a handler returning None sends nothing (Produce with acks=0);
- on a SASL listener, a request other than ApiVersions, SaslHandshake and
  SaslAuthenticate before authentication closes the connection.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from broker.api import api_versions
from broker.api.context import RequestContext
from broker.api.registry import ApiTable
from broker.security.session import Session
from broker.wire.codec import Buffer, ProtocolError
from broker.wire.protocol import (
    API_VERSIONS_KEY,
    UnsupportedRequest,
    decode_request,
    encode_response,
    peek_header,
)

log = logging.getLogger(__name__)


class CloseConnection(ProtocolError):
    """The request cannot be answered; Kafka closes the connection here."""


async def dispatch(
    frame: Buffer, apis: ApiTable, node: Any, client_host: str = "", session: Session | None = None
) -> list[Buffer] | None:
    header = peek_header(frame)
    if session is not None and not session.allows(header.api_key, trio.current_time()):
        when = (
            "before SASL authentication"
            if not session.authenticated
            else "after the SASL session expired (connections.max.reauth.ms)"
        )
        raise CloseConnection(f"unexpected request (api key {header.api_key}) {when}")
    entry = apis.get(header.api_key)
    if header.api_key == API_VERSIONS_KEY and entry and header.api_version > entry.max_version:
        reply = api_versions.unsupported_version_reply(apis)
        return encode_response(API_VERSIONS_KEY, 0, header.correlation_id, reply)
    if entry is None or not entry.implements(header.api_version):
        raise CloseConnection(f"unsupported api key {header.api_key} version {header.api_version}")
    try:
        request = decode_request(frame)
    except UnsupportedRequest as exc:
        raise CloseConnection(str(exc)) from exc
    ctx = RequestContext(request.header, apis, node, len(frame), client_host, session or Session())
    body = await entry.handler(ctx, request.body)
    if body is None:
        return None
    return encode_response(header.api_key, header.api_version, header.correlation_id, body)
