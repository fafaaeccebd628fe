"""Run a broker that journals every fsync, so a test can simulate a power loss.

``python -m tests.admin.fsync_journal JOURNAL serve --override ...`` runs
``python -m broker`` with ``os.fsync`` and ``os.fdatasync`` wrapped: after
each one returns, the file's path and size are appended to JOURNAL (opened
O_APPEND, written with one ``write`` each, so a SIGKILL cannot tear a line).
For an append-only segment file, the size at its last fsync is exactly what
the disk is guaranteed to hold; :func:`power_loss` cuts every ``.log`` file
back to it (to nothing if it was never fsynced), which is what the machine
losing power at the moment of the SIGKILL would leave behind.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _journaled(real: Callable[[Any], None], journal: int) -> Callable[[Any], None]:
    def sync(file: Any) -> None:
        real(file)
        fd = file if isinstance(file, int) else file.fileno()
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
            size = os.fstat(fd).st_size
        except OSError:
            return
        os.write(journal, f"{path}\t{size}\n".encode())

    return sync


def durable_sizes(journal: Path) -> dict[str, int]:
    """The size of each file at its last fsync."""
    sizes: dict[str, int] = {}
    for line in journal.read_text().splitlines():
        path, _, size = line.rpartition("\t")
        sizes[path] = int(size)
    return sizes


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
    for name in ("fsync", "fdatasync"):
        setattr(os, name, _journaled(getattr(os, name), journal))
    from broker.__main__ import main as broker_main

    return broker_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
