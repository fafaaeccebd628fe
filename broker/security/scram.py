"""SCRAM-SHA-256/512 (RFC 5802, RFC 7677): credentials and the server's exchange.

Theory of operation. A credential is what the metadata log keeps of a
password: a random salt, an iteration count, ``StoredKey = H(ClientKey)`` and
``ServerKey``, where ``SaltedPassword = PBKDF2(password, salt, i)``,
``ClientKey = HMAC(SaltedPassword, "Client Key")`` and ``ServerKey =
HMAC(SaltedPassword, "Server Key")``. AlterUserScramCredentials brings the
salted password, never the password; :func:`credential_from_salted` derives the
keys from it.

The exchange (:class:`ScramServer`, bytes in, bytes out):

1. client-first ``n,,n=user,r=cnonce`` (the GS2 header ``n,,`` or ``y,,``;
   channel binding ``p=`` is refused; an authorization id, ``a=``, must be
   the user) -> server-first ``r=cnonce+snonce,s=salt,i=iterations``;
2. client-final ``c=biws,r=nonce,p=proof`` -> server-final ``v=signature``
   when ``H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey``.

Any failure is :class:`AuthenticationFailed` with the message Kafka sends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

MIN_ITERATIONS = 4096
MAX_ITERATIONS = 16384
# Kafka's ScramMechanism type numbers, as in UserScramCredentialRecord.
MECHANISM_TYPES = {"SCRAM-SHA-256": 1, "SCRAM-SHA-512": 2}
MECHANISM_NAMES = {v: k for k, v in MECHANISM_TYPES.items()}
_HASHES = {1: "sha256", 2: "sha512"}


class AuthenticationFailed(Exception):
    """The client did not prove who it is; the message is what the client is told."""


@dataclass(frozen=True, slots=True)
class Credential:
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


def _hmac(digest: str, key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, digest).digest()


def salted_password(mechanism: int, password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac(_HASHES[mechanism], password.encode(), salt, iterations)


def credential_from_salted(
    mechanism: int, salt: bytes, salted: bytes, iterations: int
) -> Credential:
    digest = _HASHES[mechanism]
    client_key = _hmac(digest, salted, b"Client Key")
    stored_key = hashlib.new(digest, client_key).digest()
    server_key = _hmac(digest, salted, b"Server Key")
    return Credential(salt, stored_key, server_key, iterations)


def _saslname(text: str) -> str:
    """RFC 5802 saslname: ``=2C`` is ``,`` and ``=3D`` is ``=``; any other ``=`` is bad."""
    out = []
    i = 0
    while i < len(text):
        if text[i] == "=":
            code = text[i + 1 : i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                raise ValueError("invalid '=' in user name")
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _attributes(text: str) -> list[tuple[str, str]]:
    out = []
    for part in text.split(","):
        if len(part) < 2 or part[1] != "=":
            raise ValueError(f"invalid SCRAM attribute {part!r}")
        out.append((part[0], part[2:]))
    return out


class ScramServer:
    """One SCRAM exchange; ``lookup`` finds a user's credential (None: unknown)."""

    def __init__(
        self,
        mechanism: str,
        lookup: Callable[[str], Credential | None],
        nonce: Callable[[], str] = lambda: secrets.token_urlsafe(24),
    ) -> None:
        self.mechanism = mechanism
        self.digest = _HASHES[MECHANISM_TYPES[mechanism]]
        self.lookup = lookup
        self.make_nonce = nonce
        self.user: str | None = None
        self.done = False
        self._credential: Credential | None = None
        self._first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._gs2 = ""

    @property
    def invalid(self) -> str:
        return (
            "Authentication failed during authentication due to invalid credentials "
            f"with SASL mechanism {self.mechanism}"
        )

    def step(self, token: bytes) -> bytes:
        """The response to the client's next message; AuthenticationFailed ends it."""
        try:
            text = token.decode()
        except UnicodeDecodeError:
            raise AuthenticationFailed(self.invalid) from None
        if self._credential is None:
            return self._client_first(text)
        if not self.done:
            return self._client_final(text)
        raise AuthenticationFailed(self.invalid)

    def _client_first(self, text: str) -> bytes:
        flag, sep1, rest = text.partition(",")
        authzid, sep2, bare = rest.partition(",")
        if not sep1 or not sep2 or flag not in ("n", "y"):
            raise AuthenticationFailed(
                "Authentication failed: channel binding is not supported"
                if flag.startswith("p=")
                else self.invalid
            )
        parts = bare.split(",")
        if any(part.startswith("tokenauth=") for part in parts[2:]):
            raise AuthenticationFailed("Authentication failed: delegation tokens are not supported")
        try:
            attrs = _attributes(",".join(parts[:2]))  # then extensions, key=value
            if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r":
                raise ValueError("expected n=user,r=nonce")
            user = _saslname(attrs[0][1])
            authz = _saslname(authzid[2:]) if authzid.startswith("a=") else ""
        except ValueError:
            raise AuthenticationFailed(self.invalid) from None
        if authzid and not authzid.startswith("a="):
            raise AuthenticationFailed(self.invalid)
        if authz and authz != user:
            raise AuthenticationFailed(
                "Authentication failed: Client requested an authorization id that is "
                "different from username"
            )
        credential = self.lookup(user) if user else None
        if credential is None:
            raise AuthenticationFailed("Authentication failed: Invalid user credentials")
        self.user = user
        self._credential = credential
        self._gs2 = f"{flag},{authzid},"
        self._first_bare = bare
        self._nonce = attrs[1][1] + self.make_nonce()
        salt = base64.b64encode(credential.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={credential.iterations}"
        return self._server_first.encode()

    def _client_final(self, text: str) -> bytes:
        credential = self._credential
        assert credential is not None
        without_proof, sep, proof_attr = text.rpartition(",p=")
        try:
            attrs = dict(_attributes(without_proof)) if sep else {}
            proof = base64.b64decode(proof_attr, validate=True)
        except ValueError:
            raise AuthenticationFailed(self.invalid) from None
        if attrs.get("c") != base64.b64encode(self._gs2.encode()).decode():
            raise AuthenticationFailed(self.invalid)
        if attrs.get("r") != self._nonce:
            raise AuthenticationFailed(self.invalid)
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        signature = _hmac(self.digest, credential.stored_key, auth_message)
        if len(proof) != len(signature):
            raise AuthenticationFailed(self.invalid)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(
            hashlib.new(self.digest, client_key).digest(), credential.stored_key
        ):
            raise AuthenticationFailed(self.invalid)
        self.done = True
        server_signature = _hmac(self.digest, credential.server_key, auth_message)
        return b"v=" + base64.b64encode(server_signature)
