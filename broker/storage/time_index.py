"""The time index: sparse map from timestamp to offset in the segment.

File format: a flat array of 12-byte big-endian entries, no header. Entry n::

    int64 timestamp         largest batch maxTimestamp seen in the segment so far
    int32 relative_offset   last offset of the batch that carried it, minus the base offset

Both columns increase: an entry is added alongside an offset index entry only
when the segment's largest timestamp has grown since the last one. Because
timestamps are producer clocks, a batch may have a smaller timestamp than an
earlier batch; the index then holds the running maximum, which is what makes
"first entry with timestamp >= T" a safe place to start scanning for T.

The last slot is reserved: when a segment is rolled or closed its largest
timestamp is appended even if the index is otherwise full, so that a reopened
segment knows its largest timestamp (for retention.ms) without a scan.
"""

from __future__ import annotations

import struct
from typing import ClassVar, Final

from broker.storage.index import AbstractIndex

ENTRY: Final = struct.Struct(
    ">"
    "q"  # timestamp: running maximum of batch maxTimestamp, in ms
    "i"  # relative_offset: last offset of the batch holding it - segment base offset
)

NO_TIMESTAMP: Final = -1


class TimeIndex(AbstractIndex):
    ENTRY: ClassVar[struct.Struct] = ENTRY
    _SLACK: ClassVar[int] = 1  # the reserved last slot: room for it is allocated too

    @property
    def is_full(self) -> bool:
        return self.entries >= self.max_entries - 1

    def last_entry(self) -> tuple[int, int]:
        """(timestamp, offset) of the newest entry, or (NO_TIMESTAMP, base_offset)."""
        last = self.last_raw()
        if last is None:
            return NO_TIMESTAMP, self.base_offset
        return last[0], self.base_offset + last[1]

    def maybe_append(self, timestamp: int, offset: int, *, final: bool = False) -> None:
        """Append (timestamp, offset) if the timestamp grew; `final` may use the
        reserved last slot (segment roll and close)."""
        last_timestamp, last_offset = self.last_entry()
        if timestamp <= last_timestamp:
            return
        if not final and self.is_full:
            return
        if self.entries and offset < last_offset:
            self._check(False, f"timestamp {timestamp} at offset {offset} before {last_offset}")
        self._append_raw(timestamp, offset - self.base_offset, final=final)

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """(timestamp, offset) of the last entry with timestamp <= `timestamp`,
        or (NO_TIMESTAMP, base_offset): where to start scanning for it."""
        slot = self._floor_slot(timestamp, 0)
        if slot < 0:
            return NO_TIMESTAMP, self.base_offset
        found, relative = self.entry(slot)
        return found, self.base_offset + relative

    def truncate_to(self, offset: int) -> None:
        """Drop every entry whose offset is >= `offset`."""
        self._truncate_to_slot(self._ceiling_slot(offset - self.base_offset, 1))

    def sanity_check(self, next_offset: int) -> None:
        self._check(not self.misaligned, "length is not a multiple of 12")
        if self.entries:
            _, offset = self.last_entry()
            self._check(
                self.base_offset <= offset < max(next_offset, self.base_offset + 1),
                "last entry offset out of range",
            )
