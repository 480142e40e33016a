"""Multi-version concurrency control over a `KVEngine`.

Every write creates a *version* of a key stamped with its commit timestamp
(``commit_ts``); a reader at ``read_ts`` sees, for each key, the newest version
with ``commit_ts <= read_ts``. In a cluster ``commit_ts`` is the Raft log index
of the transaction's entry and ``read_ts`` is an ``applied_index``, so a
snapshot is simply "the state after entry N".

Physical layout (bytes)::

    0x00 <name>                          metadata (applied_index, gc watermark)
    0x01 <escaped user key> <~commit_ts>  one version; value 0x01+row or 0x00 (deleted)

User keys are escaped (0x00 -> 0x00 0xFF, then a 0x00 0x00 terminator) so that
no user key is a prefix of another in the physical order, and the commit
timestamp is stored inverted (big-endian of 2**64-1-ts) so that the newest
version of a key comes first: a point read at ``read_ts`` is one seek.

Invariants:

* `apply` is the only writer. It validates a `WriteSet` against the latest
  versions and then writes all its versions *and* the new ``applied_index``
  in one atomic batch; when validation fails it still advances
  ``applied_index`` (so replaying the entry is a no-op) and raises
  `SerializationFailure`. The outcome depends only on the store and the
  write set, so every replica reaches the same verdict.
* Entries with an index ``<= applied_index`` were applied already; `apply`
  skips them, which makes replaying a journal after a restart harmless.
* `gc` only removes versions that no reader at ``ts >= watermark`` can see,
  and only whole user-key ranges it is told to reclaim (dropped tables).
  It is incremental: one call examines a bounded number of versions from a
  cursor and records where the next one resumes (`gc_cursor`), so a GC
  entry never holds the apply thread for long. Readers below the recorded
  watermark could miss versions: `gc_watermark` lets them fail instead.
* GC by key: every replica remembers, in memory, the keys whose last write
  may have left an older version behind (`dirty_keys`; a write that
  validated against "no version yet" cannot). A step may name such keys
  instead of sweeping a slice of the key space, so collecting costs what
  was written, not the size of the store. The memory is lost on restart,
  on a snapshot install or when it outgrows `MAX_DIRTY_KEYS`; until a full
  sweep has run since, `dirty_complete` is False.
"""

from __future__ import annotations

import hashlib
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .engine import Batch, KVEngine
from .errors import SerializationFailure, read_did_not_commit

__all__ = [
    "MVCC",
    "Write",
    "ReadRange",
    "WriteSet",
    "ApplyOutcome",
    "ReclaimRange",
    "GcOutcome",
    "TS_MAX",
]

TS_MAX = (1 << 64) - 1
_META = b"\x00"
_VERSION = b"\x01"
_APPLIED_INDEX = _META + b"applied_index"
_GC_WATERMARK = _META + b"gc_watermark"
_GC_CURSOR = _META + b"gc_cursor"
# Keys remembered for GC by key (about 100 bytes each); beyond, a full sweep is due.
MAX_DIRTY_KEYS = 100_000
_PUT = b"\x01"
_TOMBSTONE = b"\x00"
_pack_ts = struct.Struct(">Q").pack
_unpack_ts = struct.Struct(">Q").unpack


def _esc(key: bytes) -> bytes:
    return key.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


def _unesc(body: bytes) -> bytes:
    # body is the escaped key without its 0x00 0x00 terminator
    return body.replace(b"\x00\xff", b"\x00")


def _inv(ts: int) -> bytes:
    return _pack_ts(TS_MAX - ts)


def _ts_of(raw_key: bytes) -> int:
    return TS_MAX - _unpack_ts(raw_key[-8:])[0]


def _bound(key: bytes) -> bytes:
    """Physical key that sorts before every version of `key` and after every smaller key."""
    return _VERSION + key.replace(b"\x00", b"\x00\xff") + b"\x00\x00"


