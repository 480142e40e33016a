"""A SQL transaction: snapshot reads from the local MVCC replica, buffered writes.

Reads happen at ``read_ts``, a timestamp the `Engine` vouches for
(`engine.read_ts()`): under READ COMMITTED every statement takes a fresh one,
under REPEATABLE READ and SERIALIZABLE the first statement's is kept for the
whole transaction. Writes are buffered here and leave the node only at
`commit`, as one `TxnCommand(WriteSet)` that `engine.commit` replicates and
applies. A transaction that wrote nothing never calls the engine.

Invariants:

* Each buffered write records ``expect_ts``, the snapshot at which the key
  was first written by this transaction (i.e. read by the statement that
  wrote it). Apply rejects the write set with 40001 if any of those keys has
  a newer version: first committer wins.
* Reads merge the buffer over MVCC (read-your-writes). `get` and `scan` show
  the state *before* the current statement (a statement never sees its own
  changes, so an UPDATE cannot revisit rows it moved); `get_latest` includes
  the current statement's writes (uniqueness checks).
* Every statement runs under a statement-level savepoint: the first time a
  statement touches a key, the key's previous buffer entry is remembered, so
  `rollback_statement` restores the buffer exactly. Named SAVEPOINTs will be
  a stack of these undo maps.
* SERIALIZABLE additionally records every range and key it read; apply
  rejects the commit if any of them changed after ``read_ts``.

Row locks (not enforced yet): DML calls `lock(key)` before writing a row.
With a `RowLocks` manager present, a key held by another transaction raises
`WouldBlock`; the session then rolls the statement back to its savepoint,
awaits the lock's release and runs the statement again with a fresh
snapshot (PostgreSQL's READ COMMITTED re-read). Locks are released when the
transaction ends, after its commit is applied.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Iterator
from typing import Protocol

from sortedcontainers import SortedDict

from quorumdb.storage.errors import InternalError
from quorumdb.storage.mvcc import ReadRange, Write, WriteSet

from .engine import Engine, Isolation, ReadConsistency
from .engine.commands import TxnCommand

__all__ = ["Transaction", "TxnState", "RowLocks", "WouldBlock"]

_ABSENT = object()  # undo entry: the key was not in the buffer before this statement


class WouldBlock(Exception):
    """Raised by `Transaction.lock` when another transaction holds the row lock.

    `released` completes when the holder ends; the session awaits it and
    re-runs the statement. Not a QuorumError: it never reaches a client.
    """

    def __init__(self, key: bytes, released: Awaitable[None]) -> None:
        super().__init__(key)
        self.key = key
        self.released = released


class RowLocks(Protocol):
    """The leader's in-memory row lock table (see the module docstring)."""

    def acquire(self, owner: int, key: bytes) -> None:
        """Take (or re-take) the lock on `key` for `owner`, or raise WouldBlock."""
        ...

    def release_all(self, owner: int) -> None: ...


class TxnState(enum.Enum):
    ACTIVE = "active"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"


_Entry = tuple[bytes | None, int]  # (value or None for a delete, expect_ts)


