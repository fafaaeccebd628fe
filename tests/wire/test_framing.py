"""Framing: fed bytes, yields complete frames; sizes are checked before buffering."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.wire.framing import LARGE_FRAME_BYTES, FrameReader, FrameTooLarge


def framed(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def test_one_byte_at_a_time() -> None:
    bodies = [b"", b"a", b"hello world", bytes(range(256)) * 3]
    stream = b"".join(framed(b) for b in bodies)
    reader = FrameReader()
    out = []
    for i in range(len(stream)):
        reader.feed(stream[i : i + 1])
        while (frame := reader.next_frame()) is not None:
            out.append(bytes(frame))
    assert out == bodies


@given(st.lists(st.binary(max_size=300), max_size=8), st.data())
def test_any_split_yields_the_same_frames(bodies: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(framed(b) for b in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    reader = FrameReader()
    out = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        reader.feed(stream[prev:cut])
        prev = cut
        while (frame := reader.next_frame()) is not None:
            out.append(bytes(frame))
    assert out == bodies


def test_large_frame_goes_to_its_own_buffer_and_recv_into_works() -> None:
    body = bytes(range(256)) * (LARGE_FRAME_BYTES // 256 + 10)
    stream = framed(body) + framed(b"next")
    reader = FrameReader()
    reader.feed(stream[:100])
    target = reader.recv_buffer()
    assert target is not None and len(target) == len(body) - 96
    rest = stream[100 : 4 + len(body)]
    target[: len(rest)] = rest
    reader.advance(len(rest))
    assert reader.recv_buffer() is None
    reader.feed(stream[4 + len(body) :])
    assert bytes(reader.next_frame() or b"") == body
    assert bytes(reader.next_frame() or b"") == b"next"


@pytest.mark.parametrize("size", [-1, -(2**31), 1025])
def test_bad_size_is_refused_before_buffering(size: int) -> None:
    reader = FrameReader(max_frame_bytes=1024)
    with pytest.raises(FrameTooLarge):
        reader.feed(struct.pack(">i", size))
    assert reader.buffered_bytes <= 4


def test_default_limit_is_socket_request_max_bytes() -> None:
    reader = FrameReader()
    with pytest.raises(FrameTooLarge):
        reader.feed(struct.pack(">i", 100 * 1024 * 1024 + 1))
    reader = FrameReader()
    reader.feed(struct.pack(">i", 100 * 1024 * 1024))  # allowed: waits for the body
    assert reader.next_frame() is None
