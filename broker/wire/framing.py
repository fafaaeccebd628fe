"""Sans-I/O framing of the Kafka protocol: bytes in, complete frames out.

Theory of operation
-------------------
Every Kafka request and response is ``int32 size`` followed by ``size``
bytes. :class:`FrameReader` is fed whatever the socket produced and hands out
complete frame bodies (without the size). It checks the size against
``socket.request.max.bytes`` as soon as the four size bytes are in, before
buffering anything of the body: a negative or oversized size raises
:class:`FrameTooLarge`, and the caller closes the connection.

The size prefix is a claim, not a fact: memory is spent only on bytes that
have arrived. Small frames are sliced out of one accumulation buffer. A large
frame gets its own ``bytearray``, which starts at ``LARGE_FRAME_BYTES`` (or
what has arrived) and at most doubles each time it fills, never past the
frame's size; so a peer that announces 100 MiB and sends ten bytes costs
64 KiB, and a frame that does arrive whole costs at most its size plus one
copy per doubling. The shell ``recv_into`` s the rest of a large frame
directly (:meth:`FrameReader.recv_buffer`) and the produce path keeps
``memoryview`` slices of the finished frame without copying.
"""

from __future__ import annotations

from broker.wire.codec import INT32, Buffer, ProtocolError

DEFAULT_MAX_FRAME_BYTES = 100 * 1024 * 1024  # socket.request.max.bytes
LARGE_FRAME_BYTES = 64 * 1024


class FrameTooLarge(ProtocolError):
    """The size prefix is negative or above socket.request.max.bytes."""


class FrameReader:
    __slots__ = ("_buf", "_large", "_large_filled", "_large_size", "_max", "_ready", "large_frames")

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buf = bytearray()
        self._large: bytearray | None = None  # grows towards _large_size
        self._large_size = 0
        self._large_filled = 0
        self._ready: list[bytearray] = []
        self.large_frames = 0  # large frames begun so far (a new one: a new claim)

    @property
    def large_frame_size(self) -> int:
        """The size the large frame being received claims, or 0 if there is none."""
        return self._large_size

    @property
    def buffered_bytes(self) -> int:
        """Bytes received and not yet handed out by :meth:`next_frame`."""
        return len(self._buf) + self._large_filled + sum(len(f) for f in self._ready)

    @property
    def allocated_bytes(self) -> int:
        """Memory held for received frames, including a large frame's spare room."""
        large = len(self._large) if self._large is not None else 0
        return len(self._buf) + large + sum(len(f) for f in self._ready)

    @property
    def claimed_bytes(self) -> int:
        """Like :attr:`allocated_bytes`, with a large frame counted at its full size."""
        return len(self._buf) + self._large_size + sum(len(f) for f in self._ready)

    @property
    def in_frame(self) -> bool:
        """True when part of a frame (at least one byte of it) has arrived."""
        return self._large is not None or bool(self._buf)

    def feed(self, data: Buffer) -> None:
        """Take bytes the peer sent; complete frames queue up for :meth:`next_frame`."""
        view = memoryview(data).cast("B")
        while view:
            if self._large is not None:
                room = self._room()
                take = min(len(view), len(room))
                room[:take] = view[:take]
                room.release()
                view = view[take:]
                self._advance_large(take)
                continue
            self._buf += view
            view = view[len(view) :]
            self._split()

    def recv_buffer(self) -> memoryview | None:
        """Where the next bytes of a large frame go: ``recv_into`` it, then :meth:`advance`.

        The view must be released (or dropped) before the next call: the buffer
        behind it may grow then.
        """
        if self._large is None:
            return None
        return self._room()

    def advance(self, n: int) -> None:
        """Record that ``n`` bytes were received into :meth:`recv_buffer`."""
        self._advance_large(n)

    def next_frame(self) -> bytearray | None:
        """The oldest complete frame body, or None if none is complete yet."""
        if self._ready:
            return self._ready.pop(0)
        return None

    def _room(self) -> memoryview:
        """The unfilled part of the large frame's buffer, grown if it is full."""
        large = self._large
        assert large is not None
        if self._large_filled == len(large):
            grown = min(self._large_size, max(2 * len(large), LARGE_FRAME_BYTES))
            large += bytes(grown - len(large))
        return memoryview(large)[self._large_filled :]

    def _advance_large(self, n: int) -> None:
        assert self._large is not None
        self._large_filled += n
        if self._large_filled == self._large_size:
            self._ready.append(self._large)
            self._large = None
            self._large_filled = 0
            self._large_size = 0

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
                # Only what has arrived (at least LARGE_FRAME_BYTES); _room grows it.
                large = bytearray(max(have, LARGE_FRAME_BYTES))
                large[:have] = buf[start + 4 :]
                self._large = large
                self._large_size = size
                self._large_filled = have
                self.large_frames += 1
                start = len(buf)
            break
        if start:
            del buf[:start]
