"""Backups: a consistent RocksDB checkpoint of one replica, written as a directory, and
restoring one into the data directory of a NEW cluster.

Taking (on the node, for the Backup RPC): `take_checkpoint` makes a RocksDB
checkpoint of the live store next to it (hard links, so it is cheap and
needs little space) and reads the applied index *from the checkpoint
itself*: Raft keeps applying while the checkpoint is taken, and the MVCC
store writes each entry's data and its `applied_index` in one atomic batch,
so the checkpoint holds exactly the entries up to the index it records.

A backup on disk (written by cluster-cli with `BackupWriter`)::

    PATH/quorumdb-backup.json   manifest: format, applied index, term, node, files + sha256
    PATH/store/...              the RocksDB checkpoint

It is written to ``PATH.partial`` and renamed when complete and verified,
so PATH either does not exist or is a whole backup.

Restoring (`restore`, offline, cluster-cli) lays the checkpoint into a new
data directory as its live store (through `Store.install`, the same path a
Raft snapshot takes) and leaves a marker, ``RESTORED.json``. No Raft state
is copied: a backup starts a new cluster. What happens at the first start
(`prepare_first_start`, called by node/server.py before Raft starts):

* single node (no --peer): nothing; the local engine commits at applied+1.
* cluster: the Raft log must *continue after* the backup's applied index I.
  Starting it at 1 would be wrong twice over: entries 1..I would be skipped
  as already applied (the state machine is at I), and new MVCC versions
  would be stamped with timestamps older than the restored ones. So the
  node writes a Raft snapshot covering log index I (term 0) made of the
  restored store, with the members this node is started with (itself and
  its --peer list); its journal is empty. pysyncobj loads that snapshot as
  it would after compaction: the log starts at I, the first leader of the
  new cluster appends its no-op at I+1. Every member of the new cluster is
  restored from the same backup, so their logs agree at I.
* --join: refused; a restored directory founds a cluster, it cannot join one
  (a joining node starts empty and gets the data from the leader).

The marker is removed only once the snapshot is durable, so a crash during
the first start repeats the seeding.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from quorumdb.raft.snapshot import SnapshotMeta
from quorumdb.storage.store import Store

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "MARKER_NAME",
    "BackupError",
    "BackupFileInfo",
    "BackupManifest",
    "Checkpoint",
    "take_checkpoint",
    "read_chunks",
    "discard_checkpoint",
    "remove_leftover_checkpoints",
    "BackupWriter",
    "read_manifest",
    "restore",
    "RestoreResult",
    "pending_restore",
    "prepare_first_start",
]

FORMAT = "quorumdb-backup"
FORMAT_VERSION = 1
MANIFEST_NAME = "quorumdb-backup.json"
MARKER_NAME = "RESTORED.json"
_STORE_DIR = "store"
_WORK_DIR = "backup-work"  # under the node's data directory, same filesystem as the store
# pysyncobj's NO_OP entry type byte: the two placeholder entries of a seeded snapshot
# are never applied (the log starts after them), and if anything inspects them they
# read as no-ops.
_NO_OP_ENTRY = b"\x01"
_COPY_BYTES = 1 << 20


class BackupError(Exception):
    """A backup cannot be taken, written, read or restored; the message says why."""


# ---- taking a checkpoint (node side) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    path: str
    applied_index: int
    files: tuple[tuple[str, int], ...]  # (relative "/"-separated path, size), sorted

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)


def _list_files(root: str) -> tuple[tuple[str, int], ...]:
    found = []
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            found.append((rel, os.path.getsize(full)))
    return tuple(sorted(found))


def checkpoint_applied_index(path: str) -> int:
    """The MVCC applied index recorded inside the RocksDB database at `path` (read-only)."""
    from rocksdict import AccessType, Options, Rdict

    from quorumdb.storage.mvcc import MVCC

    db = Rdict(path, Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        return MVCC(db).applied_index  # type: ignore[arg-type]  # MVCC() only calls get()
    finally:
        db.close()


def take_checkpoint(store: Store, data_dir: str) -> Checkpoint:
    """A consistent checkpoint of `store` under DATA_DIR/backup-work/ (blocking)."""
    work = os.path.join(data_dir, _WORK_DIR)
    os.makedirs(work, exist_ok=True)
    path = os.path.join(work, uuid.uuid4().hex)
    try:
        store.mvcc.engine.checkpoint(path)
        applied = checkpoint_applied_index(path)
        return Checkpoint(path, applied, _list_files(path))
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise


def read_chunks(checkpoint: Checkpoint, chunk_bytes: int) -> Iterator[tuple[int, int, bytes]]:
    """(file number, offset, data) for every file of `checkpoint`, in order, exactly the
    sizes listed (checkpoint files never change); an empty file yields one empty chunk."""
    for number, (rel, size) in enumerate(checkpoint.files):
        with open(os.path.join(checkpoint.path, rel), "rb") as f:
            if size == 0:
                yield number, 0, b""
                continue
            offset = 0
            while offset < size:
                data = f.read(min(chunk_bytes, size - offset))
                if not data:
                    raise BackupError(f"{rel} shrank while it was read")
                yield number, offset, data
                offset += len(data)


def discard_checkpoint(checkpoint: Checkpoint) -> None:
    shutil.rmtree(checkpoint.path, ignore_errors=True)


def remove_leftover_checkpoints(data_dir: str) -> None:
    """Checkpoints of backups interrupted by a crash (called at node start)."""
    shutil.rmtree(os.path.join(data_dir, _WORK_DIR), ignore_errors=True)


# ---- the backup directory (client side) -----------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupFileInfo:
    path: str
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class BackupManifest:
    applied_index: int
    term: int
    node_id: str
    raft_address: str
    created_at: str
    files: tuple[BackupFileInfo, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "applied_index": self.applied_index,
                "term": self.term,
                "node_id": self.node_id,
                "raft_address": self.raft_address,
                "created_at": self.created_at,
                "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in self.files],
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, raw: str) -> BackupManifest:
        try:
            d = json.loads(raw)
            if d.get("format") != FORMAT:
                raise BackupError(f"not a QuorumDB backup (format {d.get('format')!r})")
            if d.get("version") != FORMAT_VERSION:
                raise BackupError(f"unsupported backup format version {d.get('version')!r}")
            files = tuple(
                BackupFileInfo(str(f["path"]), int(f["size"]), str(f["sha256"])) for f in d["files"]
            )
            for f in files:
                _check_relative(f.path)
            return cls(
                applied_index=int(d["applied_index"]),
                term=int(d.get("term", 0)),
                node_id=str(d.get("node_id", "")),
                raft_address=str(d.get("raft_address", "")),
                created_at=str(d.get("created_at", "")),
                files=files,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BackupError(f"unreadable backup manifest: {exc}") from exc


def _check_relative(path: str) -> None:
    if not path or os.path.isabs(path) or ".." in path.split("/") or "\\" in path:
        raise BackupError(f"bad file name in backup: {path!r}")


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class BackupWriter:
    """Writes a streamed backup to PATH.partial, then verifies and renames it to PATH.

    Call `begin` with the header values, `write` for each chunk in stream order,
    then `finish` with the server's digests; `abort` removes the partial directory.
    """

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        if os.path.exists(self.path):
            raise BackupError(f"{path} already exists; choose a new path for the backup")
        parent = os.path.dirname(self.path)
        if not os.path.isdir(parent):
            raise BackupError(f"directory {parent} does not exist")
        self._partial = self.path + ".partial"
        shutil.rmtree(self._partial, ignore_errors=True)
        os.makedirs(os.path.join(self._partial, _STORE_DIR))
        self._files: list[tuple[str, int]] = []
        self._hashes: list[Any] = []
        self._written: list[int] = []
        self._header: dict[str, object] = {}
        self._open: tuple[int, object] | None = None

    def begin(
        self,
        *,
        applied_index: int,
        term: int,
        node_id: str,
        raft_address: str,
        created_at: str,
        files: list[tuple[str, int]],
    ) -> None:
        for rel, _ in files:
            _check_relative(rel)
        self._files = list(files)
        self._hashes = [hashlib.sha256() for _ in files]
        self._written = [0] * len(files)
        self._header = {
            "applied_index": applied_index,
            "term": term,
            "node_id": node_id,
            "raft_address": raft_address,
            "created_at": created_at,
        }

    def write(self, file_number: int, offset: int, data: bytes) -> None:
        if not 0 <= file_number < len(self._files):
            raise BackupError(f"chunk for unknown file number {file_number}")
        if offset != self._written[file_number]:
            raise BackupError(
                f"chunk of {self._files[file_number][0]} at offset {offset}, "
                f"expected {self._written[file_number]}"
            )
        handle = self._handle(file_number)
        handle.write(data)  # type: ignore[attr-defined]
        self._hashes[file_number].update(data)
        self._written[file_number] += len(data)

    def _handle(self, file_number: int) -> object:
        if self._open is not None and self._open[0] == file_number:
            return self._open[1]
        self._close_open()
        target = os.path.join(self._partial, _STORE_DIR, self._files[file_number][0])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        handle = open(target, "wb")
        self._open = (file_number, handle)
        return handle

    def _close_open(self) -> None:
        if self._open is not None:
            handle = self._open[1]
            handle.flush()  # type: ignore[attr-defined]
            os.fsync(handle.fileno())  # type: ignore[attr-defined]
            handle.close()  # type: ignore[attr-defined]
            self._open = None

    def finish(self, digests: list[str]) -> BackupManifest:
        self._close_open()
        if len(digests) != len(self._files):
            raise BackupError(f"{len(digests)} digests for {len(self._files)} files")
        infos = []
        for number, (rel, size) in enumerate(self._files):
            path = os.path.join(self._partial, _STORE_DIR, rel)
            if not os.path.exists(path):  # a file that never got a chunk
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "wb").close()
            if self._written[number] != size:
                raise BackupError(f"{rel}: received {self._written[number]} of {size} bytes")
            digest = self._hashes[number].hexdigest()
            if digest != digests[number]:
                raise BackupError(f"{rel}: checksum mismatch (corrupted in transfer)")
            infos.append(BackupFileInfo(rel, size, digest))
        manifest = BackupManifest(files=tuple(infos), **self._header)  # type: ignore[arg-type]
        manifest_path = os.path.join(self._partial, MANIFEST_NAME)
        with open(manifest_path, "w") as f:
            f.write(manifest.to_json())
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(os.path.join(self._partial, _STORE_DIR))
        _fsync_dir(self._partial)
        os.rename(self._partial, self.path)
        _fsync_dir(os.path.dirname(self.path))
        return manifest

    def abort(self) -> None:
        try:
            self._close_open()
        except OSError:
            pass
        shutil.rmtree(self._partial, ignore_errors=True)


def read_manifest(path: str) -> BackupManifest:
    try:
        with open(os.path.join(path, MANIFEST_NAME)) as f:
            raw = f.read()
    except FileNotFoundError:
        raise BackupError(f"{path} is not a backup: {MANIFEST_NAME} is missing") from None
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    return BackupManifest.from_json(raw)


# ---- restoring (offline) ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreResult:
    data_dir: str
    applied_index: int
    manifest: BackupManifest


def _copy_verified(source: str, target: str, info: BackupFileInfo) -> None:
    digest = hashlib.sha256()
    size = 0
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(_COPY_BYTES):
            digest.update(block)
            size += len(block)
            dst.write(block)
        dst.flush()
        os.fsync(dst.fileno())
    if size != info.size or digest.hexdigest() != info.sha256:
        raise BackupError(f"{info.path}: size or checksum differs from the manifest (corrupted)")


def restore(backup_path: str, data_dir: str) -> RestoreResult:
    """Make `data_dir` (new or empty) hold the backup as its store, ready for a first start.

    Every file is checked against the manifest's size and SHA-256 while it is copied.
    """
    manifest = read_manifest(backup_path)
    data_dir = os.path.abspath(data_dir)
    if os.path.exists(data_dir):
        if not os.path.isdir(data_dir):
            raise BackupError(f"{data_dir} exists and is not a directory")
        if os.listdir(data_dir):
            raise BackupError(
                f"{data_dir} is not empty; restore into a new directory "
                "(a restore never overwrites a node's data)"
            )
    os.makedirs(data_dir, exist_ok=True)
    store_root = os.path.join(data_dir, "store")
    incoming = os.path.join(store_root, "restore-incoming")
    os.makedirs(store_root, exist_ok=True)
    try:
        applied = _restore_store(backup_path, manifest, store_root, incoming)
    except BaseException:
        shutil.rmtree(store_root, ignore_errors=True)  # leave `data_dir` as empty as we found it
        raise
    marker = {
        "applied_index": applied,
        "backup": os.path.abspath(backup_path),
        "source_node": manifest.node_id,
        "backup_created_at": manifest.created_at,
        "restored_at": utc_now(),
    }
    _write_durably(os.path.join(data_dir, MARKER_NAME), json.dumps(marker, indent=2).encode())
    return RestoreResult(data_dir, applied, manifest)


def _restore_store(backup_path: str, manifest: BackupManifest, store_root: str, incoming: str) -> int:
    try:
        for info in manifest.files:
            _copy_verified(
                os.path.join(backup_path, _STORE_DIR, info.path),
                os.path.join(incoming, info.path),
                info,
            )
        store = Store(store_root)
        try:
            applied = store.install(incoming)
        finally:
            store.close()
    except FileNotFoundError as exc:
        raise BackupError(f"the backup is incomplete: {exc.filename} is missing") from None
    if applied != manifest.applied_index:
        raise BackupError(
            f"the restored store is at index {applied}, the manifest says {manifest.applied_index}"
        )
    return applied


def _write_durably(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path))


# ---- the first start after a restore (node side) ------------------------------------------


def pending_restore(data_dir: str) -> dict[str, object] | None:
    """The restore marker of `data_dir`, if it has not been started since the restore."""
    try:
        with open(os.path.join(data_dir, MARKER_NAME)) as f:
            return dict(json.load(f))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BackupError(f"unreadable {MARKER_NAME} in {data_dir}: {exc}") from exc


def prepare_first_start(
    data_dir: str,
    store: Store,
    *,
    snapshot_dir: str | None,
    journal_dir: str | None,
    members: list[str],
    joining: bool = False,
) -> int | None:
    """First start of a restored data directory (see the module docstring): for a cluster
    member (`snapshot_dir` set) make the Raft log start after the restored state. Returns
    the restored applied index, or None when `data_dir` was not restored. Call before the
    Raft node starts; nothing may apply meanwhile."""
    marker = pending_restore(data_dir)
    if marker is None:
        return None
    if joining:
        raise BackupError(
            f"{data_dir} was restored from a backup: start it as a member of a new cluster "
            "(--peer, no --join); a joining node starts empty and gets its data from the leader"
        )
    index = store.mvcc.applied_index
    if snapshot_dir is not None and journal_dir is not None:
        if not os.path.exists(os.path.join(snapshot_dir, "CURRENT")):
            if os.path.isdir(journal_dir) and os.listdir(journal_dir):
                raise BackupError(
                    f"{data_dir} was restored from a backup but already has a Raft journal; "
                    "restore into a new directory again"
                )
            if index >= 2:
                _write_seed_snapshot(store, snapshot_dir, index, members)
    os.unlink(os.path.join(data_dir, MARKER_NAME))
    _fsync_dir(data_dir)
    return index


def _write_seed_snapshot(store: Store, snapshot_dir: str, index: int, members: list[str]) -> None:
    os.makedirs(snapshot_dir, exist_ok=True)
    name = f"snap-{index:020d}-{uuid.uuid4().hex[:8]}"
    tmp = os.path.join(snapshot_dir, f"tmp-{uuid.uuid4().hex}")
    checkpoint_index = store.checkpoint(tmp)
    if checkpoint_index != index:  # pragma: no cover - nothing applies before Raft starts
        shutil.rmtree(tmp, ignore_errors=True)
        raise BackupError(f"store moved from {index} to {checkpoint_index} while seeding Raft")
    for dirpath, _, filenames in os.walk(tmp):
        for filename in filenames:
            fd = os.open(os.path.join(dirpath, filename), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    os.rename(tmp, os.path.join(snapshot_dir, name))
    meta = SnapshotMeta(
        name=name,
        index=index,
        last=(_NO_OP_ENTRY, index, 0),
        prev=(_NO_OP_ENTRY, index - 1, 0),
        members=tuple(sorted(set(members))),
        files=_list_files(os.path.join(snapshot_dir, name)),
    )
    _write_durably(os.path.join(snapshot_dir, "CURRENT"), meta.to_json())
