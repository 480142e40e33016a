"""The catalog: definitions in MVCC keys, transactional DDL, the per-state cache."""

from __future__ import annotations

import asyncio

import pytest

from quorumdb.sql import keys
from quorumdb.sql import types as T
from quorumdb.sql.catalog import (
    CatalogCache,
    CheckDef,
    ColumnInfo,
    ForeignKeyDef,
    IndexDef,
    SchemaDef,
    SequenceDef,
    TableDef,
    bump_version,
    create_table,
    drop_table,
    load_catalog,
    put_relation,
)
from quorumdb.sql.engine import Isolation
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import UndefinedTable
from quorumdb.sql.txn import Transaction, WouldBlock
from quorumdb.storage import MVCC, MemoryEngine
from quorumdb.storage.errors import SerializationFailure

COLUMNS = (
    ColumnInfo("id", T.INT4, True),
    ColumnInfo("name", T.varchar(10), default="'x'"),
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


def table(table_id: int, name: str, **kwargs) -> TableDef:  # type: ignore[no-untyped-def]
    return TableDef(table_id, name, COLUMNS, (0,), f"{name}_pkey", **kwargs)


def create(t: Transaction, table_def: TableDef, token: int) -> None:
    create_table(t, table_def)
    bump_version(t, token)


def test_table_definitions_round_trip() -> None:
    original = table(
        7,
        "t",
        schema="s",
        data_id=9,
        indexes=(IndexDef(10, "t_name_key", (1,), True, 11, constraint=True),),
        checks=(CheckDef("t_n_check", "n > 0"),),
        foreign_keys=(ForeignKeyDef("t_id_fkey", (0,), 3, (0,), "c", "a"),),
    )
    again = TableDef.decode(original.encode())
    assert again == original
    assert again.columns[1].type == T.varchar(10) and again.columns[2].type == T.numeric(6, 2)
    assert again.columns[1].default == "'x'"
    assert again.prefix == keys.table_prefix(9) and again.index_of == {"id": 0, "name": 1, "n": 2}
    assert again.indexes[0].prefix == keys.index_prefix(11)
    assert again.unique_keys() == [("t_pkey", (0,), None), ("t_name_key", (1,), again.indexes[0])]


def test_index_entries_lead_with_the_values_and_point_at_the_row() -> None:
    t = table(1, "t", indexes=(IndexDef(2, "i", (1, 0), False, 3),))
    row = (5, "a", None)
    suffix = (t.prefix + b"xyz")[len(t.prefix) :]
    entry = t.indexes[0].entry_key(row, suffix)
    assert entry.startswith(t.indexes[0].value_prefix(("a",)))
    assert entry.startswith(t.indexes[0].value_prefix(("a", 5)))
    assert entry.endswith(suffix)


def test_ddl_is_transactional(engine: LocalEngine) -> None:
    cache = CatalogCache()
    t = begin(engine)
    created = table(1, "t")
    create(t, created, 100)
    next_statement(t)
    assert cache.current(t).get("t") == created  # visible to its own transaction
    other = begin(engine)
    assert cache.current(other).get("t") is None  # ... and to nobody else
    commit(t)
    t = begin(engine)
    current = cache.current(t)
    assert current.table("t") == created and current.version == 100
    drop_table(t, created)
    bump_version(t, 101)
    create(t, table(2, "t"), 101)
    commit(t)
    t = begin(engine)
    assert cache.current(t).table("t").id == 2
    with pytest.raises(UndefinedTable, match='relation "nope" does not exist'):
        cache.current(t).table("nope")
    # The dropped table's rows are scheduled for GC.
    assert t.get(keys.reclaim_key(1)) is not None


def test_each_catalog_state_is_decoded_once(engine: LocalEngine) -> None:
    cache = CatalogCache()
    t = begin(engine)
    create(t, table(1, "a"), 100)
    commit(t)
    for _ in range(5):
        cache.current(begin(engine))
    assert cache.loads == 1
    t = begin(engine)
    create(t, table(2, "b"), 101)
    next_statement(t)
    uncommitted = cache.current(t)
    assert uncommitted.version is None and uncommitted.get("b") is not None
    commit(t)
    latest = cache.current(begin(engine))
    assert latest.version == 101 and set(latest.tables) == {"a", "b"}


def test_concurrent_ddl_on_different_tables_both_commit(engine: LocalEngine) -> None:
    first, second = begin(engine), begin(engine)
    create(first, table(1, "x"), 100)
    create(second, table(2, "y"), 101)
    commit(first)
    commit(second)
    assert set(load_catalog(begin(engine), 0).tables) == {"x", "y"}


def test_a_writer_whose_snapshot_predates_a_change_of_its_table_is_told(engine: LocalEngine) -> None:
    """lock_table skips the definition's own read while the catalog version is older
    than the snapshot (a memo per applied index); a DDL that commits in between must
    still be seen: 40001 in REPEATABLE READ, a restart (WouldBlock) in READ COMMITTED."""
    t = begin(engine)
    create(t, table(1, "x"), 100)
    commit(t)
    def_key = keys.rel_key("public", "x")
    writers = {}
    for isolation in (Isolation.REPEATABLE_READ, Isolation.READ_COMMITTED):
        w = writers[isolation] = Transaction(engine, 2, isolation=isolation)
        w.begin_statement()
        w.lock_table(1, def_key)  # unchanged since the snapshot: passes (and fills the memo)
    ddl = begin(engine)
    put_relation(ddl, table(1, "x", checks=()))
    bump_version(ddl, 101)
    commit(ddl)
    with pytest.raises(SerializationFailure):
        writers[Isolation.REPEATABLE_READ].lock_table(1, def_key)
    with pytest.raises(WouldBlock):
        writers[Isolation.READ_COMMITTED].lock_table(1, def_key)
    later = begin(engine)
    later.lock_table(1, def_key)  # a snapshot after the change passes


def test_search_path_and_schemas(engine: LocalEngine) -> None:
    t = begin(engine)
    t.put(keys.schema_key("s"), SchemaDef(5, "s").encode())
    create(t, table(1, "t", schema="s"), 100)
    create(t, table(2, "t"), 100)
    commit(t)
    cache = CatalogCache()
    reader = begin(engine)
    default = cache.current(reader)
    assert default.table("t").schema == "public" and default.version == 100
    s_first = cache.current(reader, ("s", "public"))
    assert s_first.table("t").schema == "s" and s_first.version == (100, ("s", "public"))
    assert s_first.table("t", schema="public").id == 2
    assert cache.current(reader, ("nosuch", "public")) is default  # missing schemas are skipped
    with pytest.raises(UndefinedTable, match='relation "x.t" does not exist'):
        default.table("t", schema="x")


def test_foreign_keys_are_linked_both_ways(engine: LocalEngine) -> None:
    t = begin(engine)
    parent = table(1, "p")
    child = table(2, "c", foreign_keys=(ForeignKeyDef("c_id_fkey", (0,), 1, (0,)),))
    create(t, parent, 100)
    create(t, child, 100)
    t.put(keys.rel_key("public", "s"), SequenceDef(3, "s", "public", owned_by=(2, "id")).encode())
    commit(t)
    catalog = CatalogCache().current(begin(engine))
    p, c = catalog.table("p"), catalog.table("c")
    assert [(x.name, fk.name) for x, fk in p.referenced_by] == [("c", "c_id_fkey")]
    assert [(fk.name, x.name) for fk, x in c.references] == [("c_id_fkey", "p")]
    assert catalog.dependents(1) == [c]
    assert [s.name for s in catalog.owned_sequences(2)] == ["s"]
