"""Scans stream: a query pulls from storage only the rows it hands out (and those
its filter skips), never a whole table first. The storage engine below counts
every key/value pair it yields."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine

ROWS = 3000


class CountingKV(MemoryEngine):
    """A MemoryEngine that counts the pairs its scans have yielded."""

    def __init__(self) -> None:
        super().__init__()
        self.pulled = 0

    def scan(
        self, start: bytes, end: bytes | None = None, *, reverse: bool = False
    ) -> Iterator[tuple[bytes, bytes]]:
        for pair in super().scan(start, end, reverse=reverse):
            self.pulled += 1
            yield pair


def run(session: Session, sql: str) -> list[tuple[object, ...]]:
    async def go() -> list[tuple[object, ...]]:
        rows: list[tuple[object, ...]] = []
        async for result in session.execute(sql):
            rows.extend(result.rows)
        return rows

    return asyncio.run(go())


@pytest.fixture
def kv() -> CountingKV:
    return CountingKV()


@pytest.fixture
def session(kv: CountingKV) -> Session:
    s = Database(LocalEngine(MVCC(kv), sync=False)).session(user="u", database="d")
    run(s, "CREATE TABLE t (id int PRIMARY KEY, k int, v text)")
    run(s, "CREATE INDEX t_k ON t (k)")
    run(s, f"INSERT INTO t SELECT g, g % 3, 'row ' || g FROM generate_series(1, {ROWS}) g")
    run(s, "SELECT 1")  # the catalog is cached from here on
    return s


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM t LIMIT 5",  # Seq Scan
        "SELECT * FROM t WHERE v LIKE 'row 1%' LIMIT 5",  # Seq Scan with a filter
        "SELECT * FROM t WHERE id > 100 LIMIT 5",  # a primary-key range
        "SELECT * FROM t WHERE k = 1 LIMIT 5",  # Index Scan over 1000 entries
        "SELECT * FROM t ORDER BY id DESC LIMIT 5",  # a backward scan instead of a sort
        # an index nested loop (a hash join would read all of u: it is built whole)
        "SELECT u.v FROM t JOIN t u ON u.id = t.id + 1 WHERE t.id IN (1, 2, 3, 4, 5)",
    ],
)
def test_a_query_reads_only_the_rows_it_needs(session: Session, kv: CountingKV, sql: str) -> None:
    kv.pulled = 0
    assert len(run(session, sql)) == 5
    assert kv.pulled < 100, f"{kv.pulled} pairs read from storage for 5 rows"


def test_a_full_scan_hands_out_rows_before_reading_the_table(
    session: Session, kv: CountingKV
) -> None:
    async def go() -> tuple[int, int]:
        async for result in session.execute("SELECT * FROM t"):
            rows = iter(result.rows)
            next(rows)
            after_first = kv.pulled
            rest = sum(1 for _ in rows)
            return after_first, rest
        raise AssertionError("no result")

    run(session, "BEGIN")
    kv.pulled = 0
    after_first, rest = asyncio.run(go())
    run(session, "COMMIT")
    assert rest == ROWS - 1
    assert after_first < 100
    assert kv.pulled >= ROWS
