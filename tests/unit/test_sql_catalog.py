"""The catalog: definitions in MVCC keys, transactional DDL, the per-version cache."""

from __future__ import annotations

import asyncio

import pytest

from quorumdb.sql import keys
from quorumdb.sql import types as T
from quorumdb.sql.catalog import CatalogCache, ColumnInfo, TableDef, create_table, drop_table
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import DuplicateTable, SerializationFailure, UndefinedTable
from quorumdb.sql.txn import Transaction
from quorumdb.storage import MVCC, MemoryEngine

COLUMNS = (
    ColumnInfo("id", T.INT4, True),
    ColumnInfo("name", T.varchar(10)),
    ColumnInfo("n", T.numeric(6, 2)),
)


@pytest.fixture
def engine() -> LocalEngine:
    return LocalEngine(MVCC(MemoryEngine()), sync=False)


def begin(engine: LocalEngine) -> Transaction:
    t = Transaction(engine, 1)
    t.begin_statement()
    return t


def commit(t: Transaction) -> None:
    asyncio.run(t.commit())


def next_statement(t: Transaction) -> None:
    t.release_statement()
    t.begin_statement()


def test_table_definitions_round_trip() -> None:
    table = TableDef(7, "t", COLUMNS, (0,), "t_pkey")
    again = TableDef.decode(table.encode())
    assert again == table
    assert again.columns[1].type == T.varchar(10) and again.columns[2].type == T.numeric(6, 2)
    assert again.prefix == keys.table_prefix(7) and again.index_of == {"id": 0, "name": 1, "n": 2}


def test_ddl_is_transactional_and_ids_are_never_reused(engine: LocalEngine) -> None:
    cache = CatalogCache()
    t = begin(engine)
    created = create_table(t, "t", COLUMNS, (0,), "t_pkey")
    assert created.id == 1
    next_statement(t)
    assert cache.current(t).get("t") == created  # visible to its own transaction
    other = begin(engine)
    assert cache.current(other).get("t") is None  # ... and to nobody else
    commit(t)
    t = begin(engine)
    current = cache.current(t)
    assert current.table("t") == created and current.version == 1
    drop_table(t, created)
    assert create_table(t, "t", COLUMNS, (), "t_pkey").id == 2
    commit(t)
    t = begin(engine)
    assert cache.current(t).table("t").id == 2
    with pytest.raises(DuplicateTable):
        create_table(t, "t", COLUMNS, (), "t_pkey")
    with pytest.raises(UndefinedTable, match='relation "nope" does not exist'):
        cache.current(t).table("nope")


def test_each_catalog_version_is_decoded_once(engine: LocalEngine) -> None:
    cache = CatalogCache()
    t = begin(engine)
    create_table(t, "a", COLUMNS, (0,), "a_pkey")
    commit(t)
    for _ in range(5):
        cache.current(begin(engine))
    assert cache.loads == 1
    t = begin(engine)
    create_table(t, "b", COLUMNS, (0,), "b_pkey")
    next_statement(t)
    uncommitted = cache.current(t)
    assert uncommitted.version is None and uncommitted.get("b") is not None
    commit(t)
    latest = cache.current(begin(engine))
    assert latest.version == 2 and set(latest.tables) == {"a", "b"}


def test_concurrent_ddl_conflicts(engine: LocalEngine) -> None:
    first, second = begin(engine), begin(engine)
    create_table(first, "x", COLUMNS, (0,), "x_pkey")
    create_table(second, "y", COLUMNS, (0,), "y_pkey")
    commit(first)
    with pytest.raises(SerializationFailure):
        commit(second)
