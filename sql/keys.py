"""The SQL layer's key layout in the MVCC key space.

Every key is a `storage.keycode` tuple whose first element names a keyspace,
so byte order groups keys by keyspace, then table, then primary key::

    (CATALOG, "version")              catalog version, bumped by every DDL
    (CATALOG, "next_table_id")        table id allocator
    (CATALOG, "table", name)          a table definition (sql/catalog.py)
    (TABLE_DATA, table_id, *pk)       one row; pk = primary-key values in key order,
                                      or (read_ts, n) for a table without one
    (INDEX, index_id, *values, *pk)   reserved for secondary indexes

Table ids are never reused, so rows left behind by a dropped table can never
reappear in a new one. Because keycode encoding of a tuple is the
concatenation of its elements, a row key is `table_prefix(id)` followed by
`encode(pk)`: the prefix is computed once per table and reused.
"""

from __future__ import annotations

from quorumdb.storage import keycode

__all__ = [
    "CATALOG",
    "TABLE_DATA",
    "INDEX",
    "CATALOG_VERSION_KEY",
    "NEXT_TABLE_ID_KEY",
    "TABLE_DEFS_PREFIX",
    "table_def_key",
    "table_prefix",
    "row_key",
    "describe",
]

CATALOG = 1
TABLE_DATA = 2
INDEX = 3

CATALOG_VERSION_KEY = keycode.encode((CATALOG, "version"))
NEXT_TABLE_ID_KEY = keycode.encode((CATALOG, "next_table_id"))
TABLE_DEFS_PREFIX = keycode.encode((CATALOG, "table"))


def table_def_key(name: str) -> bytes:
    return TABLE_DEFS_PREFIX + keycode.encode_one(name)


def table_prefix(table_id: int) -> bytes:
    """Every row key of the table starts with these bytes."""
    return keycode.encode((TABLE_DATA, table_id))


def row_key(table_id: int, pk: tuple[object, ...]) -> bytes:
    return table_prefix(table_id) + keycode.encode(pk)


def describe(key: bytes) -> str:
    """A readable form of a key, for tests and debugging: Row(3, 1, 'a'), Catalog('version')."""
    values = keycode.decode(key)
    kind = {CATALOG: "Catalog", TABLE_DATA: "Row", INDEX: "Index"}.get(values[0], str(values[0]))  # type: ignore[call-overload]
    return f"{kind}({', '.join(repr(v) for v in values[1:])})"
