"""The election-state store: KRaft's ``quorum-state`` file.

Theory of operation
-------------------
A Raft replica must not send a vote, nor act as leader, before its epoch,
its vote and the leader it knows are on disk (``Ready.election_state``).
KRaft keeps them in a file named ``quorum-state`` in the log's partition
directory (``__cluster_metadata-0/quorum-state``): one line of JSON, Kafka's
``QuorumStateData`` schema plus a ``data_version`` field. Kafka 4.1 writes
version 1 (kraft.version 1, the version with voter records in the log)::

    {"leaderId":1,"leaderEpoch":5,"votedId":-1,"votedDirectoryId":"AAAAAAAAAAAAAAAAAAAAAA","data_version":1}

Version 0 (kraft.version 0) also held ``clusterId``, ``appliedOffset`` and
``currentVoters``; it is read (those fields are ignored, as Kafka 4.1 does)
but never written. ``-1`` means "none" for ``leaderId`` and ``votedId``.
We have no directory ids (KIP-853), so ``votedDirectoryId`` is the zero
UUID, Kafka's value for "not known".

A write replaces the file atomically: ``quorum-state.tmp`` is written and
fsynced, renamed over the file, and the directory fsynced, so a crash
leaves the old state or the new one. A file that cannot be read back is a
start-up error naming it (`QuorumStateCorrupt`); the replica must not go on
with a forgotten vote.
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

from broker.raft.types import ElectionState
from broker.storage import files

FILE_NAME = "quorum-state"
DATA_VERSION = 1
_NONE = -1
_ZERO_DIRECTORY_ID = base64.urlsafe_b64encode(uuid.UUID(int=0).bytes).decode().rstrip("=")


class QuorumStateCorrupt(Exception):
    """The quorum-state file exists but does not hold a valid election state."""


def encode_election_state(state: ElectionState) -> bytes:
    record = {
        "leaderId": _NONE if state.leader_id is None else state.leader_id,
        "leaderEpoch": state.epoch,
        "votedId": _NONE if state.voted_for is None else state.voted_for,
        "votedDirectoryId": _ZERO_DIRECTORY_ID,
        "data_version": DATA_VERSION,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def _int_field(record: dict[str, object], name: str, low: int) -> int:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} is {value!r}, not an integer")
    if not low <= value < 1 << 31:
        raise ValueError(f"{name} {value} out of range")
    return value


def decode_election_state(data: bytes) -> ElectionState:
    """Parse the file's first line (Kafka reads only that); ValueError if bad."""
    line = data.split(b"\n", 1)[0]
    if not line.strip():
        raise ValueError("the file ended prematurely")
    record = json.loads(line)
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    version = _int_field(record, "data_version", 0)
    if version > DATA_VERSION:
        raise ValueError(f"data_version {version} is not within 0 and {DATA_VERSION}")
    if version >= 1:
        directory_id = record.get("votedDirectoryId")
        if not isinstance(directory_id, str):
            raise ValueError(f"votedDirectoryId is {directory_id!r}")
        padded = directory_id + "=" * (-len(directory_id) % 4)
        if len(base64.urlsafe_b64decode(padded)) != 16:
            raise ValueError(f"votedDirectoryId {directory_id!r} is not a UUID")
    leader_id = _int_field(record, "leaderId", _NONE)
    epoch = _int_field(record, "leaderEpoch", 0)
    voted_id = _int_field(record, "votedId", _NONE)
    return ElectionState(
        epoch,
        None if leader_id == _NONE else leader_id,
        None if voted_id == _NONE else voted_id,
    )


class QuorumStateStore:
    """The ``quorum-state`` file of one Raft log, in its directory."""

    __slots__ = ("path",)

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / FILE_NAME

    def load(self) -> ElectionState | None:
        """The stored state, or None if there is no file (a new replica)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return decode_election_state(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise QuorumStateCorrupt(f"quorum-state file {self.path} is corrupt: {exc}") from exc

    def save(self, state: ElectionState) -> None:
        """Replace the file atomically and durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write(self.path, encode_election_state(state))
