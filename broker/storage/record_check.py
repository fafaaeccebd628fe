"""Check the records section of a client's batch, as Kafka's LogValidator does.

Theory of operation
-------------------
A batch whose CRC is right can still hold records no consumer can read: a
``recordsCount`` that does not match the records, a record longer than the
batch, bytes left over after the last record, a varint that never ends, a key
that runs past its record. Kafka finds these by iterating every record
(``DefaultRecord.readFrom``) and refuses the batch with INVALID_RECORD;
storing it instead would stop every consumer at that offset.

`walk_records` reads every field of every record of a records section (the
bytes after the 61-byte header, decompressed if the batch is compressed), as
``DefaultRecord.readFrom`` reads them: attributes, timestampDelta (varlong),
offsetDelta, key, value, headers (a header key may not be null), and the
fields must end exactly where the record's length says. It returns a
`RecordsWalk`: ``problem`` is None when the section is sound and a sentence
saying what is wrong otherwise; the smallest and largest timestampDelta let
the caller check every record's timestamp, as Kafka does, without a second
walk. With ``offsets_in_order`` (compressed batches: Kafka checks their
inner offsets, not an uncompressed batch's, as a real Kafka 4.1 showed) the
offsetDelta of record i must be i.

Field by field (`_walk`) it costs about 1-2 us a record in CPython. Given
the timestampDeltas the caller allows (``delta_window``), runs of records of
one shape (same key, value and header sizes: nearly every client's batches)
are checked instead by a regular expression compiled for that shape, in C,
at ~0.1-0.25 us a record (see "Same-shape runs" below; figures:
``python -m bench.bench_validation``); what no pattern matches, and every
compressed batch (whose offsetDeltas must be checked), is walked field by
field. The produce path still runs large batches in a worker thread
(broker/api/produce.py).

Record v2 layout::

    varint  length          bytes of the record after this field
    int8    attributes
    varlong timestampDelta
    varint  offsetDelta
    varint  keyLength       then the key; < 0: null
    varint  valueLength     then the value; < 0: null
    varint  headersCount    then per header: varint keyLength (>= 0), key,
                            varint valueLength (< 0: null), value

Varints are zigzag base-128: at most 5 bytes for an int32, 10 for a varlong.
Varints of one or two bytes (nearly all of them) are decoded inline; longer
ones go through `_varint_tail`.
"""

from __future__ import annotations

import mmap
import re
from typing import Final, NamedTuple

from broker.wire.codec import uvarint

BytesLike = bytes | bytearray | memoryview | mmap.mmap

_INT_BYTES: Final = 5
_LONG_BYTES: Final = 10


class _BadVarint(Exception):
    pass


def _varint_tail(body: BytesLike, pos: int, first: int, max_bytes: int) -> tuple[int, int]:
    """Finish a varint whose first byte ``first`` (>= 0x80) sat at ``pos - 1``."""
    raw = first & 0x7F
    shift = 7
    for _ in range(max_bytes - 1):
        byte = body[pos]
        pos += 1
        raw |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos
        shift += 7
    raise _BadVarint(f"a varint longer than {max_bytes} bytes at byte {pos - max_bytes}")


class RecordsWalk(NamedTuple):
    problem: str | None  # None: every record is sound
    min_timestamp_delta: int
    max_timestamp_delta: int


def _bad(problem: str) -> RecordsWalk:
    return RecordsWalk(problem, 0, 0)


