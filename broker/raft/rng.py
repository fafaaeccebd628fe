"""A small seeded PRNG (SplitMix64) for the simulator and tests.

``broker/raft`` may not import ``random`` (see tests/raft/test_purity.py), and
the simulator must replay a seed bit for bit on any Python version, so it
carries its own generator.  It satisfies :class:`broker.raft.types.RandomSource`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")

_MASK = (1 << 64) - 1


class SplitMix64:
    __slots__ = ("_state",)

    def __init__(self, seed: int) -> None:
        self._state = seed & _MASK

    def next64(self) -> int:
        self._state = z = (self._state + 0x9E3779B97F4A7C15) & _MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31)

    def randrange(self, stop: int, /) -> int:
        """Uniform in [0, stop); the modulo bias is below 2**-50 here."""
        return self.next64() % stop

    def random(self) -> float:
        return (self.next64() >> 11) * (1.0 / (1 << 53))

    def choice(self, items: Sequence[T]) -> T:
        return items[self.next64() % len(items)]
