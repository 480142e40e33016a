"""DROP TABLE/VIEW/INDEX/SEQUENCE/SCHEMA with PostgreSQL's RESTRICT and CASCADE.

The objects named are resolved first (a missing one is an error, or a notice
with IF EXISTS); then everything that depends on them and is not itself
being dropped is collected: views reading a table or view, foreign keys of
other tables pointing at a table, column defaults drawing from a sequence,
and every object of a schema. With RESTRICT (the default) any such
dependent is an error (2BP01) that lists them; with CASCADE they go too,
after a notice. Objects a table owns (its indexes, the sequences of its
SERIAL and identity columns) always go with it. Dropped rows and index
entries are left to GC (`catalog.schedule_reclaim`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from quorumdb.storage.errors import (
    FeatureNotSupported,
    QuorumError,
    UndefinedObject,
    UndefinedTable,
)

from . import ast, keys
from . import ddl_ast as D
from .catalog import (
    Catalog,
    IndexName,
    Relation,
    SequenceDef,
    TableDef,
    ViewDef,
    delete_relation,
    drop_table,
    put_relation,
    schedule_reclaim,
)
from .sequence_functions import parse_relation_name

if TYPE_CHECKING:
    from .ddl import DdlContext

__all__ = [
    "drop",
    "describe",
    "drop_relations",
    "collect_dependents",
    "perform_drops",
    "depends_on",
]

_NEXTVAL = re.compile(r"nextval\('((?:[^']|'')*)'")


@dataclass(frozen=True, slots=True)
class _Dependent:
    """Something that must go if its target goes: a relation, a table's foreign key,
    or a column's default."""

    order: int
    description: str
    relation: Relation | None = None
    fk_table: TableDef | None = None  # with fk_name: a foreign key of this table
    fk_name: str = ""
    default_table: TableDef | None = None  # with column: that column's default
    column: str = ""


def describe(relation: Relation, catalog: Catalog) -> str:
    """PostgreSQL's description of an object: "table t", "view s.v", "sequence s"."""
    name = relation.name if relation.schema in catalog.search_path else relation.qualified_name
    return f"{relation.kind} {name}"


def _sequence_users(catalog: Catalog, seq: SequenceDef) -> list[tuple[TableDef, str]]:
    """Columns whose default draws from `seq` (SERIAL/identity, or nextval('seq') text)."""
    users = []
    for table in catalog.all_tables():
        for column in table.columns:
            if column.sequence == seq.id:
                users.append((table, column.name))
            elif column.default and not column.sequence:
                for text in _NEXTVAL.findall(column.default):
                    schema, name = parse_relation_name(text.replace("''", "'"))
                    if catalog.lookup(name, schema) == seq:
                        users.append((table, column.name))
    return users


def _direct_dependents(relation: Relation, catalog: Catalog) -> list[_Dependent]:
    out: list[_Dependent] = []
    if isinstance(relation, (TableDef, ViewDef)):
        for other in catalog.dependents(relation.id):
            if isinstance(other, ViewDef):
                out.append(_Dependent(other.id, describe(other, catalog), other))
            elif isinstance(other, TableDef):
                for fk in other.foreign_keys:
                    if fk.ref_table == relation.id:
                        out.append(
                            _Dependent(
                                other.id,
                                f"constraint {fk.name} on {describe(other, catalog)}",
                                fk_table=other,
                                fk_name=fk.name,
                            )
                        )
    elif isinstance(relation, SequenceDef):
        for table, column in _sequence_users(catalog, relation):
            out.append(
                _Dependent(
                    table.id,
                    f"default value for column {column} of {describe(table, catalog)}",
                    default_table=table,
                    column=column,
                )
            )
    return out


