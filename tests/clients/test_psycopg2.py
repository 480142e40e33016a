"""psycopg2 (libpq, client-side parameter binding) on the leader and through a follower."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from decimal import Decimal

import psycopg2
import psycopg2.errors
import psycopg2.extras
import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

psycopg2.extras.register_uuid()


def connect(node):  # type: ignore[no-untyped-def]
    return psycopg2.connect(node.dsn)


def test_types_round_trip(node):
    row = (
        1, 7, 1 << 40, 2.5, Decimal("-0.000123"), False, "ünïcode", b"\x01\x02",
        dt.date(2001, 2, 3), dt.datetime(2001, 2, 3, 4, 5, 6, 789000),
        dt.datetime(2001, 2, 3, 4, 5, 6, tzinfo=dt.UTC), uuid.uuid4(), [1, 2, 3],
        -3, 0.25, "vc", "ab   ", dt.time(12, 0, 1), dt.timedelta(days=1, seconds=2),
        {"j": [1, None]}, {"jb": True}, ["a", None, "b c"],
    )  # fmt: skip
    conn = connect(node)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS p2_{node.name}")
        cur.execute(
            f"CREATE TABLE p2_{node.name} (id int PRIMARY KEY, i int, big bigint, f float8, "
            "n numeric, b bool, t text, by bytea, d date, ts timestamp, tz timestamptz, u uuid, a int[], "
            "s smallint, r real, vc varchar(4), c char(5), tm time, iv interval, j json, jb jsonb, ta text[])"
        )
        params = list(row)
        params[16] = "ab"  # char(5) pads it
        params[19:21] = [psycopg2.extras.Json(row[19]), psycopg2.extras.Json(row[20])]
        cur.execute(f"INSERT INTO p2_{node.name} VALUES ({', '.join(['%s'] * len(row))})", params)
        conn.commit()
        cur.execute(f"SELECT * FROM p2_{node.name}")
        got = list(cur.fetchone())
        got[7] = bytes(got[7])
        assert tuple(got) == row
    finally:
        conn.close()


def test_named_cursor_copy_and_errors(node):
    conn = connect(node)
    try:
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS p2c_{node.name}")
        cur.execute(f"CREATE TABLE p2c_{node.name} (id int PRIMARY KEY, v text)")
        conn.commit()
        data = io.StringIO("".join(f"{i}\tv{i}\n" for i in range(500)))
        cur.copy_expert(f"COPY p2c_{node.name} FROM STDIN", data)
        conn.commit()
        named = conn.cursor("named")
        named.itersize = 64
        named.execute(f"SELECT id FROM p2c_{node.name} ORDER BY id")
        assert [r[0] for r in named] == list(range(500))
        named.close()
        out = io.StringIO()
        cur.copy_expert(f"COPY (SELECT v FROM p2c_{node.name} WHERE id < 2 ORDER BY id) TO STDOUT", out)
        assert out.getvalue() == "v0\nv1\n"
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(f"INSERT INTO p2c_{node.name} VALUES (1, 'dup')")
        conn.rollback()
        psycopg2.extras.execute_values(
            cur, f"INSERT INTO p2c_{node.name} VALUES %s", [(1000 + i, "x") for i in range(10)]
        )
        conn.commit()
        cur.execute(f"SELECT count(*) FROM p2c_{node.name}")
        assert cur.fetchone() == (510,)
    finally:
        conn.close()


def test_queries_that_differ_only_in_numbers(node):
    """psycopg2 puts the values into the query text: the server runs such queries as one
    template with the numbers as parameters (sql/literals.py); results are the queries'."""
    table = f"p2n_{node.name}"
    conn = connect(node)
    conn.autocommit = True
    try:
        cur = conn.cursor()
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n int)")
        for i in range(1, 41):
            cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (i, i * 10))
        for i in range(1, 41):
            cur.execute(f"UPDATE {table} SET n = n + %s WHERE id = %s", (-i, i))
            cur.execute(f"SELECT n, n * 1.5, n + 3000000000 FROM {table} WHERE id = %s", (i,))
            assert cur.fetchone() == (i * 9, Decimal(i * 9) * Decimal("1.5"), i * 9 + 3000000000)
        cur.execute(f"SELECT id, n FROM {table} WHERE n > %s ORDER BY 1 DESC LIMIT %s", (300, 2))
        assert cur.fetchall() == [(40, 360), (39, 351)]
        # the same query, once the column's type changed
        cur.execute(f"DROP TABLE {table}")
        cur.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, n numeric(6,2))")
        cur.execute(f"INSERT INTO {table} VALUES (%s, %s)", (1, Decimal("2.5")))
        cur.execute(f"SELECT n, n * 1.5, n + 3000000000 FROM {table} WHERE id = %s", (1,))
        assert cur.fetchone() == (Decimal("2.50"), Decimal("3.750"), Decimal("3000000002.50"))
        with pytest.raises(psycopg2.errors.DivisionByZero):
            cur.execute(f"SELECT n / %s FROM {table} WHERE id = %s", (0, 1))
    finally:
        conn.close()
