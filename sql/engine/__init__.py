"""The narrow interface between SQL and whatever commits its writes.

SQL transactions (`sql/txn.py`) buffer their writes and read from the local
MVCC replica; an `Engine` only decides two things:

* `read_ts(consistency)`: the timestamp at which this node may serve a read
  now, or an error if it may not (a follower asked for a linearizable read, a
  leader whose lease has lapsed);
* `commit(command)`: make a command durable and applied, returning its
  commit timestamp, or raise (40001 when validation failed on apply, 08007
  when the outcome is unknown); `commit_now` does the same, blocking, for
  synchronous callers (sql/sequences.py).

Two implementations: `LocalEngine` (one process, straight onto MVCC) and
`RaftEngine` (`sql/engine/raft.py`, the only SQL module that talks to Raft).
The same SQL tests run on both.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable
from typing import Protocol

from quorumdb.storage.mvcc import MVCC

from .commands import Command, CommandResult

__all__ = ["Engine", "Isolation", "ReadConsistency", "ReadNotReady", "Command", "CommandResult"]


class Isolation(enum.Enum):
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"
    SERIALIZABLE = "serializable"


class ReadConsistency(enum.Enum):
    LINEARIZABLE = "linearizable"  # only the leader, only while it knows it leads
    STALE = "stale"  # any replica, its own applied state


class ReadNotReady(Exception):
    """`read_ts` cannot answer right now but will soon (a new leader's lease is not
    established yet). The session awaits `ready` and asks again; `ready` raises a
    QuorumError if the wait fails. Never reaches a client."""

    def __init__(self, ready: Awaitable[None]) -> None:
        super().__init__("read timestamp not ready")
        self.ready = ready


class Engine(Protocol):
    mvcc: MVCC

    def read_ts(self, consistency: ReadConsistency = ReadConsistency.LINEARIZABLE) -> int:
        """A timestamp this node may serve reads at now; raises `ReadNotReady` to make the
        caller wait, or a QuorumError if it cannot serve reads at this consistency."""
        ...

    def is_writable(self) -> bool:
        """True if this node may execute writes (it is the leader, or there is no cluster)."""
        ...

    async def commit(self, command: Command) -> CommandResult: ...

    def commit_now(self, command: Command) -> CommandResult:
        """`commit`, blocking the calling thread until it is applied: for the rare
        non-transactional writes made from synchronous code (sequence blocks)."""
        ...

    def describe(self) -> dict[str, str]:
        """This node's place in the cluster, for `SHOW quorumdb.<name>`: role, leader,
        node (address), term, applied_index."""
        ...
