"""Replicated commands: their wire form and the stateless processor that applies them.

A `Command` is what one transaction (or one maintenance step) asks every
replica to do; a `BatchCommand` carries the transactions of several sessions
in one Raft entry (group commit, see sql/engine/raft.py). `encode`/`decode` map it to the protobuf in
`proto/commands.proto`; `apply_command` executes it against an MVCC store at
a log index. The processor holds no state of its own, so the very same code
applies live entries, replays the journal after a restart and serves the
local (non-Raft) engine.

Outcome per command: `CommandResult(commit_ts)` on success, or a
`SerializationFailure` carried in the result (deterministic: every replica
reaches the same verdict). A batch's result has one such result per
transaction in `parts`: a transaction that fails validation fails alone. Anything else raised while applying is a bug or a
broken disk, and the caller must stop the node rather than diverge.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorumdb.proto import commands_pb2 as pb
from quorumdb.storage.errors import QuorumError, SerializationFailure
from quorumdb.storage.mvcc import MVCC, ReadRange, ReclaimRange, Write, WriteSet

__all__ = [
    "TxnCommand",
    "GCCommand",
    "BatchCommand",
    "Command",
    "CommandResult",
    "encode",
    "decode",
    "apply_command",
]


@dataclass(frozen=True, slots=True)
class TxnCommand:
    write_set: WriteSet


@dataclass(frozen=True, slots=True)
class GCCommand:
    """One incremental GC step (storage/mvcc.py `MVCC.gc`): versions below `watermark`,
    of `keys` (GC by key) or, when that is None, about `max_versions` of them from
    `start` (a sweep); plus whole ranges to reclaim."""

    watermark: int
    start: bytes = b""
    max_versions: int = 0
    reclaim: tuple[ReclaimRange, ...] = ()
    keys: tuple[bytes, ...] | None = None


@dataclass(frozen=True, slots=True)
class BatchCommand:
    """Transactions of concurrent sessions, applied in order at one log index."""

    commands: tuple[TxnCommand, ...]


Command = TxnCommand | GCCommand | BatchCommand


@dataclass(frozen=True, slots=True)
class CommandResult:
    commit_ts: int
    error: QuorumError | None = None
    parts: tuple[CommandResult, ...] = ()  # a BatchCommand's, one per transaction

    def raise_error(self) -> int:
        """Return commit_ts, or raise the deterministic error the command failed with."""
        if self.error is not None:
            raise self.error
        return self.commit_ts


def _to_pb(command: Command) -> pb.Command:
    msg = pb.Command()
    if isinstance(command, TxnCommand):
        txn = msg.txn
        txn.SetInParent()
        writes = txn.writes
        for w in command.write_set.writes:
            pw = writes.add(key=w.key)
            if w.value is None:
                pw.delete = True
            else:
                pw.value = w.value
            if w.expect_ts is not None:
                pw.check = True
                pw.expect_ts = w.expect_ts
            elif w.fresh:
                pw.fresh = True
            elif w.exact:
                pw.exact = True
                if w.expect_value is None:
                    pw.expect_absent = True
                else:
                    pw.expect_value = w.expect_value
        for r in command.write_set.reads:
            txn.reads.add(
                start=r.start, end=r.end or b"", unbounded=r.end is None, read_ts=r.read_ts
            )
    elif isinstance(command, GCCommand):
        gc = msg.gc
        gc.watermark = command.watermark
        gc.start = command.start
        gc.max_versions = command.max_versions
        for r in command.reclaim:
            gc.reclaim.add(start=r.start, end=r.end or b"", marker=r.marker)
        if command.keys is not None:
            gc.by_key = True
            gc.keys.extend(command.keys)
    elif isinstance(command, BatchCommand):
        batch = msg.batch
        batch.SetInParent()
        batch.commands.extend(_to_pb(c) for c in command.commands)
    else:  # pragma: no cover - exhaustive
        raise TypeError(f"not a command: {command!r}")
    return msg


def _from_pb(msg: pb.Command) -> Command:
    kind = msg.WhichOneof("kind")
    if kind == "txn":
        writes = tuple(
            Write(
                w.key,
                None if w.delete else w.value,
                w.expect_ts if w.check else None,
                w.fresh,
                w.exact,
                w.expect_value if w.exact and not w.expect_absent else None,
            )
            for w in msg.txn.writes
        )
        reads = tuple(
            ReadRange(r.start, None if r.unbounded else r.end, r.read_ts) for r in msg.txn.reads
        )
        return TxnCommand(WriteSet(writes, reads))
    if kind == "gc":
        gc = msg.gc
        reclaim = tuple(ReclaimRange(r.start, r.end or None, r.marker) for r in gc.reclaim)
        keys = tuple(gc.keys) if gc.by_key else None
        return GCCommand(gc.watermark, gc.start, gc.max_versions, reclaim, keys)
    if kind == "batch":
        parts = tuple(_from_pb(c) for c in msg.batch.commands)
        if not all(isinstance(c, TxnCommand) for c in parts):
            raise ValueError("a command batch holds transaction commands only")
        return BatchCommand(parts)  # type: ignore[arg-type]
    raise ValueError(f"unknown command kind {kind!r}")


def encode(command: Command) -> bytes:
    return _to_pb(command).SerializeToString()


def decode(data: bytes) -> Command:
    msg = pb.Command()
    msg.ParseFromString(data)
    return _from_pb(msg)


def apply_command(mvcc: MVCC, command: Command, index: int, *, sync: bool = False) -> CommandResult:
    """Apply one command at log `index`. Idempotent: an index <= applied_index is skipped."""
    if isinstance(command, TxnCommand):
        try:
            mvcc.apply(command.write_set, index, sync=sync)
        except SerializationFailure as exc:
            return CommandResult(index, exc)
        return CommandResult(index)
    if isinstance(command, BatchCommand):
        outcomes = mvcc.apply_many([c.write_set for c in command.commands], index, sync=sync)
        if outcomes is None:  # applied before (journal replay): nobody waits for the parts
            outcomes = [None] * len(command.commands)
        return CommandResult(index, parts=tuple(CommandResult(index, err) for err in outcomes))
    if isinstance(command, GCCommand):
        mvcc.gc(
            command.watermark,
            index,
            start=command.start,
            max_versions=command.max_versions,
            reclaim=command.reclaim,
            keys=command.keys,
        )
        return CommandResult(index)
    raise TypeError(f"not a command: {command!r}")  # pragma: no cover
