"""The plan cache: parse once per text, plan once per catalog version, bounded."""

from __future__ import annotations

import asyncio

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine


def run(session: Session, sql: str) -> list[list[tuple[object, ...]]]:
    async def go() -> list[list[tuple[object, ...]]]:
        return [list(r.rows) async for r in session.execute(sql)]

    return asyncio.run(go())


def new_db(capacity: int = 1024) -> Database:
    return Database(LocalEngine(MVCC(MemoryEngine()), sync=False), plan_cache_size=capacity)


def test_a_repeated_statement_is_neither_reparsed_nor_replanned() -> None:
    db = new_db()
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    run(s, "INSERT INTO t VALUES (1, 'a')")
    stats = db.plans.stats
    parses, plans = stats.parses, stats.plans
    for _ in range(10):
        assert run(s, "SELECT v FROM t WHERE id = 1") == [[("a",)]]
    assert stats.parses == parses + 1
    assert stats.plans == plans + 1
    # Another session shares the cache.
    assert run(db.session(), "SELECT v FROM t WHERE id = 1") == [[("a",)]]
    assert stats.parses == parses + 1 and stats.plans == plans + 1


def test_ddl_replans_without_reparsing() -> None:
    db = new_db()
    s = db.session()
    run(s, "CREATE TABLE t (id int PRIMARY KEY, v text)")
    run(s, "INSERT INTO t VALUES (1, 'a')")
    query = "SELECT * FROM t"
    assert run(s, query) == [[(1, "a")]]
    parses, plans = db.plans.stats.parses, db.plans.stats.plans
    run(s, "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, v text, w int)")
    run(s, "INSERT INTO t VALUES (2, 'b', 3)")
    assert run(s, query) == [[(2, "b", 3)]]
    assert db.plans.stats.parses == parses + 2  # the two new strings, not the query
    assert db.plans.stats.plans == plans + 2  # INSERT and the query again (DDL is not planned)


def test_plans_on_uncommitted_ddl_are_not_kept() -> None:
    db = new_db()
    s = db.session()
    run(s, "BEGIN; CREATE TABLE t (id int PRIMARY KEY)")
    plans = db.plans.stats.plans
    run(s, "SELECT * FROM t")
    run(s, "SELECT * FROM t")
    assert db.plans.stats.plans == plans + 2
    run(s, "COMMIT")
    run(s, "SELECT * FROM t")
    run(s, "SELECT * FROM t")
    assert db.plans.stats.plans == plans + 3


def test_the_cache_is_bounded_lru() -> None:
    db = new_db(capacity=3)
    s = db.session()
    for n in range(5):
        run(s, f"SELECT {n}")
    assert len(db.plans) == 3 and db.plans.stats.evictions == 2
    parses = db.plans.stats.parses
    run(s, "SELECT 4")  # still cached
    run(s, "SELECT 0")  # evicted: parsed again
    assert db.plans.stats.parses == parses + 1


def test_parse_errors_are_not_cached() -> None:
    db = new_db()
    s = db.session()
    for _ in range(2):
        try:
            run(s, "SELEC 1")
        except Exception:  # noqa: BLE001 - the error itself is tested elsewhere
            pass
    assert len(db.plans) == 0


def test_long_statements_are_not_kept():
    from quorumdb.sql.plancache import PlanCache

    cache = PlanCache(capacity=10, max_cached_chars=100)
    long_sql = "SELECT " + ", ".join(str(i) for i in range(100))
    cache.query(long_sql)
    cache.query(long_sql)
    assert cache.stats.parses == 2 and len(cache) == 0
    cache.query("SELECT 1")
    cache.query("SELECT 1")
    assert cache.stats.parses == 3 and cache.stats.hits == 1 and len(cache) == 1
