"""pg_catalog and information_schema as virtual tables, computed from our catalog.

Tools learn about a database by querying PostgreSQL's system catalogs: psql's
``\\d`` family joins pg_class, pg_namespace, pg_attribute, pg_index,
pg_constraint, ...; drivers and ORMs look up pg_type, pg_class and
information_schema. Here each such relation is a `VirtualTable`: a name, its
columns (PostgreSQL's, in PostgreSQL's order, for the columns clients read)
and a function computing its rows from what the running statement sees:
the session's catalog (sql/catalog.py) under the statement's transaction,
the roles (sql/roles.py), the settings and the server's sessions.

The planner resolves ``pg_catalog.x`` (and an unqualified ``x`` that no user
relation shadows... pg_catalog comes first on the search path, as in
PostgreSQL) and ``information_schema.x`` through `lookup`: the relation is
planned as a set-returning function (`function_name`), registered here with
the function library, so joins, filters and subqueries over it are ordinary
query plans. Rows are computed once per scan.

Object ids follow PostgreSQL where it has fixed ones (namespace pg_catalog
11, public 2200; type OIDs; access methods; the bootstrap superuser 10, who
owns everything) and are otherwise derived from our ids: a table, view,
sequence or index has oid 16384 + id (as in RowDescription); the primary
key's index, constraints and column defaults, which have no id of their own,
get stable synthetic oids from their table's id (`pkey_oid`,
`constraint_oid`).

Types: oid-valued columns have type oid (OID 26, `oid[]` 1028), as in
PostgreSQL; name/"char" columns are text (QuorumDB has no name or "char"
type), which every client tested reads the same way; RowDescription shows
text for them.

Invariants: rows are produced from one catalog state (the statement's), so
a join between two virtual tables is consistent; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from . import types as T
from .catalog import FIRST_TABLE_OID, IndexDef, SequenceDef, TableDef, ViewDef
from .catalog_defs import quote_ident
from .functions import register_function
from .roles import BOOTSTRAP_OID, Role, all_roles
from .settings import SERVER_VERSION
from .types import SqlType

__all__ = [
    "VirtualTable",
    "lookup",
    "function_name",
    "CatalogView",
    "PG_CATALOG_OID",
    "PUBLIC_OID",
    "pkey_oid",
    "constraint_oid",
    "namespace_oid",
    "TYPE_NAMES",
]

Row = tuple[object, ...]

PG_CATALOG_OID = 11
PUBLIC_OID = 2200
INFORMATION_SCHEMA_OID = 13_000
PG_TOAST_OID = 99
DATABASE_OID = 5  # the one database a cluster serves (PostgreSQL's "postgres" has 5)
HEAP_AM, BTREE_AM = 2, 403
_PKEY_BASE = 1 << 30
_CONSTRAINT_BASE = 3 << 29
_ATTRDEF_BASE = 7 << 28  # above every constraint oid

OID = T.OID
NAME = T.TEXT
CHAR = T.TEXT
TEXT, BOOL, INT2, INT4, INT8, FLOAT4 = T.TEXT, T.BOOL, T.INT2, T.INT4, T.INT8, T.FLOAT4
TIMESTAMPTZ = T.TIMESTAMPTZ
TEXT_ARRAY = T.array_of(T.TEXT)
INT2_ARRAY = T.array_of(T.INT2)
OID_ARRAY = T.array_of(T.OID)

# Names of type OIDs that QuorumDB's type system does not have (format_type, pg_type).
TYPE_NAMES: dict[int, tuple[str, str, int, str]] = {
    # oid: (typname, format_type name, typlen, typcategory)
    18: ("char", '"char"', 1, "Z"),
    19: ("name", "name", 64, "S"),
    22: ("int2vector", "int2vector", -1, "A"),
    30: ("oidvector", "oidvector", -1, "A"),
    194: ("pg_node_tree", "pg_node_tree", -1, "Z"),
    2205: ("regclass", "regclass", 4, "N"),
    24: ("regproc", "regproc", 4, "N"),
    4089: ("regnamespace", "regnamespace", 4, "N"),
    1033: ("aclitem", "aclitem", 12, "U"),
    2249: ("record", "record", -1, "P"),
    2278: ("void", "void", 4, "P"),
    2283: ("anyelement", "anyelement", 4, "P"),
    2277: ("anyarray", "anyarray", -1, "P"),
}
_KNOWN_TYPE_OIDS = (16, 17, 20, 21, 23, 25, 114, 700, 701, 705, 1042, 1043, 1082, 1083,
                    1114, 1184, 1186, 1700, 2950, 3802, 2206, 26)  # fmt: skip


def pkey_oid(table: TableDef) -> int:
    """The oid of a table's primary-key index (it has no id of its own)."""
    return _PKEY_BASE + table.id


