"""MVCC garbage collection, driven by the leader, applied by every replica.

Old versions pile up with every UPDATE and DELETE. Once no snapshot can see
a version any more it can go, and so can the rows of dropped and truncated
tables once no snapshot can see the drop. Only the leader knows the
snapshots in use (every linearizable read and every write runs there), so
the leader decides: it proposes `GCCommand`s through the Raft log, each
carrying a *watermark* below every snapshot it knows, and every replica
applies the same step deterministically (storage/mvcc.py `MVCC.gc`).

Most steps collect by key: every replica remembers the keys written since
they were last collected (storage/mvcc.py `dirty_keys`), and a step names
up to `max_keys` of those whose last write is below the watermark, so GC
costs what was written, not the size of the store (a sweep of a 1M-row
table after each burst of writes kept half a core busy on an idle cluster).
Where that memory is incomplete (after a restart, a snapshot install, or
more keys written than it holds) the leader first sweeps the whole key
space, in steps bounded by `max_versions` from a cursor kept in the store.
Either way one GC entry never stalls the apply thread for long; reclaimed
ranges go as range deletions, whatever their size. Steps are paced
(`pacing`: the pause after a step is that many times the step's own
duration) while there is more to do, so GC takes a bounded share of the
replicas' time while statements run; otherwise GC looks again after
`interval`.

Invariants:

* watermark <= the oldest snapshot held by a transaction on this node, and
  <= applied_index: nothing a running statement can read is removed.
* Followers serving stale reads hold snapshots the leader does not know. The
  leader keeps what they may be reading for `retention` seconds: the
  watermark never passes the index the leader had applied that long ago
  (`node/server.py` uses STALE_READ_RETENTION). Without it, a follower's
  stale `SELECT` that merely overlapped the apply of the next GC step failed.
  A stale statement that still ends up below the replica's GC watermark (a
  replica lagging by more than that, a REPEATABLE READ transaction open
  longer) fails with 72000 ("snapshot too old") instead of reading a
  half-collected state.
* A reclaim range is deleted only once its marker (the catalog key the
  dropping transaction wrote) is at or below the watermark.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgpack

from quorumdb.storage import keycode
from quorumdb.storage.errors import QuorumError
from quorumdb.storage.mvcc import ReclaimRange

from . import keys
from .engine.commands import CommandResult, GCCommand

if TYPE_CHECKING:
    from .session import Database

__all__ = ["GarbageCollector", "GcStats"]

log = logging.getLogger(__name__)

# A step is applied inline on every replica's Raft thread, so commits queue behind
# it: 500 versions keep that stall to a few ms (2000 cost ~10 ms under TPC-B); the
# share of time GC takes is set by the pacing, not by the step size.
DEFAULT_MAX_VERSIONS = 500
DEFAULT_MAX_KEYS = 200  # keys per step by key: a seek and a few deletions each
DEFAULT_INTERVAL = 1.0
DEFAULT_PACING = 3.0  # pause = 3 x step duration: GC uses at most about a quarter
# How long versions stay for followers' stale reads (seconds; see the invariants).
STALE_READ_RETENTION = 5.0


@dataclass(slots=True)
class GcStats:
    steps: int = 0
    sweeps: int = 0  # full sweeps completed
    keys: int = 0  # keys named by steps by key
    removed_ranges: int = 0


class GarbageCollector:
    """Proposes GC steps for one node's `Database` while the node leads."""

    def __init__(
        self,
        db: Database,
        *,
        max_versions: int = DEFAULT_MAX_VERSIONS,
        max_keys: int = DEFAULT_MAX_KEYS,
        interval: float = DEFAULT_INTERVAL,
        pacing: float = DEFAULT_PACING,
        retention: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.max_versions = max_versions
        self.max_keys = max_keys
        self.interval = interval
        self.pacing = pacing
        self.retention = retention
        self._clock = clock
        self._history: deque[tuple[float, int]] = deque()  # (time, applied_index) seen
        self.stats = GcStats()
        self._sweep_requested = False  # run_until_done: sweep everything once
        self._more = False  # the last step left work it could have done

    @property
    def mvcc(self):  # type: ignore[no-untyped-def]
        return self.db.engine.mvcc

    def watermark(self) -> int:
        """The newest timestamp below every snapshot in use on this node and every
        state a replica may still be reading (`retention` seconds back)."""
        mvcc = self.mvcc
        applied = mvcc.applied_index
        newest = min(self.db.snapshots.oldest(applied), applied)
        if self.retention <= 0:
            return newest
        now, history = self._clock(), self._history
        if not history or history[-1][1] != applied:
            history.append((now, applied))
        horizon = now - self.retention
        while len(history) > 1 and history[1][0] <= horizon:
            history.popleft()  # the newest sample at or before the horizon stays first
        if history[0][0] > horizon:  # nothing seen that long ago: stay where GC is
            return min(newest, mvcc.gc_watermark)
        return min(newest, history[0][1])

    def reclaimable(self, watermark: int) -> tuple[ReclaimRange, ...]:
        """Dropped ranges whose drop no snapshot at or above `watermark` can miss."""
        mvcc = self.mvcc
        start, end = keycode.prefix_range(keys.RECLAIM_PREFIX)
        out = []
        for marker, value in mvcc.scan(start, end, mvcc.applied_index):
            found = mvcc.get_version(marker, mvcc.applied_index)
            if found is None or found[1] > watermark:
                continue
            prefix = msgpack.unpackb(value)
            out.append(ReclaimRange(prefix, keycode.prefix_end(prefix), marker))
        return tuple(out)

    def next_command(self) -> GCCommand | None:
        """The next step to propose, or None when there is nothing to do now."""
        mvcc = self.mvcc
        cursor = mvcc.gc_cursor
        watermark = self.watermark()
        reclaim = self.reclaimable(watermark)
        if cursor or self._sweep_requested or not mvcc.dirty_complete:
            return GCCommand(watermark, cursor, self.max_versions, reclaim)
        keys = mvcc.dirty_keys(watermark, self.max_keys)
        if not keys and not reclaim:
            return None
        return GCCommand(watermark, reclaim=reclaim, keys=tuple(keys))

    async def step(self) -> CommandResult | None:
        """Propose one step if this node may write; returns its result."""
        if not self.db.engine.is_writable():
            return None
        command = self.next_command()
        if command is None:
            self._more = False
            return None
        result = await self.db.engine.commit(command)
        self.stats.steps += 1
        self.stats.removed_ranges += len(command.reclaim)
        if command.keys is None:
            if not command.start:
                self._sweep_requested = False  # this sweep serves the request
            more = bool(self.mvcc.gc_cursor)
            self.stats.sweeps += not more
        else:
            self.stats.keys += len(command.keys)
            more = len(command.keys) >= self.max_keys
        self._more = more
        return result

    async def run_until_done(self, max_steps: int = 10_000) -> int:
        """Sweep the whole key space once and reclaim what can be: everything that
        is collectable now goes (tests). Returns the number of steps."""
        steps = 0
        self._sweep_requested = True
        while steps < max_steps:
            if await self.step() is None:
                break
            steps += 1
            if (
                not self._sweep_requested
                and not self.mvcc.gc_cursor
                and not self.reclaimable(self.watermark())
            ):
                break
        return steps

    async def run(self) -> None:
        """Forever: a step, then a paced pause while there is more to do, else `interval`."""
        while True:
            started = time.monotonic()
            try:
                result = await self.step()
            except QuorumError as exc:  # lost leadership mid-step, a conflict: try later
                log.info("gc step failed: %s", exc.message)
                result = None
            except Exception:
                log.exception("gc step failed")
                result = None
            if result is None or not self._more:
                await asyncio.sleep(self.interval)
            else:
                await asyncio.sleep(max(0.01, self.pacing * (time.monotonic() - started)))
