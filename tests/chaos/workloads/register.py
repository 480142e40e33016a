"""Register workload: read / write / compare-and-set on one row per key.

Rows (k, v) exist from the start with v = 0. Operations on key k:

* read: ``SELECT v FROM chaos_registers WHERE k = k``;
* write: ``UPDATE chaos_registers SET v = new WHERE k = k`` (new is unique
  in the run, so a read tells which write it saw);
* cas: ``UPDATE chaos_registers SET v = new WHERE k = k AND v = old`` - one
  row updated: it swapped; none: the value was not `old` (the model checks
  that too). `old` is the last value this thread saw on the key, so many
  swaps succeed.

Half the acknowledged writes and swaps are read back at once through the
thread's probe connections (`Worker.probe`): a deposed leader that still
served reads would answer such a read with the value before the write.

All threads work on the same key until it has seen `ops_per_key`
operations, then move on to the next, which keeps every key's history small
enough for the linearizability search (checkers/register.py) while the
threads stay concurrent on it. Reads go through the linearizable client only:
a stale or lost read anywhere is an anomaly.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

import psycopg

from ..checkers.register import check_register
from ..client import Abort
from ..history import Op
from ..verdict import Verdict
from .base import Worker

__all__ = ["RegisterWorkload"]


class RegisterWorkload:
    name = "register"

    def __init__(self, *, threads: int = 8, keys: int = 600, ops_per_key: int = 120) -> None:
        self.threads = threads
        self.keys = keys
        self.ops_per_key = ops_per_key
        self._values = itertools.count(1)
        self._lock = threading.Lock()
        self._key = 0
        self._used = 0
        self._seen: dict[tuple[int, int], int] = {}  # (thread, key) -> last value seen

    def setup_statements(self) -> list[str]:
        statements = ["CREATE TABLE chaos_registers (k INT PRIMARY KEY, v INT NOT NULL)"]
        for start in range(0, self.keys, 100):
            rows = ", ".join(f"({k}, 0)" for k in range(start, min(start + 100, self.keys)))
            statements.append(f"INSERT INTO chaos_registers VALUES {rows}")
        return statements

    def _next_key(self) -> int:
        with self._lock:
            if self._used >= self.ops_per_key and self._key + 1 < self.keys:
                self._key += 1
                self._used = 0
            self._used += 1
            return self._key

    def operate(self, worker: Worker) -> Op | None:
        key = self._next_key()
        rng = worker.rng
        process = worker.recorder.process
        roll = rng.random()
        if roll < 0.5:
            op = worker.client.perform(
                worker.recorder, "read", None, lambda conn, _: _read(conn, key), key=key
            )
            if op is not None and op.type == "ok" and op.value is not None:
                self._seen[(process, key)] = op.value
            return op
        new = next(self._values)
        if roll < 0.75:

            def write(conn: psycopg.Connection[Any], _: object) -> None:
                if (
                    conn.execute(f"UPDATE chaos_registers SET v = {new} WHERE k = {key}").rowcount
                    != 1
                ):
                    raise Abort("the row is missing")

            op = worker.client.perform(worker.recorder, "write", new, write, key=key)
        else:
            old = self._seen.get((process, key), 0)

            def cas(conn: psycopg.Connection[Any], _: object) -> bool:
                cur = conn.execute(
                    f"UPDATE chaos_registers SET v = {new} WHERE k = {key} AND v = {old}"
                )
                return cur.rowcount == 1

            op = worker.client.perform(worker.recorder, "cas", (old, new), cas, key=key)
        if op is not None and op.type == "ok" and op.value is not False:
            self._seen[(process, key)] = new
            if rng.random() < 0.5:
                # Read the write back through another connection (see Worker.probe).
                worker.probe.perform(
                    worker.recorder, "read", None, lambda conn, _: _read(conn, key), key=key
                )
        return op

    def final_read(self, conn: psycopg.Connection[Any]) -> Any:
        with self._lock:
            last = self._key
        rows = conn.execute(f"SELECT k, v FROM chaos_registers WHERE k <= {last}").fetchall()
        return {int(k): int(v) for k, v in rows}

    def check(self, ops: list[Op]) -> Verdict:
        return check_register(ops, initial=0)


def _read(conn: psycopg.Connection[Any], key: int) -> int | None:
    row = conn.execute(f"SELECT v FROM chaos_registers WHERE k = {key}").fetchone()
    return None if row is None else int(row[0])
