"""`DurableJournal`: the Raft log, current term and vote on disk, fsynced in groups.

pysyncobj keeps its log in a "journal" object (``add``, ``deleteEntriesFrom``,
``deleteEntriesTo``, ``clear``, indexing, term/vote/commit accessors). Its own
`FileJournal` never fsyncs, so a power loss can take back entries a node
already acknowledged. This one is handed to pysyncobj instead (the hook is in
raft/pysyncobj_glue.py).

The rule it serves: *nothing leaves the node and no entry is applied before
the journal entries it reflects are on disk.* `add` only buffers; `flush`
writes the buffer and fdatasyncs once. The transport calls `flush` before
it sends anything and the applier before it applies anything, so all the
entries appended during one tick share one fsync (group commit). Term and
vote are written and fsynced synchronously in `setCurrentTerm`, before
pysyncobj can send the vote they reflect. The commit index is written once a
second (pysyncobj's timer) and at close, without fsync: it only lets a
restarted node apply early, and it is clamped to the log on load.

On disk (``<dir>/``)::

    meta.json                  {"term", "voted_for", "first_index"} (atomic replace)
    commit                     u64 commit index + crc32 (overwritten in place)
    <first index:020d>.seg     header "QRJ1" u32 version u64 first index, then records
    record                     u32 length, u32 crc32(index, term, payload), u64 index,
                               u64 term, payload

Invariants:

* Indices in memory and on disk are contiguous and terms never decrease. On
  load, the first record that is torn (short, bad checksum) or breaks either
  rule ends the log: the file is truncated there and later segments are
  removed. Only bytes that were never fsynced can be lost that way, and no
  message reflected them.
* Only the last segment is ever written; a full segment is fsynced before the
  next one starts, so a torn tail can only be in the last segment.
* ``deleteEntriesTo`` (compaction) drops whole segments and records the new
  first index in meta.json; memory holds only the live entries, so memory is
  bounded by the compaction thresholds.
* ``deleteEntriesFrom`` leaves the dropped entries on disk until an ``add``
  at their index brings a different entry; then the file is truncated there
  and the next flush makes both durable. A resent, identical entry is taken
  back without rewriting it. Entries on disk beyond the in-memory log are
  harmless after a restart: they are not committed there, and the leader
  truncates them if they conflict.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import os
import struct
import zlib
from array import array
from dataclasses import dataclass

from quorumdb.storage.errors import StorageCorruption

from .errors import EXIT_JOURNAL_FAILED
from .state import halt

__all__ = ["DurableJournal", "Entry"]

log = logging.getLogger("quorumdb.raft.journal")

Entry = tuple[bytes, int, int]  # (command, index, term), the shape pysyncobj uses

_SEG_HEADER = struct.Struct("<4sIQ")
_SEG_MAGIC = b"QRJ1"
_SEG_VERSION = 1
_RECORD = struct.Struct("<IIQQ")
_INDEX_TERM = struct.Struct("<QQ")
_COMMIT = struct.Struct("<QI")
_WRITE_THROUGH_BYTES = 1 << 20  # write (not fsync) the buffer once it grows past this
_SUFFIX = ".seg"


def _fatal_io(method):  # type: ignore[no-untyped-def]
    """A journal that cannot write or fsync must stop the node: after a failed fsync the
    kernel may have dropped the data, and carrying on could acknowledge lost entries."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return method(self, *args, **kwargs)
        except OSError:
            halt(EXIT_JOURNAL_FAILED, f"journal {method.__name__} failed in {self._dir}")

    return wrapper


def _crc(index: int, term: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_INDEX_TERM.pack(index, term)))


def encode_record(command: bytes, index: int, term: int) -> bytes:
    return _RECORD.pack(len(command), _crc(index, term, command), index, term) + command


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@dataclass(slots=True)
class _Segment:
    first_index: int
    path: str


