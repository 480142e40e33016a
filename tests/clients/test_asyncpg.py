"""asyncpg (extended protocol only, binary codecs) on the leader and through a follower.

Arrays: asyncpg decodes them only after introspecting their element type with
a recursive query over pg_type that takes an ``oid[]`` parameter and reads
``oid``/``oid[]`` columns, so these tests also cover the catalog's oid
columns (sql/pgcatalog.py) and the oid type's binary I/O."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import uuid
from decimal import Decimal

import asyncpg
import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

UTC = dt.UTC


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _connect(node):  # type: ignore[no-untyped-def]
    return await asyncpg.connect(host=node.host, port=node.port, user=node.user, database=node.dbname)


async def _fresh_table(conn, name: str, columns: str) -> str:  # type: ignore[no-untyped-def]
    """(Re)create table `name` with `columns` (this node's tables from an earlier run go)."""
    await conn.execute(f"DROP TABLE IF EXISTS {name}")
    await conn.execute(f"CREATE TABLE {name} ({columns})")
    return name


def test_binary_codecs_round_trip(node):
    row = (
        1, 12, 123456, 1 << 50, 0.5, 1e-300, Decimal("1234.5678"), True, "text ✓", "vc",
        b"\x00bin", dt.date(1970, 1, 1), dt.time(1, 2, 3, 4),
        dt.datetime(2038, 1, 19, 3, 14, 7), dt.datetime(2000, 1, 1, tzinfo=UTC),
        uuid.UUID(int=42), '{"a": 1}', "ab   ", dt.timedelta(days=-1, seconds=5), '{"b": [true, null]}',
    )  # fmt: skip

    async def main() -> None:
        conn = await _connect(node)
        try:
            table = await _fresh_table(
                conn,
                f"apg_{node.name}",
                "id int PRIMARY KEY, s smallint, i int, b bigint, f4 real, f8 float8, n numeric, "
                "flag bool, t text, v varchar(5), by bytea, d date, tm time, ts timestamp, "
                "tz timestamptz, u uuid, j json, c char(5), iv interval, jb jsonb",
            )
            placeholders = ", ".join(f"${i + 1}" for i in range(len(row)))
            await conn.execute(f"INSERT INTO {table} VALUES ({placeholders})", *row[:17], "ab", *row[18:])
            got = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", 1)
            assert tuple(got) == row
        finally:
            await conn.close()

    run(main())


def test_prepared_statements_executemany_transactions_and_cursors(node):
    async def main() -> None:
        conn = await _connect(node)
        try:
            table = await _fresh_table(conn, f"apg2_{node.name}", "id int PRIMARY KEY, v text")
            await conn.executemany(
                f"INSERT INTO {table} VALUES ($1, $2)", [(i, f"v{i}") for i in range(300)]
            )
            stmt = await conn.prepare(f"SELECT v FROM {table} WHERE id = $1")
            assert [a.name for a in stmt.get_attributes()] == ["v"]
            assert [t.name for t in stmt.get_parameters()] == ["int4"]
            for i in (0, 150, 299):
                assert await stmt.fetchval(i) == f"v{i}"
            async with conn.transaction():
                seen = [r["id"] async for r in conn.cursor(f"SELECT id FROM {table} ORDER BY id", prefetch=50)]
            assert seen == list(range(300))
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(f"INSERT INTO {table} VALUES (1, 'dup')")
            try:
                async with conn.transaction():
                    await conn.execute(f"INSERT INTO {table} VALUES (1000, 'x')")
                    raise RuntimeError("roll back")
            except RuntimeError:
                pass
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 300
            await conn.copy_to_table(
                table, source=io.BytesIO(b"5000,a\n5001,b\n"), columns=["id", "v"], format="csv"
            )
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 302
        finally:
            await conn.close()

    run(main())


def test_array_round_trips(node):
    rows = [
        (1, [1, None, -3], ["a", "b c", None, 'q"uote', ""], [Decimal("1.50"), None, Decimal("-2")],
         [True, False, None]),
        (2, [], [], [], []),
        (3, None, None, None, None),
    ]  # fmt: skip

    async def main() -> None:
        conn = await _connect(node)
        try:
            table = await _fresh_table(
                conn, f"apg_arr_{node.name}", "id int PRIMARY KEY, i int[], t text[], n numeric[], b bool[]"
            )
            await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2, $3, $4, $5)", rows)
            got = await conn.fetch(f"SELECT * FROM {table} ORDER BY id")
            assert [tuple(r) for r in got] == rows
            # parameters and results of array type, and the oid type itself
            assert await conn.fetchval("SELECT $1::int8[] || 7::int8", [5, 6]) == [5, 6, 7]
            assert await conn.fetchval("SELECT 'int4'::regtype::oid") == 23
            oids = await conn.fetchval("SELECT array_agg(oid ORDER BY oid) FROM pg_type "
                                       "WHERE oid = ANY($1::oid[])", [25, 23, 4294967295])
            assert oids == [23, 25]
        finally:
            await conn.close()

    run(asyncio.wait_for(main(), 60))
