"""The API table drives ApiVersions and dispatch; KIP-511 for versions too new."""

from __future__ import annotations

import struct

import pytest
from kafka.protocol.broker_version_data import BROKER_API_VERSIONS

from broker.api import api_versions
from broker.api.dispatch import CloseConnection, dispatch
from broker.api.registry import ApiTable
from broker.api.versions import KAFKA_4_1, advertised_range
from broker.wire.codec import ProtocolError
from broker.wire.generated.api_versions_request import ApiVersionsRequest
from broker.wire.generated.metadata_request import MetadataRequest
from broker.wire.protocol import RequestHeader, decode_response, encode_request

APIS = ApiTable([api_versions])


def test_kafka_4_1_table_matches_kafka_python_capture() -> None:
    assert dict(BROKER_API_VERSIONS[(4, 1)]) == KAFKA_4_1


def test_advertised_minimum_is_kafkas_and_maximum_is_clamped() -> None:
    assert advertised_range(0, 3, 13) == (0, 13)  # Produce: never above Kafka's 0
    assert advertised_range(1, 4, 16) == (4, 16)  # Fetch: clamped to what we implement
    assert advertised_range(11, 0, 99) == (0, 9)  # JoinGroup: never above Kafka's max
    assert advertised_range(52, 0, 2) == (0, 2)  # not advertised by Kafka clients' brokers


async def test_api_versions_lists_the_table() -> None:
    frame = encode_request(RequestHeader(18, 3, 9, "c"), ApiVersionsRequest("n", "1"))[4:]
    parts = await dispatch(frame, APIS, None)
    assert parts is not None
    raw = b"".join(parts)
    corr, body = decode_response(18, 3, raw[4:])
    assert corr == 9 and body.error_code == 0
    assert [(k.api_key, k.min_version, k.max_version) for k in body.api_keys] == [(18, 0, 4)]


@pytest.mark.parametrize("version", [5, 9, 127])
async def test_api_versions_too_new_gets_v0_unsupported_version(version: int) -> None:
    body = b"\x00\x01x" + b"\xde\xad"  # unknown future body: never decoded
    frame = struct.pack(">hhi", 18, version, 31) + body
    parts = await dispatch(frame, APIS, None)
    assert parts is not None
    raw = b"".join(parts)
    corr, reply = decode_response(18, 0, raw[4:])
    assert corr == 31 and reply.error_code == 35
    assert [(k.api_key, k.min_version, k.max_version) for k in reply.api_keys] == [(18, 0, 4)]


async def test_unsupported_api_closes_the_connection() -> None:
    frame = encode_request(RequestHeader(3, 12, 1, "c"), MetadataRequest())[4:]
    with pytest.raises(CloseConnection):
        await dispatch(frame, APIS, None)


async def test_corrupt_body_closes_the_connection() -> None:
    frame = encode_request(RequestHeader(18, 3, 9, "c"), ApiVersionsRequest("n", "1"))[4:]
    with pytest.raises(ProtocolError):  # CorruptMessage: the connection closes
        await dispatch(frame[:-3], APIS, None)
