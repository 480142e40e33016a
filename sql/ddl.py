"""Schema statements (DDL): CREATE TABLE/SCHEMA/SEQUENCE/VIEW/INDEX, TRUNCATE and friends.

`run_ddl` executes one statement of `sql.ddl_ast` inside the session's
transaction and returns its command tag (notices go to `DdlContext.notices`).
Definitions are catalog keys (sql/catalog.py), so DDL commits, rolls back
and replicates with the rest of the transaction. DROP lives in
sql/ddl_drop.py, ALTER and RENAME in sql/ddl_alter.py, CREATE TABLE in
sql/ddl_create.py, schemas, sequences and views in sql/ddl_objects.py, and
everything that reads or rewrites a table's rows (index builds, validation,
rewrites) in sql/ddl_build.py; this module holds what they share (the
context, names, locks) and CREATE INDEX, TRUNCATE and the utility statements.

Invariants:

* DDL on an existing table first takes the table's lock EXCLUSIVE
  (`Transaction.lock_table`), so it waits for the transactions writing the
  table and they wait for it; a definition that changed after the statement's
  snapshot restarts the statement (READ COMMITTED) or fails it (40001).
  A new name is locked before its existence is checked, so two sessions
  creating the same name serialise and the second sees the first's.
* Everything that reads existing rows does so after taking that lock, at the
  newest committed state (`scan_current`): nobody else can change them then.
* Names PostgreSQL derives (t_pkey, t_a_key, t_a_idx, t_a_check, t_a_fkey,
  t_id_seq) are derived the same way, numbered on collision.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from quorumdb.storage.errors import (
    DuplicateTable,
    FeatureNotSupported,
    QuorumError,
    UndefinedColumn,
    UndefinedTable,
)

from . import ast, keys
from . import ddl_ast as D
from .catalog import Catalog, IndexDef, IndexName, TableDef, bump_version, put_relation
from .locks import LockMode
from .result import Notice
from .scope import pos
from .txn import Transaction

if TYPE_CHECKING:
    from .session import Database, Session

__all__ = [
    "DdlContext",
    "run_ddl",
    "choose_name",
    "relation_names",
    "check_name_free",
    "lock_table_for_ddl",
    "resolve_table",
]

MAX_NAME = 63  # NAMEDATALEN - 1


@dataclass
class DdlContext:
    """What a DDL statement works with: its transaction, the catalog it started
    from, the node's services, and the notices it produces."""

    txn: Transaction
    catalog: Catalog
    db: Database
    session: Session
    notices: list[Notice] = field(default_factory=list)

    def next_id(self) -> int:
        return self.db.counters.next_id()

    def notice(self, message: str, sqlstate: str = "00000") -> None:
        self.notices.append(Notice(message, sqlstate))


def run_ddl(stmt: ast.Statement, ctx: DdlContext) -> str:
    """Execute one schema statement; returns its command tag."""
    from . import ddl_alter, ddl_create, ddl_drop, ddl_objects

    handlers: dict[type, Any] = {
        D.CreateTable: ddl_create.create_table,
        D.CreateSchema: ddl_objects.create_schema,
        D.CreateSequence: ddl_objects.create_sequence,
        D.AlterSequence: ddl_objects.alter_sequence,
        D.CreateView: ddl_objects.create_view,
        D.CreateIndex: create_index,
        D.Truncate: truncate,
        D.DropObjects: ddl_drop.drop,
        D.AlterTable: ddl_alter.alter_table,
        D.Rename: ddl_alter.rename,
        D.Maintenance: maintenance,
        D.RefusedDatabase: refuse_database,
    }
    tag: str = handlers[type(stmt)](stmt, ctx)
    if not isinstance(stmt, (D.Maintenance, D.RefusedDatabase)):
        bump_version(ctx.txn, ctx.next_id())
    return tag


# ---- names ----------------------------------------------------------------------------


def _object_name(name1: str, name2: str, label: str) -> str:
    """PostgreSQL's makeObjectName: name1_name2_label, shortened to fit 63 bytes."""
    overhead = (len(label) + 1 if label else 0) + (len(name2) + 1 if name2 else 0)
    available = MAX_NAME - overhead
    n1, n2 = len(name1), len(name2)
    while n1 + n2 > available:
        if n1 > n2:
            n1 -= 1
        else:
            n2 -= 1
    parts = [name1[:n1]] + ([name2[:n2]] if name2 else []) + ([label] if label else [])
    return "_".join(parts)


def choose_name(name1: str, name2: str, label: str, taken: Iterable[str] | Any) -> str:
    """PostgreSQL's ChooseRelationName/ChooseConstraintName: t_a_key, then t_a_key1, ..."""
    candidate = _object_name(name1, name2, label)
    n = 0
    while candidate in taken:
        n += 1
        candidate = _object_name(name1, name2, f"{label}{n}")
    return candidate


