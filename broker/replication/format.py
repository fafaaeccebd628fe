"""``python -m broker format``: what ``kafka-storage.sh format`` does.

Writes ``meta.properties`` (cluster.id, node.id, directory.id) into the
configured data directory and refuses one that is already formatted or not
empty. A formatted directory then only starts with that cluster id (a
configured ``cluster.id`` that differs fails start-up).
"""

from __future__ import annotations

import sys

from broker.config import ConfigError, load_config
from broker.replication import meta


def format_main(cluster_id: str, config_path: str | None, overrides: list[str]) -> int:
    try:
        config = load_config(config_path, overrides)
    except (ConfigError, OSError) as exc:
        print(f"broker: configuration error: {exc}", file=sys.stderr)
        return 2
    if not cluster_id or cluster_id.startswith("-"):
        print(f"broker: format: invalid cluster id {cluster_id!r}", file=sys.stderr)
        return 2
    try:
        meta.format_dir(config.data_dir, cluster_id, config.node_id)
    except (meta.MetaPropertiesError, OSError) as exc:
        print(f"broker: format: {exc}", file=sys.stderr)
        return 1
    print(f"Formatting {config.data_dir} with cluster id {cluster_id} for node {config.node_id}")
    return 0
