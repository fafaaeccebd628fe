"""Request headers v0-v2 and response headers v0/v1 against kafka-python."""

from __future__ import annotations

import pytest
from kafka.protocol.api_header import RequestHeader as KRequestHeader
from kafka.protocol.api_header import ResponseHeader as KResponseHeader
from kafka.protocol.metadata import ApiVersionsResponse as KApiVersionsResponse
from kafka.protocol.metadata import MetadataRequest as KMetadataRequest

from broker.wire.codec import Writer
from broker.wire.generated import request_header, response_header
from broker.wire.generated.api_versions_response import ApiVersion, ApiVersionsResponse
from broker.wire.generated.metadata_request import MetadataRequest, MetadataRequestTopic
from broker.wire.protocol import (
    RequestHeader,
    decode_request,
    decode_response,
    encode_request,
    encode_response,
)


@pytest.mark.parametrize("version", [0, 1, 2])
def test_request_header_versions_match_kafka_python(version: int) -> None:
    h = request_header.RequestHeader(3, 12, 77, "client-ä")
    w = Writer()
    request_header.ENCODERS[version](h, w)
    ours = w.getvalue()
    if version == 0:
        assert ours == bytes.fromhex("0003000c0000004d")
        return
    flexible = version == 2
    theirs = KRequestHeader(
        request_api_key=3, request_api_version=12, correlation_id=77, client_id="client-ä"
    ).encode(flexible=flexible)
    assert ours == bytes(theirs)
    back, end = request_header.DECODERS[version](memoryview(theirs), 0)
    assert (back, end) == (h, len(theirs))


@pytest.mark.parametrize("version", [0, 1])
def test_response_header_versions_match_kafka_python(version: int) -> None:
    w = Writer()
    response_header.ENCODERS[version](response_header.ResponseHeader(99), w)
    theirs = KResponseHeader(correlation_id=99).encode(flexible=version == 1)
    assert w.getvalue() == bytes(theirs)


@pytest.mark.parametrize("version", [4, 12])
def test_framed_request_decodes_in_kafka_python(version: int) -> None:
    body = MetadataRequest(topics=[MetadataRequestTopic(name="t")], allow_auto_topic_creation=True)
    frame = encode_request(RequestHeader(3, version, 5, "me"), body)
    k = KMetadataRequest.decode(frame, version=version, header=True, framed=True)
    assert k.header.correlation_id == 5 and k.header.client_id == "me"
    assert [t.name for t in k.topics] == ["t"]
    request = decode_request(frame[4:])
    assert request.body == body and request.header.client_id == "me"


@pytest.mark.parametrize("version", [0, 3, 4])
def test_api_versions_response_always_uses_header_v0(version: int) -> None:
    body = ApiVersionsResponse(api_keys=[ApiVersion(18, 0, 4)])
    frame = b"".join(encode_response(18, version, 42, body))
    k = KApiVersionsResponse.decode(frame, version=version, header=True, framed=True)
    assert k.header.correlation_id == 42
    assert [(a.api_key, a.min_version, a.max_version) for a in k.api_keys] == [(18, 0, 4)]
    assert decode_response(18, version, frame[4:]) == (42, body)


def test_flexible_response_has_header_v1() -> None:
    from broker.wire.generated.metadata_response import MetadataResponse

    frame = b"".join(encode_response(3, 12, 7, MetadataResponse()))
    assert frame[4:8] == b"\0\0\0\x07" and frame[8] == 0  # empty tagged fields
    assert len(frame) - 4 == int.from_bytes(frame[:4], "big")


def test_trailing_bytes_after_the_body_are_ignored_as_kafka_does() -> None:
    # librdkafka 2.16's all-topics Metadata v13 request, as captured
    frame = bytes.fromhex("0003000d00000003000772646b61666b610000000000010000")
    request = decode_request(frame)
    assert request.header.client_id == "rdkafka"
    assert request.body.topics is None and request.body.allow_auto_topic_creation is False
