"""Partition directories in a log directory: naming, topic ids, deletion.

Theory of operation
-------------------
A partition's directory is ``<topic>-<partition>`` (Kafka's layout). The
name alone cannot tell one incarnation of a topic from the next: a topic
deleted and re-created under the same name gets the same directory name. So
each directory records the id of the topic it belongs to in
``partition.metadata``, written (durably) before the directory holds any
segment, in Kafka's text format::

    version: 0
    topic_id: <the topic's UUID, base64url without padding, as Kafka prints it>

Deleting a partition renames its directory to
``<topic>-<partition>.<random hex>-delete`` (Kafka's name, capped at 255
bytes as Kafka caps it) and fsyncs the log directory, then removes it. The
rename is the commit point: a directory with the suffix is never opened
again, whatever happens to the removal.

At start-up `reconcile` compares every partition directory with the
metadata image: a directory whose topic is gone, whose partition is gone, or
whose ``partition.metadata`` names another topic id is moved aside and
removed, never served; leftover ``-delete`` directories are removed. A
directory with no ``partition.metadata`` is adopted by the image's topic of
that name (Kafka does the same for logs written before topic ids): the file
is written when the partition is opened.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from broker.storage import files

log = logging.getLogger(__name__)

PARTITION_METADATA: Final = "partition.metadata"
DELETE_DIR_SUFFIX: Final = "-delete"
_VERSION: Final = 0
_MAX_NAME_BYTES: Final = 255


def kafka_uuid(topic_id: uuid.UUID) -> str:
    """A UUID as Kafka's ``Uuid.toString`` prints it (base64url, no padding)."""
    return base64.urlsafe_b64encode(topic_id.bytes).rstrip(b"=").decode("ascii")


def parse_kafka_uuid(text: str) -> uuid.UUID:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return uuid.UUID(bytes=raw)


def partition_dir_name(topic: str, partition: int) -> str:
    return f"{topic}-{partition}"


def parse_partition_dir(name: str) -> tuple[str, int] | None:
    """(topic, partition) of a directory named ``<topic>-<partition>``, else None."""
    topic, dash, number = name.rpartition("-")
    if not dash or not topic or not number.isdigit() or "." in number:
        return None
    return topic, int(number)


def delete_dir_name(topic: str, partition: int) -> str:
    """``<topic>-<partition>.<random hex>-delete``, the topic cut so the name fits."""
    suffix = f"-{partition}.{uuid.uuid4().hex}{DELETE_DIR_SUFFIX}"
    room = _MAX_NAME_BYTES - len(suffix.encode())
    prefix = topic.encode()[:room].decode("utf-8", errors="ignore")
    return prefix + suffix


def write_partition_metadata(directory: Path, topic_id: uuid.UUID) -> None:
    text = f"version: {_VERSION}\ntopic_id: {kafka_uuid(topic_id)}"
    files.atomic_write(directory / PARTITION_METADATA, text.encode("ascii"))


def read_partition_metadata(directory: Path) -> uuid.UUID | None:
    """The topic id a directory belongs to; None if it has no ``partition.metadata``.

    A file that cannot be read as Kafka's format raises ValueError: whose
    directory it is cannot be known, so the caller must not serve it.
    """
    try:
        text = (directory / PARTITION_METADATA).read_text("ascii")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{directory / PARTITION_METADATA} is not text") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    if fields.get("version") != str(_VERSION) or "topic_id" not in fields:
        raise ValueError(f"{directory / PARTITION_METADATA}: unknown format {text[:80]!r}")
    try:
        return parse_kafka_uuid(fields["topic_id"])
    except ValueError as exc:
        raise ValueError(f"{directory / PARTITION_METADATA}: bad topic id") from exc


def belongs_to(directory: Path, topic_id: uuid.UUID) -> bool:
    """True if `directory` may be served as a partition of topic `topic_id`
    (its ``partition.metadata`` names it, or it has none and is adopted)."""
    try:
        found = read_partition_metadata(directory)
    except (ValueError, OSError):
        return False
    return found is None or found == topic_id


def move_aside_for_delete(directory: Path) -> Path:
    """Rename a partition directory to its ``-delete`` name, durably; returns the new path."""
    parsed = parse_partition_dir(directory.name)
    topic, partition = parsed if parsed is not None else (directory.name, 0)
    target = directory.with_name(delete_dir_name(topic, partition))
    os.rename(directory, target)
    files.fsync_dir(directory.parent)
    return target


def remove_dir(directory: Path) -> None:
    """Remove a directory already moved aside. A failure is logged: the
    ``-delete`` name keeps it from being served, and the next start retries."""
    try:
        shutil.rmtree(directory)
    except OSError as exc:
        log.warning("could not remove %s: %s (retried at the next start)", directory, exc)


def delete_partition_dir(directory: Path) -> None:
    if directory.exists():
        remove_dir(move_aside_for_delete(directory))


def _holds_a_log(directory: Path) -> bool:
    """A partition directory of ours: a topic id or a segment file in it."""
    if (directory / PARTITION_METADATA).exists():
        return True
    return any(path.suffix == files.LOG_SUFFIX for path in directory.iterdir())


def reconcile(
    data_dir: Path,
    expected: Mapping[tuple[str, int], uuid.UUID],
    *,
    keep: frozenset[str] = frozenset(),
) -> list[str]:
    """Make the partition directories under `data_dir` agree with `expected`
    ((topic, partition) -> topic id, from the metadata image): remove the
    ``-delete`` leftovers and move aside and remove every partition directory
    that `expected` does not claim. Directories named in `keep` (the metadata
    log) and entries that are not partition directories are left alone.
    Returns the names of the directories removed."""
    removed: list[str] = []
    if not data_dir.is_dir():
        return removed
    for entry in sorted(data_dir.iterdir()):
        if not entry.is_dir() or entry.name in keep:
            continue
        if entry.name.endswith(DELETE_DIR_SUFFIX):
            remove_dir(entry)
            removed.append(entry.name)
            continue
        parsed = parse_partition_dir(entry.name)
        if parsed is None or not _holds_a_log(entry):
            continue
        topic_id = expected.get(parsed)
        if topic_id is not None and belongs_to(entry, topic_id):
            continue
        log.warning(
            "%s does not belong to a partition in the metadata (%s): deleting it",
            entry,
            "topic gone" if topic_id is None else f"topic id is {kafka_uuid(topic_id)}",
        )
        remove_dir(move_aside_for_delete(entry))
        removed.append(entry.name)
    return removed
