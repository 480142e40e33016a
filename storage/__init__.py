"""Storage: an ordered key-value engine (RocksDB or in-memory), an order-preserving
key encoding, and MVCC on top. Knows nothing about SQL or Raft."""

from __future__ import annotations

from . import errors, keycode
from .engine import Batch, KVEngine, KVSnapshot
from .memory import MemoryEngine
from .mvcc import MVCC, TS_MAX, ApplyOutcome, ReadRange, Write, WriteSet
from .rocks import RocksEngine

__all__ = [
    "errors",
    "keycode",
    "Batch",
    "KVEngine",
    "KVSnapshot",
    "MemoryEngine",
    "RocksEngine",
    "MVCC",
    "TS_MAX",
    "ApplyOutcome",
    "ReadRange",
    "Write",
    "WriteSet",
]
