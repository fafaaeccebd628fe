"""A power-loss model of a directory tree, for simulations and tests.

Theory of operation
-------------------
After a power loss a file holds what its last fsync wrote, and a directory
the entries its last fsync saw: a file created, renamed or deleted since the
directory's last fsync is back as it was. `PowerLossDisk` records exactly
that while it is active, by wrapping ``os.fsync``/``os.fdatasync`` (and the
calls that end an inode's life under a name: ``os.unlink``, ``os.remove``,
``os.replace``, ``os.rename``) for paths under its root:

* an fsync of a file stores the file's content as the durable content of
  its inode's current *generation* (a new generation starts when an inode
  is first seen, so a reused inode number never inherits a dead file's
  content);
* an fsync of a directory stores its listing: name -> generation for files,
  and the names of subdirectories;
* `crash(path)` rebuilds the tree under ``path`` from those records: every
  file not in its directory's durable listing disappears, every file in it
  gets its generation's durable content (empty if it was never fsynced), and
  a directory that was never fsynced comes back empty.

The real fsyncs are skipped unless ``real_sync`` (a simulation needs the
model, not the disk). One active disk per process; the storage engine calls
``os.fsync`` and friends through the ``os`` module, which is what makes the
wrapping work without touching it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

_Listing = dict[str, int | None]  # name -> generation of a file, None for a directory

_active: PowerLossDisk | None = None


class PowerLossDisk:
    def __init__(self, root: str | os.PathLike[str], *, real_sync: bool = False) -> None:
        self.root = Path(root).resolve()
        self._root_name = str(self.root)
        self.real_sync = real_sync
        self._gen: dict[tuple[int, int], int] = {}
        self._content: dict[int, bytes] = {}
        self._dirs: dict[Path, _Listing] = {}
        self._next_gen = 0
        self._saved: dict[str, Any] = {}
        self.fsyncs = 0

    # -- activation ---------------------------------------------------------

    def __enter__(self) -> PowerLossDisk:
        global _active
        if _active is not None:
            raise RuntimeError("another PowerLossDisk is active")
        _active = self
        for name in ("fsync", "fdatasync", "unlink", "remove", "replace", "rename"):
            self._saved[name] = getattr(os, name)
        real_fsync = self._saved["fsync"]
        real_fdatasync = self._saved["fdatasync"]

        def fsync(fd: int) -> None:
            self._sync(fd, real_fsync)

        def fdatasync(fd: int) -> None:
            self._sync(fd, real_fdatasync)

        def unlink(path: Any, *, dir_fd: int | None = None) -> None:
            self._forget(path, dir_fd)
            self._saved["unlink"](path, dir_fd=dir_fd)

        def remove(path: Any, *, dir_fd: int | None = None) -> None:
            self._forget(path, dir_fd)
            self._saved["remove"](path, dir_fd=dir_fd)

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            self._forget(dst, kwargs.get("dst_dir_fd"))
            self._saved["replace"](src, dst, **kwargs)

        def rename(src: Any, dst: Any, **kwargs: Any) -> None:
            self._forget(dst, kwargs.get("dst_dir_fd"))
            self._saved["rename"](src, dst, **kwargs)

        wrappers = {"fsync": fsync, "fdatasync": fdatasync, "unlink": unlink, "remove": remove}
        wrappers |= {"replace": replace, "rename": rename}
        for name, fn in wrappers.items():
            setattr(os, name, fn)
        self.root.mkdir(parents=True, exist_ok=True)
        self._record_tree(self.root)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _active
        for name, fn in self._saved.items():
            setattr(os, name, fn)
        self._saved.clear()
        _active = None

    # -- recording ----------------------------------------------------------

    def _under_root(self, path: Path) -> bool:
        name, root = str(path), self._root_name
        return name == root or name.startswith(root + os.sep)

    def _generation(self, st: os.stat_result) -> int:
        key = (st.st_dev, st.st_ino)
        gen = self._gen.get(key)
        if gen is None:
            gen = self._next_gen
            self._next_gen += 1
            self._gen[key] = gen
        return gen

    def _sync(self, fd: int, real: Any) -> None:
        self.fsyncs += 1
        target = os.readlink(f"/proc/self/fd/{fd}")
        path = Path(target.removesuffix(" (deleted)"))
        if self._under_root(path):
            st = os.fstat(fd)
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                self._dirs[path] = self._listing(path)
            else:
                with open(f"/proc/self/fd/{fd}", "rb") as reader:
                    self._content[self._generation(st)] = reader.read()
            if not self.real_sync:
                return
        real(fd)

    def _listing(self, directory: Path) -> _Listing:
        listing: _Listing = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    listing[entry.name] = None
                elif entry.is_file(follow_symlinks=False):
                    listing[entry.name] = self._generation(entry.stat(follow_symlinks=False))
        return listing

    def _forget(self, path: Any, dir_fd: int | None) -> None:
        """``path`` is about to lose its name: if that is the inode's last
        name, its number may be reused, so end its generation."""
        try:
            st = os.lstat(path, dir_fd=dir_fd)
        except OSError:
            return
        if dir_fd is None and not self._under_root(Path(os.path.abspath(path))):
            return
        if st.st_nlink <= 1:
            self._gen.pop((st.st_dev, st.st_ino), None)

    def _record_tree(self, directory: Path) -> None:
        """Everything present when the disk is attached counts as durable."""
        for dirpath, _, filenames in os.walk(directory):
            for name in filenames:
                path = Path(dirpath) / name
                self._content[self._generation(os.lstat(path))] = path.read_bytes()
            self._dirs[Path(dirpath)] = self._listing(Path(dirpath))

    # -- the crash ----------------------------------------------------------

    def crash(self, path: str | os.PathLike[str]) -> None:
        """Power loss of the tree under ``path`` (its own entry survives)."""
        directory = Path(path).resolve()
        if not self._under_root(directory):
            raise ValueError(f"{directory} is not under {self.root}")
        self._restore(directory)

    def _remove_file(self, path: Path) -> None:
        st = os.lstat(path)
        if st.st_nlink <= 1:
            self._gen.pop((st.st_dev, st.st_ino), None)
        self._saved["unlink"](path)

    def _remove_tree(self, directory: Path) -> None:
        for dirpath, _, filenames in os.walk(directory):
            for name in filenames:
                st = os.lstat(Path(dirpath) / name)
                if st.st_nlink <= 1:
                    self._gen.pop((st.st_dev, st.st_ino), None)
        shutil.rmtree(directory)

    def forget(self, path: str | os.PathLike[str]) -> None:
        """The tree under ``path`` was removed on purpose (a disk replaced)."""
        directory = Path(path).resolve()
        for known in [d for d in self._dirs if d == directory or directory in d.parents]:
            del self._dirs[known]

    def _restore(self, directory: Path) -> None:
        durable = self._dirs.get(directory, {})
        with os.scandir(directory) as entries:
            present = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in present:
            if is_dir:
                if name not in durable or durable[name] is not None:
                    self._remove_tree(directory / name)
            else:
                self._remove_file(directory / name)
        for name, gen in durable.items():
            target = directory / name
            if gen is None:
                target.mkdir(exist_ok=True)
                self._restore(target)
                continue
            target.write_bytes(self._content.get(gen, b""))
            st = os.lstat(target)
            self._gen[(st.st_dev, st.st_ino)] = gen
        self._dirs[directory] = dict(durable)
