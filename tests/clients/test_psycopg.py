"""psycopg 3 against a real cluster, on the leader and through a follower: simple and
prepared statements, text and binary formats, every supported type, server-side
cursors, COPY, pipelines and errors."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pytest
from psycopg.types.json import Json, Jsonb

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

UTC = dt.UTC
ROW = (
    1,
    -32768,
    2147483647,
    -(2**63),
    1.5,
    -2.25e-300,
    Decimal("12345678901234567890.0123456789"),
    True,
    "tëxt 'quoted' \\ \t",
    "varchar",
    b"\x00\xffbytes",
    dt.date(2024, 2, 29),
    dt.time(23, 59, 58, 123456),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999),
    dt.datetime(2020, 6, 1, 12, 30, tzinfo=UTC),
    uuid.UUID("12345678-1234-5678-1234-567812345678"),
    {"a": [1, 2, {"b": None}]},
    [1, None, 3],
    ["x", "y z", None],
    "ab   ",
    dt.timedelta(days=3, seconds=3661, microseconds=5),
    {"k": "v", "n": 1},
    [Decimal("1.5"), None],
    [True, False],
)
COLUMNS = (
    "id int PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, f4 real, f8 double precision, "
    "num numeric, flag boolean, t text, vc varchar(20), b bytea, d date, tm time, ts timestamp, "
    "tstz timestamptz, u uuid, j json, ia int[], ta text[], c char(5), iv interval, jb jsonb, "
    "na numeric[], ba boolean[]"
)


def _adapt(row: tuple) -> tuple:
    values = list(row)
    values[16] = Json(values[16])
    values[21] = Jsonb(values[21])
    values[19] = "ab"  # char(5) pads it
    return tuple(values)


def _table(conn: psycopg.Connection, name: str) -> str:
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TABLE {name} ({COLUMNS})")
    return name


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("prepare", [False, True], ids=["unprepared", "prepared"])
def test_every_type_round_trips(node, binary, prepare):
    with psycopg.connect(node.dsn, autocommit=True) as conn:
        table = _table(conn, f"types_{node.name}_{int(binary)}{int(prepare)}")
        placeholders = ", ".join(["%s"] * len(ROW))
        with conn.cursor(binary=binary) as cur:
            cur.execute(f"INSERT INTO {table} VALUES ({placeholders})", _adapt(ROW), prepare=prepare)
            cur.execute(f"SELECT * FROM {table} WHERE id = %s", (1,), prepare=prepare)
            got = cur.fetchone()
            assert got is not None
            assert got[:4] == ROW[:4]
            assert got[4] == pytest.approx(ROW[4])
            assert got[5:] == ROW[5:]


def test_client_side_binding_cursor(node):
    with psycopg.connect(node.dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        table = _table(conn, f"client_{node.name}")
        conn.execute(f"INSERT INTO {table} (id, t, num) VALUES (%s, %s, %s)", (1, "o'brien", Decimal("1.5")))
        assert conn.execute(f"SELECT t, num FROM {table}").fetchone() == ("o'brien", Decimal("1.5"))


def test_prepared_statements_are_reused(node):
    with psycopg.connect(node.dsn, autocommit=True, prepare_threshold=0) as conn:
        table = _table(conn, f"prep_{node.name}")
        for i in range(20):
            conn.execute(f"INSERT INTO {table} (id, t) VALUES (%s, %s)", (i, f"v{i}"))
        for i in range(20):
            assert conn.execute(f"SELECT t FROM {table} WHERE id = %s", (i,)).fetchone() == (f"v{i}",)
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (20,)


def test_transactions_and_errors(node):
    with psycopg.connect(node.dsn) as conn:
        table = _table(conn, f"txn_{node.name}")
        conn.commit()
        conn.execute(f"INSERT INTO {table} (id) VALUES (1)")
        conn.rollback()
        with conn.transaction():
            conn.execute(f"INSERT INTO {table} (id) VALUES (2)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(f"INSERT INTO {table} (id) VALUES (2)")
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM no_such_table")
        conn.rollback()
        assert conn.execute(f"SELECT id FROM {table}").fetchall() == [(2,)]


def test_server_side_cursor(node):
    with psycopg.connect(node.dsn) as conn:
        table = _table(conn, f"cursor_{node.name}")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} (id, t) VALUES (%s, %s)", [(i, str(i)) for i in range(250)])
        conn.commit()
        with conn.cursor(name="big") as cur:
            cur.itersize = 40
            cur.execute(f"SELECT id, t FROM {table} ORDER BY id")
            seen = [row[0] for row in cur]
        assert seen == list(range(250))
        with conn.cursor(name="scroll_me") as cur:
            cur.execute(f"SELECT id FROM {table} ORDER BY id")
            assert cur.fetchmany(3) == [(0,), (1,), (2,)]
            assert cur.fetchone() == (3,)
        conn.commit()


def test_copy_in_and_out(node):
    with psycopg.connect(node.dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS copy_{node.name}")
        conn.execute(f"CREATE TABLE copy_{node.name} (id int PRIMARY KEY, v text, at date)")
        with conn.cursor() as cur:
            with cur.copy(f"COPY copy_{node.name} (id, v, at) FROM STDIN") as copy:
                for i in range(1000):
                    copy.write_row((i, f"row {i}" if i % 10 else None, dt.date(2024, 1, 1 + i % 28)))
            assert conn.execute(f"SELECT count(*), count(v) FROM copy_{node.name}").fetchone() == (1000, 900)
            with cur.copy(f"COPY (SELECT id, v FROM copy_{node.name} WHERE id < 3 ORDER BY id) TO STDOUT") as copy:
                rows = list(copy.rows())
        assert rows == [("0", None), ("1", "row 1"), ("2", "row 2")]


def test_pipeline_mode(node):
    with psycopg.connect(node.dsn, autocommit=True) as conn:
        table = _table(conn, f"pipe_{node.name}")
        with conn.pipeline():
            for i in range(50):
                conn.execute(f"INSERT INTO {table} (id, i4) VALUES (%s, %s)", (i, i * i))
            cur = conn.execute(f"SELECT sum(i4) FROM {table}")
        assert cur.fetchone() == (sum(i * i for i in range(50)),)
