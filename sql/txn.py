"""A SQL transaction: snapshot reads from the local MVCC replica, buffered writes.

Reads happen at ``read_ts``, a timestamp the `Engine` vouches for
(`engine.read_ts()`): under READ COMMITTED every statement takes a fresh one,
under REPEATABLE READ and SERIALIZABLE the first statement's is kept for the
whole transaction. Writes are buffered here and leave the node only at
`commit`, as one `TxnCommand(WriteSet)` that `engine.commit` replicates and
applies. A transaction that wrote nothing never calls the engine.

Invariants:

* Each buffered write records ``expect_ts``, the newest version of the key
  the transaction knew when it first wrote it: the version current when it
  locked the key (`lock`), else its snapshot. Apply rejects the write set
  with 40001 if any of those keys has a newer version: first committer wins.
  Blind writes (the catalog's version token) expect nothing.
* Reads merge the buffer over MVCC (read-your-writes). `get` and `scan` show
  the state *before* the current statement (a statement never sees its own
  changes, so an UPDATE cannot revisit rows it moved); `get_latest` includes
  the current statement's writes; `get_current` reads the newest committed
  version instead of the snapshot (uniqueness and foreign-key checks, which
  PostgreSQL also runs against the latest committed state).
* Undo is a stack of frames: named SAVEPOINTs, and on top the current
  statement's frame. The first time a frame sees a key written, it remembers
  the key's previous buffer entry, so rolling a frame back restores the
  buffer exactly; releasing a frame merges it into the one below.
* Row locks (`lock`): with a lock manager, a row held by another transaction
  raises `WouldBlock`; the session rolls the statement back, awaits the
  release and runs it again on a fresh snapshot. A row that changed after
  the statement's snapshot (its holder committed before we asked) restarts
  the statement at once under READ COMMITTED and fails with 40001 under
  REPEATABLE READ and SERIALIZABLE, as in PostgreSQL. Locks are released
  when the transaction ends, after its commit is applied (but see early
  lock release below).
* Early lock release (`LockManager.hand_over`): a commit hands its locks on
  the keys it wrote to the next waiters as soon as it is queued for Raft,
  instead of after it applies. A READ COMMITTED statement that locks a row
  whose newest write is still pending restarts *speculatively*: from then on
  the transaction's statements read every pending write over their snapshot
  (`_overlay`), and each pending writer it read from becomes a dependency.
  If every key it read pending is a key it writes (`_may_pipeline`), its
  commit is proposed at once, right behind theirs in the Raft log, each such
  write expecting *exactly the value it read* (`Write.exact`): a replica
  rejects it (40001) unless the key holds that value when it applies, i.e.
  unless the dependency committed it (or the key holds that value anyway,
  which makes the read as good as a committed one). Otherwise its commit
  waits for the dependencies' outcomes - if one did not commit it fails with
  40001 - and only then proposes, expecting the versions they committed. A
  commit hands its rows over only once it no longer waits, right before it
  is queued, so whoever reads them is proposed after it. REPEATABLE
  READ and SERIALIZABLE lockers, INSERTs (`lock_current`) and NOWAIT / SKIP
  LOCKED wait for the pending writer's outcome instead, as they would for
  its lock. Rows a commit only locked, and table locks, are kept until its
  outcome, so a FOR UPDATE row cannot change before the commit that locked
  it and DDL never misses a pending row.
* SERIALIZABLE additionally records every range and key it read; apply
  rejects the commit if any of them changed after ``read_ts``.
* The write set is bounded (`max_write_bytes`, 54000 when exceeded), and so
  is everything the transaction buffers (`max_memory_bytes`: writes, the
  SERIALIZABLE read set, savepoint frames).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator

from sortedcontainers import SortedDict

from quorumdb.storage import keycode
from quorumdb.storage.errors import (
    InternalError,
    ProgramLimitExceeded,
    QuorumError,
    SerializationFailure,
    read_did_not_commit,
)
from quorumdb.storage.mvcc import ReadRange, Write, WriteSet

from .engine import Engine, Isolation, ReadConsistency
from .engine.commands import TxnCommand
from .keys import CATALOG_VERSION_KEY, INDEX, TABLE_DATA
from .locks import LockManager, LockMode, PendingCommit, WouldBlock, table_lock_key

__all__ = ["Transaction", "TxnState", "WouldBlock", "Snapshots", "LockMode"]

_ABSENT = object()  # undo entry: the key was not in the buffer before this frame
_CHECK_EVERY = 512  # rows between two `interrupt` checks in a scan
_ENTRY_OVERHEAD = 48  # bytes per buffered write beyond its key and value (tuple, dict slot)
# Early lock release: only for write sets of rows and index entries (never the
# catalog, whose readers do not go through the overlay), and not too large to copy.
_HAND_OVER_PREFIXES = (keycode.encode((TABLE_DATA,)), keycode.encode((INDEX,)))
_HAND_OVER_MAX_KEYS = 256

DEFAULT_MAX_WRITE_BYTES = 64 << 20
DEFAULT_MAX_MEMORY_BYTES = 256 << 20


class TxnState(enum.Enum):
    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"


class Snapshots:
    """The read timestamps in use on this node, so GC keeps what they can see."""

    def __init__(self) -> None:
        self._by_txn: dict[int, int] = {}

    def hold(self, txn_id: int, read_ts: int) -> None:
        self._by_txn[txn_id] = read_ts

    def drop(self, txn_id: int) -> None:
        self._by_txn.pop(txn_id, None)

    def oldest(self, default: int) -> int:
        """The oldest snapshot in use, or `default` when there is none."""
        return min(self._by_txn.values(), default=default)

    def __len__(self) -> int:
        return len(self._by_txn)


_Entry = tuple[bytes | None, int | None]  # (value or None for a delete, expect_ts or None: blind)
_FRESH = -1  # an entry's expect_ts for a blind write of a key with no version (`put(fresh=)`)


class _Frame:
    __slots__ = ("name", "undo")

    def __init__(self, name: str) -> None:
        self.name = name
        self.undo: dict[bytes, object] = {}


class Transaction:
    __slots__ = (
        "engine",
        "mvcc",
        "txn_id",
        "isolation",
        "read_only",
        "read_ts",
        "state",
        "consistency",
        "interrupt",
        "max_write_bytes",
        "max_memory_bytes",
        "_writes",
        "_undo",
        "_frames",
        "_reads",
        "_read_bytes",
        "_write_bytes",
        "_locks",
        "_locked_ts",
        "_snapshots",
        "_pinned",
        "_rows_seen",
        "_speculative",
        "_overlay",
        "_deps",
    )

    def __init__(
        self,
        engine: Engine,
        txn_id: int,
        *,
        isolation: Isolation = Isolation.READ_COMMITTED,
        read_only: bool = False,
        locks: LockManager | None = None,
        snapshots: Snapshots | None = None,
        max_write_bytes: int = DEFAULT_MAX_WRITE_BYTES,
        max_memory_bytes: int = DEFAULT_MAX_MEMORY_BYTES,
    ) -> None:
        self.engine = engine
        self.mvcc = engine.mvcc
        self.txn_id = txn_id
        self.isolation = isolation
        self.read_only = read_only
        self.read_ts = -1  # no snapshot yet
        self.state = TxnState.ACTIVE
        self.consistency = ReadConsistency.LINEARIZABLE
        # Called every few hundred rows of a scan; raises to cancel (statement_timeout).
        self.interrupt: Callable[[], None] | None = None
        self.max_write_bytes = max_write_bytes
        self.max_memory_bytes = max_memory_bytes
        self._writes: SortedDict | None = None  # key -> _Entry, created on the first write
        self._undo: dict[bytes, object] = {}  # current statement: key -> previous _Entry or _ABSENT
        self._frames: list[_Frame] = []  # named savepoints, oldest first
        self._reads: list[ReadRange] | None = [] if isolation is Isolation.SERIALIZABLE else None
        self._read_bytes = 0
        self._write_bytes = 0
        self._locks = locks
        # key -> newest version when we locked it (a pending writer: its version, once committed)
        self._locked_ts: dict[bytes, int | PendingCommit] = {}
        self._snapshots = snapshots
        self._pinned = False  # keep the snapshot registered until the end (pin_snapshot)
        self._rows_seen = 0
        self._speculative = False  # reads pending writes too (see the module docstring)
        # this statement's view of the pending writes: key -> (value, writer)
        self._overlay: dict[bytes, tuple[bytes | None, PendingCommit]] | None = None
        # pending writers read from, in order, and the keys read from each
        self._deps: dict[PendingCommit, set[bytes]] = {}

    def set_isolation(self, isolation: Isolation) -> None:
        """Change the level before the first statement (SET TRANSACTION)."""
        self.isolation = isolation
        self._reads = [] if isolation is Isolation.SERIALIZABLE else None

    # ---- statements ----------------------------------------------------------

    def begin_statement(self) -> None:
        """Start a statement: take its snapshot and open its undo frame."""
        if self.state is not TxnState.ACTIVE:
            raise InternalError(f"statement in a transaction that is {self.state.value}")
        if self.read_ts < 0 or self.isolation is Isolation.READ_COMMITTED:
            self.read_ts = self.engine.read_ts(self.consistency)
            if self._snapshots is not None:
                self._snapshots.hold(self.txn_id, self.read_ts)
        elif self.read_ts < self.mvcc.gc_watermark:
            # Only a replica's stale reads can get here: the leader never collects
            # below a snapshot it knows.
            raise QuorumError("snapshot too old", sqlstate="72000")
        if self._undo:
            self._undo = {}
        if self._speculative and self._locks is not None:
            self._overlay = self._locks.pending_writes() or None

    def release_statement(self) -> None:
        """The statement succeeded: its writes become part of the transaction."""
        if self._undo:
            if self._frames:
                _merge_undo(self._frames[-1].undo, self._undo)
            self._undo = {}
        if (
            self.isolation is Isolation.READ_COMMITTED
            and self._snapshots is not None
            and not self._pinned
        ):
            self._snapshots.drop(self.txn_id)

    def pin_snapshot(self) -> None:
        """Hold GC back at the current snapshot until the transaction ends (a DDL
        that wrote fresh storage GC must not reclaim before it commits)."""
        self._pinned = True

    def rollback_statement(self) -> None:
        """The statement failed (or must restart): undo exactly its writes."""
        self._apply_undo(self._undo)
        self._undo = {}

    # ---- savepoints ------------------------------------------------------------

    def savepoint(self, name: str) -> None:
        self._frames.append(_Frame(name))

    def _frame_index(self, name: str) -> int:
        for i in range(len(self._frames) - 1, -1, -1):
            if self._frames[i].name == name:
                return i
        raise QuorumError(f'savepoint "{name}" does not exist', sqlstate="3B001")

    def rollback_to(self, name: str) -> None:
        """ROLLBACK TO SAVEPOINT: undo everything since; the savepoint stays."""
        i = self._frame_index(name)
        self.rollback_statement()
        for frame in reversed(self._frames[i:]):
            self._apply_undo(frame.undo)
        del self._frames[i + 1 :]
        self._frames[i].undo = {}

    def release(self, name: str) -> None:
        """RELEASE SAVEPOINT: keep the changes; the savepoint and those after it go."""
        i = self._frame_index(name)
        if i > 0:
            below = self._frames[i - 1].undo
            for frame in self._frames[i:]:
                _merge_undo(below, frame.undo)
        del self._frames[i:]

    @property
    def has_savepoints(self) -> bool:
        return bool(self._frames)

    def _apply_undo(self, undo: dict[bytes, object]) -> None:
        writes = self._writes
        if writes is None or not undo:
            return
        for key, previous in undo.items():
            current = writes.get(key)
            if current is not None:
                self._write_bytes -= _entry_bytes(key, current)
            if previous is _ABSENT:
                writes.pop(key, None)
            else:
                writes[key] = previous
                self._write_bytes += _entry_bytes(key, previous)  # type: ignore[arg-type]

    # ---- reads -------------------------------------------------------------------

    def _record_read(self, start: bytes, end: bytes | None) -> None:
        reads = self._reads
        if reads is not None:
            reads.append(ReadRange(start, end, self.read_ts))
            self._read_bytes += len(start) + (len(end) if end else 0) + _ENTRY_OVERHEAD
            if self._read_bytes + self._write_bytes > self.max_memory_bytes:
                raise _memory_limit(self.max_memory_bytes)

    def get(self, key: bytes) -> bytes | None:
        """The value of `key` as the current statement sees it (None: absent)."""
        writes = self._writes
        if writes:
            entry = writes.get(key)
            if entry is not None:
                previous = self._undo.get(key, entry) if self._undo else entry
                if previous is not _ABSENT:
                    return previous[0]  # type: ignore[index, no-any-return]
        if self._overlay is not None and key in self._overlay:
            return self._read_pending(key)
        if self._reads is not None:
            self._record_read(key, key + b"\x00")
        value = self.mvcc.get(key, self.read_ts)
        self._check_snapshot()
        return value

    def get_latest(self, key: bytes) -> bytes | None:
        """Like `get`, but including the current statement's own writes."""
        writes = self._writes
        if writes:
            entry = writes.get(key)
            if entry is not None:
                return entry[0]  # type: ignore[no-any-return]
        if self._overlay is not None and key in self._overlay:
            return self._read_pending(key)
        if self._reads is not None:
            self._record_read(key, key + b"\x00")
        value = self.mvcc.get(key, self.read_ts)
        self._check_snapshot()
        return value

    def get_current(self, key: bytes) -> bytes | None:
        """Own writes (this statement's included), else the newest committed version."""
        writes = self._writes
        if writes:
            entry = writes.get(key)
            if entry is not None:
                return entry[0]  # type: ignore[no-any-return]
        if self._overlay is not None and key in self._overlay:
            return self._read_pending(key)
        if self._reads is not None:
            self._record_read(key, key + b"\x00")
        return self.mvcc.get(key, self.mvcc.applied_index)

    def scan(
        self, start: bytes, end: bytes | None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Live pairs in [start, end) in key order, as the current statement sees them."""
        if self._reads is not None:
            self._record_read(start, end)
        stored = self.mvcc.scan(start, end, self.read_ts, reverse=reverse)
        if self.consistency is ReadConsistency.STALE or not self.engine.is_writable():
            stored = self._guarded(stored)
        if self.interrupt is not None:
            stored = self._interruptible(stored)
        if self._overlay is not None:
            stored = self._over_pending(stored, start, end, reverse)
        writes = self._writes
        if not writes:
            return stored
        buffered = self._buffered(writes, start, end, reverse, self._undo)
        if not buffered:
            return stored
        return _merge(stored, buffered, reverse)

    def scan_current(self, start: bytes, end: bytes | None) -> Iterator[tuple[bytes, bytes]]:
        """Live pairs in [start, end): own writes (all of them) over the newest committed state."""
        if self._reads is not None:
            self._record_read(start, end)
        stored = self.mvcc.scan(start, end, self.mvcc.applied_index)
        if self._overlay is not None:
            stored = self._over_pending(stored, start, end, False)
        writes = self._writes
        if not writes:
            return stored
        buffered = self._buffered(writes, start, end, False, None)
        return _merge(stored, buffered, False) if buffered else stored

    def _read_pending(self, key: bytes) -> bytes | None:
        assert self._overlay is not None
        value, writer = self._overlay[key]
        self._depend(writer, key)
        return value

    def _over_pending(
        self, stored: Iterator[tuple[bytes, bytes]], start: bytes, end: bytes | None, reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """`stored` with the pending writes in [start, end) over it (each a dependency)."""
        assert self._overlay is not None
        found = sorted(
            (key, entry)
            for key, entry in self._overlay.items()
            if key >= start and (end is None or key < end)
        )
        if not found:
            return stored
        if reverse:
            found.reverse()
        for key, (_, writer) in found:
            self._depend(writer, key)
        return _merge(stored, [(key, entry[0]) for key, entry in found], reverse)

    def _depend(self, writer: PendingCommit, key: bytes) -> None:
        keys = self._deps.get(writer)
        if keys is None:
            self._deps[writer] = {key}
        else:
            keys.add(key)

    def _check_snapshot(self) -> None:
        """Fail if garbage collection may have removed versions this statement can see.

        The leader never collects below a snapshot it knows, but a replica applies
        the leader's GC steps while its own (stale-read) statements run: one
        overtaken by a watermark above its snapshot must not answer from what is
        left (found by the chaos suite: a table with its rows gone)."""
        if self.mvcc.gc_watermark > self.read_ts:
            raise QuorumError("snapshot too old", sqlstate="72000")

    def _guarded(self, pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        """`pairs`, checked against garbage collection after each one and at the end."""
        for pair in pairs:
            self._check_snapshot()
            yield pair
        self._check_snapshot()

    def _interruptible(self, pairs: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        check = self.interrupt
        for pair in pairs:
            self._rows_seen += 1
            if self._rows_seen >= _CHECK_EVERY:
                self._rows_seen = 0
                if check is not None:
                    check()
            yield pair

    @staticmethod
    def _buffered(
        writes: SortedDict,
        start: bytes,
        end: bytes | None,
        reverse: bool,
        undo: dict[bytes, object] | None,
    ) -> list[tuple[bytes, bytes | None]]:
        # A list, not a live view: the statement may write into this range while scanning.
        out: list[tuple[bytes, bytes | None]] = []
        for key in writes.irange(start, end, inclusive=(True, False), reverse=reverse):
            entry = writes[key]
            if undo:
                entry = undo.get(key, entry)
                if entry is _ABSENT:
                    continue
            out.append((key, entry[0]))
        return out

    # ---- locks -------------------------------------------------------------------

    def lock(self, key: bytes, mode: LockMode = LockMode.EXCLUSIVE) -> None:
        """Lock the row `key` as read by the current statement, before writing it.

        Raises WouldBlock (wait, or restart on a fresh snapshot) or 40001; see
        the module docstring.
        """
        locks = self._locks
        if locks is not None:
            try:
                locks.acquire(self.txn_id, key, mode)
            except WouldBlock:
                if self.isolation is Isolation.READ_COMMITTED:
                    # The holder will most likely hand the row over pending: read it so.
                    self._speculative = True
                raise
        if key in self._locked_ts or self.has_written(key):
            return
        if locks is not None and locks.has_pending:
            pending = locks.pending(key)
            if pending is not None:
                self._lock_pending(key, mode, pending[1])
                return
        latest = self.mvcc.latest_ts(key)
        if latest > self.read_ts:
            if self.isolation is Isolation.READ_COMMITTED:
                raise WouldBlock(key, None)
            raise SerializationFailure("could not serialize access due to concurrent update")
        self._locked_ts[key] = latest

    def _lock_pending(self, key: bytes, mode: LockMode, writer: PendingCommit) -> None:
        """`lock` of a row whose newest write is pending (its writer handed the lock
        over): a READ COMMITTED statement that read that write depends on it and
        expects its version; one that did not restarts reading pending writes.
        Other levels and modes wait for the writer's outcome."""
        if self.isolation is not Isolation.READ_COMMITTED or mode is not LockMode.EXCLUSIVE:
            raise WouldBlock(key, writer.waiter())
        overlay = self._overlay
        seen = overlay.get(key) if overlay is not None else None
        if seen is None or seen[1] is not writer:
            self._speculative = True
            raise WouldBlock(key, None)
        self._depend(writer, key)
        self._locked_ts[key] = writer  # resolved at commit

    def lock_current(self, key: bytes, mode: LockMode = LockMode.EXCLUSIVE) -> None:
        """Lock `key` whatever its version (INSERT, foreign-key parents): the caller
        then checks the newest committed state with `get_current`. A pending write
        of it is waited for (its outcome decides what the newest state is)."""
        locks = self._locks
        if locks is not None:
            locks.acquire(self.txn_id, key, mode)
            if locks.has_pending and key not in self._locked_ts and not self.has_written(key):
                pending = locks.pending(key)
                if pending is not None:
                    raise WouldBlock(key, pending[1].waiter())
        if key not in self._locked_ts:
            self._locked_ts[key] = self.mvcc.latest_ts(key)

    def try_lock(self, key: bytes, mode: LockMode = LockMode.EXCLUSIVE) -> bool:
        """Lock without waiting (NOWAIT, SKIP LOCKED); False if another holds it."""
        locks = self._locks
        if locks is not None:
            if locks.has_pending and locks.pending(key) is not None and not self.has_written(key):
                return False  # as good as locked until its writer's outcome
            if not locks.try_acquire(self.txn_id, key, mode):
                return False
        self.lock(key, mode)
        return True

    def lock_table(self, table_id: int, def_key: bytes, mode: LockMode = LockMode.SHARE) -> None:
        """Lock a table (SHARE: writing rows, EXCLUSIVE: DDL) and make sure its
        definition is the one the statement planned with (`def_key` unchanged
        since the snapshot, or changed only by this transaction)."""
        key = table_lock_key(table_id)
        if self._locks is not None:
            if self._locks.holds(self.txn_id, key, mode):
                return
            self._locks.acquire(self.txn_id, key, mode)
        # Every commit that changes a definition also writes the catalog version
        # (sql/ddl.py), so while that has no version newer than the snapshot, neither
        # has `def_key`: one remembered read instead of a seek per write statement.
        if (
            not self.has_written(def_key)
            and self.mvcc.latest_ts_memo(CATALOG_VERSION_KEY) > self.read_ts
            and self.mvcc.latest_ts(def_key) > self.read_ts
        ):
            if self.isolation is Isolation.READ_COMMITTED:
                raise WouldBlock(key, None)
            raise SerializationFailure("could not serialize access due to concurrent update")

    # ---- writes --------------------------------------------------------------------

    def put(self, key: bytes, value: bytes, *, blind: bool = False, fresh: bool = False) -> None:
        """Buffer a write of `key`. `blind`: commit whatever version it has by then.
        `fresh`: blind, and the caller guarantees the key has no version at all
        (a new hidden row id), so GC need not look at it (storage/mvcc.py `Write`)."""
        self._write(key, value, blind, fresh)

    def delete(self, key: bytes) -> None:
        self._write(key, None, False)

    def write_current(self, key: bytes, value: bytes | None) -> None:
        """Write (None: delete) a key that a lock this transaction holds protects, such as
        a locked row's index entries: it expects the newest version, not the snapshot's."""
        if key not in self._locked_ts and not self.has_written(key):
            pending = self._locks.pending(key) if self._locks is not None else None
            if pending is not None:
                # e.g. the index entry of a row read pending: expect its writer's version
                self._depend(pending[1], key)
                self._locked_ts[key] = pending[1]
            else:
                self._locked_ts[key] = self.mvcc.latest_ts(key)
        self._write(key, value, False)

    def _write(self, key: bytes, value: bytes | None, blind: bool, fresh: bool = False) -> None:
        writes = self._writes
        if writes is None:
            writes = self._writes = SortedDict()
        entry = writes.get(key)
        if key not in self._undo:
            self._undo[key] = _ABSENT if entry is None else entry
        if entry is not None:
            expect = entry[1]
            self._write_bytes -= _entry_bytes(key, entry)
        elif fresh:
            expect = _FRESH
        elif blind:
            expect = None
        else:
            expect = self._locked_ts.get(key, self.read_ts)
        new = (value, expect)
        writes[key] = new
        self._write_bytes += _entry_bytes(key, new)
        if self._write_bytes > self.max_write_bytes:
            raise ProgramLimitExceeded(
                f"transaction write set exceeds quorumdb.max_transaction_bytes "
                f"({self.max_write_bytes} bytes)",
                hint="Split the work into smaller transactions, or raise "
                "quorumdb.max_transaction_bytes.",
            )
        if self._write_bytes + self._read_bytes > self.max_memory_bytes:
            raise _memory_limit(self.max_memory_bytes)

    @property
    def has_writes(self) -> bool:
        return bool(self._writes)

    @property
    def write_bytes(self) -> int:
        return self._write_bytes

    def has_written(self, key: bytes) -> bool:
        return self._writes is not None and key in self._writes

    def write_set(self) -> WriteSet:
        """What `commit` would send: writes in key order, plus the read set if SERIALIZABLE."""
        writes = tuple(_write(k, v, e) for k, (v, e) in (self._writes or {}).items())
        return WriteSet(writes, tuple(self._reads) if self._reads else ())

    # ---- end -------------------------------------------------------------------------

    async def commit(self) -> int | None:
        """Commit; returns the commit timestamp, or None if there was nothing to write.

        Raises the engine's error (40001 when an expected version no longer
        holds, 08007 when the outcome is unknown); the transaction is over
        either way.
        """
        if not self._writes:
            if self._deps:
                try:
                    await self._await_deps()
                except BaseException:
                    self.rollback()
                    raise
            self.commit_read_only()
            return None
        if self.state is not TxnState.ACTIVE:
            raise InternalError(f"commit of a transaction that is {self.state.value}")
        locks = self._locks
        handed = None
        try:
            if self._deps and not self._may_pipeline():
                await self._await_deps()
            # Only now, right before it is queued: whoever reads these writes pending
            # may be proposed behind this commit, and must land after it in the log.
            if locks is not None and self._may_hand_over():
                handed = locks.hand_over(self.txn_id, {k: e[0] for k, e in self._writes.items()})
            result = await self.engine.commit(TxnCommand(self.write_set()))
            commit_ts = result.raise_error()
            self.state = TxnState.COMMITTED
            if handed is not None:
                locks.settle(handed, commit_ts)  # type: ignore[union-attr]
                handed = None
            return commit_ts
        except BaseException:
            self.state = TxnState.ROLLED_BACK
            if handed is not None:
                locks.settle(handed, None)  # type: ignore[union-attr]
            raise
        finally:
            self._finish()

    @property
    def must_commit(self) -> bool:
        """Whether ending the transaction needs `commit` (writes, or pending writes read)."""
        return bool(self._writes) or bool(self._deps)

    def _may_hand_over(self) -> bool:
        writes = self._writes
        if not writes or len(writes) > _HAND_OVER_MAX_KEYS:
            return False
        table, index = _HAND_OVER_PREFIXES
        return all(key.startswith(table) or key.startswith(index) for key in writes)

    def _may_pipeline(self) -> bool:
        """Whether this commit may be proposed before the pending commits it read from
        have an outcome: only if each key it read from one of them is a key it writes
        (`write_set` then expects exactly the value it read, so a replica rejects it
        if that commit did not write it), and none of them failed already."""
        writes = self._writes
        assert writes is not None
        for writer, keys in self._deps.items():
            if writer.settled:
                if not writer.committed:
                    return False
                continue
            for key in keys:
                entry = writes.get(key)
                if entry is None or entry[1] is not writer:  # not a write expecting it
                    return False
        return True

    async def _await_deps(self) -> None:
        """Wait for the pending writers this transaction read from; 40001 unless all committed."""
        for writer in list(self._deps):
            if not writer.settled:
                await writer.waiter()
            if not writer.committed:
                raise read_did_not_commit()

    def commit_read_only(self) -> None:
        """`commit` of a transaction that wrote nothing: nothing to replicate, so
        nothing to await (callers that know it skip the coroutine)."""
        if self.state is not TxnState.ACTIVE:
            raise InternalError(f"commit of a transaction that is {self.state.value}")
        assert not self._writes, "commit_read_only of a transaction that wrote"
        assert not self._deps, "commit_read_only of a transaction that read pending writes"
        self.state = TxnState.COMMITTED
        self._finish()

    def rollback(self) -> None:
        if self.state is TxnState.ACTIVE:
            self.state = TxnState.ROLLED_BACK
            self._finish()

    def _finish(self) -> None:
        self._writes = None
        self._undo = {}
        self._frames = []
        self._reads = None
        self._locked_ts = {}
        self._speculative = False
        self._overlay = None
        self._deps = {}
        self._write_bytes = self._read_bytes = 0
        if self._snapshots is not None:
            self._snapshots.drop(self.txn_id)
        if self._locks is not None:
            self._locks.release_all(self.txn_id)


def _entry_bytes(key: bytes, entry: _Entry) -> int:
    value = entry[0]
    return len(key) + (len(value) if value is not None else 0) + _ENTRY_OVERHEAD


def _merge_undo(below: dict[bytes, object], above: dict[bytes, object]) -> None:
    """Fold frame `above` into `below`: `below` keeps the older previous entry."""
    for key, previous in above.items():
        if key not in below:
            below[key] = previous


def _memory_limit(limit: int) -> ProgramLimitExceeded:
    return ProgramLimitExceeded(
        f"transaction buffers exceed quorumdb.max_session_bytes ({limit} bytes)",
        hint="Split the work into smaller transactions, or raise quorumdb.max_session_bytes.",
    )


def _merge(
    stored: Iterator[tuple[bytes, bytes]],
    buffered: list[tuple[bytes, bytes | None]],
    reverse: bool,
) -> Iterator[tuple[bytes, bytes]]:
    """Merge buffered writes (None = deleted) over stored pairs; both in scan order."""
    pending = iter(buffered)
    nxt = next(pending, None)
    for key, value in stored:
        while nxt is not None and (nxt[0] > key if reverse else nxt[0] < key):
            if nxt[1] is not None:
                yield nxt  # type: ignore[misc]
            nxt = next(pending, None)
        if nxt is not None and nxt[0] == key:
            if nxt[1] is not None:
                yield nxt  # type: ignore[misc]
            nxt = next(pending, None)
            continue
        yield key, value
    while nxt is not None:
        if nxt[1] is not None:
            yield nxt  # type: ignore[misc]
        nxt = next(pending, None)


def _write(key: bytes, value: bytes | None, expect: object) -> Write:
    """A buffered write as the command carries it: blind into fresh storage, expecting a
    version, or expecting a pending commit's version once known and, until then,
    exactly the value it wrote (see the module docstring)."""
    if expect == _FRESH:
        return Write(key, value, None, fresh=True)
    if type(expect) is not PendingCommit:
        return Write(key, value, expect)  # type: ignore[arg-type]
    if expect.commit_ts is not None:
        return Write(key, value, expect.commit_ts)
    return Write(key, value, None, exact=True, expect_value=expect.writes[key])
