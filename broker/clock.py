"""The shell's one clock: wall-clock time for timestamps, Trio time for deadlines.

Theory of operation
-------------------
The cores take time as an input; the shell gets it from one :class:`Clock`,
created with the node and passed to everything that needs it (the partitions,
the metadata quorum, the group coordinators, the produce path, housekeeping).
No other shell module reads the system's time (a test enforces it).

Two kinds of time are in play:

* wall-clock milliseconds since the epoch, :meth:`Clock.now_ms`: LogAppendTime,
  the check of client timestamps (``message.timestamp.*.max.ms``),
  ``segment.ms`` and ``retention.ms``, commit timestamps and the group timers;
* Trio's clock, for every sleep and deadline. It is already injectable
  (``trio.run(..., clock=MockClock())``), so the shell reads it only through
  Trio (``trio.current_time``, ``trio.sleep``, cancel scopes).

:class:`SystemClock` is the real thing. :class:`TrioClock` derives wall time
from Trio's clock: under ``MockClock(autojump_threshold=0)`` a test's sleeps
advance both together, so timers measured in wall-clock milliseconds (group
sessions, ``flush.ms``, ``retention.ms``) fire at exactly the simulated time.
"""

from __future__ import annotations

import time
from typing import Protocol

import trio


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The system's real-time clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000


class TrioClock:
    """Wall-clock time that follows Trio's clock from ``start_ms`` (for tests)."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self.start_ms = start_ms

    def now_ms(self) -> int:
        return self.start_ms + int(trio.current_time() * 1000)
