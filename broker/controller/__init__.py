"""The controller: KRaft-like metadata records, image, and operations."""
