"""The features the compat matrix reports, in the order its rows appear.

A compat test names the feature it proves with ``@pytest.mark.feature(name)``;
its client is the ``CLIENT`` attribute of its test class. Every name used in
a marker must be listed here (the conftest checks it at collection), so that
the matrix and ``docs/compat.md`` describe the same things.
"""

from __future__ import annotations

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")

FEATURES: dict[str, str] = {
    "metadata": (
        "Metadata for a new topic (auto-created): every partition has a leader that is "
        "this broker, listed with its host and port."
    ),
    **{
        f"produce-{codec}": (
            f"Produce keyed records with headers and timestamps to two partitions, "
            f"compression `{codec}`, acks=all; read them back by assign+seek and compare "
            "keys, values, headers, timestamps and the acknowledged offsets."
        )
        for codec in CODECS
    },
    "acks-0": "Produce with acks=0 (no response); every record is read back.",
    "acks-1": "Produce with acks=1; acknowledged offsets match what is read back.",
    "acks-all": "Produce with acks=all (-1); acknowledged offsets match what is read back.",
    "produce-idempotent": (
        "Idempotent producer (InitProducerId, sequence numbers): records read back "
        "once each, in order."
    ),
    "fetch-seek": (
        "Assign a partition and seek into the middle of it: reading starts exactly at that offset."
    ),
    "null-and-empty": (
        "Null key, null value (tombstone), empty key and value, and an empty header "
        "value are read back as sent: null stays null, empty stays empty."
    ),
    "fetch-many": (
        "5000 records (~1.3 MB) in one partition: many producer batches, several "
        "fetches; all read back in order, nothing after them."
    ),
    "produce-large": "A 900 kB record between two small ones is read back intact.",
    "list-offsets": "Earliest and latest offsets (ListOffsets -2/-1) of each partition.",
    "offsets-for-times": (
        "Offset lookup by timestamp (ListOffsets with a timestamp): the first record "
        "at or after it; none past the last record."
    ),
    "admin-create-topics": (
        "CreateTopics through the client's admin API: the topic appears with the "
        "requested partition count; creating it again fails with TOPIC_ALREADY_EXISTS."
    ),
    "admin-delete-topics": (
        "DeleteTopics through the client's admin API: the topic leaves the metadata; "
        "deleting it again fails with UNKNOWN_TOPIC_OR_PARTITION."
    ),
    "consumer-group": (
        "Subscribe in a consumer group, read everything, commit, leave; a second member "
        "of the group reads only what was produced after the commit."
    ),
    "restart-producer": (
        "One idempotent producer sends, the broker restarts (SIGTERM), the same "
        "producer sends more: everything read back once, in order."
    ),
    "restart-consumer": (
        "A consumer reads, the broker restarts (SIGTERM) and takes more records, the "
        "same consumer reads on: everything once, in order."
    ),
    "restart-sigterm": (
        "Records acknowledged with acks=all are all read back, once each, after a clean "
        "restart (SIGTERM, exit code 0) on the same data directory."
    ),
    "restart-sigkill": (
        "Records acknowledged with acks=all are all read back, once each, after SIGKILL "
        "and a restart on the same data directory."
    ),
    "cluster-3-nodes": (
        "Against a 3-node cluster, bootstrapped through a node that is not the active "
        "controller: Metadata lists the 3 brokers; a 6-partition topic is created, with "
        "leaders on all 3; idempotent produce to every partition, read back in a group."
    ),
}
