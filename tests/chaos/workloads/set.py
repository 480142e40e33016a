"""Set workload: unique inserts, and reads of the whole set.

``add``: ``INSERT INTO chaos_set VALUES (e)`` with e unique in the run;
``read`` (a tenth of the operations): ``SELECT e FROM chaos_set`` through
the linearizable client. At the end every replica's set is read with stale
reads once the replicas caught up. Checked by checkers/set.py.
"""

from __future__ import annotations

import itertools
from typing import Any

import psycopg

from ..checkers.set import check_set
from ..history import Op
from ..verdict import Verdict
from .base import Worker

__all__ = ["SetWorkload"]


class SetWorkload:
    name = "set"

    def __init__(self, *, threads: int = 2, read_share: float = 0.1) -> None:
        self.threads = threads
        self.read_share = read_share
        self._elements = itertools.count(1)

    def setup_statements(self) -> list[str]:
        return ["CREATE TABLE chaos_set (e INT PRIMARY KEY)"]

    def operate(self, worker: Worker) -> Op | None:
        if worker.rng.random() < self.read_share:
            return worker.client.perform(
                worker.recorder, "read", None, lambda conn, _: _elements(conn)
            )
        element = next(self._elements)
        return worker.client.perform(
            worker.recorder,
            "add",
            element,
            lambda conn, _: conn.execute(f"INSERT INTO chaos_set VALUES ({element})") and None,
        )

    def final_read(self, conn: psycopg.Connection[Any]) -> Any:
        return _elements(conn)

    def check(self, ops: list[Op]) -> Verdict:
        return check_set(ops)


def _elements(conn: psycopg.Connection[Any]) -> list[int]:
    return sorted(int(row[0]) for row in conn.execute("SELECT e FROM chaos_set").fetchall())
