"""An in-memory `KVEngine` for tests: a sorted dict guarded by a lock.

Snapshots copy the map (O(n)); fine for tests, which is all this is for.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import msgpack
from sortedcontainers import SortedDict

from .engine import Batch

__all__ = ["MemoryEngine"]


class _SortedView:
    def __init__(self, data: SortedDict) -> None:
        self._data = data

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        keys = list(self._data.irange(start, end, inclusive=(True, False), reverse=reverse))
        for key in keys:
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def seek(self, key: bytes, end: bytes | None = None) -> tuple[bytes, bytes] | None:
        for found in self._data.irange(key, end, inclusive=(True, False)):
            return found, self._data[found]
        return None


class MemorySnapshot(_SortedView):
    def close(self) -> None:
        self._data = SortedDict()


class MemoryEngine(_SortedView):
    def __init__(self) -> None:
        super().__init__(SortedDict())
        self._lock = threading.Lock()

    def write(self, batch: Batch, *, sync: bool = False) -> None:
        with self._lock:
            for start, end in batch.ranges:
                for key in list(self._data.irange(start, end, inclusive=(True, False))):
                    del self._data[key]
            for key, value in batch.ops:
                if value is None:
                    self._data.pop(key, None)
                else:
                    self._data[key] = value

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:
            keys = list(self._data.irange(start, end, inclusive=(True, False), reverse=reverse))
        for key in keys:
            value = self._data.get(key)
            if value is not None:
                yield key, value

    def snapshot(self) -> MemorySnapshot:
        with self._lock:
            return MemorySnapshot(SortedDict(self._data))

    def checkpoint(self, path: str) -> None:
        os.makedirs(path)
        with self._lock, open(os.path.join(path, "memory.msgpack"), "wb") as f:
            f.write(msgpack.packb(list(self._data.items())))

    @classmethod
    def open_checkpoint(cls, path: str) -> MemoryEngine:
        engine = cls()
        with open(os.path.join(path, "memory.msgpack"), "rb") as f:
            for key, value in msgpack.unpackb(f.read()):
                engine._data[key] = value
        return engine

    def size_bytes(self) -> int:
        return sum(len(k) + len(v) for k, v in self._data.items())

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass
