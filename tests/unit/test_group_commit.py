"""Group commit: several transactions in one Raft entry (BatchCommand).

A transaction that fails validation fails alone and identically on every
replica; the whole batch and applied_index are written together, so a
replayed entry is skipped as a whole; RaftEngine puts the commits of one
event-loop turn into one proposal.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from types import SimpleNamespace

import pytest

from quorumdb.raft import NotLeader
from quorumdb.sql.engine.commands import (
    BatchCommand,
    CommandResult,
    TxnCommand,
    apply_command,
    decode,
    encode,
)
from quorumdb.sql.engine.raft import RaftEngine
from quorumdb.storage import MVCC, MemoryEngine, ReadRange, Write, WriteSet
from quorumdb.storage.errors import SerializationFailure


def _txn(*writes: tuple[bytes, bytes | None, int | None], reads=()) -> TxnCommand:
    return TxnCommand(WriteSet(tuple(Write(k, v, e) for k, v, e in writes), tuple(reads)))


def _replica() -> MVCC:
    mvcc = MVCC(MemoryEngine())
    mvcc.apply(WriteSet((Write(b"a", b"0", None), Write(b"b", b"0", None))), 1)
    return mvcc


def test_a_conflicting_transaction_fails_alone_and_the_others_commit():
    mvcc = _replica()
    outcomes = mvcc.apply_many(
        [
            _txn((b"a", b"1", 1)).write_set,
            _txn((b"a", b"2", 1)).write_set,  # read a at 1, but the first one wrote it
            _txn((b"b", b"3", 1)).write_set,
            _txn((b"c", b"4", None), reads=[ReadRange(b"a", b"b", 1)]).write_set,  # read a
        ],
        2,
    )
    assert outcomes is not None
    assert [type(o) for o in outcomes] == [
        type(None),
        SerializationFailure,
        type(None),
        SerializationFailure,
    ]
    assert mvcc.get(b"a", 2) == b"1" and mvcc.get(b"b", 2) == b"3"
    assert mvcc.get(b"c", 2) is None
    assert mvcc.applied_index == 2


def test_a_replayed_batch_is_skipped_whole():
    mvcc = _replica()
    batch = [_txn((b"a", b"1", 1)).write_set]
    assert mvcc.apply_many(batch, 2) == [None]
    assert mvcc.apply_many([_txn((b"a", b"9", None)).write_set], 2) is None
    assert mvcc.get(b"a", 5) == b"1"


def test_every_replica_reaches_the_same_verdicts_from_the_encoded_entry():
    command = BatchCommand((_txn((b"a", b"1", 1)), _txn((b"a", b"2", 1)), _txn((b"b", None, 1))))
    entry = encode(command)
    assert decode(entry) == command
    results = [apply_command(_replica(), decode(entry), 2) for _ in range(3)]
    verdicts = [[p.error is None for p in r.parts] for r in results]
    assert verdicts == [[True, False, True]] * 3
    assert all(r.commit_ts == 2 and len(r.parts) == 3 for r in results)


class _FakeRaft:
    """Applies each proposal at once to one replica, like a leader whose entry committed."""

    def __init__(self, mvcc: MVCC) -> None:
        self.mvcc = mvcc
        self.proposals: list[bytes] = []
        self.fail_with: Exception | None = None

    def is_leader(self) -> bool:
        return True

    def leader_address(self) -> str:
        return "me"

    def propose(self, data: bytes) -> Future[CommandResult]:
        self.proposals.append(data)
        future: Future[CommandResult] = Future()
        if self.fail_with is not None:
            future.set_exception(self.fail_with)
        else:
            future.set_result(apply_command(self.mvcc, decode(data), self.mvcc.applied_index + 1))
        return future


def _engine() -> tuple[RaftEngine, _FakeRaft]:
    mvcc = _replica()
    raft = _FakeRaft(mvcc)
    return RaftEngine(SimpleNamespace(mvcc=mvcc), raft), raft  # type: ignore[arg-type]


def test_commits_of_one_loop_turn_share_one_entry_and_fail_alone():
    engine, raft = _engine()

    async def main() -> list[CommandResult]:
        return await asyncio.gather(
            engine.commit(_txn((b"a", b"1", 1))),
            engine.commit(_txn((b"a", b"2", 1))),
            engine.commit(_txn((b"b", b"3", 1))),
        )

    results = asyncio.run(main())
    assert len(raft.proposals) == 1 and engine.batches == 1
    assert [r.error is None for r in results] == [True, False, True]
    assert isinstance(results[1].error, SerializationFailure)
    assert {r.commit_ts for r in results} == {2}


def test_a_lone_commit_is_proposed_as_a_plain_transaction():
    engine, raft = _engine()
    result = asyncio.run(engine.commit(_txn((b"a", b"1", 1))))
    assert result.error is None and engine.batches == 0
    assert isinstance(decode(raft.proposals[0]), TxnCommand)


def test_a_raft_failure_fails_every_transaction_of_the_batch():
    engine, raft = _engine()
    raft.fail_with = NotLeader(leader=None)

    async def main() -> list[object]:
        return await asyncio.gather(
            engine.commit(_txn((b"a", b"1", 1))),
            engine.commit(_txn((b"b", b"2", 1))),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert all(isinstance(r, NotLeader) for r in results)


def test_a_batch_never_nests_anything_but_transactions():
    from quorumdb.proto import commands_pb2 as pb

    msg = pb.Command()
    msg.batch.commands.add().gc.watermark = 1
    with pytest.raises(ValueError):
        decode(msg.SerializeToString())


def _exact(key: bytes, value: bytes | None, expect: bytes | None) -> Write:
    return Write(key, value, None, exact=True, expect_value=expect)


def test_an_exact_write_holds_only_while_the_newest_value_is_the_one_it_read():
    mvcc = _replica()  # a = b"0", b = b"0", c absent
    outcomes = mvcc.apply_many(
        [
            WriteSet((_exact(b"a", b"1", b"0"),)),  # read a = 0: holds
            WriteSet((_exact(b"b", b"1", b"7"),)),  # read b = 7: never committed
            WriteSet((_exact(b"c", b"1", None),)),  # read c absent: holds
            WriteSet((_exact(b"a", b"2", b"1"),)),  # pipelined behind the first, same entry
            WriteSet((_exact(b"c", b"2", b"9"),)),  # c is 1 by now, not 9
        ],
        2,
    )
    assert outcomes is not None
    assert [o is None for o in outcomes] == [True, False, True, True, False]
    assert mvcc.get(b"a", 2) == b"2" and mvcc.get(b"b", 2) == b"0" and mvcc.get(b"c", 2) == b"1"
    # in a later entry: compared with the newest version, deletions included
    mvcc.apply(WriteSet((Write(b"c", None, None),)), 3)
    mvcc.apply(WriteSet((_exact(b"c", b"3", None),)), 4)
    assert mvcc.get(b"c", 4) == b"3"
    with pytest.raises(SerializationFailure):
        mvcc.apply(WriteSet((_exact(b"a", b"3", b"1"),)), 5)


def test_exact_writes_survive_encoding_and_get_the_same_verdicts_on_every_replica():
    command = BatchCommand(
        (
            _txn((b"a", b"1", 1)),
            TxnCommand(WriteSet((_exact(b"a", b"2", b"1"), _exact(b"c", None, None)))),
            TxnCommand(WriteSet((_exact(b"b", b"5", b""),))),  # an empty value is not absent
        )
    )
    entry = encode(command)
    assert decode(entry) == command
    results = [apply_command(_replica(), decode(entry), 2) for _ in range(3)]
    assert [[p.error is None for p in r.parts] for r in results] == [[True, True, False]] * 3
