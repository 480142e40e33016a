"""Early lock release (sql/txn.py, sql/locks.py `hand_over`): a committing
transaction hands the rows it wrote to the next writer before its commit
applies; the next writer reads the pending version, and its own commit is
proposed right behind it, expecting exactly the values it read (storage
`Write.exact`), or, when it read pending rows it does not write, waits for
their outcome."""

from __future__ import annotations

import asyncio

import pytest
from support import outcomes

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import SerializationFailure
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine

_WAIT = 5.0  # seconds any step may take before the test fails


class GatedEngine(LocalEngine):
    """LocalEngine whose commits wait at a gate while it is closed (a slow Raft
    commit) and then apply in the order they came, and can be told to fail the
    first commit that reaches the gate (the others go on to be validated)."""

    def __init__(self) -> None:
        super().__init__(MVCC(MemoryEngine()), sync=False)
        self.gate: asyncio.Event | None = None
        self.fail_gated = False
        self.gated = 0  # commits waiting at the gate

    async def commit(self, command):  # type: ignore[no-untyped-def]
        gate = self.gate
        if gate is not None and not gate.is_set():
            self.gated += 1
            try:
                await gate.wait()
            finally:
                self.gated -= 1
            if self.fail_gated:
                self.fail_gated = False
                raise SerializationFailure("could not serialize access due to concurrent update")
        return await super().commit(command)


run = outcomes


async def until(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _WAIT
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.001)


@pytest.fixture
def engine() -> GatedEngine:
    return GatedEngine()


def setup(engine: GatedEngine) -> tuple[Database, Session, Session, Session]:
    db = Database(engine)
    a, b, c = db.session(), db.session(), db.session()
    asyncio.run(
        run(a, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0), (2, 0)")
    )
    return db, a, b, c


async def commit_gated(
    engine: GatedEngine, session: Session, sql: str
) -> asyncio.Task[list[object]]:
    """Run `sql` (ending in a commit) with the gate closed; return once its commit waits."""
    engine.gate = asyncio.Event()
    task = asyncio.create_task(run(session, sql))
    await until(lambda: engine.gated == 1 or task.done(), "the commit reaches the gate")
    assert not task.done(), task.result()
    return task


def test_the_next_writer_reads_the_pending_row_and_commits_right_behind_it(
    engine: GatedEngine,
) -> None:
    db, a, b, c = setup(engine)

    async def go() -> None:
        first = await commit_gated(engine, a, "UPDATE t SET n = n + 1 WHERE id = 1")
        # b gets the row while a's commit is still on its way, and sees a's write...
        assert await asyncio.wait_for(
            run(b, "BEGIN; UPDATE t SET n = n + 10 WHERE id = 1; SELECT n FROM t WHERE id = 1"),
            _WAIT,
        ) == ["BEGIN", "UPDATE 1", [(11,)]]
        # ...which nobody else sees before it commits
        assert await run(c, "SELECT n FROM t WHERE id = 1") == [[(0,)]]
        # b's commit does not wait for a's outcome: it is queued right behind it
        second = asyncio.create_task(run(b, "COMMIT"))
        await until(lambda: engine.gated == 2, "b's commit is queued behind a's")
        assert not second.done(), "a dependent committed before what it read"
        engine.gate.set()  # type: ignore[union-attr]
        assert await asyncio.wait_for(first, _WAIT) == ["UPDATE 1"]
        assert await asyncio.wait_for(second, _WAIT) == ["COMMIT"]

    asyncio.run(go())
    assert asyncio.run(run(c, "SELECT n FROM t WHERE id = 1")) == [[(11,)]]
    assert len(db.locks) == 0 and not db.locks.has_pending