@dataclass(frozen=True, slots=True)
class Write:
    """Set `key` to `value` (None deletes it).

    `expect_ts` is the version the writer read: the write is only valid if the
    key has no version newer than it. None means "don't check" (blind write).
    `fresh` (with a blind write): the writer guarantees that the key has no
    version at all (a new hidden row id, fresh storage), so GC has nothing to
    look for there.
    `exact` (with expect_ts None): the write is only valid if the key's newest
    version holds exactly `expect_value` (None: no live version). A commit
    pipelined behind the pending commit it read from (sql/txn.py) knows what
    that commit wrote but not yet its version; comparing values is as
    deterministic on every replica as comparing versions.
    """

    key: bytes
    value: bytes | None
    expect_ts: int | None
    fresh: bool = False
    exact: bool = False
    expect_value: bytes | None = None


@dataclass(frozen=True, slots=True)
class ReadRange:
    """A range a SERIALIZABLE transaction read at `read_ts`: nothing in it may have changed since."""

    start: bytes
    end: bytes | None
    read_ts: int


@dataclass(frozen=True, slots=True)
class WriteSet:
    writes: tuple[Write, ...]
    reads: tuple[ReadRange, ...] = ()


@dataclass(frozen=True, slots=True)
class ReclaimRange:
    """User keys in [start, end) to delete entirely; `marker` goes with the last of them."""

    start: bytes
    end: bytes | None
    marker: bytes


@dataclass(frozen=True, slots=True)
class GcOutcome:
    removed: int  # versions deleted
    next_start: bytes  # where the next step resumes (b"": from the beginning)
    reclaimed: tuple[bytes, ...] = ()  # markers of the ranges now fully deleted


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    applied: bool  # False: skipped, index already applied
    index: int


