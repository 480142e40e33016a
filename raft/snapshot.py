"""Snapshots: state-machine checkpoints taken in the background, streamed in chunks,
installed atomically.

A snapshot is a directory written by `StateMachine.snapshot` (a RocksDB
checkpoint: hard links, so cheap) plus a `SnapshotMeta`: the state machine's
index inside it, the two Raft log entries pysyncobj keeps after compacting
(the last entry the snapshot covers and the one before it), the cluster
members at that point and the list of files with their sizes.

Layout under ``<data>/snapshots/``::

    CURRENT                 JSON SnapshotMeta of the current snapshot (atomic replace)
    snap-<index>-<id>/      the current snapshot's files
    tmp-<id>/, incoming-<id>/, restore-<id>/   work in progress; removed at startup

Invariants and why:

* CURRENT names a complete, fsynced directory: the directory is renamed into
  place and fsynced before CURRENT is replaced. A node killed while taking or
  receiving a snapshot restarts with the previous one and removes the
  leftovers.
* CURRENT never goes back to an older log position; the journal is compacted
  only after CURRENT is durable (pysyncobj calls ``deleteEntriesTo`` after the
  serializer reports success), so the journal always continues the snapshot.
* Taking a snapshot runs in a worker thread: the Raft tick thread must keep
  heartbeating (a stall longer than the election timeout starts an election).
  Sending is done in bounded chunks (`chunk_bytes`) from the tick thread, one
  file region per chunk, so one call never holds the thread for long.
* The state machine is restored only when it is behind the snapshot: at
  startup the local state is usually ahead of the last snapshot (the journal
  covers the rest), and replacing it would throw away applied entries. It is
  restored from a clone (`clone_tree`) that it may move into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from quorumdb.storage.errors import StorageCorruption

from .journal import Entry
from .state import StateMachine

__all__ = ["SnapshotMeta", "SnapshotStore", "Chunk", "clone_tree"]

log = logging.getLogger("quorumdb.raft.snapshot")

Chunk = tuple[dict[str, Any], bool, bool]  # (payload, is_first, is_last), pysyncobj's shape
_RETRY_AFTER_FAILURE = 5.0


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    name: str  # directory name under the snapshot root
    index: int  # the state machine's applied index inside the snapshot
    last: Entry  # the last Raft log entry the snapshot covers (pysyncobj's lastApplied)
    prev: Entry  # the entry before it (pysyncobj keeps both after compaction)
    members: tuple[str, ...]
    files: tuple[tuple[str, int], ...]  # (relative path, size)

    @property
    def last_index(self) -> int:
        return self.last[1]

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "index": self.index,
            "last": tuple(self.last),
            "prev": tuple(self.prev),
            "members": list(self.members),
            "files": [list(f) for f in self.files],
        }

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> SnapshotMeta:
        files = tuple((str(p), int(s)) for p, s in d["files"])
        for path, _ in files:
            if os.path.isabs(path) or ".." in path.split("/"):
                raise ValueError(f"bad snapshot file name {path!r}")
        last, prev = d["last"], d["prev"]
        return cls(
            name=str(d["name"]),
            index=int(d["index"]),
            last=(bytes(last[0]), int(last[1]), int(last[2])),
            prev=(bytes(prev[0]), int(prev[1]), int(prev[2])),
            members=tuple(str(m) for m in d["members"]),
            files=files,
        )

    def to_json(self) -> bytes:
        d = self.to_wire()
        d["last"] = [self.last[0].hex(), self.last[1], self.last[2]]
        d["prev"] = [self.prev[0].hex(), self.prev[1], self.prev[2]]
        return json.dumps(d).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SnapshotMeta:
        d = json.loads(raw)
        d["last"] = [bytes.fromhex(d["last"][0]), d["last"][1], d["last"][2]]
        d["prev"] = [bytes.fromhex(d["prev"][0]), d["prev"][1], d["prev"][2]]
        return cls.from_wire(d)


def _fsync_path(path: str, *, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY if directory else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _list_files(root: str) -> tuple[tuple[str, int], ...]:
    found = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            found.append((rel, os.path.getsize(full)))
    return tuple(sorted(found))


def clone_tree(src: str, dst: str, link_suffixes: tuple[str, ...] = (".sst", ".blob")) -> None:
    """Copy directory `src` to the new directory `dst`, hard-linking files whose names end
    in `link_suffixes` (RocksDB never modifies its table files, so sharing them is safe
    and free) and copying the rest (a store opened from `dst` may append to those)."""

    def copy(source: str, target: str) -> None:
        if source.endswith(link_suffixes):
            try:
                os.link(source, target)
                return
            except OSError:  # another filesystem, or no hard links: copy instead
                pass
        shutil.copy2(source, target)

    shutil.copytree(src, dst, copy_function=copy)


def _fsync_tree(root: str) -> None:
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            _fsync_path(os.path.join(dirpath, name))
        _fsync_path(dirpath, directory=True)


@dataclass(slots=True)
class _Transfer:
    meta: SnapshotMeta
    seq: int = 0
    file_no: int = 0
    offset: int = 0
    fd: int | None = None


@dataclass(slots=True)
class _Incoming:
    meta: SnapshotMeta
    path: str
    next_seq: int = 0
    fd: int | None = None
    fd_file: int = -1


class SnapshotStore:
    """Takes, publishes, sends and receives snapshots of one `StateMachine`."""

    def __init__(
        self,
        root: str,
        state_machine: StateMachine,
        *,
        fsync: bool = True,
        chunk_bytes: int = 128 << 10,
        clock: Any = None,
    ) -> None:
        import time

        os.makedirs(root, exist_ok=True)
        self._root = root
        self._sm = state_machine
        self._fsync = fsync
        self._chunk_bytes = chunk_bytes
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()  # CURRENT on disk, _disk_last, _result
        self._current = self._read_current()
        self._disk_last = self._current.last_index if self._current else 0
        self._worker: threading.Thread | None = None
        self._result: tuple[str, SnapshotMeta | None] | None = None
        self._retry_at = 0.0
        self._transfers: dict[object, _Transfer] = {}
        self._incoming: _Incoming | None = None
        self._received: SnapshotMeta | None = None
        self._remove_leftovers()

    # ---- where things are --------------------------------------------------

    @property
    def current_path(self) -> str:
        """The file pysyncobj checks at startup (its "full dump file")."""
        return os.path.join(self._root, "CURRENT")

    def current(self) -> SnapshotMeta | None:
        return self._current

    def directory(self, meta: SnapshotMeta) -> str:
        return os.path.join(self._root, meta.name)

    # ---- taking (worker thread) --------------------------------------------

    def take(self, last: Entry, prev: Entry, members: tuple[str, ...], min_index: int) -> bool:
        """Start a snapshot covering log entry `last` in the background.

        `min_index` is the state machine's applied index now: the snapshot must
        contain at least that much. Returns False if one is already running or
        the last attempt failed a moment ago.
        """
        if self._worker is not None or self._result is not None or self._clock() < self._retry_at:
            return False
        self._worker = threading.Thread(
            target=self._take,
            args=(last, prev, members, min_index),
            name="raft-snapshot",
            daemon=True,
        )
        self._worker.start()
        return True

    def poll(self) -> tuple[str, SnapshotMeta | None]:
        """'idle' | 'running' | 'done' (the new snapshot is now current) | 'failed'."""
        if self._worker is None:
            return "idle", None
        with self._lock:
            result = self._result
        if result is None:
            return "running", None
        self._worker.join()
        self._worker = None
        self._result = None
        state, meta = result
        if state == "done" and meta is not None:
            self._publish(meta)
        else:
            self._retry_at = self._clock() + _RETRY_AFTER_FAILURE
        return state, meta

    def running(self) -> bool:
        return self._worker is not None

    def _take(self, last: Entry, prev: Entry, members: tuple[str, ...], min_index: int) -> None:
        tmp = os.path.join(self._root, f"tmp-{uuid.uuid4().hex}")
        result: tuple[str, SnapshotMeta | None] = ("failed", None)
        try:
            index = self._sm.snapshot(tmp)
            if index < min_index:
                raise RuntimeError(f"state machine snapshot at {index} is older than {min_index}")
            files = _list_files(tmp)
            if self._fsync:
                _fsync_tree(tmp)
            name = f"snap-{index:020d}-{uuid.uuid4().hex[:8]}"
            os.rename(tmp, os.path.join(self._root, name))
            meta = SnapshotMeta(name, index, last, prev, members, files)
            if self._write_current(meta):
                result = ("done", meta)
            else:
                shutil.rmtree(os.path.join(self._root, name), ignore_errors=True)
        except Exception:  # noqa: BLE001 - a failed snapshot only delays compaction
            log.exception("taking a snapshot failed; the journal keeps growing until one succeeds")
            shutil.rmtree(tmp, ignore_errors=True)
        with self._lock:
            self._result = result

    def _write_current(self, meta: SnapshotMeta, *, force: bool = False) -> bool:
        """Atomically make `meta` the durable CURRENT, unless that would go back in the log
        (`force`: a snapshot received from the leader replaces whatever we had)."""
        with self._lock:
            if meta.last_index < self._disk_last and not force:
                return False
            tmp = self.current_path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(meta.to_json())
                f.flush()
                if self._fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, self.current_path)
            if self._fsync:
                _fsync_path(self._root, directory=True)
            self._disk_last = meta.last_index
            return True

    def _publish(self, meta: SnapshotMeta) -> None:
        """Tick thread: `meta` becomes the snapshot sent to followers; older ones go."""
        self._current = meta
        for peer in list(self._transfers):
            self.cancel(peer)
        self._remove_leftovers()

    # ---- sending (tick thread) ---------------------------------------------

    def next_chunk(self, peer: object) -> Chunk | None:
        """The next piece of the current snapshot for `peer` (a new stream if it changed)."""
        meta = self._current
        if meta is None:
            return None
        transfer = self._transfers.get(peer)
        if transfer is None or transfer.meta is not meta:
            self.cancel(peer)
            transfer = self._transfers[peer] = _Transfer(meta)
        first = transfer.seq == 0
        files = meta.files
        while transfer.file_no < len(files) and transfer.offset >= files[transfer.file_no][1]:
            self._next_file(transfer)
        data = b""
        file_no, offset = transfer.file_no, transfer.offset
        if file_no < len(files):
            rel, size = files[file_no]
            try:
                if transfer.fd is None:
                    transfer.fd = os.open(os.path.join(self.directory(meta), rel), os.O_RDONLY)
                data = os.pread(transfer.fd, min(self._chunk_bytes, size - offset), offset)
            except OSError:
                log.exception("reading snapshot %s for %s failed", meta.name, peer)
                self.cancel(peer)
                return None
            if not data:
                log.error("snapshot file %s/%s is shorter than recorded", meta.name, rel)
                self.cancel(peer)
                return None
            transfer.offset += len(data)
        while transfer.file_no < len(files) and transfer.offset >= files[transfer.file_no][1]:
            self._next_file(transfer)
        last = transfer.file_no >= len(files)
        payload: dict[str, Any] = {
            "snap": meta.name,
            "seq": transfer.seq,
            "file": file_no,
            "offset": offset,
            "data": data,
        }
        if first:
            payload["meta"] = meta.to_wire()
        transfer.seq += 1
        if last:
            self.cancel(peer)
        return payload, first, last

    def _next_file(self, transfer: _Transfer) -> None:
        if transfer.fd is not None:
            os.close(transfer.fd)
            transfer.fd = None
        transfer.file_no += 1
        transfer.offset = 0

    def cancel(self, peer: object) -> None:
        transfer = self._transfers.pop(peer, None)
        if transfer is not None and transfer.fd is not None:
            os.close(transfer.fd)

    def sending(self) -> bool:
        return bool(self._transfers)

    # ---- receiving (tick thread) -------------------------------------------

    def receive(self, payload: dict[str, Any], first: bool, last: bool) -> bool:
        """Store one chunk; True when a complete snapshot is durable and ready to install."""
        try:
            if first:
                self._abort_incoming()
                meta = SnapshotMeta.from_wire(payload["meta"])
                path = os.path.join(self._root, f"incoming-{uuid.uuid4().hex}")
                os.makedirs(path)
                for rel, _ in meta.files:
                    full = os.path.join(path, rel)
                    os.makedirs(os.path.dirname(full), exist_ok=True)
                    open(full, "wb").close()
                self._incoming = _Incoming(meta, path)
            incoming = self._incoming
            if (
                incoming is None
                or payload["snap"] != incoming.meta.name
                or payload["seq"] != incoming.next_seq
            ):
                # A chunk out of order: drop the stream; the leader restarts it after
                # it learns that we still lack the log it compacted.
                self._abort_incoming()
                return False
            data: bytes = payload["data"]
            if data:
                self._write_chunk(incoming, int(payload["file"]), int(payload["offset"]), data)
            incoming.next_seq += 1
            if not last:
                return False
            return self._complete(incoming)
        except (OSError, ValueError, KeyError, TypeError):
            log.exception("receiving a snapshot chunk failed; waiting for the leader to resend")
            self._abort_incoming()
            return False

    def _write_chunk(self, incoming: _Incoming, file_no: int, offset: int, data: bytes) -> None:
        rel, size = incoming.meta.files[file_no]
        if offset + len(data) > size:
            raise ValueError(f"chunk beyond the end of {rel}")
        if incoming.fd_file != file_no:
            self._close_incoming_fd(incoming)
            incoming.fd = os.open(os.path.join(incoming.path, rel), os.O_WRONLY)
            incoming.fd_file = file_no
        assert incoming.fd is not None
        view = memoryview(data)
        while view:
            written = os.pwrite(incoming.fd, view, offset)
            view, offset = view[written:], offset + written
        if offset == size:  # a file is complete: make it durable now, spreading the cost
            if self._fsync:
                os.fsync(incoming.fd)
            self._close_incoming_fd(incoming)

    def _close_incoming_fd(self, incoming: _Incoming) -> None:
        if incoming.fd is not None:
            os.close(incoming.fd)
            incoming.fd = None
            incoming.fd_file = -1

    def _complete(self, incoming: _Incoming) -> bool:
        self._close_incoming_fd(incoming)
        meta = incoming.meta
        for rel, size in meta.files:
            actual = os.path.getsize(os.path.join(incoming.path, rel))
            if actual != size:
                raise ValueError(f"received {rel} with {actual} bytes, expected {size}")
        if self._fsync:
            for dirpath, _, _ in os.walk(incoming.path):
                _fsync_path(dirpath, directory=True)
        os.rename(incoming.path, self.directory(meta))
        self._incoming = None
        if self._worker is not None:
            # A local snapshot of the state we are about to replace is obsolete.
            self._worker.join()
            self._worker, self._result = None, None
        self._write_current(meta, force=True)
        self._received = meta
        self._publish(meta)
        return True

    def _abort_incoming(self) -> None:
        incoming, self._incoming = self._incoming, None
        if incoming is not None:
            self._close_incoming_fd(incoming)
            shutil.rmtree(incoming.path, ignore_errors=True)

    def take_received(self) -> SnapshotMeta | None:
        """The snapshot `receive` just completed (once), for installing it."""
        meta, self._received = self._received, None
        return meta

    # ---- installing (tick thread) ------------------------------------------

    def restore_if_behind(self, meta: SnapshotMeta) -> bool:
        """Restore the state machine from `meta` unless its own state is at least as new.

        The state machine gets a clone it may consume (move into place); the
        snapshot itself stays, to be sent to others and found after a restart.
        """
        if self._sm.applied_index() >= meta.index:
            return False
        if self._worker is not None:
            # Never restore underneath a running checkpoint of the same store.
            self._worker.join()
        clone = os.path.join(self._root, f"restore-{uuid.uuid4().hex}")
        try:
            clone_tree(self.directory(meta), clone)
            self._sm.restore(clone)
        finally:
            shutil.rmtree(clone, ignore_errors=True)
        applied = self._sm.applied_index()
        if applied < meta.index:
            raise StorageCorruption(f"restored state is at {applied}, snapshot claims {meta.index}")
        return True

    # ---- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        for peer in list(self._transfers):
            self.cancel(peer)
        self._abort_incoming()
        worker = self._worker
        if worker is not None:
            worker.join()

    def _read_current(self) -> SnapshotMeta | None:
        try:
            with open(self.current_path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return None
        try:
            meta = SnapshotMeta.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageCorruption(f"unreadable {self.current_path}: {exc}") from exc
        if not os.path.isdir(self.directory(meta)):
            raise StorageCorruption(f"{self.current_path} names a missing snapshot {meta.name}")
        return meta

    def _remove_leftovers(self) -> None:
        keep = {self._current.name} if self._current else set()
        for transfer in self._transfers.values():
            keep.add(transfer.meta.name)
        if self._incoming is not None:
            keep.add(os.path.basename(self._incoming.path))
        worker_busy = self._worker is not None
        for name in os.listdir(self._root):
            full = os.path.join(self._root, name)
            if name in keep or not os.path.isdir(full):
                if name == "CURRENT.tmp":
                    os.unlink(full)
                continue
            if name.startswith("tmp-") and worker_busy:
                continue
            if name.startswith(("snap-", "tmp-", "incoming-", "restore-")):
                shutil.rmtree(full, ignore_errors=True)
