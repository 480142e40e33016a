"""SQL transactions: snapshots, read-your-writes, savepoints, row locks, commit."""

from __future__ import annotations

import asyncio

import pytest

from quorumdb.sql.engine import Isolation
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import ProgramLimitExceeded, QuorumError, SerializationFailure
from quorumdb.sql.locks import LockManager, LockMode, WouldBlock
from quorumdb.sql.txn import Transaction, TxnState
from quorumdb.storage import MVCC, MemoryEngine, Write, WriteSet


class CountingEngine(LocalEngine):
    def __init__(self) -> None:
        super().__init__(MVCC(MemoryEngine()), sync=False)
        self.commits = 0

    async def commit(self, command):  # type: ignore[no-untyped-def]
        self.commits += 1
        return await super().commit(command)


@pytest.fixture
def engine() -> CountingEngine:
    e = CountingEngine()
    e.mvcc.apply(WriteSet((Write(b"a", b"1", None), Write(b"c", b"3", None))), 1)
    return e


def txn(engine: CountingEngine, **kwargs) -> Transaction:  # type: ignore[no-untyped-def]
    t = Transaction(engine, 1, **kwargs)
    t.begin_statement()
    return t


def test_reads_merge_buffered_writes_over_the_snapshot(engine: CountingEngine) -> None:
    t = txn(engine)
    t.put(b"b", b"2")
    t.delete(b"c")
    t.put(b"a", b"one")
    t.release_statement()
    t.begin_statement()
    assert t.get(b"a") == b"one" and t.get(b"c") is None and t.get(b"b") == b"2"
    assert list(t.scan(b"", None)) == [(b"a", b"one"), (b"b", b"2")]
    assert list(t.scan(b"", None, reverse=True)) == [(b"b", b"2"), (b"a", b"one")]
    assert list(t.scan(b"b", b"z")) == [(b"b", b"2")]


def test_a_statement_does_not_see_its_own_writes_until_it_ends(engine: CountingEngine) -> None:
    t = txn(engine)
    t.put(b"b", b"2")
    t.delete(b"a")
    assert t.get(b"b") is None and t.get_latest(b"b") == b"2"
    assert t.get(b"a") == b"1" and t.get_latest(b"a") is None
    assert list(t.scan(b"", None)) == [(b"a", b"1"), (b"c", b"3")]
    t.release_statement()
    t.begin_statement()
    assert list(t.scan(b"", None)) == [(b"b", b"2"), (b"c", b"3")]


def test_rollback_statement_restores_the_buffer_exactly(engine: CountingEngine) -> None:
    t = txn(engine)
    t.put(b"a", b"first")
    t.release_statement()
    t.begin_statement()
    t.put(b"a", b"second")
    t.put(b"new", b"x")
    t.delete(b"c")
    t.rollback_statement()
    t.begin_statement()
    assert t.get(b"a") == b"first" and t.get(b"new") is None and t.get(b"c") == b"3"
    assert [w.key for w in t.write_set().writes] == [b"a"]


def test_expect_ts_is_the_snapshot_of_the_first_write(engine: CountingEngine) -> None:
    t = txn(engine)
    t.put(b"a", b"x")
    t.release_statement()
    engine.mvcc.apply(WriteSet((Write(b"z", b"", None),)), 2)  # another commit moves read_ts on
    t.begin_statement()
    assert t.read_ts == 2
    t.put(b"a", b"y")
    t.put(b"b", b"y")
    assert t.write_set().writes == (Write(b"a", b"y", 1), Write(b"b", b"y", 2))


def test_repeatable_read_keeps_its_first_snapshot(engine: CountingEngine) -> None:
    t = txn(engine, isolation=Isolation.REPEATABLE_READ)
    engine.mvcc.apply(WriteSet((Write(b"a", b"changed", None),)), 2)
    t.begin_statement()
    assert t.read_ts == 1 and t.get(b"a") == b"1"
    rc = txn(engine)
    assert rc.get(b"a") == b"changed"


def test_commit_sends_one_command_and_only_when_something_was_written(
    engine: CountingEngine,
) -> None:
    reader = txn(engine)
    reader.get(b"a")
    assert asyncio.run(reader.commit()) is None and engine.commits == 0
    writer = txn(engine)
    writer.put(b"d", b"4")
    assert asyncio.run(writer.commit()) == 2 and engine.commits == 1
    assert writer.state is TxnState.COMMITTED
    assert engine.mvcc.get(b"d", 2) == b"4"