@pytest.mark.parametrize("b_commits_first", [True, False])
def test_a_dependent_fails_when_what_it_read_does_not_commit(
    engine: GatedEngine, b_commits_first: bool
) -> None:
    """b's commit is proposed before a's outcome is known (then the store rejects it,
    since row 1 does not hold what b read), or after it (then it fails at once)."""
    db, a, b, c = setup(engine)

    async def go() -> list[object]:
        engine.fail_gated = True
        first = await commit_gated(engine, a, "UPDATE t SET n = 5 WHERE id = 1")
        assert await asyncio.wait_for(
            run(b, "BEGIN; UPDATE t SET n = n + 1 WHERE id = 1"), _WAIT
        ) == ["BEGIN", "UPDATE 1"]
        if b_commits_first:
            second = asyncio.create_task(run(b, "COMMIT"))
            await until(lambda: engine.gated == 2, "b's commit is queued behind a's")
            engine.gate.set()  # type: ignore[union-attr]
            assert await asyncio.wait_for(first, _WAIT) == ["40001"]
            return await asyncio.wait_for(second, _WAIT)
        engine.gate.set()  # type: ignore[union-attr]
        assert await asyncio.wait_for(first, _WAIT) == ["40001"]
        return await asyncio.wait_for(run(b, "COMMIT"), _WAIT)

    assert asyncio.run(go()) == ["40001"]
    assert asyncio.run(run(c, "SELECT n FROM t ORDER BY id")) == [[(0,), (0,)]]
    assert len(db.locks) == 0 and not db.locks.has_pending


def test_a_read_only_transaction_that_locked_a_pending_row_commits_after_it(
    engine: GatedEngine,
) -> None:
    _, a, b, _ = setup(engine)

    async def go() -> list[object]:
        engine.fail_gated = True
        first = await commit_gated(engine, a, "UPDATE t SET n = 7 WHERE id = 1")
        assert await asyncio.wait_for(
            run(b, "BEGIN; SELECT n FROM t WHERE id = 1 FOR UPDATE"), _WAIT
        ) == ["BEGIN", [(7,)]]
        engine.gate.set()  # type: ignore[union-attr]
        await asyncio.wait_for(first, _WAIT)
        return await asyncio.wait_for(run(b, "COMMIT"), _WAIT)

    # what b saw never committed, so b cannot commit either
    assert asyncio.run(go()) == ["40001"]


@pytest.mark.parametrize("fail", [False, True])
def test_a_dependent_that_read_a_pending_row_it_does_not_write_waits_for_the_outcome(
    engine: GatedEngine, fail: bool
) -> None:
    db, a, b, c = setup(engine)

    async def go() -> tuple[list[object], list[object]]:
        engine.fail_gated = fail
        first = await commit_gated(
            engine, a, "BEGIN; UPDATE t SET n = 5 WHERE id = 1; UPDATE t SET n = 6 WHERE id = 2; COMMIT"
        )
        # b takes row 1 pending, and from then on reads row 2 pending too
        assert await asyncio.wait_for(
            run(b, "BEGIN; UPDATE t SET n = n + 1 WHERE id = 1; SELECT n FROM t WHERE id = 2"),
            _WAIT,
        ) == ["BEGIN", "UPDATE 1", [(6,)]]
        second = asyncio.create_task(run(b, "COMMIT"))
        await asyncio.sleep(0.01)
        # row 2 is not b's to check when it commits: b waits for a's outcome
        assert engine.gated == 1 and not second.done()
        engine.gate.set()  # type: ignore[union-attr]
        return await asyncio.wait_for(first, _WAIT), await asyncio.wait_for(second, _WAIT)

    outcome = asyncio.run(go())
    if fail:
        assert outcome == (["BEGIN", "UPDATE 1", "UPDATE 1", "40001"], ["40001"])
        assert asyncio.run(run(c, "SELECT n FROM t ORDER BY id")) == [[(0,), (0,)]]
    else:
        assert outcome == (["BEGIN", "UPDATE 1", "UPDATE 1", "COMMIT"], ["COMMIT"])
        assert asyncio.run(run(c, "SELECT n FROM t ORDER BY id")) == [[(6,), (6,)]]
    assert len(db.locks) == 0 and not db.locks.has_pending


