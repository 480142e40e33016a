"""The interface every chaos workload implements, and what its client threads get.

A workload owns a few tables (created by `setup` on a healthy cluster),
issues one operation per `operate` call through the thread's `Client`s -
recording it in the history - reads its final state from one replica
(`final_read`, on a stale-read connection once the replicas caught up), and
checks a history (`check`, a pure function of the recorded operations, so it
also runs over a saved history).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from ..client import Client
from ..history import Op, Recorder
from ..verdict import Verdict

__all__ = ["Workload", "Worker", "ALREADY_DONE"]

# Setup is retried until the cluster answers; a retry after an unknown outcome may find
# it done: 42P07 duplicate table.
ALREADY_DONE = frozenset({"42P07"})


@dataclass(slots=True)
class Worker:
    """One client thread's tools, its recorder and rng. Three pools of connections:

    * `client`: most operations;
    * `probe`: reads right after one of this thread's writes was acknowledged
      ("read your writes" through another connection). Its connections are idle
      in between, so when the leader is paused some of them still lead to it: a
      read sent there after a write succeeded on the new leader is served - or
      refused - when the old leader resumes. Long timeouts let it wait for that.
    * `stale_client`: stale reads from any replica.
    """

    client: Client
    probe: Client
    stale_client: Client
    recorder: Recorder
    rng: random.Random

    def close(self) -> None:
        self.client.close()
        self.probe.close()
        self.stale_client.close()


class Workload(Protocol):
    name: str
    threads: int

    def setup_statements(self) -> list[str]:
        """Statements that create the workload's tables and initial rows, in order (run as
        one transaction)."""
        ...

    def operate(self, worker: Worker) -> Op | None:
        """Issue one operation (None if no connection could be made)."""
        ...

    def final_read(self, conn: psycopg.Connection[Any]) -> Any:
        """The workload's whole state as one replica has it (the value of a "final" op)."""
        ...

    def check(self, ops: list[Op]) -> Verdict: ...
