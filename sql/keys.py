"""The SQL layer's key layout in the MVCC key space.

Every key is a `storage.keycode` tuple whose first element names a keyspace,
so byte order groups keys by keyspace, then object, then key values::

    (CATALOG, "version")                   catalog version token, rewritten by every DDL
    (CATALOG, "schema", name)              a schema definition (sql/catalog.py)
    (CATALOG, "rel", schema, name)         a relation: table, index, view or sequence
    (CATALOG, "reclaim", data_id)          a dropped data range, deleted by GC once no
                                           snapshot can see the drop (sql/gc.py)
    (TABLE_DATA, data_id, *pk)             one row; pk = primary-key values in key order,
                                           or (read_ts, n) for a table without one
    (INDEX, data_id, *values, *row_suffix) one secondary-index entry; value = row_suffix
    (COUNTER, object_id)                   a sequence's (or the oid allocator's) replicated
                                           high-water mark, written outside transactions

A table's rows live under its *data id*, not its object id: TRUNCATE and
rewrites (ADD PRIMARY KEY, DROP COLUMN) move the rows to a fresh data id and
leave the old range to GC, the way PostgreSQL swaps relfilenodes. Ids come
from one allocator and are never reused, so rows left behind by a dropped
table can never reappear in a new one.

Because the keycode encoding of a tuple is the concatenation of its
elements, a row key is `table_prefix(data_id)` followed by `encode(pk)`: the
*row suffix*. An index entry is `index_prefix(data_id) + encode(values) +
row_suffix` and stores the row suffix as its value, so the row key of an
entry is `table_prefix + value` without decoding anything. Entries of a
unique index are found by the prefix `index_prefix + encode(values)`.
"""

from __future__ import annotations

from quorumdb.storage import keycode

__all__ = [
    "CATALOG",
    "TABLE_DATA",
    "INDEX",
    "COUNTER",
    "CATALOG_PREFIX",
    "CATALOG_VERSION_KEY",
    "SCHEMA_PREFIX",
    "REL_PREFIX",
    "RECLAIM_PREFIX",
    "OID_COUNTER_KEY",
    "schema_key",
    "rel_key",
    "reclaim_key",
    "counter_key",
    "table_prefix",
    "row_key",
    "index_prefix",
    "index_entry_key",
    "index_value_prefix",
    "describe",
]

CATALOG = 1
TABLE_DATA = 2
INDEX = 3
COUNTER = 4

CATALOG_PREFIX = keycode.encode((CATALOG,))
CATALOG_VERSION_KEY = keycode.encode((CATALOG, "version"))
SCHEMA_PREFIX = keycode.encode((CATALOG, "schema"))
REL_PREFIX = keycode.encode((CATALOG, "rel"))
RECLAIM_PREFIX = keycode.encode((CATALOG, "reclaim"))
OID_COUNTER_KEY = keycode.encode((COUNTER, 0))


def schema_key(name: str) -> bytes:
    return SCHEMA_PREFIX + keycode.encode_one(name)


def rel_key(schema: str, name: str) -> bytes:
    """Tables, indexes, views and sequences share one namespace per schema (pg_class)."""
    return REL_PREFIX + keycode.encode((schema, name))


def reclaim_key(data_id: int) -> bytes:
    return RECLAIM_PREFIX + keycode.encode_one(data_id)


def counter_key(object_id: int) -> bytes:
    return keycode.encode((COUNTER, object_id))


def table_prefix(data_id: int) -> bytes:
    """Every row key of the table starts with these bytes."""
    return keycode.encode((TABLE_DATA, data_id))


def row_key(data_id: int, pk: tuple[object, ...]) -> bytes:
    return table_prefix(data_id) + keycode.encode(pk)


def index_prefix(data_id: int) -> bytes:
    """Every entry key of the index starts with these bytes."""
    return keycode.encode((INDEX, data_id))


def index_value_prefix(
    prefix: bytes, values: tuple[object, ...], options: tuple[int, ...] = ()
) -> bytes:
    """The common prefix of the entries whose leading columns hold `values` (`options`:
    the index's per-column order, keycode.DESC / NULLS_FIRST; empty: all ascending)."""
    if options:
        return prefix + keycode.encode_ordered(values, options)
    return prefix + keycode.encode(values)


def index_entry_key(
    prefix: bytes, values: tuple[object, ...], row_suffix: bytes, options: tuple[int, ...] = ()
) -> bytes:
    return index_value_prefix(prefix, values, options) + row_suffix


def describe(key: bytes) -> str:
    """A readable form of a key, for tests and debugging: Row(3, 1, 'a'), Catalog('version')."""
    values = keycode.decode(key)
    kind = {CATALOG: "Catalog", TABLE_DATA: "Row", INDEX: "Index", COUNTER: "Counter"}.get(
        values[0],  # type: ignore[call-overload]
        str(values[0]),
    )
    return f"{kind}({', '.join(repr(v) for v in values[1:])})"
