"""Replication: the Raft core on the storage engine and, later, on the wire."""