def _walk(
    body: BytesLike, pos: int, start: int, stop: int, offsets_in_order: bool
) -> tuple[str | None, int, int, int]:
    """Read records ``start`` to ``stop - 1`` from ``pos``: (problem, next pos, low, high)."""
    end = len(body)
    index = start
    low = high = 0
    try:
        for index in range(start, stop):
            byte = body[pos]  # length
            if byte < 0x80:
                length = (byte >> 1) ^ -(byte & 1)
                pos += 1
            elif body[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (body[pos + 1] << 7)
                length = (raw >> 1) ^ -(raw & 1)
                pos += 2
            else:
                length, pos = _varint_tail(body, pos + 1, byte, _INT_BYTES)
            record_end = pos + length
            if length < 0 or record_end > end:
                return _fail(f"record {index} declares {length} bytes, {end - pos} remain")
            byte = body[pos + 1]  # timestampDelta, after the attributes byte
            if byte < 0x80:
                delta = (byte >> 1) ^ -(byte & 1)
                pos += 2
            elif body[pos + 2] < 0x80:
                raw = (byte & 0x7F) | (body[pos + 2] << 7)
                delta = (raw >> 1) ^ -(raw & 1)
                pos += 3
            elif body[pos + 3] < 0x80:
                raw = (byte & 0x7F) | ((body[pos + 2] & 0x7F) << 7) | (body[pos + 3] << 14)
                delta = (raw >> 1) ^ -(raw & 1)
                pos += 4
            else:
                delta, pos = _varint_tail(body, pos + 2, byte, _LONG_BYTES)
            if delta > high:
                high = delta
            elif delta < low:
                low = delta
            byte = body[pos]  # offsetDelta
            if byte < 0x80:
                raw = byte
                pos += 1
            elif body[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (body[pos + 1] << 7)
                pos += 2
            elif body[pos + 2] < 0x80:
                raw = (byte & 0x7F) | ((body[pos + 1] & 0x7F) << 7) | (body[pos + 2] << 14)
                pos += 3
            else:
                value, pos = _varint_tail(body, pos + 1, byte, _INT_BYTES)
                raw = value << 1 if value >= 0 else 1
            if offsets_in_order and raw != index << 1:
                return _fail(f"record {index} has offsetDelta {(raw >> 1) ^ -(raw & 1)}")
            byte = body[pos]  # key
            if byte < 0x80:
                pos += 1 if byte & 1 else 1 + (byte >> 1)
            elif body[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (body[pos + 1] << 7)
                pos += 2 if raw & 1 else 2 + (raw >> 1)
            else:
                size, pos = _varint_tail(body, pos + 1, byte, _INT_BYTES)
                if size > 0:
                    pos += size
            byte = body[pos]  # value
            if byte < 0x80:
                pos += 1 if byte & 1 else 1 + (byte >> 1)
            elif body[pos + 1] < 0x80:
                raw = (byte & 0x7F) | (body[pos + 1] << 7)
                pos += 2 if raw & 1 else 2 + (raw >> 1)
            else:
                size, pos = _varint_tail(body, pos + 1, byte, _INT_BYTES)
                if size > 0:
                    pos += size
            byte = body[pos]  # headersCount
            pos += 1
            if byte:
                if byte < 0x80:
                    headers = (byte >> 1) ^ -(byte & 1)
                else:
                    headers, pos = _varint_tail(body, pos, byte, _INT_BYTES)
                if headers < 0 or headers > record_end - pos:
                    return _fail(f"record {index} declares {headers} headers")
                for _header in range(headers):
                    byte = body[pos]
                    pos += 1
                    if byte < 0x80:
                        size = (byte >> 1) ^ -(byte & 1)
                    else:
                        size, pos = _varint_tail(body, pos, byte, _INT_BYTES)
                    if size < 0:
                        return _fail(f"record {index} has a header key of length {size}")
                    pos += size
                    byte = body[pos]
                    pos += 1
                    if byte < 0x80:
                        if not byte & 1:
                            pos += byte >> 1
                    else:
                        size, pos = _varint_tail(body, pos, byte, _INT_BYTES)
                        if size > 0:
                            pos += size
            if pos != record_end:
                return _fail(
                    f"record {index}'s fields end at byte {pos}, its length says {record_end}"
                )
    except _BadVarint as exc:
        return _fail(f"record {index}: {exc}")
    except IndexError:
        return _fail(f"record {index} runs past the end of the batch")
    return None, pos, low, high


def _fail(problem: str) -> tuple[str | None, int, int, int]:
    return problem, 0, 0, 0


def walk_records(
    body: BytesLike,
    count: int,
    *,
    offsets_in_order: bool = False,
    delta_window: tuple[int, int] | None = None,
) -> RecordsWalk:
    """Whether ``body`` is exactly ``count`` well-formed records, and their timestamp spread.

    With ``delta_window`` (the timestampDeltas the caller allows, inclusive),
    the spread returned may be a bound inside that window rather than the
    exact extremes: runs of same-shaped records are then checked by
    `_match_run` in C instead of field by field.
    """
    end = len(body)
    pos = index = low = high = 0
    fast = delta_window is not None and not offsets_in_order and count >= _FAST_MIN_RECORDS
    misses = 0
    while index < count:
        if fast:
            assert delta_window is not None
            run = _match_run(body, pos, count - index, delta_window)
            if run is not None:
                matched, pos, run_low, run_high = run
                index += matched
                low, high = min(low, run_low), max(high, run_high)
                if matched < _BLOCK:
                    misses += 1
                    fast = misses < _MAX_MISSES
                if index == count:
                    break
            else:
                fast = False
            stop = index + 1  # the record the run stopped at, field by field
        else:
            stop = count
        problem, pos, run_low, run_high = _walk(body, pos, index, stop, offsets_in_order)
        if delta_window is not None:
            _Budget.credit = min(_CREDIT_MAX, _Budget.credit + ((stop - index) >> 4))
        if problem is not None:
            return _bad(problem)
        index = stop
        low, high = min(low, run_low), max(high, run_high)
    if pos != end:
        return _bad(f"{end - pos} bytes follow the {count} records the batch declares")
    return RecordsWalk(None, low, high)


# Same-shape runs
# ---------------
# Most batches are runs of records of one shape: the same key, value and
# header sizes, only timestampDelta and offsetDelta (and so the length)
# varying. For such a run a regular expression built from the run's first
# record checks every record in C: the length varint is one of the literals
# 1 + m + tail bytes, m being the bytes the two delta varints take; after the
# attributes byte come two varints (timestampDelta of at most `ts_bytes`
# bytes, offsetDelta of at most 3) filling exactly m bytes; then the tail:
# the first record's key, value and header length varints as literals, each
# followed by that many arbitrary bytes. A record the pattern matches is one
# `_walk` accepts (its fields end exactly at its length), so a run needs no
# Python per record. The pattern cannot decode timestampDelta, so it bounds
# it instead: a varint of n bytes holds a delta in [-2**(7n-1), 2**(7n-1)),
# and `ts_bytes` is the most bytes (up to 4) whose range fits in the caller's
# window (without a window, the exact spread is wanted: no patterns). A record the pattern does not match (new
# shape, a delta outside the bound, a defect) is read by `_walk`, which
# returns the exact problem; the run after it gets its own pattern.

_FAST_MIN_RECORDS: Final = 16  # fewer: `_walk` alone
_BLOCK: Final = 64  # records per block match
_MAX_MISSES: Final = 4  # short runs before a batch is left to `_walk`
_PATTERN_CACHE_SIZE: Final = 256
_TS_BYTES_MAX: Final = 4  # timestampDelta varints in a pattern: +-2**27 ms, 37 hours
_OFFSET_BYTES_MAX: Final = 3  # offsetDelta varints in a pattern: 1,048,575 records
# Compiling a shape's patterns costs about as much as walking this many
# records field by field (2-4 ms, a compile being Python code). A compile
# spends that much credit; every record a pattern matches earns one back, and
# every 16 records `_walk` reads earn one, so a workload whose shapes never
# repeat spends at most ~1/16 of its walking time on compiles.
_COMPILE_COST: Final = 2_000
_CREDIT_MAX: Final = 8 * _COMPILE_COST


class _Budget:
    """The compile credit (shared by threads: a lost update only skews it a little)."""

    credit = _CREDIT_MAX


def _varint_at(body: BytesLike, pos: int) -> tuple[int, int]:
    """(value, bytes) of the zigzag varint at ``pos``, at most 5 bytes, as `_walk` reads it."""
    byte = body[pos]
    if byte < 0x80:
        return (byte >> 1) ^ -(byte & 1), 1
    value, end = _varint_tail(body, pos + 1, byte, _INT_BYTES)
    return value, end - pos


def _tail_shape(body: BytesLike, pos: int) -> tuple[bytes, int] | None:
    """The regex of the key, value and headers of the record at ``pos``, and their bytes."""
    try:
        _length, size = _varint_at(body, pos)
        pos += size + 1  # the length, the attributes
        for _delta in range(2):
            while body[pos] & 0x80:
                pos += 1
            pos += 1
        start = pos
        parts = []
        fields = 2
        index = 0
        while index < fields:
            value, size = _varint_at(body, pos)
            parts.append(re.escape(bytes(body[pos : pos + size])))
            pos += size
            if index == 2:  # headersCount
                if value < 0 or value > 1000:
                    return None
                fields = 3 + 2 * value
            elif index >= 3 and index % 2 and value < 0:  # a null header key
                return None
            elif value > 0:
                parts.append(b".{%d}" % value)
                pos += value
            if index == 1:
                fields = 3
            index += 1
    except (IndexError, _BadVarint):
        return None
    return b"".join(parts), pos - start


def _ts_bytes(window: tuple[int, int]) -> int:
    """The most bytes a timestampDelta varint may take for every such delta to be in ``window``."""
    low, high = window
    size = 0
    while size < _TS_BYTES_MAX:
        bound = 1 << (7 * (size + 1) - 1)
        if -bound < low or bound - 1 > high:
            break
        size += 1
    return size


_patterns: dict[tuple[bytes, int, int], tuple[re.Pattern[bytes], re.Pattern[bytes]]] = {}


def _varint_class(size: int) -> bytes:
    """A varint of exactly ``size`` bytes."""
    return b"[\\x80-\\xff]{%d}[\\x00-\\x7f]" % (size - 1) if size > 1 else b"[\\x00-\\x7f]"


def _run_patterns(
    tail: bytes, tail_size: int, ts_bytes: int
) -> tuple[re.Pattern[bytes], re.Pattern[bytes]] | None:
    """(one record, `_BLOCK` records) of the given shape; None when out of compile credit."""
    key = (tail, tail_size, ts_bytes)
    found = _patterns.get(key)
    if found is not None:
        return found
    if _Budget.credit < _COMPILE_COST:
        return None
    _Budget.credit -= _COMPILE_COST
    cases = []
    for deltas in range(2, ts_bytes + _OFFSET_BYTES_MAX + 1):
        splits = [
            _varint_class(ts) + _varint_class(deltas - ts)
            for ts in range(1, ts_bytes + 1)
            if 1 <= deltas - ts <= _OFFSET_BYTES_MAX
        ]
        length = re.escape(uvarint((1 + deltas + tail_size) << 1))  # zigzag of a length > 0
        cases.append(length + b".(?:" + b"|".join(splits) + b")")
    record = b"(?:" + b"|".join(cases) + b")" + tail
    found = (
        re.compile(record, re.DOTALL),
        re.compile(b"(?:" + record + b"){%d}" % _BLOCK, re.DOTALL),
    )
    if len(_patterns) >= _PATTERN_CACHE_SIZE:
        _patterns.clear()
    _patterns[key] = found
    return found


def _match_run(
    body: BytesLike, pos: int, left: int, window: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Match up to ``left`` records of the shape of the one at ``pos``: (records, pos, low, high).

    None when the record at ``pos`` has no shape a pattern can take.
    """
    ts_bytes = _ts_bytes(window)
    if ts_bytes == 0:
        return None
    shape = _tail_shape(body, pos)
    if shape is None:
        return None
    patterns = _run_patterns(shape[0], shape[1], ts_bytes)
    if patterns is None:
        return None
    one, block = patterns
    matched = 0
    while left - matched >= _BLOCK:
        found = block.match(body, pos)
        if found is None:
            break
        pos = found.end()
        matched += _BLOCK
    while matched < left:
        found = one.match(body, pos)
        if found is None:
            break
        pos = found.end()
        matched += 1
    _Budget.credit = min(_CREDIT_MAX, _Budget.credit + matched)
    bound = 1 << (7 * ts_bytes - 1)
    return matched, pos, -bound, bound - 1
