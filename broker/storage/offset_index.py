"""The offset index: sparse map from offset to byte position in the segment.

File format: a flat array of 8-byte big-endian entries, no header. Entry n::

    int32 relative_offset   last offset of an indexed batch, minus the segment's base offset
    int32 position          byte position of that batch in the segment's .log file

Both columns increase strictly. A batch is indexed when more than
``index.interval.bytes`` have been appended since the previous entry, so a
lookup lands at most one interval before the wanted batch and the log is
scanned forward from there. The entry holds the batch's *last* offset and its
*start* position, so "largest entry with offset <= target" always points at or
before the batch containing the target.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

from broker.storage.index import AbstractIndex

ENTRY: Final = struct.Struct(
    ">"
    "i"  # relative_offset: batch last offset - segment base offset
    "i"  # position: byte position of the batch in the .log file
)


class OffsetIndex(AbstractIndex):
    ENTRY: ClassVar[struct.Struct] = ENTRY

    @property
    def last_offset(self) -> int:
        """The largest indexed offset, or the base offset if empty."""
        if self.entries == 0:
            return self.base_offset
        return self.base_offset + self.entry(self.entries - 1)[0]

    @property
    def last_position(self) -> int:
        """Position of the last indexed batch, 0 if empty."""
        return self.entry(self.entries - 1)[1] if self.entries else 0

    def append(self, offset: int, position: int) -> None:
        relative = offset - self.base_offset
        last = self.last_raw()
        if last is not None:
            last_relative, last_position = last
            if relative <= last_relative or position <= last_position:
                self._check(
                    False, f"append ({offset}, {position}) after ({last_relative}, {last_position})"
                )
        self._append_raw(relative, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(offset, position) of the last entry with offset <= `offset`, or
        (base_offset, 0) if none: where to start scanning for `offset`."""
        slot = self._floor_slot(offset - self.base_offset, 0)
        if slot < 0:
            return self.base_offset, 0
        relative, position = self.entry(slot)
        return self.base_offset + relative, position

    def lookup_by_position(self, position: int) -> tuple[int, int]:
        """(offset, position) of the last entry at or before `position`, or
        (base_offset - 1, 0) if none."""
        slot = self._floor_slot(position, 1)
        if slot < 0:
            return self.base_offset - 1, 0
        relative, found = self.entry(slot)
        return self.base_offset + relative, found

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= `offset`."""
        self._truncate_to_slot(self._ceiling_slot(offset - self.base_offset, 0))

    def sanity_check(self, log_size: int) -> None:
        self._check(not self.misaligned, "length is not a multiple of 8")
        if self.entries:
            relative, position = self.entry(self.entries - 1)
            self._check(relative >= 0 and 0 <= position < log_size, "last entry out of range")