def test_first_committer_wins(engine: CountingEngine) -> None:
    first, second = txn(engine), txn(engine)
    first.put(b"a", b"first")
    second.put(b"a", b"second")
    asyncio.run(first.commit())
    with pytest.raises(SerializationFailure):
        asyncio.run(second.commit())
    assert second.state is TxnState.ROLLED_BACK
    assert engine.mvcc.get(b"a", 10) == b"first"


def test_serializable_validates_what_it_read(engine: CountingEngine) -> None:
    t = txn(engine, isolation=Isolation.SERIALIZABLE)
    assert list(t.scan(b"a", b"b")) == [(b"a", b"1")]
    t.put(b"x", b"derived")
    other = txn(engine)
    other.put(b"a", b"changed")
    asyncio.run(other.commit())
    with pytest.raises(SerializationFailure):
        asyncio.run(t.commit())


def test_savepoints_nest_and_roll_back_exactly(engine: CountingEngine) -> None:
    t = txn(engine)
    t.put(b"a", b"1a")
    t.release_statement()
    t.savepoint("one")
    t.begin_statement()
    t.put(b"a", b"one")
    t.put(b"n", b"new")
    t.release_statement()
    t.savepoint("two")
    t.begin_statement()
    t.delete(b"c")
    t.release_statement()
    t.rollback_to("one")
    t.begin_statement()
    assert t.get(b"a") == b"1a" and t.get(b"n") is None and t.get(b"c") == b"3"
    t.put(b"z", b"z")
    t.release_statement()
    t.release("one")
    assert [w.key for w in t.write_set().writes] == [b"a", b"z"]
    with pytest.raises(QuorumError, match='savepoint "two" does not exist'):
        t.rollback_to("two")


def test_a_row_changed_after_the_snapshot_restarts_read_committed_and_fails_repeatable_read(
    engine: CountingEngine,
) -> None:
    rc = txn(engine)
    rr = txn(engine, isolation=Isolation.REPEATABLE_READ)
    engine.mvcc.apply(WriteSet((Write(b"a", b"changed", None),)), 2)
    with pytest.raises(WouldBlock) as restart:
        rc.lock(b"a")
    assert restart.value.released is None  # at once, on a fresh snapshot
    rc.begin_statement()
    rc.lock(b"a")
    rc.put(b"a", b"rc")
    assert rc.write_set().writes == (Write(b"a", b"rc", 2),)
    with pytest.raises(SerializationFailure, match="due to concurrent update"):
        rr.lock(b"a")


def test_a_lock_held_by_another_transaction_blocks() -> None:
    async def go() -> None:
        engine = CountingEngine()
        locks = LockManager()
        first = Transaction(engine, 1, locks=locks)
        second = Transaction(engine, 2, locks=locks)
        for t in (first, second):
            t.begin_statement()
        first.lock(b"k")
        with pytest.raises(WouldBlock) as blocked:
            second.lock(b"k")
        assert locks.is_waiting(2) and blocked.value.released is not None
        first.rollback()
        await blocked.value.released  # handed over: second holds it now
        assert locks.holders(b"k") == {2: LockMode.EXCLUSIVE}
        second.rollback()
        assert len(locks) == 0

    asyncio.run(go())


def test_current_reads_see_the_newest_commit_and_own_writes(engine: CountingEngine) -> None:
    t = txn(engine, isolation=Isolation.REPEATABLE_READ)
    engine.mvcc.apply(WriteSet((Write(b"b", b"late", None),)), 2)
    assert t.get(b"b") is None and t.get_current(b"b") == b"late"
    t.put(b"d", b"mine")
    assert list(t.scan_current(b"a", b"z")) == [(b"a", b"1"), (b"b", b"late"), (b"c", b"3"), (b"d", b"mine")]
    t.write_current(b"b", None)
    assert t.write_set().writes[0] == Write(b"b", None, 2)  # expects the newest version


def test_the_write_set_is_bounded(engine: CountingEngine) -> None:
    t = txn(engine, max_write_bytes=1000)
    t.put(b"a", b"x" * 500)
    with pytest.raises(ProgramLimitExceeded, match="max_transaction_bytes"):
        t.put(b"b", b"x" * 500)
    t.rollback_statement()
    assert t.write_bytes == 0