def _resolve(ctx: DdlContext, stmt: D.DropObjects, name: ast.TableName) -> Relation | None:
    catalog = ctx.catalog
    kind = stmt.kind
    found = catalog.lookup(name.name, name.schema)
    shown = name.name  # PostgreSQL names the relation without its schema here
    if name.schema is not None and name.schema not in catalog.schemas:
        if stmt.if_exists:
            ctx.notice(f'schema "{name.schema}" does not exist, skipping')
            return None
        catalog.check_schema(name.schema)
    if found is None or found.kind != kind:
        if found is not None:
            hint = {"table": "TABLE", "view": "VIEW", "index": "INDEX", "sequence": "SEQUENCE"}
            raise QuorumError(
                f'"{shown}" is not a{"n" if kind == "index" else ""} {kind}',
                sqlstate="42809",
                hint=f"Use DROP {hint[found.kind]} to remove a{'n' if found.kind == 'index' else ''} "
                f"{found.kind}.",
            )
        if stmt.if_exists:
            ctx.notice(f'{kind} "{shown}" does not exist, skipping')
            return None
        if kind == "index":
            raise UndefinedObject(f'index "{shown}" does not exist')
        raise UndefinedTable(f'{kind} "{shown}" does not exist')
    return found


def drop(stmt: D.DropObjects, ctx: DdlContext) -> str:
    tag = f"DROP {stmt.kind.upper()}"
    if stmt.kind == "schema":
        _drop_schemas(stmt, ctx)
        return tag
    named: list[Relation] = []
    for name in stmt.names:
        found = _resolve(ctx, stmt, name)
        if found is not None and found not in named:
            named.append(found)
    if not named:
        return tag
    drop_relations(ctx, named, stmt.cascade)
    return tag


def collect_dependents(
    ctx: DdlContext, named: list[Relation]
) -> tuple[list[Relation], list[_Dependent], Relation | None]:
    """(everything that goes, the dependents beyond `named`, the first object that has one)."""
    catalog = ctx.catalog
    doomed: list[Relation] = list(named)
    extra: list[_Dependent] = []
    first_blocked: Relation | None = None
    queue = list(named)
    while queue:
        current = queue.pop(0)
        for dep in _direct_dependents(current, catalog):
            if dep.relation is not None and dep.relation in doomed:
                continue
            if dep.fk_table is not None and dep.fk_table in doomed:
                continue
            if dep.default_table is not None and dep.default_table in doomed:
                continue
            if any(d.description == dep.description for d in extra):
                continue
            first_blocked = first_blocked or current
            extra.append(dep)
            if dep.relation is not None:
                doomed.append(dep.relation)
                queue.append(dep.relation)
    return doomed, extra, first_blocked


def drop_relations(ctx: DdlContext, named: list[Relation], cascade: bool) -> None:
    """Drop `named` and, with `cascade`, whatever depends on them (else refuse)."""
    _lock(ctx, named)
    doomed, extra, first_blocked = collect_dependents(ctx, named)
    if extra and not cascade:
        assert first_blocked is not None
        catalog = ctx.catalog
        what = describe(first_blocked, catalog)
        raise QuorumError(
            f"cannot drop {what} because other objects depend on it",
            sqlstate="2BP01",
            detail="\n".join(
                f"{d.description} depends on {depends_on(d, doomed, catalog)}" for d in extra
            ),
            hint="Use DROP ... CASCADE to drop the dependent objects too.",
        )
    if len(extra) == 1:
        ctx.notice(f"drop cascades to {extra[0].description}")
    elif extra:
        ctx.notice(f"drop cascades to {len(extra)} other objects")
    perform_drops(ctx, doomed, extra)


def _lock(ctx: DdlContext, relations: list[Relation]) -> None:
    from .ddl import lock_table_for_ddl

    for relation in relations:
        if isinstance(relation, TableDef):
            lock_table_for_ddl(ctx, relation)
        else:
            ctx.txn.lock(keys.rel_key(relation.schema, relation.name))


def perform_drops(ctx: DdlContext, doomed: list[Relation], extra: list[_Dependent]) -> None:
    for dep in extra:
        if dep.fk_table is not None:
            _drop_foreign_key(ctx, dep.fk_table, dep.fk_name)
        elif dep.default_table is not None:
            _drop_default(ctx, dep.default_table, dep.column)
    doomed_ids = {r.id for r in doomed if not isinstance(r, IndexName)}
    for relation in doomed:
        _drop_one(ctx, relation, doomed_ids)


def depends_on(dep: _Dependent, doomed: list[Relation], catalog: Catalog) -> str:
    """Which doomed object `dep` depends on, described (for the 2BP01 detail)."""
    for relation in doomed:
        if any(d.description == dep.description for d in _direct_dependents(relation, catalog)):
            return describe(relation, catalog)
    return describe(doomed[0], catalog)  # pragma: no cover