class Transaction:
    __slots__ = (
        "engine",
        "mvcc",
        "txn_id",
        "isolation",
        "read_only",
        "read_ts",
        "state",
        "_writes",
        "_undo",
        "_reads",
        "_locks",
        "consistency",
    )

    def __init__(
        self,
        engine: Engine,
        txn_id: int,
        *,
        isolation: Isolation = Isolation.READ_COMMITTED,
        read_only: bool = False,
        locks: RowLocks | None = None,
    ) -> None:
        self.engine = engine
        self.mvcc = engine.mvcc
        self.txn_id = txn_id
        self.isolation = isolation
        self.read_only = read_only
        self.read_ts = -1  # no snapshot yet
        self.state = TxnState.ACTIVE
        self._writes: SortedDict | None = None  # key -> _Entry, created on the first write
        self._undo: dict[bytes, object] = {}  # current statement: key -> previous _Entry or _ABSENT
        self._reads: list[ReadRange] | None = [] if isolation is Isolation.SERIALIZABLE else None
        self._locks = locks
        self.consistency = ReadConsistency.LINEARIZABLE

    def set_isolation(self, isolation: Isolation) -> None:
        """Change the level before the first statement (SET TRANSACTION)."""
        self.isolation = isolation
        self._reads = [] if isolation is Isolation.SERIALIZABLE else None

    # ---- statements ----------------------------------------------------------

    def begin_statement(self) -> None:
        """Start a statement: take its snapshot and open its savepoint."""
        if self.state is not TxnState.ACTIVE:
            raise InternalError(f"statement in a transaction that is {self.state.value}")
        if self.read_ts < 0 or self.isolation is Isolation.READ_COMMITTED:
            self.read_ts = self.engine.read_ts(self.consistency)
        if self._undo:
            self._undo = {}

    def release_statement(self) -> None:
        """The statement succeeded: its writes become part of the transaction."""
        if self._undo:
            self._undo = {}

    def rollback_statement(self) -> None:
        """The statement failed (or must restart): undo exactly its writes."""
        writes = self._writes
        if writes is not None:
            for key, previous in self._undo.items():
                if previous is _ABSENT:
                    del writes[key]
                else:
                    writes[key] = previous
        self._undo = {}

    # ---- reads -------------------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        """The value of `key` as the current statement sees it (None: absent)."""
        writes = self._writes
        if writes:
            entry = writes.get(key)
            if entry is not None:
                previous = self._undo.get(key, entry) if self._undo else entry
                if previous is not _ABSENT:
                    return previous[0]  # type: ignore[index, no-any-return]
        if self._reads is not None:
            self._reads.append(ReadRange(key, key + b"\x00", self.read_ts))
        return self.mvcc.get(key, self.read_ts)

    def get_latest(self, key: bytes) -> bytes | None:
        """Like `get`, but including the current statement's own writes."""
        writes = self._writes
        if writes:
            entry = writes.get(key)
            if entry is not None:
                return entry[0]  # type: ignore[no-any-return]
        if self._reads is not None:
            self._reads.append(ReadRange(key, key + b"\x00", self.read_ts))
        return self.mvcc.get(key, self.read_ts)

    def scan(
        self, start: bytes, end: bytes | None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Live pairs in [start, end) in key order, as the current statement sees them."""
        if self._reads is not None:
            self._reads.append(ReadRange(start, end, self.read_ts))
        stored = self.mvcc.scan(start, end, self.read_ts, reverse=reverse)
        writes = self._writes
        if not writes:
            return stored
        buffered = self._buffered(writes, start, end, reverse)
        if not buffered:
            return stored
        return _merge(stored, buffered, reverse)

    def _buffered(
        self, writes: SortedDict, start: bytes, end: bytes | None, reverse: bool
    ) -> list[tuple[bytes, bytes | None]]:
        # A list, not a live view: the statement may write into this range while scanning.
        undo = self._undo
        out: list[tuple[bytes, bytes | None]] = []
        for key in writes.irange(start, end, inclusive=(True, False), reverse=reverse):
            entry = writes[key]
            if undo:
                entry = undo.get(key, entry)
                if entry is _ABSENT:
                    continue
            out.append((key, entry[0]))
        return out

    # ---- writes --------------------------------------------------------------------

    def lock(self, key: bytes) -> None:
        """Lock the row `key` before writing it (may raise WouldBlock)."""
        if self._locks is not None:
            self._locks.acquire(self.txn_id, key)

    def put(self, key: bytes, value: bytes) -> None:
        self._write(key, value)

    def delete(self, key: bytes) -> None:
        self._write(key, None)

    def _write(self, key: bytes, value: bytes | None) -> None:
        writes = self._writes
        if writes is None:
            writes = self._writes = SortedDict()
        entry = writes.get(key)
        if key not in self._undo:
            self._undo[key] = _ABSENT if entry is None else entry
        writes[key] = (value, self.read_ts if entry is None else entry[1])

    @property
    def has_writes(self) -> bool:
        return bool(self._writes)

    def has_written(self, key: bytes) -> bool:
        return self._writes is not None and key in self._writes

    def write_set(self) -> WriteSet:
        """What `commit` would send: writes in key order, plus the read set if SERIALIZABLE."""
        writes = tuple(Write(k, v, e) for k, (v, e) in (self._writes or {}).items())
        return WriteSet(writes, tuple(self._reads) if self._reads else ())

    # ---- end -------------------------------------------------------------------------

    async def commit(self) -> int | None:
        """Commit; returns the commit timestamp, or None if there was nothing to write.

        Raises the engine's error (40001 when an expected version no longer
        holds, 08007 when the outcome is unknown); the transaction is over
        either way.
        """
        if self.state is not TxnState.ACTIVE:
            raise InternalError(f"commit of a transaction that is {self.state.value}")
        try:
            if not self._writes:
                self.state = TxnState.COMMITTED
                return None
            result = await self.engine.commit(TxnCommand(self.write_set()))
            commit_ts = result.raise_error()
            self.state = TxnState.COMMITTED
            return commit_ts
        except BaseException:
            self.state = TxnState.ROLLED_BACK
            raise
        finally:
            self._finish()

    def rollback(self) -> None:
        if self.state is TxnState.ACTIVE:
            self.state = TxnState.ROLLED_BACK
            self._finish()

    def _finish(self) -> None:
        self._writes = None
        self._undo = {}
        self._reads = None
        if self._locks is not None:
            self._locks.release_all(self.txn_id)


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
