"""The Database/Session API that the wire server drives (simple-query semantics)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal

import pytest

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import DivisionByZero, InFailedTransaction, QuorumError, UniqueViolation
from quorumdb.sql.result import StatementResult
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine


class CountingEngine(LocalEngine):
    """LocalEngine that counts commits (and can be told to fail the next one)."""

    def __init__(self) -> None:
        super().__init__(MVCC(MemoryEngine()), sync=False)
        self.commits = 0

    async def commit(self, command):  # type: ignore[no-untyped-def]
        self.commits += 1
        return await super().commit(command)


@pytest.fixture
def engine() -> CountingEngine:
    return CountingEngine()


@pytest.fixture
def session(engine: CountingEngine) -> Session:
    s = Database(engine).session(user="alice", database="shop", application_name="tests")
    collect(s, "CREATE TABLE t (id int PRIMARY KEY, v text, n numeric(6,2), r real)")
    return s


def collect(session: Session, sql: str) -> list[StatementResult]:
    """Run `sql`, consuming rows; rows are stored back as lists."""

    async def go() -> list[StatementResult]:
        out = []
        async for result in session.execute(sql):
            result.rows = list(result.rows)
            out.append(result)
        return out

    return asyncio.run(go())


def test_results_tags_and_columns(session: Session) -> None:
    results = collect(
        session, "INSERT INTO t VALUES (1, 'a', 1.5, 0.5), (2, NULL, NULL, NULL); SELECT * FROM t"
    )
    insert, select = results
    assert insert.tag == "INSERT 0 2" and insert.columns is None
    assert select.tag == "SELECT 2"
    assert select.rows == [(1, "a", Decimal("1.50"), 0.5), (2, None, None, None)]
    names = [
        (c.name, c.type_oid, c.type_size, c.type_modifier, c.column_number)
        for c in select.columns or ()
    ]
    assert names == [
        ("id", 23, 4, -1, 1),
        ("v", 25, -1, -1, 2),
        ("n", 1700, -1, (6 << 16 | 2) + 4, 3),
        ("r", 700, 4, -1, 4),
    ]
    assert all(c.table_oid == 16385 for c in select.columns or ())
    encoded = [c.encode_text(v) for c, v in zip(select.columns or (), select.rows[0], strict=False)]
    assert encoded == [b"1", b"a", b"1.50", b"0.5"]
    assert [
        r.tag for r in collect(session, "UPDATE t SET v = 'b'; DELETE FROM t WHERE id = 2")
    ] == ["UPDATE 2", "DELETE 1"]
    assert [
        r.tag for r in collect(session, "BEGIN; COMMIT; START TRANSACTION; END; BEGIN; ROLLBACK")
    ] == [
        "BEGIN",
        "COMMIT",
        "START TRANSACTION",
        "COMMIT",
        "BEGIN",
        "ROLLBACK",
    ]


def test_empty_query(session: Session) -> None:
    (result,) = collect(session, "  -- nothing")
    assert result.empty and result.tag == ""


def test_rows_stream_and_the_tag_is_final_after_them(session: Session) -> None:
    collect(session, "INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')")

    async def go() -> None:
        async for result in session.execute("SELECT id FROM t"):
            it = iter(result.rows)
            assert next(it) == (1,)
            assert result.tag == "SELECT"  # not final yet
            assert list(it) == [(2,), (3,)]
            assert result.tag == "SELECT 3"

    asyncio.run(go())


def test_unconsumed_rows_are_drained_before_the_next_statement(session: Session) -> None:
    async def go() -> list[str]:
        tags = []
        async for result in session.execute(
            "SELECT 1; INSERT INTO t VALUES (9, 'x'); SELECT count(*) FROM t"
        ):
            tags.append(result.tag)  # rows never read
        return tags

    assert asyncio.run(go())[1] == "INSERT 0 1"
    assert collect(session, "SELECT v FROM t")[0].rows == [("x",)]


def test_one_implicit_transaction_per_query_string(
    session: Session, engine: CountingEngine
) -> None:
    before = engine.commits
    collect(
        session, "INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b'); SELECT * FROM t"
    )
    assert engine.commits == before + 1
    collect(session, "SELECT * FROM t; SELECT count(*) FROM t")
    assert engine.commits == before + 1  # reads never go through the engine
    with pytest.raises(DivisionByZero):
        collect(session, "INSERT INTO t VALUES (3, 'c'); SELECT 1 / 0")
    assert collect(session, "SELECT count(*) FROM t")[0].rows == [(2,)]


def test_the_commit_happens_before_the_last_result_is_handed_out(
    session: Session, engine: CountingEngine
) -> None:
    async def go() -> list[int]:
        seen = []
        async for _ in session.execute("INSERT INTO t VALUES (1, 'a')"):
            seen.append(engine.commits)
        return seen

    before = engine.commits
    assert asyncio.run(go()) == [before + 1]


def test_an_error_comes_after_the_earlier_results(session: Session) -> None:
    async def go() -> tuple[list[str], QuorumError | None]:
        tags = []
        try:
            async for result in session.execute("SELECT 1; SELECT 2; SELECT 1 / 0; SELECT 4"):
                list(result.rows)
                tags.append(result.tag)
        except QuorumError as exc:
            return tags, exc
        return tags, None

    tags, error = asyncio.run(go())
    assert tags == ["SELECT 1", "SELECT 1"] and isinstance(error, DivisionByZero)


def test_an_error_while_reading_rows_ends_the_query(session: Session) -> None:
    collect(session, "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 0)")

    async def go() -> tuple[list[object], QuorumError | None, list[str]]:
        rows: list[object] = []
        later: list[str] = []
        try:
            async for result in session.execute("SELECT 1 / n FROM t; SELECT 'later'"):
                if later or rows:
                    later.append(result.tag)
                for row in result.rows:
                    rows.append(row)
        except QuorumError as exc:
            return rows, exc, later
        return rows, None, later

    collect(session, "BEGIN")
    rows, error, later = asyncio.run(go())
    assert (
        rows == [(Decimal("1.0000000000000000"),)]
        and isinstance(error, DivisionByZero)
        and later == []
    )
    assert session.transaction_status == "E"
    with pytest.raises(InFailedTransaction):
        collect(session, "SELECT 1")
    assert collect(session, "COMMIT")[0].tag == "ROLLBACK"
    assert session.transaction_status == "I"


def test_transaction_status_and_notices(session: Session) -> None:
    assert session.transaction_status == "I"
    collect(session, "BEGIN")
    assert session.transaction_status == "T"
    (again,) = collect(session, "BEGIN")
    assert [(n.severity, n.sqlstate, n.message) for n in again.notices] == [
        ("WARNING", "25001", "there is already a transaction in progress")
    ]
    with pytest.raises(UniqueViolation):
        collect(session, "INSERT INTO t VALUES (1, 'a'), (1, 'b')")
    assert session.transaction_status == "E"
    assert collect(session, "ROLLBACK")[0].tag == "ROLLBACK"
    assert session.transaction_status == "I"
    (commit,) = collect(session, "COMMIT")
    assert commit.notices[0].sqlstate == "25P01"
    (drop,) = collect(session, "DROP TABLE IF EXISTS nope")
    assert (
        drop.tag == "DROP TABLE"
        and drop.notices[0].message == 'table "nope" does not exist, skipping'
    )


def test_parameter_status(session: Session) -> None:
    status = session.parameter_status()
    assert status["server_version"].startswith("15.")
    assert status["server_encoding"] == status["client_encoding"] == "UTF8"
    assert status["DateStyle"] == "ISO, MDY" and status["TimeZone"] == "UTC"
    assert (
        status["integer_datetimes"]
        == status["standard_conforming_strings"]
        == status["is_superuser"]
        == "on"
    )
    assert status["IntervalStyle"] == "postgres" and status["application_name"] == "tests"
    assert status["session_authorization"] == "alice"
    collect(session, "SET application_name = 'other'")
    assert session.parameter_status()["application_name"] == "other"
    assert collect(session, "SELECT current_user, current_database()")[0].rows == [
        ("alice", "shop")
    ]


def test_close_rolls_back(session: Session, engine: CountingEngine) -> None:
    collect(session, "BEGIN; INSERT INTO t VALUES (1, 'a')")
    before = engine.commits
    session.close()
    assert engine.commits == before
    other = Database(engine).session()
    assert collect(other, "SELECT count(*) FROM t")[0].rows == [(0,)]


def test_a_blocked_statement_waits_and_reruns_on_a_fresh_snapshot(engine: CountingEngine) -> None:
    db = Database(engine)
    holder, waiter = db.session(), db.session()
    collect(holder, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)")
    collect(holder, "BEGIN; UPDATE t SET n = 41 WHERE id = 1")

    async def go() -> str:
        async def update() -> str:
            return [r.tag async for r in waiter.execute("UPDATE t SET n = n + 1 WHERE id = 1")][0]

        task = asyncio.create_task(update())
        while not waiter.waiting:
            await asyncio.sleep(0)
        async for _ in holder.execute("COMMIT"):
            pass
        return await task

    assert asyncio.run(go()) == "UPDATE 1"
    assert not waiter.waiting and len(db.locks) == 0
    assert collect(waiter, "SELECT n FROM t")[0].rows == [(42,)]  # re-read the committed 41


async def _blocked_then(session: Session, sql: str, release: Callable[[], Awaitable[None]]) -> list[str]:
    """Run `sql` on `session` until it waits for a lock, then `release`; its tags or error."""

    async def run() -> list[str]:
        try:
            return [r.tag async for r in session.execute(sql)]
        except QuorumError as exc:
            return [f"ERROR {exc.sqlstate}: {exc.message}"]

    task = asyncio.create_task(run())
    for _ in range(1000):
        if session.waiting or task.done():
            break
        await asyncio.sleep(0.001)
    await release()
    return await task


def test_statement_timeout_ends_a_lock_wait(engine: CountingEngine) -> None:
    db = Database(engine)
    holder, waiter = db.session(), db.session()
    collect(holder, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)")
    collect(holder, "BEGIN; UPDATE t SET n = 1 WHERE id = 1")
    collect(waiter, "SET statement_timeout = 50")

    async def nothing() -> None:
        pass

    assert asyncio.run(_blocked_then(waiter, "UPDATE t SET n = 2", nothing)) == [
        "ERROR 57014: canceling statement due to statement timeout"
    ]
    collect(waiter, "SET statement_timeout = 0; SET lock_timeout = '20ms'")
    assert asyncio.run(_blocked_then(waiter, "DELETE FROM t", nothing)) == [
        "ERROR 55P03: canceling statement due to lock timeout"
    ]
    collect(holder, "COMMIT")
    assert collect(waiter, "SELECT n FROM t")[0].rows == [(1,)]
    assert len(db.locks) == 0


def test_deadlock_fails_the_transaction_that_closes_the_cycle(engine: CountingEngine) -> None:
    db = Database(engine)
    a, b = db.session(), db.session()
    collect(a, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0), (2, 0)")
    collect(a, "BEGIN; UPDATE t SET n = 1 WHERE id = 1")
    collect(b, "BEGIN; UPDATE t SET n = 2 WHERE id = 2")

    async def go() -> tuple[list[str], list[str]]:
        async def cycle() -> None:
            try:
                collect_tags = [r.tag async for r in b.execute("UPDATE t SET n = 2 WHERE id = 1")]
                raise AssertionError(f"no deadlock: {collect_tags}")
            except QuorumError as exc:
                assert exc.sqlstate == "40P01" and exc.message == "deadlock detected"
                assert exc.detail is not None and exc.detail.count("waits for ShareLock") == 2
            async for _ in b.execute("ROLLBACK"):
                pass

        first = await _blocked_then(a, "UPDATE t SET n = 1 WHERE id = 2", cycle)
        return first, [r.tag async for r in a.execute("COMMIT")]

    assert asyncio.run(go()) == (["UPDATE 1"], ["COMMIT"])
    assert collect(a, "SELECT n FROM t ORDER BY id")[0].rows == [(1,), (1,)]


def test_leadership_loss_fails_waiters_and_drops_locks(engine: CountingEngine) -> None:
    db = Database(engine)
    holder, waiter = db.session(), db.session()
    collect(holder, "CREATE TABLE t (id int PRIMARY KEY, n int); INSERT INTO t VALUES (1, 0)")
    collect(holder, "BEGIN; UPDATE t SET n = 1")

    async def lose() -> None:
        db.leadership_lost()

    assert asyncio.run(_blocked_then(waiter, "UPDATE t SET n = 2", lose))[0].startswith(
        "ERROR 40001"
    )
    assert len(db.locks) == 0


def test_savepoints_undo_to_a_point_and_revive_an_aborted_block(session: Session) -> None:
    tags = [
        r.tag
        for r in collect(
            session,
            "BEGIN; INSERT INTO t VALUES (1, 'a'); SAVEPOINT one; INSERT INTO t VALUES (2, 'b');"
            " SAVEPOINT two; INSERT INTO t VALUES (3, 'c'); ROLLBACK TO SAVEPOINT one;"
            " INSERT INTO t VALUES (4, 'd'); RELEASE one",
        )
    ]
    assert tags[-3:] == ["ROLLBACK", "INSERT 0 1", "RELEASE"]
    with pytest.raises(UniqueViolation):
        collect(session, "SAVEPOINT s; INSERT INTO t VALUES (1, 'dup')")
    assert session.transaction_status == "E"
    with pytest.raises(InFailedTransaction):
        collect(session, "SELECT 1")
    collect(session, "ROLLBACK TO s")
    assert session.transaction_status == "T"
    collect(session, "COMMIT")
    assert collect(session, "SELECT id FROM t ORDER BY id")[0].rows == [(1,), (4,)]
    with pytest.raises(QuorumError, match="can only be used in transaction blocks"):
        collect(session, "SAVEPOINT x")
    collect(session, "BEGIN")
    with pytest.raises(QuorumError, match='savepoint "nope" does not exist'):
        collect(session, "ROLLBACK TO nope")
    collect(session, "ROLLBACK")


def test_an_error_in_a_block_without_savepoints_releases_the_locks(
    engine: CountingEngine,
) -> None:
    db = Database(engine)
    s = db.session()
    collect(s, "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)")
    collect(s, "BEGIN; UPDATE t SET id = 1")
    assert len(db.locks) > 0
    with pytest.raises(UniqueViolation):
        collect(s, "INSERT INTO t VALUES (1)")
    assert len(db.locks) == 0 and s.transaction_status == "E"


def test_the_write_set_is_bounded(session: Session) -> None:
    collect(session, "SET quorumdb.max_transaction_bytes = '2kB'")
    with pytest.raises(QuorumError) as err:
        collect(session, "INSERT INTO t SELECT 1, 'x'")
        collect(session, "BEGIN")
        for i in range(100):
            collect(session, f"INSERT INTO t VALUES ({i + 10}, '{'y' * 40}')")
    assert err.value.sqlstate == "54000"
    assert "max_transaction_bytes" in err.value.message
    collect(session, "ROLLBACK")


def test_idle_in_transaction_timeout_is_reported_only_inside_a_block(session: Session) -> None:
    collect(session, "SET idle_in_transaction_session_timeout = '2s'")
    assert session.idle_timeout() is None
    collect(session, "BEGIN")
    assert session.idle_timeout() == 2.0
    collect(session, "ROLLBACK")


def test_an_abandoned_query_string_rolls_back_its_implicit_transaction(
    session: Session, engine: CountingEngine
) -> None:
    async def go() -> None:
        results = session.execute("INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b')")
        first = await results.__anext__()
        assert first.tag == "INSERT 0 1"
        await results.aclose()  # the client went away after the first result

    before = engine.commits
    asyncio.run(go())
    assert engine.commits == before and session.transaction_status == "I"
    assert collect(session, "SELECT count(*) FROM t")[0].rows == [(0,)]


def test_the_server_pattern_of_closing_after_a_row_error(session: Session) -> None:
    """node/pgserver.py: iterate rows, catch the error, then aclose() the generator."""
    collect(session, "INSERT INTO t VALUES (1, 'a', 0)")

    async def go() -> str:
        results = session.execute("SELECT 1 / n FROM t")
        try:
            async for result in results:
                list(result.rows)
        except QuorumError as exc:
            return exc.sqlstate
        finally:
            await results.aclose()
        return "no error"

    assert asyncio.run(go()) == "22012"
    assert session.transaction_status == "I"
    assert collect(session, "SELECT count(*) FROM t")[0].rows == [(1,)]
