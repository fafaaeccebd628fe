"""The election state of a node's Raft groups: KRaft's ``quorum-state`` file.

One JSON file per replicated log, in the partition's directory, as KRaft
keeps ``__cluster_metadata-0/quorum-state``::

    {"leaderId": 2, "leaderEpoch": 7, "votedId": -1, "data_version": 1,
     "incarnation": 3}

``incarnation`` is ours (Kafka has no such field): the node's restart counter,
from which the core derives correlation ids that never repeat an earlier
incarnation's (docs/raft.md). It is bumped, durably, at every open.

Writes are atomic (temporary file, fsync, rename, fsync of the directory), so
a crash leaves the old state or the new one, never a torn file. The driver
writes once per Ready round, and only when the state changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from broker.raft.types import ElectionState
from broker.storage import files

QUORUM_STATE = "quorum-state"
DATA_VERSION = 1


class ElectionStoreError(ValueError):
    """The quorum-state file exists but cannot be read."""


class ElectionStore:
    def __init__(self, directory: Path) -> None:
        self.path = directory / QUORUM_STATE
        self.state: ElectionState | None = None
        self.incarnation = 0
        if self.path.exists():
            try:
                raw = json.loads(self.path.read_text())
                leader = int(raw["leaderId"])
                voted = int(raw.get("votedId", -1))
                self.state = ElectionState(
                    int(raw["leaderEpoch"]),
                    None if leader < 0 else leader,
                    None if voted < 0 else voted,
                )
                self.incarnation = int(raw.get("incarnation", 0))
            except (ValueError, KeyError, TypeError) as exc:
                raise ElectionStoreError(f"{self.path}: unreadable quorum state: {exc}") from exc

    def open_incarnation(self) -> int:
        """Start a new incarnation (durably) and return its number."""
        self.incarnation += 1
        self.write(self.state or ElectionState(0, None, None))
        return self.incarnation

    def write(self, state: ElectionState) -> None:
        payload = {
            "leaderId": -1 if state.leader_id is None else state.leader_id,
            "leaderEpoch": state.epoch,
            "votedId": -1 if state.voted_for is None else state.voted_for,
            "data_version": DATA_VERSION,
            "incarnation": self.incarnation,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        files.atomic_write(self.path, json.dumps(payload).encode())
        self.state = state
