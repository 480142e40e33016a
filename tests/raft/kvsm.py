"""A small key-value `StateMachine` over storage.RocksEngine, for the Raft tests.

Commands (bytes): ``set <key> <value>`` stores a value and returns the log
index it was applied at; ``fail <reason>`` is a *deterministic* failure,
returned as a `Rejected` value on every replica; ``crash`` raises, which a
real replica must treat as fatal. Every applied entry is also recorded under
``log/<index>`` so tests can compare the exact sequence across replicas.

The database lives in ``<root>/db-<n>``; ``<root>/DB`` names the current one
(replaced atomically), which makes `restore` crash-safe: a kill -9 leaves
either the old or the new database current.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import threading
from dataclasses import dataclass

from quorumdb.storage.engine import Batch
from quorumdb.storage.rocks import RocksEngine

__all__ = ["KVStateMachine", "Rejected"]

_APPLIED = b"\x00applied"
_U64 = struct.Struct(">Q")


@dataclass(frozen=True, slots=True)
class Rejected:
    reason: str


class KVStateMachine:
    def __init__(self, root: str) -> None:
        os.makedirs(root, exist_ok=True)
        self.root = root
        self._lock = threading.Lock()
        name = self._current_name()
        for entry in os.listdir(root):
            if entry.startswith("db-") and entry != name:
                shutil.rmtree(os.path.join(root, entry), ignore_errors=True)
        self._name = name
        self._engine = RocksEngine(os.path.join(root, name))
        raw = self._engine.get(_APPLIED)
        self._applied = _U64.unpack(raw)[0] if raw else 0

    def _current_name(self) -> str:
        try:
            with open(os.path.join(self.root, "DB")) as f:
                return f.read().strip()
        except FileNotFoundError:
            return "db-0"

    # ---- StateMachine --------------------------------------------------------

    def applied_index(self) -> int:
        return self._applied

    def apply(self, index: int, command: bytes) -> object:
        verb, _, rest = command.partition(b" ")
        if verb == b"crash":
            raise RuntimeError("a non-deterministic failure")
        batch = Batch()
        batch.put(_APPLIED, _U64.pack(index))
        batch.put(b"log/" + _U64.pack(index), command)
        result: object = index
        if verb == b"set":
            key, _, value = rest.partition(b" ")
            batch.put(b"kv/" + key, value)
        elif verb == b"fail":
            result = Rejected(rest.decode())
        with self._lock:
            self._engine.write(batch)
            self._applied = index
        return result

    def snapshot(self, dir: str) -> int:
        with self._lock:  # the checkpoint and the index it is at, consistently
            self._engine.checkpoint(dir)
            return self._applied

    def restore(self, dir: str) -> None:
        number = int(self._name.split("-")[1]) + 1
        name = f"db-{number}"
        target = os.path.join(self.root, name)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(dir, target)  # the directory is ours to consume
        with self._lock:
            self._engine.close()
            tmp = os.path.join(self.root, "DB.tmp")
            with open(tmp, "w") as f:
                f.write(name)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.root, "DB"))
            old = os.path.join(self.root, self._name)
            self._name = name
            self._engine = RocksEngine(target)
            raw = self._engine.get(_APPLIED)
            self._applied = _U64.unpack(raw)[0] if raw else 0
        shutil.rmtree(old, ignore_errors=True)

    # ---- for assertions ------------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        return self._engine.get(b"kv/" + key)

    def items(self) -> dict[bytes, bytes]:
        return {k[3:]: v for k, v in self._engine.scan(b"kv/", b"kv0")}

    def log(self) -> list[tuple[int, bytes]]:
        return [(_U64.unpack(k[4:])[0], v) for k, v in self._engine.scan(b"log/", b"log0")]

    def digest(self) -> str:
        h = hashlib.sha256()
        for key, value in self._engine.scan(b"kv/", b"kv0"):
            h.update(_U64.pack(len(key)) + key + _U64.pack(len(value)) + value)
        return h.hexdigest()

    def close(self) -> None:
        self._engine.close()
