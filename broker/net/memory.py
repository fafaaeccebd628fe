"""The request memory pool: one bound on request bytes buffered across connections.

Kafka's ``queued.max.request.bytes`` (its ``MemoryPool``). A large frame
(``LARGE_FRAME_BYTES`` or more) is *admitted* when its size prefix arrives
and the pool is not exhausted: from then on it counts at its full claimed
size until its response is written, and reads without waiting, so an
admitted request always finishes (or meets its deadline). A large frame that
arrives while the pool is exhausted stops reading, holding only the first
read, until admitted ones release their claims; the kernel's socket buffers
and TCP flow control then hold the peer back. As in Kafka's non-strict pool,
admission needs only that the pool is not yet full, so the claims can pass
the limit by one frame: a request larger than the pool is slow, never stuck.

Small frames are never held back (a heartbeat does not queue behind a big
produce); each connection's reader holds at most one read and one small
frame of them. Memory is allocated only as bytes arrive (FrameReader), so
what connections actually hold (:attr:`RequestMemoryPool.buffered`) is at
most the claims plus that per-connection read.

``-1`` means unbounded, as in Kafka; our default is bounded (see
docs/configuration.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import trio


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    limit: int  # -1: unbounded
    used: int  # claims of admitted large frames
    peak: int
    buffered: int  # bytes the connections' frame readers hold
    buffered_peak: int
    waiting: int  # large frames waiting to be admitted


class RequestMemoryPool:
    def __init__(self, queued_max_request_bytes: int) -> None:
        self.limit = queued_max_request_bytes
        self.used = 0
        self.peak = 0
        self.buffered = 0
        self.buffered_peak = 0
        self._waiting = 0
        self._released = trio.Event()

    @property
    def exhausted(self) -> bool:
        return self.limit >= 0 and self.used >= self.limit

    def claim(self, delta: int) -> None:
        """An admitted frame claims ``delta`` more bytes (negative: releases them)."""
        self.used += delta
        assert self.used >= 0, "released more than was claimed"
        self.peak = max(self.peak, self.used)
        if delta < 0 and not self.exhausted:
            self._released.set()
            self._released = trio.Event()

    def hold(self, delta: int) -> None:
        """A connection's reader holds ``delta`` more bytes (negative: fewer)."""
        self.buffered += delta
        self.buffered_peak = max(self.buffered_peak, self.buffered)

    async def wait_for_memory(self) -> None:
        """Return once the pool has room (at once if it has)."""
        while self.exhausted:
            self._waiting += 1
            try:
                await self._released.wait()
            finally:
                self._waiting -= 1

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(
            self.limit, self.used, self.peak, self.buffered, self.buffered_peak, self._waiting
        )
