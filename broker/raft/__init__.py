"""raft layer; see docs/architecture.md."""
