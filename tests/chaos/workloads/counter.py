"""Counter workload: increments of a few counters while nodes restart.

``incr``: ``UPDATE chaos_counters SET n = n + 1 WHERE id = c``; ``read``:
``SELECT n FROM chaos_counters WHERE id = c`` (linearizable; half the
acknowledged increments are read back at once through the probe connections,
see `Worker.probe`). Concurrent
increments of one counter conflict (40001, a definite failure), which is
fine: what matters is that an acknowledged increment is never lost and that
no increment - acknowledged or not - is applied twice, e.g. when a restarted
node replays its journal. Checked by checkers/counter.py.
"""

from __future__ import annotations

from typing import Any

import psycopg

from ..checkers.counter import check_counter
from ..client import Abort
from ..history import Op
from ..verdict import Verdict
from .base import Worker

__all__ = ["CounterWorkload"]


class CounterWorkload:
    name = "counter"

    def __init__(self, *, threads: int = 2, counters: int = 3, read_share: float = 0.2) -> None:
        self.threads = threads
        self.counters = counters
        self.read_share = read_share

    def setup_statements(self) -> list[str]:
        rows = ", ".join(f"({c}, 0)" for c in range(self.counters))
        return [
            "CREATE TABLE chaos_counters (id INT PRIMARY KEY, n INT NOT NULL)",
            f"INSERT INTO chaos_counters VALUES {rows}",
        ]

    def operate(self, worker: Worker) -> Op | None:
        counter = worker.rng.randrange(self.counters)
        if worker.rng.random() < self.read_share:
            return worker.client.perform(
                worker.recorder, "read", None, lambda conn, _: _value(conn, counter), key=counter
            )

        def incr(conn: psycopg.Connection[Any], _: object) -> None:
            cur = conn.execute(f"UPDATE chaos_counters SET n = n + 1 WHERE id = {counter}")
            if cur.rowcount != 1:
                raise Abort("the counter row is missing")

        op = worker.client.perform(worker.recorder, "incr", None, incr, key=counter)
        if op is not None and op.type == "ok" and worker.rng.random() < 0.5:
            # Read it back through another connection (see Worker.probe).
            worker.probe.perform(
                worker.recorder, "read", None, lambda conn, _: _value(conn, counter), key=counter
            )
        return op

    def final_read(self, conn: psycopg.Connection[Any]) -> Any:
        rows = conn.execute("SELECT id, n FROM chaos_counters").fetchall()
        return {int(c): int(n) for c, n in rows}

    def check(self, ops: list[Op]) -> Verdict:
        return check_counter(ops)


def _value(conn: psycopg.Connection[Any], counter: int) -> int:
    row = conn.execute(f"SELECT n FROM chaos_counters WHERE id = {counter}").fetchone()
    if row is None:
        raise Abort("the counter row is missing")
    return int(row[0])
