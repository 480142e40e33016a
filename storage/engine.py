"""The key-value engine interface that MVCC is built on.

An engine is an ordered map from bytes to bytes with three promises:

* `write(batch)` applies a whole batch atomically (all or nothing, also across
  a crash), and with ``sync=True`` it is on disk when the call returns;
* `scan(start, end)` yields keys in bytewise order within ``[start, end)``;
* `snapshot()` gives a frozen, consistent view that later writes don't change.

Two implementations: `RocksEngine` (rocksdict, production) and `MemoryEngine`
(tests). Nothing here knows about versions, SQL or Raft.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["KVRead", "KVEngine", "KVSnapshot", "Batch"]


@dataclass(slots=True)
class Batch:
    """Writes to apply atomically: a value of None deletes the key; `ranges` are
    [start, end) ranges deleted whole, before the point writes."""

    ops: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    ranges: list[tuple[bytes, bytes]] = field(default_factory=list)

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))

    def delete_range(self, start: bytes, end: bytes) -> None:
        self.ranges.append((start, end))

    def __len__(self) -> int:
        return len(self.ops)


class KVRead(Protocol):
    """Point and range reads, shared by engines and their snapshots."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]: ...

    def seek(self, key: bytes, end: bytes | None = None) -> tuple[bytes, bytes] | None:
        """The first pair with a key >= `key` (and < `end`), or None."""
        ...


class KVSnapshot(KVRead, Protocol):
    def close(self) -> None: ...


class KVEngine(KVRead, Protocol):
    def write(self, batch: Batch, *, sync: bool = False) -> None: ...

    def snapshot(self) -> KVSnapshot: ...

    def checkpoint(self, path: str) -> None:
        """Write a consistent, openable copy of the whole store to `path` (a new directory)."""
        ...

    def size_bytes(self) -> int: ...

    def flush(self) -> None:
        """Make every acknowledged write durable (fsync memtables/WAL)."""
        ...

    def close(self) -> None: ...