def relation_names(catalog: Catalog, schema: str, extra: Iterable[str] = ()) -> set[str]:
    names = {name for (s, name) in catalog.relations if s == schema}
    names.update(extra)
    return names


def check_name_free(ctx: DdlContext, schema: str, name: str) -> bool:
    """Lock the name and tell whether it is free (False: a relation has it)."""
    key = keys.rel_key(schema, name)
    ctx.txn.lock(key)
    return ctx.txn.get_latest(key) is None


def lock_table_for_ddl(ctx: DdlContext, table: TableDef, mode: LockMode = LockMode.EXCLUSIVE) -> None:
    ctx.txn.lock_table(table.id, keys.rel_key(table.schema, table.name), mode)


def resolve_table(ctx: DdlContext, name: ast.TableName, *, what: str = "relation") -> TableDef:
    catalog = ctx.catalog
    found = catalog.lookup(name.name, name.schema)
    if isinstance(found, TableDef):
        return found
    catalog.check_schema(name.schema, pos(name.location))
    shown = f"{name.schema}.{name.name}" if name.schema else name.name
    if found is not None:
        raise QuorumError(f'"{shown}" is not a table', sqlstate="42809")
    raise UndefinedTable(f'{what} "{shown}" does not exist', position=pos(name.location))


# ---- indexes ---------------------------------------------------------------------------------------


def create_index(stmt: D.CreateIndex, ctx: DdlContext) -> str:
    from .ddl_build import build_index

    table = resolve_table(ctx, ast.TableName(stmt.table.name, stmt.table.schema))
    lock_table_for_ddl(ctx, table)
    positions: list[int] = []
    for column, _ in stmt.columns:
        i = table.index_of.get(column)
        if i is None:
            raise UndefinedColumn(f'column "{column}" does not exist')
        positions.append(i)
    if stmt.name is not None:
        name = stmt.name
        if not check_name_free(ctx, table.schema, name):
            if stmt.if_not_exists:
                ctx.notice(f'relation "{name}" already exists, skipping', "42P07")
                return "CREATE INDEX"
            raise DuplicateTable(f'relation "{name}" already exists')
    else:
        name = choose_name(
            table.name,
            "_".join(table.columns[i].name for i in positions),
            "idx",
            relation_names(ctx.catalog, table.schema),
        )
        check_name_free(ctx, table.schema, name)
    index = IndexDef(
        ctx.next_id(), name, tuple(positions), stmt.unique, ctx.next_id(), options=stmt.options
    )
    build_index(ctx, table, index)
    updated = replace(table, indexes=(*table.indexes, index))
    put_relation(ctx.txn, updated)
    put_relation(ctx.txn, IndexName(name, table.schema, table.id))
    return "CREATE INDEX"


# ---- TRUNCATE ------------------------------------------------------------------------------------------


def truncate(stmt: D.Truncate, ctx: DdlContext) -> str:
    from .ddl_build import new_storage

    tables: list[TableDef] = []
    for name in stmt.tables:
        table = resolve_table(ctx, ast.TableName(name.name, name.schema))  # no position
        if all(t.id != table.id for t in tables):
            tables.append(table)
    i = 0
    while i < len(tables):
        for child, _ in tables[i].referenced_by:
            if any(t.id == child.id for t in tables):
                continue
            if not stmt.cascade:
                raise FeatureNotSupported(
                    "cannot truncate a table referenced in a foreign key constraint",
                    detail=f'Table "{child.name}" references "{tables[i].name}".',
                    hint=f'Truncate table "{child.name}" at the same time, or use TRUNCATE ... CASCADE.',
                )
            ctx.notice(f'truncate cascades to table "{child.name}"')
            tables.append(child)
        i += 1
    for table in tables:
        lock_table_for_ddl(ctx, table)
    for table in tables:
        put_relation(ctx.txn, new_storage(ctx, table))
        if stmt.restart_identity:
            for seq in ctx.catalog.owned_sequences(table.id):
                ctx.db.counters.restart(seq)
    return "TRUNCATE TABLE"


# ---- the rest -------------------------------------------------------------------------------------------


def maintenance(stmt: D.Maintenance, ctx: DdlContext) -> str:
    if stmt.tag == "VACUUM" and ctx.session.transaction_status != "I":
        raise QuorumError("VACUUM cannot run inside a transaction block", sqlstate="25001")
    return stmt.tag


def refuse_database(stmt: D.RefusedDatabase, ctx: DdlContext) -> str:
    raise FeatureNotSupported(
        f"{stmt.tag} is not supported: a QuorumDB cluster serves exactly one database",
        hint="Use schemas (CREATE SCHEMA) to keep applications apart.",
    )