def constraint_oid(table: TableDef, k: int) -> int:
    """The oid of the k-th constraint of `table` (primary key first, then unique
    indexes, checks and foreign keys, in definition order)."""
    return _CONSTRAINT_BASE + table.id * 512 + k


def attrdef_oid(table: TableDef, attnum: int) -> int:
    return _ATTRDEF_BASE + table.id * 2048 + attnum


def namespace_oid(name: str, schema_id: int | None = None) -> int:
    if name == "pg_catalog":
        return PG_CATALOG_OID
    if name == "public":
        return PUBLIC_OID
    if name == "information_schema":
        return INFORMATION_SCHEMA_OID
    return FIRST_TABLE_OID + (schema_id or 0)


def type_oid_of(t: SqlType) -> int:
    return t.oid


@dataclass(frozen=True, slots=True)
class Constraint:
    """One row of pg_constraint, derived from a table definition."""

    oid: int
    name: str
    kind: str  # p u c f
    table: TableDef
    columns: tuple[int, ...]
    index_oid: int = 0
    ref_table: TableDef | None = None
    ref_columns: tuple[int, ...] = ()
    on_update: str = " "
    on_delete: str = " "
    check: str | None = None


class CatalogView:
    """What one statement's virtual tables and catalog functions read (see the module
    docstring). Built from an `ExecContext`; cheap (the catalog is cached per version)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.txn = ctx.txn
        self.catalog = self.session.catalog(ctx.txn)
        self.superuser: str = getattr(self.session, "superuser", "quorumdb")

    # ---- relations ---------------------------------------------------------------------

    def schemas(self) -> list[tuple[int, str]]:
        out = [(PG_CATALOG_OID, "pg_catalog"), (INFORMATION_SCHEMA_OID, "information_schema")]
        for schema in self.catalog.schemas.values():
            out.append((namespace_oid(schema.name, schema.id), schema.name))
        return out

    def namespace_of(self, schema: str) -> int:
        found = self.catalog.schemas.get(schema)
        return namespace_oid(schema, found.id if found is not None else None)

    def relations(self) -> Iterator[Any]:
        for relation in self.catalog.relations.values():
            if isinstance(relation, TableDef | ViewDef | SequenceDef):
                yield relation

    def tables(self) -> Iterator[TableDef]:
        for relation in self.catalog.relations.values():
            if isinstance(relation, TableDef):
                yield relation

    def table_by_oid(self, oid: int) -> TableDef | None:
        return self.catalog.tables_by_id.get(oid - FIRST_TABLE_OID)

    def relation_by_oid(self, oid: int) -> Any:
        rel_id = oid - FIRST_TABLE_OID
        for relation in self.relations():
            if relation.id == rel_id:
                return relation
        return None

    def indexes(self) -> Iterator[tuple[int, str, TableDef, tuple[int, ...], bool, bool]]:
        """(oid, name, table, columns, unique, primary) of every index, primary keys included."""
        for table in self.tables():
            if table.primary_key:
                yield pkey_oid(table), table.pkey_name, table, table.primary_key, True, True
            for index in table.indexes:
                yield _index_oid(index), index.name, table, index.columns, index.unique, False

    def index_options(self, table: TableDef, oid: int) -> tuple[int, ...]:
        """pg_index.indoption of an index of `table` (a primary key's columns are ascending)."""
        for index in table.indexes:
            if _index_oid(index) == oid:
                return tuple(index.option(k) for k in range(len(index.columns)))
        return (0,) * len(table.primary_key)

    def index_by_oid(self, oid: int) -> tuple[int, str, TableDef, tuple[int, ...], bool, bool] | None:
        if oid >= _PKEY_BASE and oid < _CONSTRAINT_BASE:
            table = self.catalog.tables_by_id.get(oid - _PKEY_BASE)
            if table is not None and table.primary_key:
                return oid, table.pkey_name, table, table.primary_key, True, True
            return None
        for entry in self.indexes():
            if entry[0] == oid:
                return entry
        return None

    def constraints(self, table: TableDef) -> list[Constraint]:
        out: list[Constraint] = []
        k = 0
        if table.primary_key:
            out.append(Constraint(constraint_oid(table, k), table.pkey_name, "p", table,
                                  table.primary_key, pkey_oid(table)))  # fmt: skip
        k += 1
        for index in table.indexes:
            if index.constraint:
                out.append(Constraint(constraint_oid(table, k), index.name, "u", table,
                                      index.columns, _index_oid(index)))  # fmt: skip
            k += 1
        for check in table.checks:
            out.append(Constraint(constraint_oid(table, k), check.name, "c", table, (),
                                  check=check.expr))  # fmt: skip
            k += 1
        for fk in table.foreign_keys:
            ref = self.catalog.tables_by_id.get(fk.ref_table)
            out.append(Constraint(constraint_oid(table, k), fk.name, "f", table, fk.columns,
                                  0, ref, fk.ref_columns, fk.on_update, fk.on_delete))  # fmt: skip
            k += 1
        return out

    def all_constraints(self) -> Iterator[Constraint]:
        for table in self.tables():
            yield from self.constraints(table)

    def constraint_by_oid(self, oid: int) -> Constraint | None:
        if not _CONSTRAINT_BASE <= oid < _ATTRDEF_BASE:
            return None
        table = self.catalog.tables_by_id.get((oid - _CONSTRAINT_BASE) // 512)
        if table is None:
            return None
        for constraint in self.constraints(table):
            if constraint.oid == oid:
                return constraint
        return None

    def visible(self, relation: Any) -> bool:
        """pg_table_is_visible: the first relation of its name on the search path."""
        found = self.catalog.lookup(relation.name)
        return found is not None and getattr(found, "id", None) == relation.id

    # ---- roles -------------------------------------------------------------------------------

    def roles(self) -> list[Role]:
        stored = list(all_roles(self.txn))
        if not any(r.name == self.superuser for r in stored):
            stored.insert(0, Role(self.superuser, BOOTSTRAP_OID, login=True, superuser=True,
                                  createdb=True, createrole=True, replication=True,
                                  bypassrls=True))  # fmt: skip
        return stored

    def role_name(self, oid: int) -> str | None:
        if oid == BOOTSTRAP_OID:
            return self.superuser
        for role in all_roles(self.txn):
            if role.oid == oid:
                return role.name
        return None


def default_text(view: CatalogView, column: Any) -> str | None:
    """A column's DEFAULT as PostgreSQL shows it: a serial column's is
    nextval('name'::regclass), the sequence's name qualified when it is not
    visible on the search path (as regclass output is)."""
    sequence_id = getattr(column, "sequence", 0)
    if sequence_id and not column.identity:
        sequence = view.catalog.sequences_by_id.get(sequence_id)
        if sequence is not None:
            name = quote_ident(sequence.name)
            if not view.visible(sequence):
                name = f"{quote_ident(sequence.schema)}.{name}"
            return "nextval('" + name.replace("'", "''") + "'::regclass)"
    if column.default is not None:
        return str(column.default)
    return None


def _index_oid(index: IndexDef) -> int:
    return FIRST_TABLE_OID + index.id


# ---- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VirtualTable:
    schema: str
    name: str
    oid: int
    columns: tuple[tuple[str, SqlType], ...]
    rows: Callable[[CatalogView], Iterable[Row]]

    @property
    def function(self) -> str:
        return function_name(self.schema, self.name)


_TABLES: dict[tuple[str, str], VirtualTable] = {}


def function_name(schema: str, name: str) -> str:
    """The set-returning function that produces a virtual table's rows (a name no SQL
    text can spell, so it cannot be called directly)."""
    return f"{schema}.{name}"


def lookup(schema: str | None, name: str) -> VirtualTable | None:
    """The virtual table `schema.name`; an unqualified name finds pg_catalog's only."""
    return _TABLES.get((schema or "pg_catalog", name))


def tables() -> list[VirtualTable]:
    return list(_TABLES.values())


def virtual(
    schema: str, name: str, oid: int, columns: Iterable[tuple[str, SqlType]]
) -> Callable[[Callable[[CatalogView], Iterable[Row]]], Callable[[CatalogView], Iterable[Row]]]:
    """Decorator: register `rows` as the virtual table `schema.name`."""

    def register(rows: Callable[[CatalogView], Iterable[Row]]) -> Callable[[CatalogView], Iterable[Row]]:
        table = VirtualTable(schema, name, oid, tuple(columns), rows)
        _TABLES[(schema, name)] = table

        def produce(ctx: Any) -> list[Row]:
            view = CatalogView(ctx)
            width = len(table.columns)
            out = []
            for row in rows(view):
                if len(row) != width:  # pragma: no cover - a definition error
                    raise AssertionError(f"{schema}.{name}: row of {len(row)} values, {width} columns")
                out.append(row)
            return out

        register_function(
            table.function, (), "record", produce, returns_set=True, out_columns=table.columns,
            volatility="s", context="ctx", strict=False,
        )  # fmt: skip
        return rows

    return register


def empty(schema: str, name: str, oid: int, columns: Iterable[tuple[str, SqlType]]) -> None:
    """A catalog that is always empty here (no policies, publications, inheritance, ...)."""
    virtual(schema, name, oid, columns)(lambda view: ())


def server_version() -> str:
    return f"PostgreSQL {SERVER_VERSION} (QuorumDB) on x86_64-pc-linux-gnu, 64-bit"


# The relations and functions themselves (each registers what it defines).
from . import infoschema, pgcatalog_tables, pgfunctions  # noqa: E402,F401