class MVCC:
    """Versioned reads and validated writes on top of a `KVEngine`."""

    def __init__(self, engine: KVEngine) -> None:
        self.engine = engine
        raw = engine.get(_APPLIED_INDEX)
        self._applied_index = _unpack_ts(raw)[0] if raw else 0
        self._apply_lock = threading.Lock()
        self._gc_watermark = self._read_gc_watermark()
        self._latest_memo: tuple[int, dict[bytes, int]] = (-1, {})
        # key -> commit_ts of its last write, oldest first (see the invariants)
        self._dirty: dict[bytes, int] = {}
        self._dirty_complete = self._applied_index == 0
        self._sweep_floor: int | None = None  # lowest watermark of this sweep's steps

    # ---- reads -------------------------------------------------------------

    @property
    def applied_index(self) -> int:
        """The index of the last applied entry: the newest consistent read timestamp."""
        return self._applied_index

    def get(self, key: bytes, read_ts: int) -> bytes | None:
        """The value of `key` visible at `read_ts`, or None if absent or deleted."""
        found = self.get_version(key, read_ts)
        return found[0] if found else None

    def get_version(self, key: bytes, read_ts: int) -> tuple[bytes | None, int] | None:
        """(value or None if deleted, commit_ts) of the version visible at `read_ts`."""
        prefix = _bound(key)
        pair = self.engine.seek(prefix + _inv(read_ts), prefix[:-1] + b"\x01")
        if pair is None:
            return None
        raw_key, raw_value = pair
        value = raw_value[1:] if raw_value[:1] == _PUT else None
        return value, _ts_of(raw_key)

    def latest_ts(self, key: bytes) -> int:
        """commit_ts of the newest version of `key` (including a deletion), 0 if none."""
        prefix = _bound(key)
        pair = self.engine.seek(prefix, prefix[:-1] + b"\x01")
        return _ts_of(pair[0]) if pair else 0

    def latest_ts_memo(self, key: bytes) -> int:
        """`latest_ts(key)`, remembered until the next entry is applied: for a key that
        every statement asks about and that rarely changes. Never older than the
        newest version at the call (it may already count a concurrent apply)."""
        index = self._applied_index
        memo = self._latest_memo
        if memo[0] != index:
            memo = self._latest_memo = (index, {})
        found = memo[1].get(key)
        if found is None:
            found = memo[1][key] = self.latest_ts(key)
        return found

    def scan(
        self, start: bytes, end: bytes | None, read_ts: int, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        """Live (key, value) pairs visible at `read_ts` with start <= key < end, in key order."""
        lo = _bound(start)
        hi = _bound(end) if end is not None else b"\x02"
        if reverse:
            return self._scan_reverse(lo, hi, read_ts)
        return self._scan_forward(lo, hi, read_ts)

    def _scan_forward(self, lo: bytes, hi: bytes, read_ts: int) -> Iterator[tuple[bytes, bytes]]:
        decided = None
        for raw_key, raw_value in self.engine.scan(lo, hi):
            body = raw_key[1:-10]
            if body == decided:
                continue
            if _ts_of(raw_key) > read_ts:
                continue
            decided = body
            if raw_value[:1] == _PUT:
                yield _unesc(body), raw_value[1:]

    def _scan_reverse(self, lo: bytes, hi: bytes, read_ts: int) -> Iterator[tuple[bytes, bytes]]:
        # Backwards, the versions of one key arrive oldest first: keep the newest visible one.
        current = None
        best: bytes | None = None
        for raw_key, raw_value in self.engine.scan(lo, hi, reverse=True):
            body = raw_key[1:-10]
            if body != current:
                if best is not None and best[:1] == _PUT:
                    yield _unesc(current), best[1:]  # type: ignore[arg-type]
                current, best = body, None
            if _ts_of(raw_key) <= read_ts:
                best = raw_value
        if best is not None and best[:1] == _PUT:
            yield _unesc(current), best[1:]  # type: ignore[arg-type]

    def changed_since(self, start: bytes, end: bytes | None, read_ts: int) -> bytes | None:
        """The first key in [start, end) with a version newer than `read_ts`, or None."""
        lo = _bound(start)
        hi = _bound(end) if end is not None else b"\x02"
        for raw_key, _ in self.engine.scan(lo, hi):
            if _ts_of(raw_key) > read_ts:
                return _unesc(raw_key[1:-10])
        return None

    # ---- writes ------------------------------------------------------------

    def check(self, write_set: WriteSet, written: dict[bytes, bytes | None] | None = None) -> None:
        """Raise SerializationFailure if `write_set` no longer applies cleanly.

        `written`: keys (and values) written by the write sets before it in the same
        entry, which count as versions newer than anything it read.
        """
        for write in write_set.writes:
            key = write.key
            if write.expect_ts is not None:
                if (written and key in written) or self.latest_ts(key) > write.expect_ts:
                    raise SerializationFailure(
                        "could not serialize access due to concurrent update"
                    )
            elif write.exact:
                current = written[key] if written and key in written else self.get(key, TS_MAX)
                if current != write.expect_value:
                    raise read_did_not_commit()
        for read in write_set.reads:
            if self.changed_since(read.start, read.end, read.read_ts) is not None:
                raise SerializationFailure(
                    "could not serialize access due to read/write dependencies among transactions",
                    detail="Reason code: Canceled on identification as a pivot, during commit "
                    "attempt.",
                    hint="The transaction might succeed if retried.",
                )

    def apply(self, write_set: WriteSet, index: int, *, sync: bool = False) -> ApplyOutcome:
        """Validate and write `write_set` at commit_ts = `index`, advancing applied_index.

        Raises SerializationFailure (after recording `index` as applied) when an
        expected version no longer holds.
        """
        outcomes = self.apply_many((write_set,), index, sync=sync)
        if outcomes is None:
            return ApplyOutcome(False, index)
        if outcomes[0] is not None:
            raise outcomes[0]
        return ApplyOutcome(True, index)

    def apply_many(
        self, write_sets: Sequence[WriteSet], index: int, *, sync: bool = False
    ) -> list[SerializationFailure | None] | None:
        """Group commit: validate and write several write sets at commit_ts = `index`.

        Each write set is checked on its own, in order, against the store *and*
        the write sets accepted before it in this call (a key one of them wrote
        has a version at `index`, newer than anything the later one read). A
        failure fails only that write set: the outcome list holds its
        SerializationFailure, None for the others. Everything accepted, and
        `applied_index`, go in ONE engine batch, so replaying `index` after a
        crash is all or nothing (None is returned when it was applied already).
        """
        with self._apply_lock:
            if index <= self._applied_index:
                return None
            batch = Batch()
            suffix = _inv(index)
            written: dict[bytes, bytes | None] = {}
            outcomes: list[SerializationFailure | None] = []
            dirty = self._dirty
            for write_set in write_sets:
                try:
                    self._check_after(write_set, written)
                except SerializationFailure as exc:
                    outcomes.append(exc)
                    continue
                for write in write_set.writes:
                    key, value = write.key, write.value
                    batch.put(_bound(key) + suffix, _TOMBSTONE if value is None else _PUT + value)
                    written[key] = value
                    # GC by key: remember what may now shadow an older version. A write
                    # that expected version 0 found none (validation held) and a fresh one
                    # has none by construction; only their deletions leave a tombstone.
                    if value is None or not (write.expect_ts == 0 or write.fresh):
                        dirty.pop(key, None)  # re-inserted: the dict stays in commit order
                        dirty[key] = index
                outcomes.append(None)
            if len(dirty) > MAX_DIRTY_KEYS:
                dirty.clear()
                self._dirty_complete = False
            batch.put(_APPLIED_INDEX, _pack_ts(index))
            self.engine.write(batch, sync=sync)
            self._applied_index = index
            return outcomes

    def _check_after(self, write_set: WriteSet, written: dict[bytes, bytes | None]) -> None:
        """`check`, counting `written` (keys written earlier in the same entry) as changed."""
        if written:
            for read in write_set.reads:
                if any(
                    read.start <= key and (read.end is None or key < read.end) for key in written
                ):
                    raise SerializationFailure(
                        "could not serialize access due to read/write dependencies among "
                        "transactions",
                        hint="The transaction might succeed if retried.",
                    )
        self.check(write_set, written)

    def advance(self, index: int, *, sync: bool = False) -> None:
        """Record `index` as applied without writing data (no-op entries, failed validation)."""
        if index <= self._applied_index:
            return
        batch = Batch()
        batch.put(_APPLIED_INDEX, _pack_ts(index))
        self.engine.write(batch, sync=sync)
        self._applied_index = index

    # ---- garbage collection ------------------------------------------------

    def _read_gc_watermark(self) -> int:
        raw = self.engine.get(_GC_WATERMARK)
        return _unpack_ts(raw)[0] if raw else 0

    @property
    def gc_watermark(self) -> int:
        """No reader below this timestamp may rely on what it sees (versions may be gone)."""
        return self._gc_watermark

    @property
    def gc_cursor(self) -> bytes:
        """Where the next incremental `gc` step resumes (b"": the beginning)."""
        return self.engine.get(_GC_CURSOR) or b""

    @property
    def dirty_count(self) -> int:
        """How many keys wait for GC by key (`dirty_keys`)."""
        return len(self._dirty)

    @property
    def dirty_complete(self) -> bool:
        """True when `dirty_keys` names every key that may hold a collectable version
        (nothing was forgotten since the start of the last full sweep)."""
        return self._dirty_complete

    def dirty_keys(self, below: int | None = None, limit: int = 0) -> list[bytes]:
        """Keys whose older versions GC may remove, in key order: those last written
        at or below `below` (None: all of them), at most `limit` (0: no bound)."""
        with self._apply_lock:  # the apply thread changes the dict meanwhile
            return self._dirty_keys(below, limit)

    def _dirty_keys(self, below: int | None, limit: int) -> list[bytes]:
        out: list[bytes] = []
        for key, ts in self._dirty.items():
            if below is not None and ts > below:
                break  # commit order: every later key is newer still
            out.append(key)
            if len(out) == limit:
                break
        out.sort()
        return out

    def gc(
        self,
        watermark: int,
        index: int,
        *,
        start: bytes = b"",
        max_versions: int = 0,
        reclaim: tuple[ReclaimRange, ...] = (),
        keys: Sequence[bytes] | None = None,
    ) -> GcOutcome:
        """One GC step at log `index`: drop versions invisible to every reader at
        ts >= `watermark`, and delete the `reclaim` ranges.

        For each key, the newest version <= watermark is kept (unless it is a
        deletion, which is dropped too) and every older one removed. Which keys:
        with `keys` None, a slice of the key space (a sweep): at most about
        `max_versions` versions (0: no bound) are examined from `start` on, a
        key is never split between steps, and the cursor moves on. Otherwise
        exactly `keys` (GC by key), and the sweep cursor stays. Reclaim ranges
        go whole, as range deletions (cheap whatever their size).
        The outcome depends only on the store and the arguments, so every
        replica removes the same versions.
        """
        with self._apply_lock:
            if index <= self._applied_index:
                return GcOutcome(0, self.gc_cursor)
            batch = Batch()
            removed = 0
            reclaimed: list[bytes] = []
            for r in reclaim:
                # A whole range goes in O(1): one range deletion, not key by key.
                hi = _bound(r.end) if r.end is not None else b"\x02"
                batch.delete_range(_bound(r.start), hi)
                marker = _bound(r.marker)
                batch.delete_range(marker, marker[:-1] + b"\x01")
                reclaimed.append(r.marker)
            if keys is None:
                if not start:  # a sweep begins: it visits whatever was forgotten
                    self._dirty_complete = True
                    self._sweep_floor = watermark
                elif self._sweep_floor is not None:
                    self._sweep_floor = min(self._sweep_floor, watermark)
                pairs = self.engine.scan(start or _VERSION, b"\x02")
                removed, cursor = _collect(pairs, watermark, max_versions, batch)
                batch.put(_GC_CURSOR, cursor)
            else:
                cursor = self.gc_cursor
                for key in keys:
                    lo = _bound(key)
                    versions = self.engine.scan(lo, lo[:-1] + b"\x01")
                    removed += _collect(versions, watermark, 0, batch)[0]
            new_watermark = max(watermark, self._gc_watermark)
            batch.put(_GC_WATERMARK, _pack_ts(new_watermark))
            batch.put(_APPLIED_INDEX, _pack_ts(index))
            self.engine.write(batch)
            self._applied_index = index
            self._gc_watermark = new_watermark
            dirty = self._dirty
            if keys is not None:
                for key in keys:
                    if dirty.get(key, TS_MAX) <= watermark:
                        del dirty[key]  # nothing older than its last write is left
            elif not cursor and self._sweep_floor is not None:
                # A whole sweep is done: keys last written below every one of its
                # steps' watermarks need nothing more.
                for key in self._dirty_keys(self._sweep_floor, 0):
                    del dirty[key]
                self._sweep_floor = None
            return GcOutcome(removed, cursor, tuple(reclaimed))

    def count_versions(self, start: bytes = b"", end: bytes | None = None) -> int:
        """How many versions (live, shadowed or deleted) are stored for keys in [start, end)."""
        hi = _bound(end) if end is not None else b"\x02"
        return sum(1 for _ in self.engine.scan(_bound(start), hi))

    # ---- whole-store helpers ---------------------------------------------

    def digest(self) -> str:
        """SHA-256 over every stored pair: equal on replicas that applied the same entries."""
        h = hashlib.sha256()
        for key, value in self.engine.scan(b""):
            h.update(struct.pack(">II", len(key), len(value)))
            h.update(key)
            h.update(value)
        return h.hexdigest()

    def reload(self) -> None:
        """Re-read metadata after the engine's contents were replaced (snapshot install)."""
        raw = self.engine.get(_APPLIED_INDEX)
        self._applied_index = _unpack_ts(raw)[0] if raw else 0
        self._gc_watermark = self._read_gc_watermark()
        self._latest_memo = (-1, {})
        with self._apply_lock:
            self._dirty.clear()
            self._dirty_complete = False
            self._sweep_floor = None


def _collect(
    pairs: Iterator[tuple[bytes, bytes]], watermark: int, budget: int, batch: Batch
) -> tuple[int, bytes]:
    """Queue in `batch` the deletion of the versions in `pairs` (physical order) that
    no reader at ts >= `watermark` sees. With a `budget` (0: none), stop at the first
    key after that many versions were examined and return it as the cursor.
    Returns (versions removed, cursor or b"" when `pairs` ran out)."""
    removed = examined = 0
    body_seen = None
    kept_visible = False
    for raw_key, raw_value in pairs:
        body = raw_key[1:-10]
        if body != body_seen:
            if budget and examined >= budget:
                return removed, raw_key[:-8]  # the next key's first version
            body_seen, kept_visible = body, False
        examined += 1
        if _ts_of(raw_key) > watermark:
            continue
        if not kept_visible:
            kept_visible = True
            if raw_value[:1] == _PUT:
                continue
        batch.delete(raw_key)
        removed += 1
    return removed, b""
