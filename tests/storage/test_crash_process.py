"""A real writer process killed with SIGKILL mid-append, then recovered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from broker.storage import PartitionLog
from broker.storage.config import NEVER, LogConfig
from tests.storage.batches import decode_batches

REPO = Path(__file__).resolve().parents[2]
RECORDS_PER_BATCH = 4
CONFIG = LogConfig(segment_bytes=3 << 20, segment_index_bytes=4096)

# Batch n holds 4 records whose values are `value_size` bytes of n % 251, and
# carries epoch 1 + n // 20. Prints "begin" before each append and the last
# offset after it, so that the parent can aim its SIGKILL at an append.
WRITER = """
import sys
from broker.storage import LogConfig, PartitionLog
from tests.storage.batches import build_batch

directory, flush_messages, value_size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
config = LogConfig(segment_bytes=3 << 20, segment_index_bytes=4096, flush_messages=flush_messages)
log = PartitionLog.open(directory, config, 0)
n = log.log_end_offset // 4
while True:
    batch = build_batch(4, timestamp=1_000 + n, value=bytes([n % 251]) * value_size)
    print("begin", flush=True)
    info = log.append(batch, 1 + n // 20, 0)
    if log.flush_due:
        log.flush()
    print(info.last_offset, flush=True)
    n += 1
"""

# The same writer, but a thread of its own sends the SIGKILL as soon as the
# file starts growing during its last append: a write cut in the middle.
SELF_KILLING_WRITER = """
import os, signal, sys, threading
from broker.storage import LogConfig, PartitionLog
from tests.storage.batches import build_batch

log = PartitionLog.open(sys.argv[1], LogConfig(segment_bytes=64 << 20), 0)
armed = threading.Event()

def killer():
    armed.wait()
    path = log.active_segment.log_path
    size = os.path.getsize(path)
    while os.path.getsize(path) == size:
        pass
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=killer, daemon=True).start()
for n in range(8):
    batch = build_batch(4, timestamp=1_000 + n, value=bytes([n % 251]) * (1 << 20))
    if n == 7:
        armed.set()
    log.append(batch, 1 + n // 20, 0)
"""


def _run_and_kill(directory: Path, flush_messages: int, acks: int, value_size: int) -> int:
    """Start a writer; after `acks` acknowledged appends, kill it as it begins
    the next one. Returns the last acknowledged offset."""
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(directory), str(flush_messages), str(value_size)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stderr is not None
    last_acked, acked = -1, 0
    while True:
        line = process.stdout.readline()
        assert line, process.stderr.read()
        if line.startswith("begin"):
            if acked == acks:
                break
            continue
        last_acked = int(line)
        acked += 1
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stdout.close()
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    return last_acked


def _check_log(
    directory: Path, last_acked: int, value_size: int, config: LogConfig = CONFIG
) -> PartitionLog:
    """Every batch intact and in order, nothing acknowledged lost."""
    log = PartitionLog.open(directory, config, 0)
    assert not log.recovery.clean_shutdown
    # A killed process loses nothing it wrote: the page cache keeps it.
    assert log.log_end_offset >= last_acked + 1
    assert log.log_end_offset % RECORDS_PER_BATCH == 0
    offset = 0
    while offset < log.log_end_offset:
        for batch in decode_batches(log.read(offset, 1 << 30).records):  # CRCs checked
            n = batch.base_offset // RECORDS_PER_BATCH
            assert batch.leader_epoch == 1 + n // 20
            assert {bytes(r.value) for r in batch} == {bytes([n % 251]) * value_size}
            offset = batch.last_offset + 1
    assert log.end_offset_for_epoch(1) == (1, min(80, log.log_end_offset))
    return log


@pytest.mark.parametrize("flush_messages", [1, NEVER], ids=["fsync-every-append", "no-fsync"])
def test_sigkill_mid_append_then_recover_and_continue(tmp_path: Path, flush_messages: int) -> None:
    directory = tmp_path / "t-0"
    acked = _run_and_kill(directory, flush_messages, acks=30, value_size=65_536)
    log = _check_log(directory, acked, 65_536)
    end = log.log_end_offset
    log.abandon()
    # The recovered log takes appends again; kill the next writer too.
    acked = _run_and_kill(directory, flush_messages, acks=10, value_size=65_536)
    assert acked >= end + 10 * RECORDS_PER_BATCH - 1
    _check_log(directory, acked, 65_536).abandon()


def test_sigkill_inside_a_write_leaves_a_torn_batch_that_recovery_cuts(tmp_path: Path) -> None:
    """The kill lands inside the 8th 4 MiB write in most runs (sometimes the
    write wins the race); retry until the file was really cut mid-batch."""
    config = LogConfig(segment_bytes=64 << 20)
    for attempt in range(10):
        directory = tmp_path / f"attempt{attempt}" / "t-0"
        subprocess.run(
            [sys.executable, "-c", SELF_KILLING_WRITER, str(directory)],
            cwd=REPO,
            capture_output=True,
            timeout=120,
        )
        log = _check_log(directory, 27, 1 << 20, config)
        torn = log.recovery.bytes_truncated
        log.abandon()
        if torn:
            assert 0 < torn < 4 * (1 << 20) + 200
            assert log.log_end_offset == 28
            return
    pytest.fail("no attempt was killed inside a write")


# RLIMIT_FSIZE makes the kernel refuse writes past 64 KiB (EFBIG): a real
# failing disk write, in a child so that the limit does not leak.
FAILING_WRITE = """
import resource, signal, sys
from broker.storage import KafkaStorageError, LogConfig, PartitionLog, errors
from tests.storage.batches import build_batch

signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
log = PartitionLog.open(sys.argv[1], LogConfig(segment_index_bytes=4096), 0)
resource.setrlimit(resource.RLIMIT_FSIZE, (65_536, resource.RLIM_INFINITY))
appended = 0
try:
    while True:
        log.append(build_batch(2, value_size=5_000), 1 + appended, 0)  # a new epoch each
        appended += 1
except KafkaStorageError as exc:
    assert exc.error_code == errors.KAFKA_STORAGE_ERROR, exc
size = log.active_segment.size
assert log.log_end_offset == 2 * appended
assert log.epoch_cache.entries[-1].start_offset < log.log_end_offset  # no dangling epoch
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
import os
assert os.path.getsize(log.active_segment.log_path) == size  # the partial batch was cut
log.append(build_batch(1), 9, 0)
log.close()
print(appended)
"""


def test_a_failed_write_leaves_the_log_as_it_was(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAILING_WRITE, str(tmp_path / "t-0")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    appended = int(result.stdout)
    assert appended in range(5, 13)
    log = PartitionLog.open(tmp_path / "t-0", LogConfig(segment_index_bytes=4096), 0)
    assert log.recovery.clean_shutdown
    assert log.log_end_offset == 2 * appended + 1
    assert [e.epoch for e in log.epoch_cache.entries][-1] == 9
    log.close()
