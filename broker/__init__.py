"""A Kafka-compatible, Raft-replicated log broker on Trio."""

__version__ = "0.1.0"
