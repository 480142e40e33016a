"""SQL-level cursors and prepared statements: DECLARE/FETCH/MOVE/CLOSE,
PREPARE/EXECUTE/DEALLOCATE and DISCARD, with PostgreSQL's errors."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from serverthread import LocalDatabase, ServerThread


@pytest.fixture
def conn() -> Iterator[psycopg.Connection]:
    local = LocalDatabase()
    with ServerThread(local.open) as srv, psycopg.connect(
        srv.dsn(), autocommit=True, cursor_factory=psycopg.ClientCursor
    ) as c:
        c.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO t SELECT i, 'v' || i FROM generate_series(1, 10) AS g(i)")
        yield c


def test_declare_fetch_move_close(conn):
    with pytest.raises(psycopg.errors.NoActiveSqlTransaction):
        conn.execute("DECLARE c CURSOR FOR SELECT id FROM t")
    conn.execute("BEGIN")
    conn.execute("DECLARE c CURSOR FOR SELECT id FROM t ORDER BY id")
    assert conn.execute("FETCH 3 FROM c").fetchall() == [(1,), (2,), (3,)]
    cur = conn.execute("MOVE FORWARD 2 IN c")
    assert cur.statusmessage == "MOVE 2"
    assert conn.execute("FETCH NEXT FROM c").fetchall() == [(6,)]
    assert conn.execute("FETCH ALL FROM c").fetchall() == [(7,), (8,), (9,), (10,)]
    assert conn.execute("FETCH 1 FROM c").fetchall() == []
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("FETCH BACKWARD 1 FROM c")
    conn.execute("ROLLBACK")
    conn.execute("BEGIN")
    with pytest.raises(psycopg.errors.InvalidCursorName):
        conn.execute("FETCH 1 FROM c")  # gone with its transaction
    conn.execute("ROLLBACK")


def test_with_hold_cursor_outlives_its_transaction(conn):
    conn.execute("BEGIN")
    conn.execute("DECLARE h CURSOR WITH HOLD FOR SELECT v FROM t WHERE id <= 3 ORDER BY id")
    conn.execute("COMMIT")
    assert conn.execute("FETCH 2 FROM h").fetchall() == [("v1",), ("v2",)]
    conn.execute("CLOSE h")
    with pytest.raises(psycopg.errors.InvalidCursorName):
        conn.execute("CLOSE h")


def test_prepare_execute_deallocate(conn):
    conn.execute("PREPARE ins (int, text) AS INSERT INTO t VALUES ($1, $2)")
    conn.execute("PREPARE get AS SELECT v FROM t WHERE id = $1")
    assert conn.execute("EXECUTE ins (100, 'hundred')").statusmessage == "INSERT 0 1"
    assert conn.execute("EXECUTE get (100)").fetchall() == [("hundred",)]
    with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
        conn.execute("PREPARE get AS SELECT 1")
    with pytest.raises(psycopg.errors.SyntaxError):
        conn.execute("EXECUTE get (1, 2)")
    conn.execute("DEALLOCATE get")
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        conn.execute("EXECUTE get (100)")
    conn.execute("DEALLOCATE ALL")
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        conn.execute("EXECUTE ins (1, 'x')")


def test_discard_all_resets_the_session(conn):
    conn.execute("SET application_name = 'before'")
    conn.execute("PREPARE p AS SELECT 1")
    assert conn.execute("DISCARD ALL").statusmessage == "DISCARD ALL"
    assert conn.execute("SHOW application_name").fetchone() == ("",)
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        conn.execute("EXECUTE p")
    conn.execute("BEGIN")
    with pytest.raises(psycopg.errors.ActiveSqlTransaction):
        conn.execute("DISCARD ALL")
    conn.execute("ROLLBACK")
