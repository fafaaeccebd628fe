"""A real broker on a full tmpfs: errors, never SIGBUS; a clean SIGTERM; restarts.

Index files are sparse and mapped; a store into a hole of a mapping on a
full file system is a SIGBUS, which used to kill the broker while it ran
(the log write fitted in the last page of the .log, the index entry needed a
new page) and again at every restart (recovery rebuilding an index). The
broker runs as its own process (``python -m broker serve``) with its data
directory on a 4 MiB tmpfs, which the test fills with a filler file.
Needs root to mount; skipped otherwise.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.wire.generated.create_topics_request import (
    CreatableTopic,
    CreatableTopicConfig,
    CreateTopicsRequest,
)
from broker.wire.generated.fetch_request import FetchPartition, FetchRequest, FetchTopic
from broker.wire.generated.produce_request import (
    PartitionProduceData,
    ProduceRequest,
    TopicProduceData,
)
from tests.admin.helpers import values
from tests.broker.helpers import WireClient, client_batch
from tests.tmpfs import mounted_tmpfs

REPO = Path(__file__).resolve().parents[2]
PORT = 19231
TOPICS = [f"t{i}" for i in range(4)]
KAFKA_STORAGE_ERROR = 56


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    with mounted_tmpfs(tmp_path, "4m") as mnt:
        yield mnt


class Client(WireClient):
    def produce(self, topic: str, value: bytes) -> int:
        body = ProduceRequest(
            None,
            -1,
            5000,
            [
                TopicProduceData(
                    topic, partition_data=[PartitionProduceData(0, client_batch([value]))]
                )
            ],
        )
        response = self.call(0, 9, body)
        return int(response.responses[0].partition_responses[0].error_code)

    def fetch(self, topic: str) -> tuple[int, list[bytes | None]]:
        body = FetchRequest(
            max_wait_ms=0,
            min_bytes=0,
            topics=[
                FetchTopic(
                    topic,
                    partitions=[FetchPartition(0, fetch_offset=0, partition_max_bytes=1 << 24)],
                )
            ],
        )
        part = self.call(1, 12, body).responses[0].partitions[0]
        return int(part.error_code), values(part.records) if part.error_code == 0 else []


def start_broker(data_dir: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "broker",
            "serve",
            "--override",
            f"listeners=PLAINTEXT://127.0.0.1:{PORT}",
            "--override",
            f"log.dirs={data_dir}",
            "--override",
            "offsets.topic.num.partitions=1",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    _, err = proc.communicate()
    errors = [line for line in err.decode().splitlines() if " ERROR " in line]
    raise AssertionError(
        f"broker did not start ({proc.returncode}): {errors} {err.decode()[-800:]}"
    )


def fill(mnt: Path) -> None:
    """Write a filler file until the tmpfs refuses even one byte."""
    with open(mnt / "filler", "wb", buffering=0) as f:
        for size in (1 << 16, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC


@pytest.mark.slow
def test_full_tmpfs_gives_storage_errors_not_sigbus(tmpfs: Path) -> None:
    data_dir = tmpfs / "data"
    broker = start_broker(data_dir)
    try:
        client = Client(PORT)
        topics = [
            CreatableTopic(name, 1, 1, configs=[CreatableTopicConfig("index.interval.bytes", "0")])
            for name in TOPICS
        ]
        created = client.call(19, 7, CreateTopicsRequest(topics=topics, timeout_ms=5000))
        assert [t.error_code for t in created.topics] == [0] * len(TOPICS)
        acked: dict[str, list[bytes | None]] = {name: [] for name in TOPICS}
        for name in TOPICS:
            assert client.produce(name, b"first") == 0
            acked[name].append(b"first")
        fill(tmpfs)
        codes = []
        for i in range(2000):
            name = TOPICS[i % len(TOPICS)]
            value = b"%d" % i
            try:
                code = client.produce(name, value)
            except ConnectionError:
                died = broker.wait(10)
                raise AssertionError(
                    f"the broker died ({signal.Signals(-died).name if died < 0 else died})"
                ) from None
            codes.append(code)
            if code == 0:
                acked[name].append(value)
        assert broker.poll() is None, broker.stderr.read().decode()[-2000:] if broker.stderr else ""
        assert set(codes) <= {0, KAFKA_STORAGE_ERROR} and KAFKA_STORAGE_ERROR in codes
        print("figures: produce on a full tmpfs:", {c: codes.count(c) for c in set(codes)})
        for name in TOPICS:
            assert client.fetch(name) == (0, acked[name])
        client.sock.close()
        broker.send_signal(signal.SIGTERM)
        _, err = broker.communicate(timeout=60)
        assert broker.returncode == 0, err.decode()[-3000:]
        assert b"Traceback" not in err, err.decode()[-3000:]

        # A restart on the still-full disk, after a SIGKILL (recovery must
        # rebuild indexes, for which there is no room).
        for crash in (False, True):
            broker = start_broker(data_dir)
            client = Client(PORT)
            for name in TOPICS:
                code, got = client.fetch(name)
                assert code in (0, KAFKA_STORAGE_ERROR)
                if code == 0:
                    assert got == acked[name]
                assert client.produce(name, b"more") in (0, KAFKA_STORAGE_ERROR)
                if code == 0 and client.fetch(name)[1] != acked[name]:
                    acked[name].append(b"more")
            assert broker.poll() is None
            client.sock.close()
            if crash:
                broker.kill()
                broker.communicate()
            else:
                broker.send_signal(signal.SIGTERM)
                _, err = broker.communicate(timeout=60)
                assert broker.returncode == 0, err.decode()[-3000:]

        # Space again: everything acknowledged is there, and writes work.
        os.unlink(tmpfs / "filler")
        broker = start_broker(data_dir)
        client = Client(PORT)
        for name in TOPICS:
            assert client.fetch(name) == (0, acked[name])
            assert client.produce(name, b"after") == 0
        client.sock.close()
        broker.send_signal(signal.SIGTERM)
        _, err = broker.communicate(timeout=60)
        assert broker.returncode == 0, err.decode()[-3000:]
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.communicate()
