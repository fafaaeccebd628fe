"""``meta.properties``: which cluster and node a data directory belongs to.

As ``kafka-storage.sh format`` writes it (version 1)::

    version=1
    cluster.id=<22-char base64 uuid>
    node.id=<int>
    directory.id=<22-char base64 uuid>

``python -m broker format --cluster-id ID --config F`` writes it and refuses
a directory already formatted. A node started on an empty directory writes
it itself. With one voter the cluster id is drawn at random (as before);
with several, and no ``cluster.id`` set, it is *derived* from the voters
list (a hash of the sorted ``id@host:port`` entries), so three nodes started
on empty directories with the same voters agree on it without a format
step. The Raft RPCs carry the cluster id; a node of another cluster is
refused with INCONSISTENT_CLUSTER_ID.

At start-up a directory formatted for another node id, or another cluster
id than the one configured, fails start-up naming the file.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from pathlib import Path

from broker.storage import files

META = "meta.properties"


class MetaPropertiesError(ValueError):
    pass


def base64_uuid(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def derived_cluster_id(voters: dict[int, tuple[str, int]]) -> str:
    text = ",".join(f"{i}@{h}:{p}" for i, (h, p) in sorted(voters.items()))
    return base64_uuid(hashlib.sha256(text.encode()).digest()[:16])


def read(data_dir: Path) -> dict[str, str] | None:
    path = data_dir / META
    if not path.exists():
        return None
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def write(data_dir: Path, cluster_id: str, node_id: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    directory_id = base64_uuid(uuid.uuid4().bytes)
    text = f"version=1\ncluster.id={cluster_id}\nnode.id={node_id}\ndirectory.id={directory_id}\n"
    files.atomic_write(data_dir / META, text.encode())


def resolve(
    data_dir: Path, node_id: int, configured: str | None, voters: dict[int, tuple[str, int]]
) -> str:
    """The cluster id of a replicated quorum's node, checking ``meta.properties``."""
    props = read(data_dir)
    if props is not None:
        stored_node = props.get("node.id")
        if stored_node is not None and stored_node.strip() != str(node_id):
            raise MetaPropertiesError(
                f"{data_dir / META} belongs to node {stored_node.strip()}, not to node {node_id}"
            )
        stored = props.get("cluster.id", "").strip()
        if configured and stored and configured != stored:
            raise MetaPropertiesError(
                f"cluster.id {configured} does not match {stored} in {data_dir / META}"
            )
        if stored:
            return stored
    cluster_id = configured or derived_cluster_id(voters)
    write(data_dir, cluster_id, node_id)
    return cluster_id


def format_dir(data_dir: Path, cluster_id: str, node_id: int) -> None:
    """``kafka-storage.sh format``: refuses a directory already formatted."""
    if (data_dir / META).exists():
        raise MetaPropertiesError(f"{data_dir} is already formatted ({data_dir / META} exists)")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise MetaPropertiesError(f"{data_dir} is not empty")
    write(data_dir, cluster_id, node_id)
