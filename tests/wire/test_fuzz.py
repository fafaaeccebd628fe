"""Random and mutated frames: decoders raise only our protocol error, and end.

Every request decoder is fed mutations of a valid encoding (bit flips,
truncations, inserted bytes, huge lengths) and pure noise; the only
exception allowed out of :func:`decode_request` is CorruptMessage (or
UnsupportedRequest when a mutation hits the api key/version).
"""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import broker.wire.generated as generated
from broker.wire.codec import CorruptMessage
from broker.wire.protocol import RequestHeader, UnsupportedRequest, decode_request, encode_request
from broker.wire.schema import load_all
from tests.wire.fill import fill

SPECS = load_all()
REQUESTS = sorted(
    (spec.api_key, v, spec.name)
    for spec in SPECS.values()
    if spec.type == "request" and spec.api_key is not None
    for v in spec.versions()
)


def _valid_frame(api_key: int, version: int, name: str, rng: random.Random) -> bytes:
    module = generated.BY_NAME[name]
    body = fill(rng, module, SPECS[name], version)
    return encode_request(RequestHeader(api_key, version, 1, "fuzz"), body)[4:]


def _mutate(frame: bytes, rng: random.Random) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            del data[pos:]
        elif op == 2:
            data[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and len(data) >= 8:
            at = 8 + rng.randrange(max(1, len(data) - 8))
            data[at : at + 4] = rng.choice(
                [b"\x7f\xff\xff\xff", b"\xff\xff\xff\xfe", b"\x80\x80\x80\x80"]
            )
        else:
            data[pos : pos + 1] = b"\xff"
    return bytes(data)


def _decode(frame: bytes) -> None:
    with contextlib.suppress(CorruptMessage, UnsupportedRequest):
        decode_request(frame)


@pytest.mark.parametrize(
    ("api_key", "version", "name"), REQUESTS, ids=[f"{n}-v{v}" for _, v, n in REQUESTS]
)
def test_mutated_frames_raise_only_protocol_errors(api_key: int, version: int, name: str) -> None:
    rng = random.Random(f"fuzz/{name}/{version}")
    frame = _valid_frame(api_key, version, name, rng)
    decode_request(frame)  # the unmutated frame is valid
    for _ in range(40):
        _decode(_mutate(frame, rng))


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_noise_raises_only_protocol_errors(noise: bytes) -> None:
    _decode(noise)


@settings(max_examples=200)
@given(st.sampled_from(REQUESTS), st.binary(max_size=64))
def test_valid_header_then_noise(request_key: tuple[int, int, str], noise: bytes) -> None:
    api_key, version, _ = request_key
    header = api_key.to_bytes(2, "big") + version.to_bytes(2, "big") + b"\0\0\0\1\0\1x"
    _decode(header + noise)
