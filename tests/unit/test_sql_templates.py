"""Simple queries run as templates (sql/client.py, sql/literals.py): parsed and planned
once whatever their numbers, with the results the literal query gives."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from support import outcomes

from quorumdb.sql import prepared
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import QuorumError
from quorumdb.sql.session import Database
from quorumdb.storage import MVCC, MemoryEngine


def run(session: ClientSession, sql: str) -> list[object]:
    """Rows (or the tag) of each statement, or the error's SQLSTATE."""
    return asyncio.run(outcomes(session, sql))


def setup() -> tuple[Database, ClientSession]:
    db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
    s = ClientSession(db, user="postgres", database="postgres")
    run(s, "CREATE TABLE t (id int PRIMARY KEY, n int)")
    run(s, "INSERT INTO t SELECT g, g * 10 FROM generate_series(1, 50) g")
    return db, s


def test_other_numbers_reuse_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    db, s = setup()
    plans: list[object] = []
    plan = prepared._plan
    monkeypatch.setattr(prepared, "_plan", lambda *a: plans.append(a) or plan(*a))
    assert run(s, "SELECT n FROM t WHERE id = 1") == [[(10,)]]
    parses = db.plans.stats.parses
    for i in range(2, 51):
        assert run(s, f"UPDATE t SET n = n + {i} WHERE id = {i}") == ["UPDATE 1"]
        assert run(s, f"SELECT n FROM t WHERE id = {i}") == [[(i * 11,)]]
    assert db.plans.stats.parses == parses + 1  # the UPDATE's template, once
    assert len(plans) == 2  # the two templates, once each
    # another session plans nothing: the plans are shared
    other = ClientSession(db, user="postgres", database="postgres")
    assert run(other, "SELECT n FROM t WHERE id = 7") == [[(77,)]]
    assert len(plans) == 2
    assert run(s, "SELECT count(*) FROM t WHERE n > 9999999999") == [[(0,)]]  # a bigint


def test_a_column_position_is_not_a_parameter() -> None:
    _, s = setup()
    assert run(s, "SELECT id, n FROM t WHERE id < 4 ORDER BY 2 DESC") == [
        [(3, 30), (2, 20), (1, 10)]
    ]
    assert run(s, "SELECT id % 2, count(*) FROM t WHERE id <= 5 GROUP BY 1 ORDER BY 1") == [
        [(0, 2), (1, 3)]
    ]


def test_a_template_that_does_not_analyse_runs_as_written() -> None:
    db, s = setup()
    # a type modifier must be a constant: the template cannot stand for these queries
    assert run(s, "SELECT 1.2345::numeric(5,2)") == [[(Decimal("1.23"),)]]
    assert run(s, "SELECT 1.2345::numeric(5,3)") == [[(Decimal("1.235"),)]]
    assert run(s, "SELECT 7::int2::bool") == ["42846"]  # the literal query's own error


def test_ddl_that_changes_the_result_type_falls_back_to_the_query() -> None:
    _, s = setup()
    assert run(s, "SELECT n FROM t WHERE id = 3") == [[(30,)]]
    run(s, "DROP TABLE t; CREATE TABLE t (id int PRIMARY KEY, n numeric(6,2))")
    run(s, "INSERT INTO t VALUES (3, 1.5)")
    assert run(s, "SELECT n FROM t WHERE id = 3") == [[(Decimal("1.50"),)]]
    assert run(s, "SELECT n FROM t WHERE id = 4") == ["SELECT 0"]


def test_errors_and_aborted_blocks_are_those_of_the_query() -> None:
    _, s = setup()
    assert run(s, "SELECT n / 0 FROM t WHERE id = 1") == ["22012"]
    assert run(s, "INSERT INTO t VALUES (1, 5)") == ["23505"]
    assert run(s, "BEGIN") == ["BEGIN"]
    assert run(s, "SELECT 1 / 0") == ["22012"]
    assert run(s, "SELECT n FROM t WHERE id = 2") == ["25P02"]
    assert run(s, "ROLLBACK") == ["ROLLBACK"]
    assert run(s, "SELECT n FROM t WHERE id = 2") == [[(20,)]]


def test_an_error_after_ddl_is_the_querys_own() -> None:
    """A template that no longer plans is not what fails: the query is, with the
    position of the error in its own text."""
    _, s = setup()
    assert run(s, "SELECT id FROM t WHERE id = 3 AND n = 30") == [[(3,)]]
    run(s, "ALTER TABLE t DROP COLUMN n")
    sql = "SELECT id FROM t WHERE id = 123456789 AND n = 1"

    async def error() -> QuorumError:
        try:
            async for _ in s.execute(sql):
                pass
        except QuorumError as exc:
            return exc
        raise AssertionError("no error")

    exc = asyncio.run(error())
    assert exc.sqlstate == "42703" and exc.position == sql.index(" n = ") + 2
    assert run(s, "SELECT id FROM t WHERE id = 3") == [[(3,)]]
