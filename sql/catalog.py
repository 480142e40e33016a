"""The catalog: table definitions stored in MVCC keys, and a per-Database cache.

Definitions live under `keys.TABLE_DEFS_PREFIX` like any other data, so DDL
is transactional (rolled back with its transaction, invisible to others
until commit) and replicated through the same Raft entry as the rest of the
transaction's writes.

Invariants:

* Every DDL writes `keys.CATALOG_VERSION_KEY` with the next version number,
  and writes carry expected versions, so two transactions that change the
  catalog concurrently cannot both commit (the second gets 40001). Hence a
  committed version number identifies exactly one catalog state, and a
  `Catalog` built at version v can be shared by every statement that reads
  version v: `CatalogCache` decodes each version once.
* A transaction with uncommitted DDL sees its own catalog, which must never
  be shared: such a `Catalog` has ``version=None`` (and plans built on it are
  not cached).
* Table ids come from `keys.NEXT_TABLE_ID_KEY` inside the creating
  transaction, so they are deterministic and never reused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import msgpack

from quorumdb.storage import keycode
from quorumdb.storage.errors import DuplicateTable, UndefinedTable

from . import keys
from . import types as T
from .txn import Transaction
from .types import SqlType

__all__ = [
    "ColumnInfo",
    "TableDef",
    "Catalog",
    "CatalogCache",
    "load_catalog",
    "create_table",
    "drop_table",
]

FIRST_TABLE_OID = (
    16384  # PostgreSQL's first OID for user objects; RowDescription shows oid = this + id
)


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    name: str
    type: SqlType
    not_null: bool = False


@dataclass(frozen=True, slots=True)
class TableDef:
    """A table. `primary_key` holds column positions in key order; () means the
    rows are keyed by a hidden row id. Derived lookups are computed once."""

    id: int
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[int, ...]
    pkey_name: str
    prefix: bytes = field(init=False, compare=False, repr=False)
    index_of: dict[str, int] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", keys.table_prefix(self.id))
        object.__setattr__(self, "index_of", {c.name: i for i, c in enumerate(self.columns)})

    @property
    def oid(self) -> int:
        return FIRST_TABLE_OID + self.id

    @property
    def key_range(self) -> tuple[bytes, bytes | None]:
        return keycode.prefix_range(self.prefix)

    def encode(self) -> bytes:
        return msgpack.packb(  # type: ignore[no-any-return]
            {
                "id": self.id,
                "name": self.name,
                "columns": [[c.name, c.type.oid, c.type.typmod, c.not_null] for c in self.columns],
                "pk": list(self.primary_key),
                "pkey": self.pkey_name,
            }
        )

    @classmethod
    def decode(cls, data: bytes) -> TableDef:
        raw = msgpack.unpackb(data)
        columns = tuple(
            ColumnInfo(name, T.type_from_oid(oid, typmod), not_null)
            for name, oid, typmod, not_null in raw["columns"]
        )
        return cls(raw["id"], raw["name"], columns, tuple(raw["pk"]), raw["pkey"])


class Catalog:
    """All table definitions as of one catalog version (immutable once built)."""

    __slots__ = ("version", "tables")

    def __init__(self, version: int | None, tables: dict[str, TableDef]) -> None:
        self.version = version
        self.tables = tables

    def get(self, name: str) -> TableDef | None:
        return self.tables.get(name)

    def table(self, name: str, position: int | None = None) -> TableDef:
        table = self.tables.get(name)
        if table is None:
            raise UndefinedTable(f'relation "{name}" does not exist', position=position)
        return table


def _read_int(txn: Transaction, key: bytes) -> int:
    raw = txn.get_latest(key)
    return int(msgpack.unpackb(raw)) if raw is not None else 0


def catalog_version(txn: Transaction) -> int:
    return _read_int(txn, keys.CATALOG_VERSION_KEY)


def load_catalog(txn: Transaction, version: int | None) -> Catalog:
    start, end = keycode.prefix_range(keys.TABLE_DEFS_PREFIX)
    tables = {}
    for _, value in txn.scan(start, end):
        table = TableDef.decode(value)
        tables[table.name] = table
    return Catalog(version, tables)


class CatalogCache:
    """Decoded catalogs by version; a statement pays one key read to find its catalog."""

    def __init__(self, capacity: int = 4) -> None:
        self._capacity = capacity
        self._by_version: dict[int, Catalog] = {}
        self._lock = threading.Lock()
        self.loads = 0  # how many times a catalog was decoded (observable in tests)

    def current(self, txn: Transaction) -> Catalog:
        if txn.has_written(keys.CATALOG_VERSION_KEY):
            self.loads += 1
            return load_catalog(txn, None)
        version = catalog_version(txn)
        catalog = self._by_version.get(version)
        if catalog is None:
            self.loads += 1
            catalog = load_catalog(txn, version)
            with self._lock:
                if len(self._by_version) >= self._capacity:
                    self._by_version.pop(min(self._by_version))
                self._by_version[version] = catalog
        return catalog


def _bump_version(txn: Transaction) -> None:
    txn.put(keys.CATALOG_VERSION_KEY, msgpack.packb(catalog_version(txn) + 1))


def create_table(
    txn: Transaction,
    name: str,
    columns: tuple[ColumnInfo, ...],
    primary_key: tuple[int, ...],
    pkey_name: str,
) -> TableDef:
    """Write a new table definition; raises DuplicateTable if the name is taken."""
    def_key = keys.table_def_key(name)
    if txn.get_latest(def_key) is not None:
        raise DuplicateTable(f'relation "{name}" already exists')
    table_id = _read_int(txn, keys.NEXT_TABLE_ID_KEY) or 1
    txn.put(keys.NEXT_TABLE_ID_KEY, msgpack.packb(table_id + 1))
    table = TableDef(table_id, name, columns, primary_key, pkey_name)
    txn.put(def_key, table.encode())
    _bump_version(txn)
    return table


def drop_table(txn: Transaction, table: TableDef) -> None:
    """Remove the definition. The rows stay behind under a table id that is never
    reused (reclaiming them needs a range deletion in storage; see docs)."""
    txn.delete(keys.table_def_key(table.name))
    _bump_version(txn)
