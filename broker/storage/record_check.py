"""Check the records section of a client's batch, as Kafka's LogValidator does.

Theory of operation
-------------------
A batch whose CRC is right can still hold records no consumer can read: a
``recordsCount`` that does not match the records, a record longer than the
batch, bytes left over after the last record, a varint that never ends, a key
that runs past its record. Kafka finds these by iterating every record
(``DefaultRecord.readFrom``) and refuses the batch with INVALID_RECORD;
storing it instead would stop every consumer at that offset.

Two walks, both over the records section (the bytes after the 61-byte header,
decompressed if the batch is compressed), both returning None when the
section is sound and a sentence saying what is wrong otherwise:

* `walk_framing`: the cheap one, for uncompressed batches on the produce hot
  path. It reads only each record's length varint and jumps over the record,
  so it costs a few bytecodes a record, not a decode. It proves the section
  is exactly ``recordsCount`` records with sane lengths and nothing after
  them; it does not look inside a record.
* `walk_records`: every field of every record, as ``DefaultRecord.readFrom``
  reads it: attributes, timestampDelta (varlong), offsetDelta, key, value,
  headers (a header key may not be null), and the fields must end exactly
  where the record's length says. Used for compressed batches, whose records
  are decompressed anyway (Kafka iterates them too).

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
A single-byte varint (the common case) is decoded inline; longer ones go
through `_varint_tail`.
"""

from __future__ import annotations

import mmap
from typing import Final

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


def walk_framing(body: BytesLike, count: int) -> str | None:
    """Why ``body`` is not exactly ``count`` length-framed records, or None."""
    end = len(body)
    pos = 0
    index = -1
    try:
        for index in range(count):
            byte = body[pos]
            if byte < 0x80:  # a length below 64
                if byte & 1:
                    return f"record {index} has a negative length"
                pos += 1 + (byte >> 1)
                continue
            second = body[pos + 1]
            if second < 0x80:  # a length below 8192
                raw = (byte & 0x7F) | (second << 7)
                if raw & 1:
                    return f"record {index} has a negative length"
                pos += 2 + (raw >> 1)
                continue
            length, pos = _varint_tail(body, pos + 1, byte, _INT_BYTES)
            if length < 0:
                return f"record {index} has a negative length"
            pos += length
    except _BadVarint as exc:
        return f"record {index} length: {exc}"
    except IndexError:
        return f"the records end before the {count} the batch declares"
    if pos > end:
        return f"record {count - 1} runs {pos - end} bytes past the end of the batch"
    if pos != end:
        return f"{end - pos} bytes follow the {count} records the batch declares"
    return None


def walk_records(body: BytesLike, count: int) -> str | None:
    """Why ``body`` is not exactly ``count`` well-formed records, or None."""
    end = len(body)
    pos = 0
    index = 0
    try:
        for index in range(count):
            byte = body[pos]
            pos += 1
            if byte < 0x80:
                length = (byte >> 1) ^ -(byte & 1)
            elif body[pos] < 0x80:
                raw = (byte & 0x7F) | (body[pos] << 7)
                length = (raw >> 1) ^ -(raw & 1)
                pos += 1
            else:
                length, pos = _varint_tail(body, pos, byte, _INT_BYTES)
            record_end = pos + length
            if length < 0 or record_end > end:
                return f"record {index} declares {length} bytes, {end - pos} remain"
            pos += 1  # attributes
            byte = body[pos]  # timestampDelta: skipped
            pos += 1
            if byte >= 0x80:
                if body[pos] < 0x80:
                    pos += 1
                else:
                    _, pos = _varint_tail(body, pos, byte, _LONG_BYTES)
            byte = body[pos]  # offsetDelta: skipped
            pos += 1
            if byte >= 0x80:
                if body[pos] < 0x80:
                    pos += 1
                else:
                    _, pos = _varint_tail(body, pos, byte, _INT_BYTES)
            for _field in range(2):  # key, then value: length, bytes
                byte = body[pos]
                pos += 1
                if byte < 0x80:
                    if not byte & 1:
                        pos += byte >> 1
                elif body[pos] < 0x80:
                    raw = (byte & 0x7F) | (body[pos] << 7)
                    pos += 1
                    if not raw & 1:
                        pos += raw >> 1
                else:
                    size, pos = _varint_tail(body, pos, byte, _INT_BYTES)
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
                    return f"record {index} declares {headers} headers"
                for _header in range(headers):
                    byte = body[pos]
                    pos += 1
                    if byte < 0x80:
                        size = (byte >> 1) ^ -(byte & 1)
                    else:
                        size, pos = _varint_tail(body, pos, byte, _INT_BYTES)
                    if size < 0:
                        return f"record {index} has a header key of length {size}"
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
                return f"record {index}'s fields end at byte {pos}, its length says {record_end}"
    except _BadVarint as exc:
        return f"record {index}: {exc}"
    except IndexError:
        return f"record {index} runs past the end of the batch"
    if pos != end:
        return f"{end - pos} bytes follow the {count} records the batch declares"
    return None
