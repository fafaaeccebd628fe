"""A connection's security state: its listener, principal and SASL progress.

One :class:`Session` per connection, owned by that connection's task. On a
PLAINTEXT or SSL listener it starts authenticated (as ``User:ANONYMOUS`` or
the certificate's principal); on a SASL listener it starts unauthenticated
and only ApiVersions, SaslHandshake and SaslAuthenticate may be sent until
SaslAuthenticate succeeds (broker/api/sasl_*.py drive it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from broker.security.principal import ANONYMOUS
from broker.security.settings import SaslSettings

# What a client may send before it has authenticated (Kafka's
# SaslServerAuthenticator answers these and closes on anything else).
API_VERSIONS = 18
SASL_HANDSHAKE = 17
SASL_AUTHENTICATE = 36
BEFORE_AUTHENTICATION = frozenset({API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE})


@dataclass(slots=True)
class Session:
    listener: str = "PLAINTEXT"
    protocol: str = "PLAINTEXT"
    principal: str = ANONYMOUS
    sasl: SaslSettings | None = None
    authenticated: bool = True
    mechanism: str | None = None  # chosen by SaslHandshake
    exchange: Any = None  # the mechanism's server state (PlainServer, ScramServer)
    close_after_response: bool = False  # failed authentication: answer, then close
    failed_delay_s: float = 0.1  # connection.failed.authentication.delay.ms

    @classmethod
    def for_listener(
        cls, listener: str, protocol: str, sasl: SaslSettings | None, principal: str = ANONYMOUS
    ) -> Session:
        session = cls(listener, protocol, principal, sasl, authenticated=sasl is None)
        if sasl is not None:
            session.failed_delay_s = sasl.failed_delay_ms / 1000
        return session

    def endpoint(self, endpoints: Sequence[tuple[str, str, int]]) -> tuple[str, str, int]:
        """The broker endpoint on this connection's listener, as Kafka answers
        Metadata and FindCoordinator (the first one when none has its name)."""
        for endpoint in endpoints:
            if endpoint[0] == self.listener:
                return endpoint
        return endpoints[0]

    def allows(self, api_key: int) -> bool:
        """May this request be handled now? (False: close the connection.)"""
        return self.authenticated or api_key in BEFORE_AUTHENTICATION
