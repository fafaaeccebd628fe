"""Run a broker that journals every fsync, so a test can simulate a power loss.

``python -m tests.admin.fsync_journal JOURNAL serve --override ...`` runs
``python -m broker`` with ``os.fsync`` and ``os.fdatasync`` wrapped: after
each one returns, a line ``path, size, end`` is appended to JOURNAL (opened
O_APPEND, written with one ``write`` each, so a SIGKILL cannot tear a line):
the file's size *when the fsync started*, and ``time.monotonic_ns()`` when it
returned (the clock is system-wide, so a test can compare it with the times
it received its acks). An fsync covers what the file held when it started;
bytes appended while it runs may or may not be on the disk when it returns.
So for an append-only segment file, the start size of its last fsync is what
the disk is guaranteed to hold; :func:`power_loss` cuts every ``.log`` file
back to it (to nothing if it was never fsynced), which is what the machine
losing power at the moment of the SIGKILL would leave behind.

``FSYNC_JOURNAL_DELAY_MS`` in the environment makes each fsync that much
slower (a slow disk), which widens the windows in which requests overlap.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


class Fsync(NamedTuple):
    path: str
    start_size: int  # the file's size when the fsync began
    end_ns: int  # time.monotonic_ns() when it returned


def _journaled(real: Callable[[Any], None], journal: int, delay_s: float) -> Callable[[Any], None]:
    def sync(file: Any) -> None:
        fd = file if isinstance(file, int) else file.fileno()
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
            size = os.fstat(fd).st_size
        except OSError:
            path, size = "", -1
        if delay_s:
            time.sleep(delay_s)
        real(file)
        if size >= 0:
            os.write(journal, f"{path}\t{size}\t{time.monotonic_ns()}\n".encode())

    return sync


def read_journal(journal: Path) -> list[Fsync]:
    out = []
    for line in journal.read_text().splitlines():
        path, size, end_ns = line.split("\t")
        out.append(Fsync(path, int(size), int(end_ns)))
    return out


def durable_sizes(journal: Path) -> dict[str, int]:
    """The size of each file when its last fsync started."""
    return {fsync.path: fsync.start_size for fsync in read_journal(journal)}


def power_loss(data_dir: Path, journal: Path) -> dict[str, int]:
    """Cut every segment file under ``data_dir`` back to its last fsynced size;
    returns the bytes each lost."""
    sizes = durable_sizes(journal)
    lost = {}
    for path in sorted(data_dir.rglob("*.log")):
        kept = sizes.get(str(path.resolve()), 0)
        size = path.stat().st_size
        if size > kept:
            os.truncate(path, kept)
            lost[str(path)] = size - kept
    return lost


def main() -> int:
    journal = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    delay_s = float(os.environ.get("FSYNC_JOURNAL_DELAY_MS", "0")) / 1000
    for name in ("fsync", "fdatasync"):
        setattr(os, name, _journaled(getattr(os, name), journal, delay_s))
    from broker.__main__ import main as broker_main

    return broker_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