def _current_table(ctx: DdlContext, table: TableDef) -> TableDef:
    """The table's definition as this transaction last wrote it (several changes per statement)."""
    raw = ctx.txn.get_latest(keys.rel_key(table.schema, table.name))
    return table if raw is None else TableDef.decode(raw)


def _drop_foreign_key(ctx: DdlContext, table: TableDef, name: str) -> None:
    table = _current_table(ctx, table)
    fks = tuple(f for f in table.foreign_keys if f.name != name)
    put_relation(ctx.txn, replace(table, foreign_keys=fks))


def _drop_default(ctx: DdlContext, table: TableDef, column: str) -> None:
    table = _current_table(ctx, table)
    columns = tuple(
        replace(c, default=None, sequence=0) if c.name == column else c for c in table.columns
    )
    put_relation(ctx.txn, replace(table, columns=columns))


def _drop_one(ctx: DdlContext, relation: Relation, doomed_ids: set[int]) -> None:
    txn = ctx.txn
    if isinstance(relation, TableDef):
        drop_table(txn, relation)
        for seq in ctx.catalog.owned_sequences(relation.id):
            if seq.id not in doomed_ids:
                _drop_sequence(ctx, seq)
    elif isinstance(relation, SequenceDef):
        _drop_sequence(ctx, relation)
    elif isinstance(relation, ViewDef):
        delete_relation(txn, relation.schema, relation.name)
    else:  # an index
        found = ctx.catalog.index_table(relation.name, relation.schema)
        assert found is not None
        table, index = found
        if index is None or index.constraint:
            constraint = table.pkey_name if index is None else index.name
            raise QuorumError(
                f"cannot drop index {relation.name} because constraint {constraint} on "
                f"table {table.name} requires it",
                sqlstate="2BP01",
                hint=f"You can drop constraint {constraint} on table {table.name} instead.",
            )
        from .ddl import lock_table_for_ddl

        lock_table_for_ddl(ctx, table)
        table = _current_table(ctx, table)
        put_relation(txn, replace(table, indexes=tuple(i for i in table.indexes if i.id != index.id)))
        delete_relation(txn, relation.schema, relation.name)
        schedule_reclaim(txn, index.prefix)


def _drop_sequence(ctx: DdlContext, seq: SequenceDef) -> None:
    delete_relation(ctx.txn, seq.schema, seq.name)
    schedule_reclaim(ctx.txn, keys.counter_key(seq.id))
    ctx.db.counters.forget(seq.id)


def _drop_schemas(stmt: D.DropObjects, ctx: DdlContext) -> None:
    catalog = ctx.catalog
    schemas: list[str] = []
    for name in stmt.names:
        schema = name.name
        if schema not in catalog.schemas:
            if stmt.if_exists:
                ctx.notice(f'schema "{schema}" does not exist, skipping')
                continue
            raise QuorumError(f'schema "{schema}" does not exist', sqlstate="3F000")
        if schema == "public":
            raise FeatureNotSupported("cannot drop schema public: QuorumDB always has it")
        ctx.txn.lock(keys.schema_key(schema))
        schemas.append(schema)
    for schema in schemas:
        members = sorted(
            (r for (s, _), r in catalog.relations.items() if s == schema and r.kind != "index"),
            key=lambda r: r.id,
        )
        owned = {
            r.id
            for r in members
            if isinstance(r, SequenceDef)
            and r.owned_by is not None
            and any(t.id == r.owned_by[0] for t in members)
        }
        members = [r for r in members if r.id not in owned]
        _lock(ctx, members)
        doomed, extra, _ = collect_dependents(ctx, members)
        described = [f"{r.kind} {r.qualified_name}" for r in members]
        described += [d.description for d in extra]
        if described and not stmt.cascade:
            raise QuorumError(
                f"cannot drop schema {schema} because other objects depend on it",
                sqlstate="2BP01",
                detail="\n".join(f"{d} depends on schema {schema}" for d in described),
                hint="Use DROP ... CASCADE to drop the dependent objects too.",
            )
        if len(described) == 1:
            ctx.notice(f"drop cascades to {described[0]}")
        elif described:
            ctx.notice(f"drop cascades to {len(described)} other objects")
        perform_drops(ctx, doomed, extra)
        ctx.txn.delete(keys.schema_key(schema))
