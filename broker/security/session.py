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
AUTHENTICATION = frozenset({SASL_HANDSHAKE, SASL_AUTHENTICATE})


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
    # KIP-368: when the authenticated session ends (trio clock), None: never;
    # the client re-authenticates with SaslHandshake + SaslAuthenticate first.
    expires_at: float | None = None
    reauthenticating: bool = False

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

    @property
    def reauth_s(self) -> float:
        return (self.sasl.reauth_ms / 1000) if self.sasl is not None else 0.0

    def allows(self, api_key: int, now: float) -> bool:
        """May this request be handled now? (False: close the connection.)"""
        if not self.authenticated:
            return api_key in BEFORE_AUTHENTICATION
        if self.expires_at is not None and now >= self.expires_at:
            return api_key in AUTHENTICATION  # an expired session may only re-authenticate
        return True

    def authenticated_as(self, principal: str, now: float) -> bool:
        """The exchange succeeded; False when a re-authentication changed the principal."""
        if self.reauthenticating and principal != self.principal:
            return False
        self.authenticated = True
        self.reauthenticating = False
        self.principal = principal
        self.expires_at = now + self.reauth_s if self.reauth_s > 0 else None
        return True
