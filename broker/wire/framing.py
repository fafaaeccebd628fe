"""Sans-I/O framing of the Kafka protocol: bytes in, complete frames out.

Theory of operation
-------------------
Every Kafka request and response is ``int32 size`` followed by ``size``
bytes. :class:`FrameReader` is fed whatever the socket produced and hands out
complete frame bodies (without the size). It checks the size against
``socket.request.max.bytes`` as soon as the four size bytes are in, before
buffering anything of the body: a negative or oversized size raises
:class:`FrameTooLarge`, and the caller closes the connection. Nothing is ever
allocated from an untrusted size beyond that limit.

Small frames are sliced out of one accumulation buffer. A large frame gets
its own ``bytearray`` of exactly its size, so the shell can ``recv_into`` the
rest of it directly (:meth:`FrameReader.recv_buffer`) and the produce path
can keep ``memoryview`` slices of it without copying.
"""

from __future__ import annotations

from broker.wire.codec import INT32, Buffer, ProtocolError

DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024  # socket.request.max.bytes
LARGE_FRAME_BYTES = 64 * 1024


class FrameTooLarge(ProtocolError):
    """The size prefix is negative or above socket.request.max.bytes."""


class FrameReader:
    __slots__ = ("_buf", "_large", "_large_filled", "_max", "_ready")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._large: bytearray | None = None
        self._large_filled = 0
        self._ready: list[bytearray] = []

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf) + self._large_filled

    def feed(self, data: Buffer) -> None:
        """Take bytes the peer sent; complete frames queue up for :meth:`next_frame`."""
        view = memoryview(data)
        while view:
            if self._large is not None:
                take = min(len(view), len(self._large) - self._large_filled)
                self._large[self._large_filled : self._large_filled + take] = view[:take]
                view = view[take:]
                self._advance_large(take)
                continue
            self._buf += view
            view = view[len(view) :]
            self._split()

    def recv_buffer(self) -> memoryview | None:
        """Where the rest of a large frame goes: ``recv_into`` it, then :meth:`advance`."""
        if self._large is None:
            return None
        return memoryview(self._large)[self._large_filled :]

    def advance(self, n: int) -> None:
        """Record that ``n`` bytes were received into :meth:`recv_buffer`."""
        self._advance_large(n)

    def next_frame(self) -> bytearray | None:
        """The oldest complete frame body, or None if none is complete yet."""
        if self._ready:
            return self._ready.pop(0)
        return None

    def _advance_large(self, n: int) -> None:
        assert self._large is not None
        self._large_filled += n
        if self._large_filled == len(self._large):
            self._ready.append(self._large)
            self._large = None
            self._large_filled = 0

    def _split(self) -> None:
        buf = self._buf
        start = 0
        while len(buf) - start >= 4:
            (size,) = INT32.unpack_from(buf, start)
            if size < 0 or size > self._max:
                raise FrameTooLarge(
                    f"frame size {size} is outside 0..{self._max} (socket.request.max.bytes)"
                )
            have = len(buf) - start - 4
            if have >= size:
                self._ready.append(buf[start + 4 : start + 4 + size])
                start += 4 + size
                continue
            if size >= LARGE_FRAME_BYTES:
                large = bytearray(size)
                large[:have] = buf[start + 4 :]
                self._large = large
                self._large_filled = have
                start = len(buf)
            break
        if start:
            del buf[:start]
