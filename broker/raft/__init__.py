"""Sans-I/O KRaft-style Raft core; see docs/raft.md.

The host drives a :class:`RaftNode` with ``tick``/``step``/``propose`` and
handles each :class:`Ready` (persist, flush, send, apply) before ``advance``.
"""

from broker.raft.log import MemoryLog, RaftLog, Snapshot
from broker.raft.messages import Envelope, LogEntry
from broker.raft.node import RaftNode
from broker.raft.types import (
    ElectionState,
    ProposeResult,
    RaftConfig,
    RaftInvariantError,
    RandomSource,
    Ready,
    Role,
)

__all__ = [
    "ElectionState",
    "Envelope",
    "LogEntry",
    "MemoryLog",
    "ProposeResult",
    "RaftConfig",
    "RaftInvariantError",
    "RaftLog",
    "RaftNode",
    "RandomSource",
    "Ready",
    "Role",
    "Snapshot",
]