class DurableJournal:
    """pysyncobj's Journal interface over segmented, checksummed files."""

    def __init__(
        self, directory: str, *, fsync: bool = True, segment_bytes: int = 32 << 20
    ) -> None:
        os.makedirs(directory, exist_ok=True)
        self._dir = directory
        self._fsync = fsync
        self._segment_bytes = segment_bytes
        self._entries: list[Entry] = []
        self._offsets = array("q")  # file offset of each entry inside its segment
        self._ghosts: list[tuple[Entry, int]] = []  # deleted from memory, still on disk
        self._segments: list[_Segment] = []
        self._firsts: list[int] = []  # first index of each segment, for bisect
        self._fd: int | None = None  # the last segment, open for appending
        self._size = 0  # logical size of the last segment (written + buffered)
        self._buffer = bytearray()
        self._needs_sync = False
        self._dir_dirty = False
        self._bytes = 0  # sum of command sizes held in memory
        self._closed = False

        meta = self._read_meta()
        self._term = int(meta.get("term", 0))
        self._voted_for: str | None = meta.get("voted_for")
        self._first_index = int(meta.get("first_index", 0))
        self._commit_fd: int | None = None
        self._commit = self._read_commit()
        self._commit_written = self._commit
        self._load()

    # ---- pysyncobj's Journal interface -------------------------------------

    @_fatal_io
    def add(self, command: bytes, idx: int, term: int) -> None:
        if isinstance(command, str):  # pysyncobj's own FileJournal accepts str too
            command = command.encode()
        if self._ghosts:
            entry, offset = self._ghosts[0]
            if entry == (command, idx, term):
                # pysyncobj re-adds what it just deleted (a resent batch): keep the
                # bytes already on disk instead of truncating and rewriting them.
                del self._ghosts[0]
                self._entries.append(entry)
                self._offsets.append(offset)
                self._bytes += len(command)
                return
            self._truncate_ghosts()
        if self._entries:
            last_index, last_term = self._entries[-1][1], self._entries[-1][2]
            if idx != last_index + 1 or term < last_term:
                halt(
                    EXIT_JOURNAL_FAILED,
                    f"journal append out of order: ({idx}, {term}) after ({last_index}, {last_term})",
                )
        elif self._segments:
            # No live entry: whatever is on disk is compacted or truncated away.
            # Start over at `idx` so the files never hold a gap.
            self.clear()
        if self._fd is None or self._size >= self._segment_bytes:
            self._roll(idx)
        record = encode_record(command, idx, term)
        self._entries.append((command, idx, term))
        self._offsets.append(self._size)
        self._buffer += record
        self._size += len(record)
        self._bytes += len(command)
        self._needs_sync = True
        if len(self._buffer) >= _WRITE_THROUGH_BYTES:
            self._write_buffer()

    @_fatal_io
    def clear(self) -> None:
        self._first_index = 0
        self._write_meta()
        self._buffer.clear()
        self._ghosts.clear()
        self._close_fd()
        for seg in self._segments:
            self._unlink(seg.path)
        self._segments.clear()
        self._firsts.clear()
        self._entries.clear()
        self._offsets = array("q")
        self._size = 0
        self._bytes = 0
        self._needs_sync = False

    @_fatal_io
    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802 - pysyncobj's name
        """Drop the entries at positions >= `entryFrom`.

        pysyncobj calls this whenever an append_entries starts before our last
        entry, also when what follows is identical (a resent batch). So the
        dropped entries stay on disk as "ghosts" until an add shows that they
        really conflict: truncating first and rewriting later would leave a
        window in which a crash loses entries this node already acknowledged.
        """
        if entryFrom >= len(self._entries):
            return
        entryFrom = max(entryFrom, 0)
        self._write_buffer()
        index = self._entries[entryFrom][1]
        offset = self._offsets[entryFrom]
        pos = bisect.bisect_right(self._firsts, index) - 1
        dropped = self._entries[entryFrom:]
        self._bytes -= sum(len(e[0]) for e in dropped)
        if pos == len(self._segments) - 1:
            self._ghosts[:0] = zip(dropped, self._offsets[entryFrom:], strict=True)
            del self._entries[entryFrom:]
            del self._offsets[entryFrom:]
            return
        # The suffix starts in an older segment (rare): truncate right away.
        self._ghosts.clear()
        if pos < len(self._segments) - 1:
            self._close_fd()
            for seg in self._segments[pos + 1 :]:
                self._unlink(seg.path)
            del self._segments[pos + 1 :]
            del self._firsts[pos + 1 :]
            self._fd = os.open(self._segments[pos].path, os.O_WRONLY | os.O_APPEND)
        assert self._fd is not None
        os.ftruncate(self._fd, offset)
        self._size = offset
        del self._entries[entryFrom:]
        del self._offsets[entryFrom:]
        self._needs_sync = True

    def _truncate_ghosts(self) -> None:
        """A conflicting entry arrives: now the ghosts really go."""
        assert self._fd is not None and not self._buffer
        offset = self._ghosts[0][1]
        os.ftruncate(self._fd, offset)
        self._size = offset
        self._ghosts.clear()
        self._needs_sync = True

    @_fatal_io
    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802 - pysyncobj's name
        """Drop the entries at positions < `entryTo` (they are covered by a snapshot)."""
        if entryTo <= 0:
            return
        entryTo = min(entryTo, len(self._entries))
        self._bytes -= sum(len(e[0]) for e in self._entries[:entryTo])
        new_first = (
            self._entries[entryTo][1] if entryTo < len(self._entries) else self.last_index() + 1
        )
        del self._entries[:entryTo]
        del self._offsets[:entryTo]
        self._first_index = new_first
        self._write_meta()
        # A segment can go when the next one starts at or before the new first index.
        drop = bisect.bisect_right(self._firsts, new_first) - 1
        if drop > 0:
            for seg in self._segments[:drop]:
                self._unlink(seg.path)
            del self._segments[:drop]
            del self._firsts[:drop]

    def __getitem__(self, item):  # type: ignore[no-untyped-def]
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.close()

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803
        self._commit = raftCommitIndex

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        if self._entries:
            return max(1, min(self._commit, self._entries[-1][1]))
        return max(1, self._commit)

    @_fatal_io
    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:  # noqa: N802, N803
        """Durable before returning: pysyncobj sends the vote right after this call."""
        self._term = term
        self._voted_for = None if votedForNodeId is None else str(votedForNodeId)
        self._write_meta()

    def getCurrentTerm(self) -> int:  # noqa: N802
        return self._term

    def getVotedForNodeId(self) -> str | None:  # noqa: N802
        return self._voted_for

    @_fatal_io
    def onOneSecondTimer(self) -> None:  # noqa: N802
        self._write_commit()

    # ---- ours --------------------------------------------------------------

    @_fatal_io
    def flush(self) -> None:
        """Make every added entry durable (one write + one fdatasync if anything is new)."""
        if self._closed:
            return
        self._write_buffer()
        if self._needs_sync:
            if self._fsync and self._fd is not None:
                os.fdatasync(self._fd)
            self._needs_sync = False
        if self._dir_dirty:
            if self._fsync:
                _fsync_dir(self._dir)
            self._dir_dirty = False

    @property
    def dirty(self) -> bool:
        return self._needs_sync or bool(self._buffer) or self._dir_dirty

    def first_index(self) -> int:
        return self._entries[0][1] if self._entries else 0

    def last_index(self) -> int:
        return self._entries[-1][1] if self._entries else 0

    def bytes_size(self) -> int:
        return self._bytes

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._write_buffer()
            if self._fsync and self._fd is not None and self._needs_sync:
                os.fdatasync(self._fd)
            self._write_commit(sync=True)
        finally:
            self._close_fd()
            if self._commit_fd is not None:
                os.close(self._commit_fd)
                self._commit_fd = None
            self._closed = True

    # ---- internals ---------------------------------------------------------

    def _segment_path(self, first_index: int) -> str:
        return os.path.join(self._dir, f"{first_index:020d}{_SUFFIX}")

    def _roll(self, first_index: int) -> None:
        """Start a new last segment; the previous one is complete and made durable first."""
        if self._fd is not None:
            self._write_buffer()
            if self._fsync and self._needs_sync:
                os.fdatasync(self._fd)
            self._close_fd()
        path = self._segment_path(first_index)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        self._fd = fd
        self._segments.append(_Segment(first_index, path))
        self._firsts.append(first_index)
        self._buffer += _SEG_HEADER.pack(_SEG_MAGIC, _SEG_VERSION, first_index)
        self._size = _SEG_HEADER.size
        self._needs_sync = True
        self._dir_dirty = True

    def _write_buffer(self) -> None:
        if self._buffer:
            assert self._fd is not None
            _write_all(self._fd, self._buffer)
            self._buffer.clear()

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _unlink(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self._dir_dirty = True

    def _meta_path(self) -> str:
        return os.path.join(self._dir, "meta.json")

    def _read_meta(self) -> dict:  # type: ignore[type-arg]
        try:
            with open(self._meta_path(), "rb") as f:
                return json.loads(f.read())  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            # meta.json is only ever replaced atomically, so this is real corruption.
            raise StorageCorruption(f"unreadable {self._meta_path()}: {exc}") from exc

    def _write_meta(self) -> None:
        data = json.dumps(
            {"term": self._term, "voted_for": self._voted_for, "first_index": self._first_index}
        ).encode()
        tmp = self._meta_path() + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, data)
            if self._fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._meta_path())
        if self._fsync:
            _fsync_dir(self._dir)

    def _read_commit(self) -> int:
        try:
            with open(os.path.join(self._dir, "commit"), "rb") as f:
                raw = f.read(_COMMIT.size)
        except FileNotFoundError:
            return 1
        if len(raw) != _COMMIT.size:
            return 1
        value, crc = _COMMIT.unpack(raw)
        if zlib.crc32(raw[:8]) != crc:
            log.warning("commit index file is torn; starting from 1 (it is only a hint)")
            return 1
        return int(value)

    def _write_commit(self, *, sync: bool = False) -> None:
        if self._commit == self._commit_written:
            return
        raw = struct.pack("<Q", self._commit)
        if self._commit_fd is None:
            self._commit_fd = os.open(
                os.path.join(self._dir, "commit"), os.O_WRONLY | os.O_CREAT, 0o644
            )
        os.pwrite(self._commit_fd, raw + struct.pack("<I", zlib.crc32(raw)), 0)
        if sync and self._fsync:
            os.fdatasync(self._commit_fd)
        self._commit_written = self._commit

    def _load(self) -> None:
        names = sorted(n for n in os.listdir(self._dir) if n.endswith(_SUFFIX))
        for name in os.listdir(self._dir):
            if name.endswith(".tmp"):
                os.unlink(os.path.join(self._dir, name))
        expected: int | None = None
        last_term = 0
        broken = False
        for name in names:
            path = os.path.join(self._dir, name)
            if broken:
                log.warning("journal: removing %s, it follows a torn or inconsistent record", name)
                os.unlink(path)
                continue
            with open(path, "rb") as f:
                data = f.read()
            view = memoryview(data)
            if len(data) < _SEG_HEADER.size:
                log.warning("journal: removing %s, its header is torn", name)
                os.unlink(path)
                broken = True
                continue
            magic, version, first = _SEG_HEADER.unpack_from(view, 0)
            if magic != _SEG_MAGIC or version != _SEG_VERSION or name != f"{first:020d}{_SUFFIX}":
                if name != names[-1]:
                    raise StorageCorruption(f"journal segment {path} has a bad header")
                log.warning("journal: removing %s, its header is torn", name)
                os.unlink(path)
                broken = True
                continue
            if expected is not None and first != expected:
                log.warning(
                    "journal: removing %s, it does not continue the log at %d", name, expected
                )
                os.unlink(path)
                broken = True
                continue
            offset = _SEG_HEADER.size
            next_index = first
            seg_entries: list[tuple[Entry, int]] = []
            while offset < len(data):
                if offset + _RECORD.size > len(data):
                    broken = True
                    break
                length, crc, index, term = _RECORD.unpack_from(view, offset)
                end = offset + _RECORD.size + length
                if end > len(data):
                    broken = True
                    break
                payload = view[offset + _RECORD.size : end]
                if index != next_index or term < last_term or _crc(index, term, payload) != crc:
                    broken = True
                    break
                seg_entries.append(((bytes(payload), index, term), offset))
                last_term = term
                next_index = index + 1
                offset = end
            if broken:
                log.warning(
                    "journal: torn or inconsistent record in %s at offset %d; dropping the tail "
                    "(it was never fsynced, so never acknowledged)",
                    name,
                    offset,
                )
                with open(path, "r+b") as f:
                    f.truncate(offset)
                    if self._fsync:
                        os.fsync(f.fileno())
            self._segments.append(_Segment(first, path))
            self._firsts.append(first)
            for entry, off in seg_entries:
                if entry[1] >= self._first_index:
                    self._entries.append(entry)
                    self._offsets.append(off)
                    self._bytes += len(entry[0])
            self._size = offset
            expected = next_index
        # Segments entirely below the first live index are leftovers of a compaction.
        drop = bisect.bisect_right(self._firsts, self._first_index) - 1
        if drop > 0:
            for seg in self._segments[:drop]:
                self._unlink(seg.path)
            del self._segments[:drop]
            del self._firsts[:drop]
        if self._segments:
            self._fd = os.open(self._segments[-1].path, os.O_WRONLY | os.O_APPEND)
        if self._fsync and (broken or self._dir_dirty):
            _fsync_dir(self._dir)
        self._dir_dirty = False