@pytest.mark.parametrize("level", ["REPEATABLE READ", "SERIALIZABLE"])
def test_snapshot_levels_wait_for_the_outcome(engine: GatedEngine, level: str) -> None:
    _, a, b, _ = setup(engine)

    async def go() -> list[object]:
        assert await run(b, f"BEGIN ISOLATION LEVEL {level}; SELECT n FROM t WHERE id = 2") == [
            "BEGIN",
            [(0,)],
        ]
        first = await commit_gated(engine, a, "UPDATE t SET n = 3 WHERE id = 1")
        second = asyncio.create_task(run(b, "UPDATE t SET n = n + 1 WHERE id = 1"))
        await until(lambda: b.waiting, "b waits")
        engine.gate.set()  # type: ignore[union-attr]
        await asyncio.wait_for(first, _WAIT)
        return await asyncio.wait_for(second, _WAIT)

    assert asyncio.run(go()) == ["40001"]  # as in PostgreSQL: the row changed after the snapshot


@pytest.mark.parametrize(("fail", "expected"), [(False, ["INSERT 0 1"]), (True, ["23505"])])
def test_an_insert_waits_for_a_pending_delete(
    engine: GatedEngine, fail: bool, expected: list[object]
) -> None:
    _, a, b, c = setup(engine)

    async def go() -> list[object]:
        engine.fail_gated = fail
        first = await commit_gated(engine, a, "DELETE FROM t WHERE id = 1")
        second = asyncio.create_task(run(b, "INSERT INTO t VALUES (1, 9)"))
        await until(lambda: b.waiting, "the insert waits")
        engine.gate.set()  # type: ignore[union-attr]
        await asyncio.wait_for(first, _WAIT)
        return await asyncio.wait_for(second, _WAIT)

    assert asyncio.run(go()) == expected
    assert asyncio.run(run(c, "SELECT n FROM t WHERE id = 1")) == [[(0,)] if fail else [(9,)]]


def test_rows_only_locked_stay_locked_until_the_outcome(engine: GatedEngine) -> None:
    _, a, b, c = setup(engine)

    async def go() -> list[object]:
        assert await run(
            a, "BEGIN; SELECT n FROM t WHERE id = 2 FOR UPDATE; UPDATE t SET n = 1 WHERE id = 1"
        ) == [
            "BEGIN",
            [(0,)],
            "UPDATE 1",
        ]
        first = await commit_gated(engine, a, "COMMIT")
        second = asyncio.create_task(run(b, "UPDATE t SET n = 2 WHERE id = 2"))
        await until(lambda: b.waiting, "b waits for the row a only locked")
        await asyncio.sleep(0.01)
        assert not second.done()
        engine.gate.set()  # type: ignore[union-attr]
        assert await asyncio.wait_for(first, _WAIT) == ["COMMIT"]
        return await asyncio.wait_for(second, _WAIT)

    assert asyncio.run(go()) == ["UPDATE 1"]
    assert asyncio.run(run(c, "SELECT n FROM t ORDER BY id")) == [[(1,), (2,)]]


@pytest.mark.parametrize("fail_first", [False, True])
def test_a_chain_of_writers_commits_in_order(engine: GatedEngine, fail_first: bool) -> None:
    """Ten sessions add to one row while every commit is held: each reads the one
    before it and is queued behind it, and all of them land - or, when the first
    fails, none of those that read it (each expects what the one before wrote)."""
    db = Database(engine)
    sessions = [db.session() for _ in range(10)]
    asyncio.run(
        run(sessions[0], "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)")
    )

    async def go() -> list[list[object]]:
        engine.fail_gated = fail_first
        engine.gate = asyncio.Event()
        tasks = [
            asyncio.create_task(run(s, f"UPDATE t SET n = n + {i} WHERE id = 1"))
            for i, s in enumerate(sessions, 1)
        ]
        # every commit is queued behind the one it read from; every row lock is
        # handed over, only the table lock (kept until the outcomes) is left
        await until(lambda: engine.gated == 10, "all ten commits are queued")
        assert len(db.locks) == 1 and not any(s.waiting for s in sessions)
        assert not any(t.done() for t in tasks)
        engine.gate.set()
        return [await asyncio.wait_for(t, _WAIT) for t in tasks]

    if fail_first:
        assert asyncio.run(go()) == [["40001"]] * 10
        assert asyncio.run(run(sessions[0], "SELECT n FROM t")) == [[(0,)]]
    else:
        assert asyncio.run(go()) == [["UPDATE 1"]] * 10
        assert asyncio.run(run(sessions[0], "SELECT n FROM t")) == [[(55,)]]
    assert len(db.locks) == 0 and not db.locks.has_pending
