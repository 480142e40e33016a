"""`LocalEngine`: one process, no Raft. Commits apply straight to MVCC.

Commit timestamps come from a local counter (applied_index + 1), so the
MVCC store looks exactly as it would on a Raft replica. Used for embedded
use and by the SQL tests; the cluster uses `RaftEngine`.
"""

from __future__ import annotations

import threading

from quorumdb.storage.mvcc import MVCC

from . import ReadConsistency
from .commands import Command, CommandResult, apply_command

__all__ = ["LocalEngine"]


class LocalEngine:
    def __init__(self, mvcc: MVCC, *, sync: bool = True) -> None:
        self.mvcc = mvcc
        self._sync = sync
        self._lock = threading.Lock()

    def read_ts(self, consistency: ReadConsistency = ReadConsistency.LINEARIZABLE) -> int:
        return self.mvcc.applied_index

    def is_writable(self) -> bool:
        return True

    async def commit(self, command: Command) -> CommandResult:
        return self.commit_now(command)

    def commit_now(self, command: Command) -> CommandResult:
        with self._lock:
            return apply_command(self.mvcc, command, self.mvcc.applied_index + 1, sync=self._sync)

    def describe(self) -> dict[str, str]:
        return {
            "role": "standalone",
            "leader": "",
            "node": "",
            "term": "0",
            "applied_index": str(self.mvcc.applied_index),
        }
