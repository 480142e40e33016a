"""The narrow interface between SQL and whatever commits its writes.

SQL transactions (`sql/txn.py`) buffer their writes and read from the local
MVCC replica; an `Engine` only decides two things:

* `read_ts(consistency)`: the timestamp at which this node may serve a read
  now, or an error if it may not (a follower asked for a linearizable read, a
  leader whose lease has lapsed);
* `commit(command)`: make a command durable and applied, returning its
  commit timestamp, or raise (40001 when validation failed on apply, 08007
  when the outcome is unknown).

Two implementations: `LocalEngine` (one process, straight onto MVCC) and
`RaftEngine` (`sql/engine/raft.py`, the only SQL module that talks to Raft).
The same SQL tests run on both.
"""

from __future__ import annotations

import enum
from typing import Protocol

from quorumdb.storage.mvcc import MVCC

from .commands import Command, CommandResult

__all__ = ["Engine", "Isolation", "ReadConsistency", "Command", "CommandResult"]


class Isolation(enum.Enum):
    READ_COMMITTED = "read committed"
    REPEATABLE_READ = "repeatable read"
    SERIALIZABLE = "serializable"


class ReadConsistency(enum.Enum):
    LINEARIZABLE = "linearizable"  # only the leader, only while it knows it leads
    STALE = "stale"  # any replica, its own applied state


class Engine(Protocol):
    mvcc: MVCC

    def read_ts(self, consistency: ReadConsistency = ReadConsistency.LINEARIZABLE) -> int: ...

    def is_writable(self) -> bool:
        """True if this node may execute writes (it is the leader, or there is no cluster)."""
        ...

    async def commit(self, command: Command) -> CommandResult: ...
