"""The SASL state machine through dispatch, and SCRAM credentials in the metadata log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from broker.api.dispatch import CloseConnection, dispatch
from broker.errors import ErrorCode
from broker.node import Node
from broker.security import scram
from broker.security.session import Session
from broker.security.settings import listener_security
from broker.wire.generated.alter_user_scram_credentials_request import (
    AlterUserScramCredentialsRequest,
    ScramCredentialDeletion,
    ScramCredentialUpsertion,
)
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.describe_user_scram_credentials_request import (
    DescribeUserScramCredentialsRequest,
    UserName,
)
from broker.wire.generated.metadata_request import MetadataRequest
from broker.wire.generated.sasl_authenticate_request import SaslAuthenticateRequest
from broker.wire.generated.sasl_handshake_request import SaslHandshakeRequest
from broker.wire.protocol import RequestHeader, decode_response, encode_request
from tests.broker.helpers import make_node

JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";'


@pytest.fixture
def node(tmp_path: Path) -> Node:
    return make_node(
        tmp_path,
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}",
        "connection.failed.authentication.delay.ms=0",
    )


def _session(node: Node) -> Session:
    spec = listener_security(node.config)[0]
    return Session.for_listener(spec.name, spec.protocol, spec.sasl)


async def _call(node: Node, session: Session, api_key: int, version: int, body: Any) -> Any:
    frame = encode_request(RequestHeader(api_key, version, 7, "test"), body)[4:]
    parts = await dispatch(bytearray(frame), node.apis, node, "/127.0.0.1", session)
    assert parts is not None
    raw = b"".join(bytes(p) for p in parts)
    return decode_response(api_key, version, raw[4:])[1]


async def test_only_handshake_apis_before_authentication(node: Node) -> None:
    session = _session(node)
    versions = await _call(node, session, 18, 3, ApiVersionsRequest("t", "1"))
    assert {k.api_key for k in versions.api_keys} >= {17, 36, 50, 51}
    with pytest.raises(CloseConnection, match="before SASL authentication"):
        await _call(node, session, 3, 12, MetadataRequest(topics=None))


async def test_plain_then_requests_are_served(node: Node) -> None:
    session = _session(node)
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    assert (shake.error_code, shake.mechanisms) == (0, ["PLAIN", "SCRAM-SHA-256"])
    auth = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0alice\0alice-secret"))
    assert auth.error_code == 0
    assert session.authenticated and session.principal == "User:alice"
    again = await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    assert again.error_code == ErrorCode.ILLEGAL_SASL_STATE
    assert not session.close_after_response  # authenticated: the connection stays
    await _call(node, session, 3, 12, MetadataRequest(topics=None))


async def test_failed_authentication_answers_then_closes(node: Node) -> None:
    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    auth = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0alice\0nope"))
    assert auth.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert auth.error_message == "Authentication failed: Invalid username or password"
    assert session.close_after_response and not session.authenticated


@pytest.mark.parametrize(
    ("mechanism", "code"),
    [("GSSAPI", ErrorCode.UNSUPPORTED_SASL_MECHANISM), ("SCRAM-SHA-512", 33)],
)
async def test_a_mechanism_not_enabled_closes(node: Node, mechanism: str, code: int) -> None:
    session = _session(node)
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest(mechanism))
    assert shake.error_code == code and session.close_after_response


async def test_a_second_handshake_before_authentication_closes(node: Node) -> None:
    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    assert shake.error_code == ErrorCode.ILLEGAL_SASL_STATE and session.close_after_response


async def test_handshake_on_a_plaintext_listener_is_illegal_state(tmp_path: Path) -> None:
    node = make_node(tmp_path)
    session = Session()
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    assert shake.error_code == ErrorCode.ILLEGAL_SASL_STATE and not session.close_after_response


def _upsert(name: str, mechanism: int = 1, iterations: int = 4096) -> ScramCredentialUpsertion:
    salt = b"salt-" + name.encode()
    salted = scram.salted_password(min(mechanism, 2), "pw", salt, max(iterations, 1))
    return ScramCredentialUpsertion(name, mechanism, iterations, salt, salted)


async def test_scram_credentials_alter_describe_and_log_in(node: Node) -> None:
    admin = Session()
    alter = await _call(
        node,
        admin,
        51,
        0,
        AlterUserScramCredentialsRequest(
            deletions=[ScramCredentialDeletion("ghost", 1)],
            upsertions=[
                _upsert("bob"),
                _upsert("bob", 2, 8192),
                _upsert("few", 1, 100),
                _upsert("many", 1, 20000),
                _upsert("", 1),
                _upsert("odd", 3),
                _upsert("twice"),
                _upsert("twice"),
            ],
        ),
    )
    results = {r.user: (r.error_code, r.error_message) for r in alter.results}
    assert results == {
        "ghost": (
            ErrorCode.RESOURCE_NOT_FOUND,
            "Attempt to delete a user credential that does not exist",
        ),
        "bob": (0, None),
        "few": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too few iterations"),
        "many": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Too many iterations"),
        "": (ErrorCode.UNACCEPTABLE_CREDENTIAL, "Username must not be empty"),
        "odd": (ErrorCode.UNSUPPORTED_SASL_MECHANISM, "Unknown SCRAM mechanism"),
        "twice": (
            ErrorCode.DUPLICATE_RESOURCE,
            "A user credential cannot be altered twice in the same request",
        ),
    }
    assert set(node.image.scram_credentials) == {("bob", 1), ("bob", 2)}
    stored = node.image.scram_credentials[("bob", 1)]
    assert stored.salt == b"salt-bob" and stored.iterations == 4096
    assert b"pw" not in stored.stored_key + stored.server_key

    described = await _call(
        node,
        admin,
        50,
        0,
        DescribeUserScramCredentialsRequest([UserName("bob"), UserName("nobody")]),
    )
    by_user = {r.user: r for r in described.results}
    assert [(c.mechanism, c.iterations) for c in by_user["bob"].credential_infos] == [
        (1, 4096),
        (2, 8192),
    ]
    assert by_user["nobody"].error_code == ErrorCode.RESOURCE_NOT_FOUND
    every = await _call(node, admin, 50, 0, DescribeUserScramCredentialsRequest(None))
    assert [r.user for r in every.results] == ["bob"]

    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("SCRAM-SHA-256"))
    first = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"n,,n=bob,r=abc"))
    assert first.error_code == 0 and first.auth_bytes.startswith(b"r=abc")

    gone = await _call(
        node,
        admin,
        51,
        0,
        AlterUserScramCredentialsRequest(deletions=[ScramCredentialDeletion("bob", 1)]),
    )
    assert gone.results[0].error_code == 0
    assert set(node.image.scram_credentials) == {("bob", 2)}


async def test_reauthentication_kip_368(tmp_path: Path) -> None:
    node = make_node(
        tmp_path,
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config="
        + JAAS.replace(";", ' user_bob="bob-secret";'),
        "connection.failed.authentication.delay.ms=0",
        "connections.max.reauth.ms=60000",
    )
    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    auth = await _call(node, session, 36, 1, SaslAuthenticateRequest(b"\0alice\0alice-secret"))
    assert auth.session_lifetime_ms == 60000 and session.expires_at is not None
    await _call(node, session, 3, 12, MetadataRequest(topics=None))
    session.expires_at = trio.current_time() - 1  # the session ends
    with pytest.raises(CloseConnection, match="expired"):
        await _call(node, session, 3, 12, MetadataRequest(topics=None))
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    assert shake.error_code == 0 and session.reauthenticating
    auth = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0alice\0alice-secret"))
    assert auth.error_code == 0 and not session.reauthenticating
    assert session.expires_at > trio.current_time()
    await _call(node, session, 3, 12, MetadataRequest(topics=None))
    # the principal may not change
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    auth = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0bob\0bob-secret"))
    assert auth.error_code == ErrorCode.SASL_AUTHENTICATION_FAILED
    assert "Cannot change principals" in (auth.error_message or "")
    assert session.close_after_response and session.principal == "User:alice"


async def test_reauthentication_may_not_change_mechanism(tmp_path: Path) -> None:
    node = make_node(
        tmp_path,
        "listeners=SASL_PLAINTEXT://127.0.0.1:9092",
        "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256",
        f"listener.name.sasl_plaintext.plain.sasl.jaas.config={JAAS}",
        "connections.max.reauth.ms=60000",
    )
    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0alice\0alice-secret"))
    shake = await _call(node, session, 17, 1, SaslHandshakeRequest("SCRAM-SHA-256"))
    assert shake.error_code == ErrorCode.UNSUPPORTED_SASL_MECHANISM
    assert session.close_after_response


async def test_without_reauth_sessions_do_not_expire(node: Node) -> None:
    session = _session(node)
    await _call(node, session, 17, 1, SaslHandshakeRequest("PLAIN"))
    auth = await _call(node, session, 36, 2, SaslAuthenticateRequest(b"\0alice\0alice-secret"))
    assert auth.session_lifetime_ms == 0 and session.expires_at is None
