"""Framing: fed bytes, yields complete frames; sizes are checked before buffering."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
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
    body = bytes(range(256)) * (4 * LARGE_FRAME_BYTES // 256 + 10)
    stream = framed(body) + framed(b"next")
    reader = FrameReader()
    reader.feed(stream[:100])
    pos = 100
    while (target := reader.recv_buffer()) is not None:
        n = min(len(target), 4 + len(body) - pos, 10_000)
        target[:n] = stream[pos : pos + n]
        target.release()
        reader.advance(n)
        pos += n
    assert pos == 4 + len(body)
    reader.feed(stream[pos:])
    assert bytes(reader.next_frame() or b"") == body
    assert bytes(reader.next_frame() or b"") == b"next"


def test_a_size_prefix_alone_allocates_nothing_like_the_frame() -> None:
    """A 4-byte claim of 100 MiB costs what arrived, not 100 MiB (issue 11, item 5)."""
    size = 100 * 1024 * 1024
    reader = FrameReader()
    reader.feed(struct.pack(">i", size) + b"x" * 10)
    assert reader.in_frame
    assert reader.allocated_bytes <= LARGE_FRAME_BYTES
    # Trickled bytes, through either path, grow the buffer with what arrives.
    for _ in range(1000):
        reader.feed(b"y")
        target = reader.recv_buffer()
        assert target is not None
        target[:1] = b"z"
        target.release()
        reader.advance(1)
    assert reader.buffered_bytes == 2010
    assert reader.allocated_bytes <= LARGE_FRAME_BYTES


_BODY = bytes(range(251)) * (6 * LARGE_FRAME_BYTES // 251 + 1)


@settings(max_examples=40, deadline=None)
@given(st.integers(LARGE_FRAME_BYTES, 6 * LARGE_FRAME_BYTES), st.integers(997, 70_000))
def test_large_frame_allocation_stays_within_twice_what_arrived(size: int, step: int) -> None:
    body = _BODY[:size]
    stream = framed(body)
    reader = FrameReader()
    pos = 0
    while pos < len(stream):
        reader.feed(stream[pos : pos + step])
        pos += step
        if reader.in_frame:
            assert reader.allocated_bytes <= max(2 * reader.buffered_bytes, LARGE_FRAME_BYTES)
    assert bytes(reader.next_frame() or b"") == body
    assert reader.allocated_bytes == 0 and not reader.in_frame


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
