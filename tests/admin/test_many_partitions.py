"""10,000 partitions under a 1024 file-descriptor limit: create, restart, read.

Each partition used to hold five descriptors for good (its log, the log's
mapping, two index files and their mappings), so a broker with ~200
partitions per 1024 descriptors died of EMFILE, and once the topics were in
the metadata log it could never start again. Now idle segments forget their
handles (``broker.storage.files.OPEN_FILES``). The broker runs in a child
process with ``RLIMIT_NOFILE`` = 1024, creates 10,000 one-partition topics
and writes a record to each, stops, starts again (a second child, same
limit) and reads every partition back in one Fetch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TOPICS = 10_000

CHILD = """
import json, os, resource, sys
from pathlib import Path

_soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))

import trio
from broker.storage import files
from broker.wire.generated.create_topics_request import CreatableTopic, CreateTopicsRequest
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from tests.admin.helpers import produce, started_node, values
from tests.broker.helpers import call, client_batch

data_dir, phase, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
names = [f"topic-{i}" for i in range(count)]


def fds():
    return len(os.listdir("/proc/self/fd"))


async def main():
    node = await started_node(data_dir)
    budget = getattr(files, "OPEN_FILES", None)
    out = {"fds_after_start": fds(), "capacity": budget.capacity if budget else -1}
    if phase == "create":
        errors = 0
        for start in range(0, count, 1000):
            topics = [CreatableTopic(n, 1, 1) for n in names[start : start + 1000]]
            response = await call(node, 19, 7, CreateTopicsRequest(topics=topics, timeout_ms=1000))
            errors += sum(1 for t in response.topics if t.error_code)
        out["create_errors"] = errors
        out["fds_after_create"] = fds()
        produced = 0
        for i, name in enumerate(names):
            result = await produce(node, name, client_batch([b"v%d" % i]), acks=1)
            produced += result.error_code == 0
        out["produced"] = produced
        out["fds_after_produce"] = fds()
    else:
        body = FetchRequest(
            max_wait_ms=0,
            min_bytes=0,
            max_bytes=1 << 30,
            topics=[
                FetchTopic(n, partitions=[FetchPartition(0, fetch_offset=0, partition_max_bytes=1 << 20)])
                for n in names
            ],
        )
        response = await call(node, 1, 12, body)
        read_ok = 0
        for i, topic in enumerate(response.responses):
            part = topic.partitions[0]
            assert topic.topic == names[i]
            read_ok += part.error_code == 0 and values(part.records) == [b"v%d" % i]
        out["read_ok"] = read_ok
        out["fds_after_fetch"] = fds()
    out["evictions"] = budget.evictions if budget else -1
    await node.shutdown()
    print(json.dumps(out), flush=True)


trio.run(main)
"""


def run_child(data_dir: Path, phase: str) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(data_dir), phase, str(TOPICS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.slow
def test_ten_thousand_partitions_under_1024_descriptors(tmp_path: Path) -> None:
    created = run_child(tmp_path, "create")
    assert created["create_errors"] == 0
    assert created["produced"] == TOPICS
    assert created["fds_after_produce"] < 1024
    again = run_child(tmp_path, "read")  # a restart with every topic in the image
    print("figures:", created, again)  # shown with -s
    assert again["read_ok"] == TOPICS
    assert again["fds_after_fetch"] < 1024
