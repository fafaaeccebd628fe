"""SCRAM (RFC 5802/7677), PLAIN (RFC 4616) and JAAS parsing, without sockets."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from broker.security import jaas, scram
from broker.security.plain import INVALID, PlainServer
from broker.security.scram import AuthenticationFailed, ScramServer

# RFC 7677, section 3: user "user", password "pencil".
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def _credential(password: str = "pencil", mechanism: int = 1) -> scram.Credential:
    salted = scram.salted_password(mechanism, password, SALT, 4096)
    return scram.credential_from_salted(mechanism, SALT, salted, 4096)


def _server(users: dict[str, scram.Credential] | None = None) -> ScramServer:
    found = {"user": _credential()} if users is None else users
    return ScramServer("SCRAM-SHA-256", found.get, nonce=lambda: SERVER_NONCE)


def test_rfc_7677_exchange() -> None:
    server = _server()
    assert server.step(CLIENT_FIRST) == SERVER_FIRST
    assert server.step(CLIENT_FINAL) == SERVER_FINAL
    assert server.done and server.user == "user"


def test_a_wrong_proof_fails_with_kafkas_message() -> None:
    server = _server({"user": _credential("not-pencil")})
    server.step(CLIENT_FIRST)
    with pytest.raises(AuthenticationFailed, match="invalid credentials with SASL mechanism"):
        server.step(CLIENT_FINAL)
    assert not server.done


@pytest.mark.parametrize(
    ("first", "final", "message"),
    [
        (b"n,,n=nobody,r=abc", None, "Invalid user credentials"),
        (b"p=tls-unique,,n=user,r=abc", None, "channel binding"),
        (b"n,a=other,n=user,r=abc", None, "authorization id"),
        (b"n,,n=user,r=abc,tokenauth=true", None, "delegation tokens"),
        (b"n,,n=us=er,r=abc", None, "invalid credentials"),
        (b"garbage", None, "invalid credentials"),
        (b"\xff\xfe", None, "invalid credentials"),
        (CLIENT_FIRST, CLIENT_FINAL.replace(b"c=biws", b"c=eSws"), "invalid credentials"),
        (CLIENT_FIRST, CLIENT_FINAL.replace(b"r=rOpr", b"r=xOpr"), "invalid credentials"),
        (CLIENT_FIRST, b"c=biws,r=x", "invalid credentials"),
        (CLIENT_FIRST, CLIENT_FINAL[:-8] + b"!!!!!!!=", "invalid credentials"),
    ],
)
def test_bad_client_messages(first: bytes, final: bytes | None, message: str) -> None:
    server = _server()
    with pytest.raises(AuthenticationFailed, match=message):
        server.step(first)
        assert final is not None
        server.step(final)


def test_the_authorization_id_may_name_the_user_and_names_are_escaped() -> None:
    users = {"a,b=c": _credential()}
    server = ScramServer("SCRAM-SHA-256", users.get)
    reply = server.step(b"n,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=nonce")
    assert reply.startswith(b"r=nonce")


def _client_final(mechanism: str, password: str, server: ScramServer, first_bare: str) -> bytes:
    digest = "sha256" if mechanism.endswith("256") else "sha512"
    server_first = server.step(f"n,,{first_bare}".encode()).decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    salted = hashlib.pbkdf2_hmac(
        digest, password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
    )
    client_key = hmac.new(salted, b"Client Key", digest).digest()
    stored = hashlib.new(digest, client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored, auth, digest).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()


def test_sha_512_end_to_end_and_a_replayed_final_message_fails() -> None:
    users = {"bob": _credential("secret", mechanism=2)}
    server = ScramServer("SCRAM-SHA-512", users.get)
    final = _client_final("SCRAM-SHA-512", "secret", server, "n=bob,r=cn")
    assert server.step(final).startswith(b"v=")
    with pytest.raises(AuthenticationFailed):
        server.step(final)  # nothing after the exchange


def test_plain() -> None:
    server = PlainServer({"alice": "alice-secret"})
    assert server.step(b"\0alice\0alice-secret") == b""
    assert server.done and server.user == "alice"
    assert PlainServer({"alice": "pw"}).step(b"alice\0alice\0pw") == b""


@pytest.mark.parametrize(
    ("token", "message"),
    [
        (b"\0alice\0wrong", INVALID),
        (b"\0nobody\0x", INVALID),
        (b"bob\0alice\0pw", "authorization id"),
        (b"alice\0pw", "Invalid SASL/PLAIN request"),
        (b"\0\0pw", "username not specified"),
        (b"\0alice\0", "password not specified"),
    ],
)
def test_plain_failures(token: bytes, message: str) -> None:
    with pytest.raises(AuthenticationFailed, match=message):
        PlainServer({"alice": "pw"}).step(token)


def test_jaas_parsing() -> None:
    text = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        '  username="admin" password="admin-secret" user_admin="admin-secret"\n'
        '  user_alice="a \\"quoted\\" pw" user_bob=bare;'
    )
    assert jaas.plain_users(text) == {
        "admin": "admin-secret",
        "alice": 'a "quoted" pw',
        "bob": "bare",
    }
    jaas.check_scram("org.apache.kafka.common.security.scram.ScramLoginModule required;")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_a=b",
        "org.apache.kafka.common.security.plain.PlainLoginModule always user_a=b;",
        "org.apache.kafka.common.security.plain.PlainLoginModule required user_a;",
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    ],
)
def test_bad_plain_jaas(text: str) -> None:
    with pytest.raises(ValueError):
        jaas.plain_users(text)
