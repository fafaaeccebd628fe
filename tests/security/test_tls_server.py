"""The server's TLS shell in-process: handshake, principal, and what closes a connection."""

from __future__ import annotations

import ssl
import struct
from pathlib import Path

import pytest
import trio

from broker.net.server import Server, StartupError
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.protocol import RequestHeader, decode_response, encode_request
from tests.broker.helpers import make_node
from tests.security.certs import Identity, Pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


async def _serve(
    nursery: trio.Nursery, tmp_path: Path, pki: Pki, *extra: str, timeout_s: float = 30
) -> int:
    node = make_node(
        tmp_path,
        "listeners=SSL://127.0.0.1:0",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={pki.server.keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={pki.ca_path}",
        "ssl.client.auth=required",
        *extra,
    )
    server = Server(
        node.apis,
        node,
        max_frame_bytes=1 << 20,
        idle_timeout_s=30,
        max_connections=9,
        request_timeout_s=timeout_s,
    )
    bound = await nursery.start(server.serve, [("127.0.0.1", 0)])
    server.ready.set()
    return int(bound[0][1])


def _client(pki: Pki, who: Identity) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca_path))
    ctx.load_cert_chain(str(who.cert_path), str(who.key_path))
    return ctx


async def _api_versions(stream: trio.abc.Stream) -> bool:
    """True when ApiVersions was answered; False when the connection closed."""
    request = encode_request(RequestHeader(18, 3, 1, "t"), ApiVersionsRequest("n", "1"))
    data = b""
    with trio.fail_after(10):
        try:
            await stream.send_all(request)
            while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
                chunk = await stream.receive_some()
                if not chunk:
                    return False
                data += chunk
        except trio.BrokenResourceError:
            return False
    _corr, body = decode_response(18, 3, data[4:])
    return bool(body.error_code == 0)


async def test_principal_rules_admit_and_refuse(
    tmp_path: Path, pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    admin = pki.issue("admin", common_name="admin", organization="example")
    eve = pki.issue("eve", common_name="eve", organization="example")
    caplog.set_level("INFO", "broker.net.server")
    async with trio.open_nursery() as nursery:
        port = await _serve(
            nursery, tmp_path, pki, "ssl.principal.mapping.rules=RULE:^CN=admin,.*$/root/"
        )
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", port, ssl_context=_client(pki, admin)
        )
        assert await _api_versions(stream)
        await stream.aclose()
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", port, ssl_context=_client(pki, eve)
        )
        assert not await _api_versions(stream)  # no rule applies: closed
        await trio.aclose_forcefully(stream)
        nursery.cancel_scope.cancel()
    assert "as User:root" in caplog.text
    assert "no ssl.principal.mapping.rules rule applies to CN=eve," in caplog.text


async def test_a_plaintext_client_and_a_silent_one_cost_only_their_connection(
    tmp_path: Path, pki: Pki
) -> None:
    who = pki.issue("ok", common_name="ok")
    async with trio.open_nursery() as nursery:
        port = await _serve(nursery, tmp_path, pki, timeout_s=0.5)
        plain = await trio.open_tcp_stream("127.0.0.1", port)
        assert not await _api_versions(plain)
        silent = await trio.open_tcp_stream("127.0.0.1", port)  # never says hello
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", port, ssl_context=_client(pki, who)
        )
        assert await _api_versions(stream)
        with trio.fail_after(10):
            assert await silent.receive_some() == b""  # the handshake deadline closed it
        for one in (plain, silent, stream):
            await trio.aclose_forcefully(one)
        nursery.cancel_scope.cancel()


async def test_a_keystore_that_does_not_load_is_a_startup_error(tmp_path: Path, pki: Pki) -> None:
    node = make_node(
        tmp_path,
        "listeners=SSL://127.0.0.1:0",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={pki.ca_path}",  # a certificate, no key
    )
    server = Server(node.apis, node, max_frame_bytes=1024, idle_timeout_s=30, max_connections=9)
    with pytest.raises(StartupError, match=r"ssl\.keystore\.location: cannot load"):
        await server.serve([("127.0.0.1", 0)])


async def test_a_large_request_over_tls_arrives_whole(tmp_path: Path, pki: Pki) -> None:
    """A request of many TLS records (the large-frame path reads them in one go)."""
    from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic

    who = pki.issue("big", common_name="big")
    names = [f"topic-{i:05d}-" + "x" * 90 for i in range(3000)]  # ~300 KiB
    request = MetadataRequest(
        topics=[MetadataRequestTopic(name=n) for n in names], allow_auto_topic_creation=False
    )
    frame = encode_request(RequestHeader(3, 12, 9, "t"), request)
    assert len(frame) > 4 * 64 * 1024
    async with trio.open_nursery() as nursery:
        port = await _serve(nursery, tmp_path, pki)
        stream = await trio.open_ssl_over_tcp_stream(
            "127.0.0.1", port, ssl_context=_client(pki, who)
        )
        with trio.fail_after(20):
            for start in range(0, len(frame), 5000):  # in pieces, as a client may
                await stream.send_all(frame[start : start + 5000])
            data = b""
            while len(data) < 4 or len(data) < 4 + struct.unpack(">i", data[:4])[0]:
                chunk = await stream.receive_some()
                assert chunk, "connection closed"
                data += chunk
        corr, body = decode_response(3, 12, data[4:])
        assert corr == 9
        assert [t.name for t in body.topics] == names
        assert {t.error_code for t in body.topics} == {3}  # UNKNOWN_TOPIC_OR_PARTITION
        await trio.aclose_forcefully(stream)
        nursery.cancel_scope.cancel()
