"""`RaftEngine`: commits through the Raft log; the only SQL module that talks to raft/.

Two pieces:

* `ReplicaStateMachine` is what Raft applies committed entries to: it decodes
  the command (sql/engine/commands.py) and applies it to this node's MVCC
  replica at commit_ts = the entry's log index. Deterministic failures
  (40001 on validation) travel back as values in a `CommandResult`; anything
  else raised here stops the node (raft/state.py), since the replica could
  otherwise diverge. Snapshots are RocksDB checkpoints of the `Store`.
* `RaftEngine` is the `Engine` the SQL layer sees: `commit` proposes the
  encoded command and awaits its application on this node (a majority has it
  in their journals by then); `read_ts` serves linearizable reads only while
  the leader lease holds, and stale reads from whatever this replica has
  applied.

Reads never touch the Raft log: on the fast path `read_ts` is one clock
comparison (`lease_valid`).

**Group commit.** Transaction commits issued during one turn of the event
loop (sessions whose COMMIT arrived in the same batch of socket reads) go
into ONE Raft entry, a `BatchCommand`: one proposal, one journal write, one
apply and RocksDB WriteBatch for all of them instead of one each. Nobody
waits for a batch to fill: the batch is proposed at the next turn of the
loop, so a lone commit pays nothing. Every replica validates the
transactions of a batch in order (storage/mvcc.py `apply_many`) and a
transaction that fails validation fails alone, with the same verdict on
every replica. A Raft failure (not leader, outcome unknown) fails the whole
batch, as it would each transaction alone. GC steps are never batched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from quorumdb.raft import NotLeader, RaftNode, Role, RoleChange
from quorumdb.storage.errors import ReadOnlyTransaction
from quorumdb.storage.store import Store

from . import ReadConsistency, ReadNotReady
from .commands import (
    BatchCommand,
    Command,
    CommandResult,
    TxnCommand,
    apply_command,
    decode,
    encode,
)

__all__ = ["ReplicaStateMachine", "RaftEngine"]

log = logging.getLogger(__name__)

_READ_WAIT_SECONDS = 5.0


class ReplicaStateMachine:
    """raft.StateMachine over this node's `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def applied_index(self) -> int:
        return self.store.mvcc.applied_index

    def apply(self, index: int, command: bytes) -> CommandResult:
        return apply_command(self.store.mvcc, decode(command), index)

    def snapshot(self, dir: str) -> int:
        return self.store.checkpoint(dir)

    def restore(self, dir: str) -> None:
        self.store.install(dir)


def _settle_pending(
    pending: list[tuple[TxnCommand, asyncio.Future[CommandResult]]],
    proposal: asyncio.Future[object],
) -> None:
    """Hand each session of a group commit its own outcome (or the proposal's error)."""
    futures = [future for _, future in pending]
    if proposal.cancelled():
        for future in futures:
            future.cancel()
        return
    error = proposal.exception()
    if error is not None:
        for future in futures:
            if not future.done():
                future.set_exception(error)
        return
    result = _result(proposal.result())
    parts = result.parts if len(futures) > 1 else (result,)
    for future, part in zip(futures, parts, strict=True):
        if not future.done():
            future.set_result(part)


def _result(result: object) -> CommandResult:
    if not isinstance(result, CommandResult):  # pragma: no cover - apply always returns one
        raise TypeError(f"unexpected apply result {result!r}")
    return result


class RaftEngine:
    def __init__(self, store: Store, raft: RaftNode, *, group_commit: bool = True) -> None:
        self._store = store
        self.raft = raft
        self.group_commit = group_commit
        self._pending: list[tuple[TxnCommand, asyncio.Future[CommandResult]]] = []
        self.batches = 0  # entries proposed by group commit (observable in tests)

    @property
    def mvcc(self):  # type: ignore[no-untyped-def]
        # A property, not an attribute: installing a snapshot swaps the store's engine
        # under the same MVCC object, and readers must always reach the live one.
        return self._store.mvcc

    def read_ts(self, consistency: ReadConsistency = ReadConsistency.LINEARIZABLE) -> int:
        if consistency is ReadConsistency.STALE or self.raft.lease_valid():
            return self._store.mvcc.applied_index
        if not self.raft.is_leader():
            raise NotLeader(
                "this node is not the leader and cannot serve a linearizable read",
                leader=self.raft.leader_address(),
            )
        raise ReadNotReady(self._wait_readable())

    async def _wait_readable(self) -> None:
        # Right after an election the lease is not established yet; read_index waits
        # for it and for this node to have applied everything committed before it.
        await self.raft.read_index_async(_READ_WAIT_SECONDS)

    def is_writable(self) -> bool:
        return self.raft.is_leader()

    def _check_leader(self) -> None:
        if not self.raft.is_leader():
            raise ReadOnlyTransaction(
                "cannot commit a write on a follower",
                hint=f"The leader is {self.raft.leader_address() or 'not known yet'}.",
            )

    async def commit(self, command: Command) -> CommandResult:
        self._check_leader()
        if not self.group_commit or not isinstance(command, TxnCommand):
            return _result(await self.raft.propose_async(encode(command)))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[CommandResult] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._propose_pending)
        self._pending.append((command, future))
        return await future

    def _propose_pending(self) -> None:
        """Propose everything queued during the last turn of the loop as one entry."""
        pending, self._pending = self._pending, []
        if len(pending) == 1:
            data = encode(pending[0][0])
        else:
            data = encode(BatchCommand(tuple(command for command, _ in pending)))
            self.batches += 1
        try:
            proposal = asyncio.wrap_future(self.raft.propose(data))
        except Exception as exc:  # noqa: BLE001 - handed to every waiting session
            proposal = asyncio.get_running_loop().create_future()
            proposal.set_exception(exc)
        proposal.add_done_callback(lambda done: _settle_pending(pending, done))

    def commit_now(self, command: Command) -> CommandResult:
        self._check_leader()
        return _result(self.raft.propose(encode(command)).result())

    def describe(self) -> dict[str, str]:
        raft = self.raft
        return {
            "role": raft.role().value,
            "leader": raft.leader_address() or "",
            "node": raft.address,
            "term": str(raft.term()),
            "applied_index": str(self._store.mvcc.applied_index),
        }

    def on_leadership_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` on the asyncio loop of the caller when this node stops leading."""
        loop = asyncio.get_running_loop()

        def changed(change: RoleChange) -> None:
            if change.old is Role.LEADER and change.new is not Role.LEADER:
                loop.call_soon_threadsafe(callback)

        return self.raft.on_role_change(changed)
