"""A node's data directory: the live RocksDB store, replaceable by a snapshot.

Layout::

    DATA_DIR/CURRENT      name of the live store directory (replaced atomically)
    DATA_DIR/store-<n>/   RocksDB databases; only the one CURRENT names is live

A follower that fell too far behind receives a snapshot (a RocksDB checkpoint)
and must adopt it wholesale. `install` moves the snapshot in as
``store-<n+1>``, points CURRENT at it (write, fsync, rename, fsync the
directory), opens it and swaps it under the `MVCC` object. Readers that were
scanning the old store keep their iterators on it; the old store is closed and
deleted after a grace period, or at the next start. A crash at any point
leaves CURRENT naming either the old or the new complete store.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading

from .mvcc import MVCC
from .rocks import RocksEngine

__all__ = ["Store"]

log = logging.getLogger(__name__)

_CURRENT = "CURRENT"
_PREFIX = "store-"
_GRACE_SECONDS = 30.0


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """Owns DATA_DIR and the `MVCC` over its live RocksDB store."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = os.path.abspath(data_dir)
        os.makedirs(self.data_dir, exist_ok=True)
        self._lock = threading.Lock()
        name = self._read_current()
        if name is None:
            name = f"{_PREFIX}1"
            self._write_current(name)
        self._live_name = name
        self._remove_stale(keep=name)
        self.mvcc = MVCC(RocksEngine(os.path.join(self.data_dir, name)))
        self._retired: list[tuple[threading.Timer, RocksEngine, str]] = []

    @property
    def live_path(self) -> str:
        return os.path.join(self.data_dir, self._live_name)

    def _read_current(self) -> str | None:
        try:
            with open(os.path.join(self.data_dir, _CURRENT)) as f:
                name = f.read().strip()
        except FileNotFoundError:
            return None
        return name or None

    def _write_current(self, name: str) -> None:
        tmp = os.path.join(self.data_dir, _CURRENT + ".tmp")
        with open(tmp, "w") as f:
            f.write(name + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(self.data_dir, _CURRENT))
        _fsync_dir(self.data_dir)

    def _remove_stale(self, keep: str) -> None:
        for entry in os.listdir(self.data_dir):
            if entry.startswith(_PREFIX) and entry != keep:
                shutil.rmtree(os.path.join(self.data_dir, entry), ignore_errors=True)

    def checkpoint(self, path: str) -> int:
        """Write a consistent copy of the live store to `path`; returns its applied index.

        The caller must not apply entries concurrently (Raft snapshots are taken
        on the apply thread), so the index read here is the checkpoint's.
        """
        index = self.mvcc.applied_index
        self.mvcc.engine.checkpoint(path)
        return index

    def install(self, snapshot_dir: str) -> int:
        """Make the RocksDB checkpoint in `snapshot_dir` the live store; returns its applied index.

        `snapshot_dir` is moved (renamed) into the data directory, so it must be
        on the same filesystem.
        """
        with self._lock:
            number = int(self._live_name[len(_PREFIX) :]) + 1
            name = f"{_PREFIX}{number}"
            target = os.path.join(self.data_dir, name)
            shutil.rmtree(target, ignore_errors=True)
            os.replace(snapshot_dir, target)
            _fsync_dir(self.data_dir)
            new_engine = RocksEngine(target)
            self._write_current(name)
            old_engine, old_name = self.mvcc.engine, self._live_name
            self.mvcc.engine = new_engine
            self.mvcc.reload()
            self._live_name = name
            self._retire(old_engine, old_name)  # type: ignore[arg-type]
            log.info("installed snapshot at applied index %d as %s", self.mvcc.applied_index, name)
            return self.mvcc.applied_index

    def _retire(self, engine: RocksEngine, name: str) -> None:
        def finish() -> None:
            engine.close()
            shutil.rmtree(os.path.join(self.data_dir, name), ignore_errors=True)

        timer = threading.Timer(_GRACE_SECONDS, finish)
        timer.daemon = True
        timer.start()
        self._retired.append((timer, engine, name))

    def size_bytes(self) -> int:
        return self.mvcc.engine.size_bytes()

    def close(self) -> None:
        with self._lock:
            for timer, engine, name in self._retired:
                timer.cancel()
                engine.close()
                shutil.rmtree(os.path.join(self.data_dir, name), ignore_errors=True)
            self._retired.clear()
            self.mvcc.engine.close()
