"""The leader's in-memory lock table: row locks, table locks, waits and deadlocks.

Writers lock what they write (`Transaction.lock`): a row's key EXCLUSIVE
before UPDATE/DELETE/INSERT or SELECT ... FOR UPDATE, SHARE for FOR SHARE and
for a foreign key's parent row; a table SHARE for any write to it and
EXCLUSIVE for DDL on it. A request that conflicts with the holders raises
`WouldBlock` carrying a future; the session rolls the statement back, awaits
the future and runs the statement again (PostgreSQL's READ COMMITTED re-read,
done by restarting the statement rather than re-checking one row).

Invariants:

* Locks are only ever held by live transactions and released when the
  transaction ends (`release_all`, after its commit is applied), except
  early lock release: once a commit is decided and queued for Raft,
  `hand_over` gives its locks on the keys it wrote to the next waiters and
  records the written values as *pending* until `settle` reports the
  commit's outcome (sql/txn.py says who may read them and how a reader's
  commit then depends on it). Locks on keys it did not write (FOR UPDATE
  rows, foreign-key parents, tables) stay until the outcome.
* Waiters are served first come, first served. On release the lock is handed
  to the queue's head (and every compatible waiter behind it) before their
  futures complete, so a woken transaction finds the lock already its own
  and no herd of woken sessions races for it. A new request also queues
  behind existing waiters.
* A transaction waits for at most one lock at a time. The waits-for graph
  has an edge from each waiter to every holder and every earlier
  incompatible waiter of its lock; a request that would close a cycle fails
  at once with 40P01 (PostgreSQL's message and detail), and the others wait
  on. That is PostgreSQL's choice whenever the waits in the cycle began more
  than ``deadlock_timeout`` apart (each waiter checks once, that long after
  it began to wait; the one that closed the cycle checks last).
* `drop_all` (leadership lost) fails every waiter and forgets every lock:
  a node that no longer leads cannot commit anything its locks protect.

Single-threaded: everything runs on the asyncio loop that runs the sessions.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field

from quorumdb.storage.errors import DeadlockDetected, QuorumError

__all__ = ["LockMode", "LockManager", "PendingCommit", "WouldBlock", "table_lock_key"]


class LockMode(enum.IntEnum):
    SHARE = 1
    EXCLUSIVE = 2


class WouldBlock(Exception):
    """The statement must wait for `released` (a lock's holder ending), or, when
    `released` is None, restart at once on a fresh snapshot (the row it wanted
    changed after the statement's snapshot). Never reaches a client."""

    def __init__(self, key: bytes, released: asyncio.Future[None] | None) -> None:
        super().__init__(key)
        self.key = key
        self.released = released


def table_lock_key(table_id: int) -> bytes:
    """The lock of a whole table (not an MVCC key: catalog and data keys start with 0x10)."""
    return b"\x00T" + table_id.to_bytes(8, "big")


class PendingCommit:
    """A transaction between handing its row locks over (`LockManager.hand_over`)
    and its commit's outcome: what it wrote, and, once settled, its commit
    timestamp (None if it did not commit)."""

    __slots__ = ("owner", "writes", "commit_ts", "_done")

    def __init__(self, owner: int, writes: dict[bytes, bytes | None]) -> None:
        self.owner = owner
        self.writes = writes
        self.commit_ts: int | None = None  # None once settled: it did not commit
        self._done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def settled(self) -> bool:
        return self._done.done()

    @property
    def committed(self) -> bool:
        return self.commit_ts is not None

    def waiter(self) -> asyncio.Future[None]:
        """A future of its own that completes when the outcome is known (cancelling
        it - a lock timeout - leaves other waiters alone)."""
        future = self._done.get_loop().create_future()
        if self._done.done():
            future.set_result(None)
        else:
            self._done.add_done_callback(
                lambda _: None if future.done() else future.set_result(None)
            )
        return future

    def settle(self, commit_ts: int | None) -> None:
        self.commit_ts = commit_ts
        if not self._done.done():
            self._done.set_result(None)


@dataclass(slots=True)
class _Waiter:
    owner: int
    key: bytes
    mode: LockMode
    future: asyncio.Future[None]


@dataclass(slots=True)
class _Lock:
    holders: dict[int, LockMode] = field(default_factory=dict)
    queue: list[_Waiter] = field(default_factory=list)


def _compatible(mode: LockMode, holders: dict[int, LockMode], owner: int) -> bool:
    for holder, held in holders.items():
        if holder != owner and (mode is LockMode.EXCLUSIVE or held is LockMode.EXCLUSIVE):
            return False
    return True


class LockManager:
    """Row and table locks of the transactions running on this node (see module docstring)."""

    def __init__(self) -> None:
        self._locks: dict[bytes, _Lock] = {}
        self._held: dict[int, set[bytes]] = {}  # owner -> keys it holds
        self._waiting: dict[int, _Waiter] = {}  # owner -> its one pending request
        # key -> (value, writer): the newest write of every transaction that handed
        # its row locks over and has no outcome yet (early lock release)
        self._pending: dict[bytes, tuple[bytes | None, PendingCommit]] = {}

    # ---- queries ---------------------------------------------------------------

    def holds(self, owner: int, key: bytes, mode: LockMode = LockMode.SHARE) -> bool:
        lock = self._locks.get(key)
        held = lock.holders.get(owner) if lock is not None else None
        return held is not None and held >= mode

    def is_waiting(self, owner: int) -> bool:
        return owner in self._waiting

    def holders(self, key: bytes) -> dict[int, LockMode]:
        lock = self._locks.get(key)
        return dict(lock.holders) if lock is not None else {}

    def __len__(self) -> int:
        return len(self._locks)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def pending(self, key: bytes) -> tuple[bytes | None, PendingCommit] | None:
        """The newest uncommitted write of `key` whose writer released its lock."""
        return self._pending.get(key) if self._pending else None

    def pending_writes(self) -> dict[bytes, tuple[bytes | None, PendingCommit]]:
        """A copy of every pending write (what a speculative statement reads over its
        snapshot; see sql/txn.py)."""
        return dict(self._pending)

    # ---- acquiring ---------------------------------------------------------------

    def acquire(self, owner: int, key: bytes, mode: LockMode = LockMode.EXCLUSIVE) -> None:
        """Take `key` in `mode` for `owner`, or raise WouldBlock / DeadlockDetected."""
        lock = self._locks.get(key)
        if lock is None:
            self._locks[key] = _Lock({owner: mode})
            self._held.setdefault(owner, set()).add(key)
            return
        held = lock.holders.get(owner)
        if held is not None and held >= mode:
            return
        if _compatible(mode, lock.holders, owner) and (held is not None or not lock.queue):
            lock.holders[owner] = mode
            self._held.setdefault(owner, set()).add(key)
            return
        self._wait(owner, key, mode, lock)

    def try_acquire(self, owner: int, key: bytes, mode: LockMode = LockMode.EXCLUSIVE) -> bool:
        """Take the lock if that needs no wait (NOWAIT, SKIP LOCKED)."""
        lock = self._locks.get(key)
        if lock is None:
            self._locks[key] = _Lock({owner: mode})
            self._held.setdefault(owner, set()).add(key)
            return True
        held = lock.holders.get(owner)
        if held is not None and held >= mode:
            return True
        if _compatible(mode, lock.holders, owner) and (held is not None or not lock.queue):
            lock.holders[owner] = mode
            self._held.setdefault(owner, set()).add(key)
            return True
        return False

    def _wait(self, owner: int, key: bytes, mode: LockMode, lock: _Lock) -> None:
        if owner in self._waiting:  # pragma: no cover - a session waits for one thing
            raise RuntimeError(f"transaction {owner} is already waiting")
        loop = asyncio.get_running_loop()
        waiter = _Waiter(owner, key, mode, loop.create_future())
        lock.queue.append(waiter)
        self._waiting[owner] = waiter
        cycle = self._cycle_from(owner)
        if cycle is not None:
            self._forget_waiter(waiter)
            raise self._deadlock_error(cycle, owner)
        raise WouldBlock(key, waiter.future)

    # ---- deadlocks --------------------------------------------------------------------

    def _blockers(self, waiter: _Waiter) -> list[int]:
        lock = self._locks[waiter.key]
        out = [
            h
            for h, m in lock.holders.items()
            if h != waiter.owner and not _compatible(waiter.mode, {h: m}, waiter.owner)
        ]
        for earlier in lock.queue:
            if earlier is waiter:
                break
            if earlier.owner != waiter.owner and (
                earlier.mode is LockMode.EXCLUSIVE or waiter.mode is LockMode.EXCLUSIVE
            ):
                out.append(earlier.owner)
        return out

    def _cycle_from(self, start: int) -> list[int] | None:
        """A waits-for cycle through `start` (as the list of owners along it), if any."""
        path: list[int] = []
        on_path: set[int] = set()
        done: set[int] = set()

        def visit(owner: int) -> list[int] | None:
            waiter = self._waiting.get(owner)
            if waiter is None:
                return None
            path.append(owner)
            on_path.add(owner)
            for blocker in self._blockers(waiter):
                if blocker == start:
                    return list(path)
                if blocker not in on_path and blocker not in done:
                    found = visit(blocker)
                    if found is not None:
                        return found
            path.pop()
            on_path.discard(owner)
            done.add(owner)
            return None

        return visit(start)

    def _deadlock_error(self, cycle: list[int], victim: int) -> DeadlockDetected:
        start = cycle.index(victim)
        ordered = cycle[start:] + cycle[:start]
        lines = []
        for i, owner in enumerate(ordered):
            blocker = ordered[(i + 1) % len(ordered)]
            lines.append(
                f"Process {owner} waits for ShareLock on transaction {blocker}; "
                f"blocked by process {blocker}."
            )
        return DeadlockDetected(
            "deadlock detected", detail="\n".join(lines), hint="See server log for query details."
        )

    # ---- releasing -----------------------------------------------------------------

    def cancel_wait(self, owner: int) -> None:
        """The owner stopped waiting (timeout, cancel, session closed)."""
        waiter = self._waiting.get(owner)
        if waiter is not None:
            self._forget_waiter(waiter)
            if not waiter.future.done():
                waiter.future.cancel()

    def hand_over(self, owner: int, writes: dict[bytes, bytes | None]) -> PendingCommit:
        """Early lock release: the owner's commit is decided and queued, so its locks on
        the keys it wrote go to the next waiters now, who read the written values
        (`pending`) instead of waiting for the commit to apply. Its other locks (rows
        it only locked, tables) stay until `release_all`. `settle` the result."""
        commit = PendingCommit(owner, writes)
        pending = self._pending
        for key, value in writes.items():
            pending[key] = (value, commit)
        held = self._held.get(owner)
        if held:
            for key in [key for key in held if key in writes]:
                held.discard(key)
                lock = self._locks.get(key)
                if lock is not None:
                    lock.holders.pop(owner, None)
                    self._grant(key, lock)
        return commit

    def settle(self, commit: PendingCommit, commit_ts: int | None) -> None:
        """`commit`'s outcome is known: its writes stop being pending, and whoever
        read them or waits for them learns the outcome."""
        pending = self._pending
        for key in commit.writes:
            entry = pending.get(key)
            if entry is not None and entry[1] is commit:
                del pending[key]
        commit.settle(commit_ts)

    def release_all(self, owner: int) -> None:
        """The owner's transaction ended: drop its locks and wake whoever is next."""
        self.cancel_wait(owner)
        for key in self._held.pop(owner, ()):
            lock = self._locks.get(key)
            if lock is None:
                continue
            lock.holders.pop(owner, None)
            self._grant(key, lock)

    def drop_all(self, error: QuorumError) -> None:
        """Leadership lost: fail every waiter with `error` and forget every lock."""
        waiters = list(self._waiting.values())
        self._pending.clear()
        self._locks.clear()
        self._held.clear()
        self._waiting.clear()
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_exception(error)

    def _forget_waiter(self, waiter: _Waiter) -> None:
        self._waiting.pop(waiter.owner, None)
        lock = self._locks.get(waiter.key)
        if lock is None:
            return
        try:
            lock.queue.remove(waiter)
        except ValueError:
            pass
        self._grant(waiter.key, lock)

    def _grant(self, key: bytes, lock: _Lock) -> None:
        """Hand the lock to the head of the queue (and the compatible waiters behind it)."""
        while lock.queue:
            head = lock.queue[0]
            if not _compatible(head.mode, lock.holders, head.owner):
                break
            lock.queue.pop(0)
            self._waiting.pop(head.owner, None)
            previous = lock.holders.get(head.owner)
            if previous is None or previous < head.mode:
                lock.holders[head.owner] = head.mode
            self._held.setdefault(head.owner, set()).add(key)
            if not head.future.done():
                head.future.set_result(None)
        if not lock.holders and not lock.queue:
            del self._locks[key]
