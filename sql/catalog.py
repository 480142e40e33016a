"""The catalog: schema objects stored in MVCC keys, and a per-version cache.

Definitions live under `keys.CATALOG_PREFIX` like any other data, so DDL is
transactional (rolled back with its transaction, invisible to others until
commit) and replicated through the same Raft entry as the rest of the
transaction's writes. Tables, indexes, views and sequences share one
namespace per schema, as in PostgreSQL's pg_class; a table's indexes and
constraints are part of its definition, so one key read decodes a table.
The definitions themselves (`TableDef`, `IndexDef`, ...) are in
sql/catalog_defs.py and re-exported here.

Invariants:

* Every DDL statement writes `keys.CATALOG_VERSION_KEY` with a fresh, never
  reused token (`bump_version`, an id from the id allocator), blindly:
  concurrent DDL on unrelated objects both commit, as in PostgreSQL, and DDL
  on the same object is serialised by the object's lock (sql/locks.py) and
  its key's expected version. A token
  therefore identifies exactly one committed catalog state, so a `Catalog`
  decoded at token v can be shared by every statement that reads v:
  `CatalogCache` decodes each state once.
* A transaction with uncommitted DDL sees its own catalog, which must never
  be shared: such a `Catalog` has ``version=None`` (and plans built on it are
  not cached).
* Object ids and data ids come from one non-transactional allocator
  (sql/sequences.py) and are never reused.
* Every derived field (`TableDef.prefix`, `referenced_by`, ...) is computed
  from the stored definitions when the catalog is built, never stored.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

import msgpack

from quorumdb.storage import keycode
from quorumdb.storage.errors import QuorumError, UndefinedTable

from . import keys
from .catalog_defs import (
    CASCADE,
    FIRST_TABLE_OID,
    NO_ACTION,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    CheckDef,
    ColumnInfo,
    ForeignKeyDef,
    IndexDef,
    IndexName,
    Relation,
    SchemaDef,
    SequenceDef,
    TableDef,
    ViewDef,
    decode_relation,
    quote_ident,
    regclass_text,
)
from .txn import Transaction

__all__ = [
    "FIRST_TABLE_OID",
    "NO_ACTION",
    "RESTRICT",
    "CASCADE",
    "SET_NULL",
    "SET_DEFAULT",
    "IndexName",
    "ColumnInfo",
    "IndexDef",
    "CheckDef",
    "ForeignKeyDef",
    "TableDef",
    "ViewDef",
    "SequenceDef",
    "SchemaDef",
    "Relation",
    "Catalog",
    "CatalogCache",
    "load_catalog",
    "catalog_state",
    "schedule_reclaim",
    "bump_version",
    "put_relation",
    "delete_relation",
    "create_table",
    "drop_table",
    "DEFAULT_SEARCH_PATH",
    "quote_ident",
    "regclass_text",
]

DEFAULT_SEARCH_PATH = ("public",)


class Catalog:
    """Every schema object as of one catalog state, seen through a search path.

    Immutable once built. `version` identifies what plans depend on (the
    catalog state and, when it is not the default, the search path); None for
    a transaction's own uncommitted catalog. `tables` maps the names visible
    without a schema to their tables.
    """

    __slots__ = (
        "version",
        "state",
        "search_path",
        "schemas",
        "relations",
        "tables",
        "tables_by_id",
        "sequences_by_id",
        "_paths",
    )

    def __init__(
        self,
        state: int | None,
        schemas: dict[str, SchemaDef],
        relations: dict[tuple[str, str], Relation],
        search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH,
    ) -> None:
        self.state = state
        self.schemas = schemas
        self.relations = relations
        self.search_path = tuple(s for s in search_path if s in schemas)
        if state is None:
            self.version: object = None
        elif self.search_path == DEFAULT_SEARCH_PATH:
            self.version = state
        else:
            self.version = (state, self.search_path)
        self.tables_by_id: dict[int, TableDef] = {
            r.id: r for r in relations.values() if isinstance(r, TableDef)
        }
        self.sequences_by_id: dict[int, SequenceDef] = {
            r.id: r for r in relations.values() if isinstance(r, SequenceDef)
        }
        self.tables: dict[str, TableDef] = {}
        for schema in reversed(self.search_path):
            for (s, name), r in relations.items():
                if s == schema and isinstance(r, TableDef):
                    self.tables[name] = r
        self._paths: dict[tuple[str, ...], Catalog] = {}

    def with_search_path(self, search_path: tuple[str, ...]) -> Catalog:
        """This catalog state seen through another search path (cached, by the path
        as given and by the schemas of it that exist)."""
        found = self._paths.get(search_path)
        if found is not None:
            return found
        effective = tuple(s for s in search_path if s in self.schemas)
        if effective == self.search_path:
            found = self
        else:
            found = self._paths.get(effective)
            if found is None:
                found = Catalog(self.state, self.schemas, self.relations, effective)
                found._paths = self._paths
                self._paths[effective] = found
        self._paths[search_path] = found
        return found

    # ---- lookups -----------------------------------------------------------------

    def lookup(self, name: str, schema: str | None = None) -> Relation | None:
        """The relation `name` (in `schema`, or the first on the search path that has it)."""
        if schema is not None:
            return self.relations.get((schema, name))
        for s in self.search_path:
            found = self.relations.get((s, name))
            if found is not None:
                return found
        return None

    def get(self, name: str, schema: str | None = None) -> TableDef | None:
        found = self.lookup(name, schema)
        return found if isinstance(found, TableDef) else None

    def table(self, name: str, position: int | None = None, schema: str | None = None) -> TableDef:
        found = self.get(name, schema)
        if found is None:
            shown = f"{schema}.{name}" if schema is not None else name
            raise UndefinedTable(f'relation "{shown}" does not exist', position=position)
        return found

    def view(self, name: str, schema: str | None = None) -> ViewDef | None:
        found = self.lookup(name, schema)
        return found if isinstance(found, ViewDef) else None

    def sequence(self, name: str, schema: str | None = None) -> SequenceDef | None:
        found = self.lookup(name, schema)
        return found if isinstance(found, SequenceDef) else None

    def check_schema(self, schema: str | None, position: int | None = None) -> None:
        """Raise 3F000 if `schema` is given and does not exist."""
        if schema is not None and schema not in self.schemas and schema not in _SYSTEM_SCHEMAS:
            raise QuorumError(
                f'schema "{schema}" does not exist', sqlstate="3F000", position=position
            )

    def creation_schema(self, schema: str | None, position: int | None = None) -> str:
        """The schema a new object named without one goes to (the first on the path)."""
        if schema is not None:
            if schema in _SYSTEM_SCHEMAS:
                raise QuorumError(
                    f"permission denied to create objects in schema {schema}",
                    sqlstate="42501",
                    position=position,
                )
            self.check_schema(schema, position)
            return schema
        if not self.search_path:
            raise QuorumError(
                "no schema has been selected to create in", sqlstate="3F000", position=position
            )
        return self.search_path[0]

    def all_tables(self) -> Iterator[TableDef]:
        for r in self.relations.values():
            if isinstance(r, TableDef):
                yield r

    def index_table(self, name: str, schema: str | None = None) -> tuple[TableDef, IndexDef | None] | None:
        """The table that holds index `name` and the index (None: the primary key)."""
        found = self.lookup(name, schema)
        if not isinstance(found, IndexName):
            return None
        table = self.tables_by_id.get(found.table)
        if table is None:
            return None
        return table, table.index(name)

    def dependents(self, object_id: int) -> list[Relation]:
        """Views that read the object, and tables with foreign keys pointing at it."""
        out: list[Relation] = []
        for r in self.relations.values():
            if isinstance(r, ViewDef) and object_id in r.depends_on:
                out.append(r)
            elif isinstance(r, TableDef) and r.id != object_id:
                if any(fk.ref_table == object_id for fk in r.foreign_keys):
                    out.append(r)
        return out

    def owned_sequences(self, table_id: int) -> list[SequenceDef]:
        return [
            r
            for r in self.relations.values()
            if isinstance(r, SequenceDef) and r.owned_by is not None and r.owned_by[0] == table_id
        ]


_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema")


def _link_foreign_keys(relations: dict[tuple[str, str], Relation]) -> None:
    by_id = {r.id: r for r in relations.values() if isinstance(r, TableDef)}
    incoming: dict[int, list[tuple[TableDef, ForeignKeyDef]]] = {}
    for table in by_id.values():
        for fk in table.foreign_keys:
            incoming.setdefault(fk.ref_table, []).append((table, fk))
    for table_id, refs in incoming.items():
        target = by_id.get(table_id)
        if target is not None:
            object.__setattr__(target, "referenced_by", tuple(refs))
    for table in by_id.values():
        if table.foreign_keys:
            outgoing = tuple(
                (fk, by_id[fk.ref_table]) for fk in table.foreign_keys if fk.ref_table in by_id
            )
            object.__setattr__(table, "references", outgoing)


def load_catalog(txn: Transaction, state: int | None) -> Catalog:
    """Decode every definition `txn` sees (its own uncommitted DDL included)."""
    schemas: dict[str, SchemaDef] = {"public": SchemaDef(2200, "public")}
    start, end = keycode.prefix_range(keys.SCHEMA_PREFIX)
    for _, value in txn.scan(start, end):
        raw = msgpack.unpackb(value)
        if raw.get("dropped"):
            schemas.pop(raw["name"], None)
        else:
            schemas[raw["name"]] = SchemaDef(raw["id"], raw["name"])
    relations: dict[tuple[str, str], Relation] = {}
    start, end = keycode.prefix_range(keys.REL_PREFIX)
    for _, value in txn.scan(start, end):
        relation = decode_relation(value)
        relations[(relation.schema, relation.name)] = relation
    _link_foreign_keys(relations)
    return Catalog(state, schemas, relations)


def catalog_state(txn: Transaction) -> int:
    raw = txn.get_latest(keys.CATALOG_VERSION_KEY)
    return int(msgpack.unpackb(raw)) if raw is not None else 0


class CatalogCache:
    """Decoded catalogs by state token (LRU); a statement pays one key read to find its catalog."""

    def __init__(self, capacity: int = 8) -> None:
        self._capacity = capacity
        self._by_state: OrderedDict[int, Catalog] = OrderedDict()
        self._lock = threading.Lock()
        self._states: dict[tuple[object, int], int] = {}  # (mvcc, read_ts) -> catalog_state
        self.loads = 0  # how many times a catalog was decoded (observable in tests)

    def _state(self, txn: Transaction) -> int:
        """`catalog_state(txn)`, remembered per (store, read_ts): every statement of every
        session at the same snapshot finds the same token, so one key read serves them all.
        SERIALIZABLE transactions read it themselves (the read is part of their read set)."""
        if txn._reads is not None:
            return catalog_state(txn)
        memo_key = (txn.mvcc, txn.read_ts)
        state = self._states.get(memo_key)
        if state is None:
            state = catalog_state(txn)
            with self._lock:
                if len(self._states) >= 64:
                    self._states.clear()
                self._states[memo_key] = state
        return state

    def current(
        self, txn: Transaction, search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH
    ) -> Catalog:
        if txn.has_written(keys.CATALOG_VERSION_KEY):
            self.loads += 1
            return load_catalog(txn, None).with_search_path(search_path)
        state = self._state(txn)
        with self._lock:
            catalog = self._by_state.get(state)
            if catalog is not None:
                self._by_state.move_to_end(state)
        if catalog is None:
            self.loads += 1
            catalog = load_catalog(txn, state)
            with self._lock:
                self._by_state[state] = catalog
                while len(self._by_state) > self._capacity:
                    self._by_state.popitem(last=False)
        return catalog.with_search_path(search_path)


# ---- writing definitions (used by the DDL modules) ---------------------------------------


def bump_version(txn: Transaction, token: int) -> None:
    """Mark the catalog changed by this transaction, with a token never used before
    (an object id, see the module docstring), written blindly, once per transaction."""
    if not txn.has_written(keys.CATALOG_VERSION_KEY):
        txn.put(keys.CATALOG_VERSION_KEY, msgpack.packb(token), blind=True)


def put_relation(txn: Transaction, relation: TableDef | ViewDef | SequenceDef | IndexName) -> None:
    txn.put(keys.rel_key(relation.schema, relation.name), relation.encode())


def delete_relation(txn: Transaction, schema: str, name: str) -> None:
    txn.delete(keys.rel_key(schema, name))


def create_table(txn: Transaction, table: TableDef) -> TableDef:
    """Write a new table definition (its name must be free: checked by the caller)."""
    put_relation(txn, table)
    return table


def drop_table(txn: Transaction, table: TableDef) -> None:
    """Remove the definition and its index names; the rows go to GC (keys.reclaim_key)."""
    delete_relation(txn, table.schema, table.name)
    for index in table.indexes:
        delete_relation(txn, table.schema, index.name)
        schedule_reclaim(txn, index.prefix)
    if table.primary_key:
        delete_relation(txn, table.schema, table.pkey_name)
    schedule_reclaim(txn, table.prefix)


def schedule_reclaim(txn: Transaction, prefix: bytes) -> None:
    """Leave the key range under `prefix` to GC: it deletes the range once no snapshot
    can see the transaction that scheduled it (sql/gc.py)."""
    data_id = keycode.decode(prefix)[1]
    txn.put(keys.reclaim_key(data_id), msgpack.packb(prefix))  # type: ignore[arg-type]
