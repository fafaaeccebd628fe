"""SASL/PLAIN (RFC 4616) against the users of the listener's JAAS configuration.

The client's one message is ``[authzid] NUL authcid NUL password``; the
authorization id, when given, must be the user (as Kafka requires). The
exchange has no server message: success is an empty response.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from broker.security.scram import AuthenticationFailed

INVALID = "Authentication failed: Invalid username or password"


class PlainServer:
    def __init__(self, users: Mapping[str, str]) -> None:
        self.users = users
        self.user: str | None = None
        self.done = False

    def step(self, token: bytes) -> bytes:
        if self.done:
            raise AuthenticationFailed(INVALID)
        parts = token.split(b"\0")
        if len(parts) != 3:
            raise AuthenticationFailed("Authentication failed: Invalid SASL/PLAIN request")
        try:
            authzid, user, password = (p.decode() for p in parts)
        except UnicodeDecodeError:
            raise AuthenticationFailed(INVALID) from None
        if not user or not password:
            raise AuthenticationFailed(
                "Authentication failed: username not specified"
                if not user
                else "Authentication failed: password not specified"
            )
        if authzid and authzid != user:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        expected = self.users.get(user)
        # compare_digest even for an unknown user: no timing hint of who exists
        if not hmac.compare_digest((expected or "\0").encode(), password.encode()) or (
            expected is None
        ):
            raise AuthenticationFailed(INVALID)
        self.user = user
        self.done = True
        return b""
