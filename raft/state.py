"""The `StateMachine` protocol: what Raft replicates into, and how a replica stops.

Raft hands every committed entry, in log order, to `apply(index, command)`.
The command is opaque bytes; the index is the entry's Raft log index, which
the layer above uses as its commit timestamp.

Contract (every replica must reach the same state from the same entries):

* `apply` is deterministic. A *deterministic* failure (the same on every
  replica, e.g. a write-set validation conflict) is returned as a value, never
  raised. Any exception escaping `apply` means this replica can no longer be
  trusted to match the others, so the process stops (`halt`) instead of
  letting pysyncobj log it and retry or skip the entry.
* `apply` is idempotent by index: entries at or below `applied_index()` are
  skipped by Raft before they reach the state machine (the journal is
  replayed from an older point after a restart), and the state machine
  persists its applied index atomically with the effects of the entry.
* `snapshot(dir)` writes a consistent copy of the state into the directory
  `dir` (which does not exist yet) and returns an index I such that the copy
  contains every entry up to I - reading the applied index *before* taking a
  RocksDB checkpoint is right. It runs in a background thread, concurrently
  with `apply`, so the Raft thread keeps heartbeating; it must not modify the
  live state.
* `restore(dir)` replaces the whole state with the snapshot in `dir`;
  afterwards `applied_index()` is the index inside it. `dir` is a clone made
  for this call: the state machine may move it into place (it is on the same
  filesystem as the Raft data directory) or leave it to be removed. It must be
  crash-safe: after a kill -9 during `restore` the state is either the old one
  or the new one.

`apply` and `restore` are only ever called from the Raft thread, never
concurrently with each other.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn, Protocol, runtime_checkable

__all__ = ["StateMachine", "halt"]

log = logging.getLogger("quorumdb.raft")


@runtime_checkable
class StateMachine(Protocol):
    def applied_index(self) -> int:
        """Index of the last entry whose effects are in the state (0 if none)."""
        ...

    def apply(self, index: int, command: bytes) -> object:
        """Apply the committed `command` at log `index`; the result goes to the proposer."""
        ...

    def snapshot(self, dir: str) -> int:
        """Write a consistent copy of the state into the new directory `dir`; return its index."""
        ...

    def restore(self, dir: str) -> None:
        """Replace the whole state with the snapshot in `dir` (copying, not moving, its files)."""
        ...


def halt(code: int, message: str) -> NoReturn:
    """Stop the process now: a replica that may have diverged must not go on.

    `os._exit` skips atexit handlers and `finally` blocks on purpose: nothing
    may run that could send another message or apply another entry.
    """
    log.critical(
        "%s -- stopping the node (exit code %d)",
        message,
        code,
        exc_info=sys.exc_info()[0] is not None,
    )
    for handler in logging.getLogger().handlers + log.handlers:
        try:
            handler.flush()
        except Exception:  # noqa: BLE001 - best effort before exiting
            pass
    try:
        sys.stderr.write(f"quorumdb.raft: {message} -- exit {code}\n")
        sys.stderr.flush()
    except Exception:  # noqa: BLE001
        pass
    os._exit(code)
