"""ALTER TABLE and the RENAMEs (tables, columns, constraints, indexes, views,
sequences, schemas).

ALTER TABLE applies its actions in order to a working copy of the table's
definition under the table's EXCLUSIVE lock; actions that need the rows
(ADD COLUMN fills the new column, SET NOT NULL and ADD CONSTRAINT validate,
ADD/DROP PRIMARY KEY re-key, DROP COLUMN narrows) go through sql/ddl_build.py.
The definition is written once at the end.

Views are stored as text and re-planned wherever they are used, so a change
that would break a view (dropping a column it reads; renaming what it names)
is refused unless CASCADE drops the view: each dependent view is re-planned
against the new catalog to find out (`_broken_views`).
"""

from __future__ import annotations

from dataclasses import replace

from quorumdb.storage.errors import (
    DuplicateColumn,
    DuplicateObject,
    DuplicateTable,
    FeatureNotSupported,
    QuorumError,
    UndefinedColumn,
    UndefinedObject,
)

from . import ast, keys
from . import ddl_ast as D
from .catalog import (
    Catalog,
    ColumnInfo,
    IndexName,
    SequenceDef,
    TableDef,
    ViewDef,
    delete_relation,
    put_relation,
    schedule_reclaim,
)
from .constraints import bind_default, parse_expression
from .ddl import DdlContext, check_name_free, lock_table_for_ddl, resolve_table
from .ddl_build import (
    build_index,
    rewrite,
    rows_of,
    validate_check,
    validate_foreign_key,
    validate_not_null,
)
from .ddl_create import _TableBuilder, add_column, add_constraint, check_default
from .ddl_drop import collect_dependents, depends_on, describe, perform_drops
from .expr import ExecContext, compile_expr
from .parser import rename_column_refs

__all__ = ["alter_table", "rename"]


def alter_table(stmt: D.AlterTable, ctx: DdlContext) -> str:
    found = ctx.catalog.lookup(stmt.table.name, stmt.table.schema)
    if found is None and stmt.if_exists:
        ctx.notice(f'relation "{stmt.table.name}" does not exist, skipping')
        return "ALTER TABLE"
    table = resolve_table(ctx, ast.TableName(stmt.table.name, stmt.table.schema))
    lock_table_for_ddl(ctx, table)
    builder = _TableBuilder(table, table.schema)
    for command in stmt.commands:
        _ACTIONS[command.action](ctx, builder, command)
    put_relation(ctx.txn, builder.table)
    for seq in builder.sequences:
        put_relation(ctx.txn, seq)
    return "ALTER TABLE"


def _column(table: TableDef, name: str | None) -> int:
    i = table.index_of.get(name or "")
    if i is None:
        raise UndefinedColumn(f'column "{name}" of relation "{table.name}" does not exist')
    return i


# ---- columns ------------------------------------------------------------------------------


def _add_column(ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand) -> None:
    definition = command.definition
    assert definition is not None
    table = builder.table
    if definition.name in table.index_of:
        if command.if_exists:
            ctx.notice(
                f'column "{definition.name}" of relation "{table.name}" already exists, skipping',
                "42701",
            )
            return
        raise DuplicateColumn(
            f'column "{definition.name}" of relation "{table.name}" already exists'
        )
    before = len(table.columns)
    add_column(ctx, builder, definition)
    for seq in builder.sequences:
        put_relation(ctx.txn, seq)  # nextval below must find it
    widened = builder.table
    column = widened.columns[before]
    default = bind_default(column, _with_new_sequences(ctx, builder))
    fill = compile_expr(default) if default is not None else None
    exec_ctx = ExecContext(ctx.txn, (), ctx.session)
    if column.not_null and fill is None and any(True for _ in rows_of(ctx, table)):
        raise QuorumError(
            f'column "{column.name}" of relation "{table.name}" contains null values',
            sqlstate="23502",
        )

    def widen(row: tuple[object, ...]) -> tuple[object, ...]:
        value = fill((), exec_ctx) if fill is not None else None
        if value is None and column.not_null:
            raise QuorumError(
                f'column "{column.name}" of relation "{table.name}" contains null values',
                sqlstate="23502",
            )
        return (*row, value)

    builder.table = rewrite(ctx, table, widened, widen)
    for constraint in definition.constraints:
        if constraint.kind in ("primary", "unique", "check", "foreign"):
            _add_constraint(ctx, builder, D.AlterCommand("add_constraint", constraint=constraint), definition.name)


def _with_new_sequences(ctx: DdlContext, builder: _TableBuilder) -> Catalog:
    if not builder.sequences:
        return ctx.catalog
    relations = dict(ctx.catalog.relations)
    for seq in builder.sequences:
        relations[(seq.schema, seq.name)] = seq
    return Catalog(None, ctx.catalog.schemas, relations, ctx.catalog.search_path)


def _drop_column(ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand) -> None:
    table = builder.table
    if command.column not in table.index_of and command.if_exists:
        ctx.notice(f'column "{command.column}" of relation "{table.name}" does not exist, skipping')
        return
    i = _column(table, command.column)
    name = table.columns[i].name
    # Foreign keys of other tables through a key that includes the column.
    outside = [
        (child, fk)
        for child, fk in table.referenced_by
        if child.id != table.id and i in fk.ref_columns
    ]
    narrowed = _without_column(table, i)
    broken = _broken_views(ctx, table, narrowed)
    doomed, beyond, _ = collect_dependents(ctx, list(broken))
    what = f"column {name} of table {table.name}"
    details = [
        f"constraint {fk.name} on {describe(child, ctx.catalog)} depends on {what}"
        for child, fk in outside
    ] + [f"{describe(v, ctx.catalog)} depends on {what}" for v in broken]
    details += [f"{d.description} depends on {depends_on(d, doomed, ctx.catalog)}" for d in beyond]
    if details and not command.cascade:
        raise QuorumError(
            f"cannot drop {what} because other objects depend on it",
            sqlstate="2BP01",
            detail="\n".join(details),
            hint="Use DROP ... CASCADE to drop the dependent objects too.",
        )
    if len(details) == 1:
        ctx.notice(f"drop cascades to {details[0].split(' depends on ')[0]}")
    elif details:
        ctx.notice(f"drop cascades to {len(details)} other objects")
    for child, fk in outside:
        _drop_child_fk(ctx, child, fk.name)
    perform_drops(ctx, doomed, beyond)
    for index in table.indexes:
        if i in index.columns:
            delete_relation(ctx.txn, table.schema, index.name)
            schedule_reclaim(ctx.txn, index.prefix)
    if i in table.primary_key:
        delete_relation(ctx.txn, table.schema, table.pkey_name)
    builder.table = rewrite(ctx, table, narrowed, lambda row: row[:i] + row[i + 1 :])
    _renumber_children(ctx, table, i)


def _without_column(table: TableDef, i: int) -> TableDef:
    """The definition without column `i`; indexes, keys and constraints on it go too."""

    def shift(columns: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(c - 1 if c > i else c for c in columns)

    name = table.columns[i].name
    checks = tuple(c for c in table.checks if name not in _column_names(c.expr))
    return replace(
        table,
        columns=table.columns[:i] + table.columns[i + 1 :],
        primary_key=() if i in table.primary_key else shift(table.primary_key),
        indexes=tuple(replace(x, columns=shift(x.columns)) for x in table.indexes if i not in x.columns),
        checks=checks,
        foreign_keys=tuple(
            replace(f, columns=shift(f.columns),
                    ref_columns=shift(f.ref_columns) if f.ref_table == table.id else f.ref_columns)
            for f in table.foreign_keys
            if i not in f.columns and not (f.ref_table == table.id and i in f.ref_columns)
        ),
    )


def _renumber_children(ctx: DdlContext, table: TableDef, i: int) -> None:
    """Other tables' foreign keys name this table's columns by position: shift them."""
    seen: set[int] = set()
    for child, _ in table.referenced_by:
        if child.id == table.id or child.id in seen:
            continue
        seen.add(child.id)
        current = _latest(ctx, child)
        if current is None:
            continue
        fks = tuple(
            replace(f, ref_columns=tuple(c - 1 if c > i else c for c in f.ref_columns))
            if f.ref_table == table.id
            else f
            for f in current.foreign_keys
        )
        put_relation(ctx.txn, replace(current, foreign_keys=fks))


def _latest(ctx: DdlContext, table: TableDef) -> TableDef | None:
    raw = ctx.txn.get_latest(keys.rel_key(table.schema, table.name))
    return TableDef.decode(raw) if raw is not None else None


def _drop_child_fk(ctx: DdlContext, child: TableDef, name: str) -> None:
    current = _latest(ctx, child)
    if current is not None:
        fks = tuple(f for f in current.foreign_keys if f.name != name)
        put_relation(ctx.txn, replace(current, foreign_keys=fks))


def _column_names(text: str) -> set[str]:
    found: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, ast.ColumnName):
            found.add(node.parts[-1])
        elif isinstance(node, tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "__dataclass_fields__"):
            for field_name in node.__dataclass_fields__:  # type: ignore[attr-defined]
                walk(getattr(node, field_name))

    walk(parse_expression(text))
    return found


def _set_default(ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand) -> None:
    table = builder.table
    i = _column(table, command.column)
    column = table.columns[i]
    if column.identity:
        raise QuorumError(
            f'column "{column.name}" of relation "{table.name}" is an identity column',
            sqlstate="42601",
        )
    if command.action == "set_default":
        assert command.default is not None
        check_default(column, command.default)
        column = replace(column, default=command.default_text, sequence=0)
    else:
        column = replace(column, default=None, sequence=0)
    builder.table = _with_column(table, i, column)


def _with_column(table: TableDef, i: int, column: ColumnInfo) -> TableDef:
    return replace(table, columns=table.columns[:i] + (column,) + table.columns[i + 1 :])


def _set_not_null(ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand) -> None:
    table = builder.table
    i = _column(table, command.column)
    column = table.columns[i]
    if command.action == "set_not_null":
        if not column.not_null:
            validate_not_null(ctx, table, (i,))
            builder.table = _with_column(table, i, replace(column, not_null=True))
        return
    if i in table.primary_key:
        raise QuorumError(f'column "{column.name}" is in a primary key', sqlstate="42P16")
    if column.identity:
        raise QuorumError(
            f'column "{column.name}" of relation "{table.name}" is an identity column',
            sqlstate="42601",
        )
    builder.table = _with_column(table, i, replace(column, not_null=False))


# ---- constraints ------------------------------------------------------------------------------


def _add_constraint(
    ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand, column: str | None = None
) -> None:
    constraint = command.constraint
    assert constraint is not None
    before = builder.table
    add_constraint(ctx, builder, constraint, column)
    after = builder.table
    if constraint.kind == "primary":
        missing = [i for i in after.primary_key if not before.columns[i].not_null]
        if missing:
            validate_not_null(ctx, before, tuple(missing))
        put_relation(ctx.txn, IndexName(after.pkey_name, after.schema, after.id))
        builder.table = rewrite(ctx, before, after)
    elif constraint.kind == "unique":
        index = after.indexes[-1]
        build_index(ctx, before, index)
        put_relation(ctx.txn, IndexName(index.name, after.schema, after.id))
    elif constraint.kind == "check":
        check = after.checks[-1]
        validate_check(ctx, after, check.name, check.expr)
    elif constraint.kind == "foreign":
        fk = after.foreign_keys[-1]
        parent = after if fk.ref_table == after.id else ctx.catalog.tables_by_id[fk.ref_table]
        validate_foreign_key(ctx, after, fk, parent)


def _drop_constraint(ctx: DdlContext, builder: _TableBuilder, command: D.AlterCommand) -> None:
    table = builder.table
    name = command.column or ""
    if name not in table.constraint_names():
        if command.if_exists:
            ctx.notice(
                f'constraint "{name}" of relation "{table.name}" does not exist, skipping'
            )
            return
        raise UndefinedObject(f'constraint "{name}" of relation "{table.name}" does not exist')
    if any(c.name == name for c in table.checks):
        builder.table = replace(table, checks=tuple(c for c in table.checks if c.name != name))
        return
    if any(f.name == name for f in table.foreign_keys):
        builder.table = replace(
            table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != name)
        )
        return
    # A key (primary or unique): foreign keys that rely on it go only with CASCADE.
    columns = table.primary_key if name == table.pkey_name else table.index(name).columns  # type: ignore[union-attr]
    others = [
        x.columns for x in table.indexes if x.unique and x.name != name
    ] + ([table.primary_key] if table.primary_key and name != table.pkey_name else [])
    relying = [
        (child, fk)
        for child, fk in table.referenced_by
        if set(fk.ref_columns) == set(columns) and not any(set(o) == set(columns) for o in others)
    ]
    if relying and not command.cascade:
        raise QuorumError(
            f"cannot drop constraint {name} on table {table.name} because other objects depend on it",
            sqlstate="2BP01",
            detail="\n".join(
                f"constraint {fk.name} on {describe(child, ctx.catalog)} depends on index {name}"
                for child, fk in relying
            ),
            hint="Use DROP ... CASCADE to drop the dependent objects too.",
        )
    if len(relying) == 1:
        child, fk = relying[0]
        ctx.notice(f"drop cascades to constraint {fk.name} on {describe(child, ctx.catalog)}")
    elif relying:
        ctx.notice(f"drop cascades to {len(relying)} other objects")
    for child, fk in relying:
        if child.id == table.id:
            table = replace(table, foreign_keys=tuple(f for f in table.foreign_keys if f.name != fk.name))
        else:
            _drop_child_fk(ctx, child, fk.name)
    delete_relation(ctx.txn, table.schema, name)
    if name == table.pkey_name:
        builder.table = rewrite(ctx, table, replace(table, primary_key=()))
        return
    index = table.index(name)
    assert index is not None
    schedule_reclaim(ctx.txn, index.prefix)
    builder.table = replace(table, indexes=tuple(x for x in table.indexes if x.name != name))


_ACTIONS = {
    "add_column": _add_column,
    "drop_column": _drop_column,
    "set_default": _set_default,
    "drop_default": _set_default,
    "set_not_null": _set_not_null,
    "drop_not_null": _set_not_null,
    "add_constraint": _add_constraint,
    "drop_constraint": _drop_constraint,
}


# ---- views that a change would break -------------------------------------------------------------


def _broken_views(
    ctx: DdlContext, old: TableDef | ViewDef | SequenceDef, new: TableDef | ViewDef | SequenceDef | None
) -> list[ViewDef]:
    """The views (direct and indirect) that no longer plan once `old` becomes `new`."""
    from .views import plan_view, view_query

    catalog = ctx.catalog
    dependents = [r for r in catalog.dependents(old.id) if isinstance(r, ViewDef)]
    if not dependents:
        return []
    relations = dict(catalog.relations)
    del relations[(old.schema, old.name)]
    if new is not None:
        relations[(new.schema, new.name)] = new
    changed = Catalog(None, catalog.schemas, relations, catalog.search_path)
    broken: list[ViewDef] = []
    for view in dependents:
        try:
            plan_view(view_query(view.sql), view.columns, changed)
        except QuorumError:
            broken.append(view)
    return broken


def _refuse_broken(ctx: DdlContext, what: str, old: object, new: object) -> None:
    broken = _broken_views(ctx, old, new)  # type: ignore[arg-type]
    if broken:
        raise FeatureNotSupported(
            f"cannot rename {what}: {describe(broken[0], ctx.catalog)} depends on it",
            hint="QuorumDB stores views as text: drop and re-create the view.",
        )


# ---- RENAME ---------------------------------------------------------------------------------------


def rename(stmt: D.Rename, ctx: DdlContext) -> str:
    kind = stmt.kind
    if kind == "schema":
        return _rename_schema(stmt, ctx)
    tag = {"view": "ALTER VIEW", "index": "ALTER INDEX", "sequence": "ALTER SEQUENCE"}.get(
        kind, "ALTER TABLE"
    )
    catalog = ctx.catalog
    found = catalog.lookup(stmt.target.name, stmt.target.schema)
    if found is None:
        if stmt.if_exists:
            ctx.notice(f'relation "{stmt.target.name}" does not exist, skipping')
            return tag
        catalog.check_schema(stmt.target.schema)
        raise QuorumError(f'relation "{stmt.target.name}" does not exist', sqlstate="42P01")
    if kind in ("column", "constraint"):
        table = resolve_table(ctx, stmt.target)
        lock_table_for_ddl(ctx, table)
        if kind == "column":
            _rename_column(ctx, table, stmt.old or "", stmt.new)
        else:
            _rename_constraint(ctx, table, stmt.old or "", stmt.new)
        return tag
    new = stmt.new
    if not check_name_free(ctx, found.schema, new):
        raise DuplicateTable(f'relation "{new}" already exists')
    if isinstance(found, IndexName):
        table_index = catalog.index_table(found.name, found.schema)
        assert table_index is not None
        table, index = table_index
        lock_table_for_ddl(ctx, table)
        if index is None:
            table = replace(table, pkey_name=new)
        else:
            table = replace(
                table, indexes=tuple(replace(x, name=new) if x.id == index.id else x for x in table.indexes)
            )
        put_relation(ctx.txn, table)
        delete_relation(ctx.txn, found.schema, found.name)
        put_relation(ctx.txn, replace(found, name=new))
        return tag
    if isinstance(found, TableDef):
        lock_table_for_ddl(ctx, found)
    else:
        ctx.txn.lock(keys.rel_key(found.schema, found.name))
    renamed = replace(found, name=new)
    _refuse_broken(ctx, f'relation "{found.name}"', found, renamed)
    delete_relation(ctx.txn, found.schema, found.name)
    put_relation(ctx.txn, renamed)
    return tag


def _rename_column(ctx: DdlContext, table: TableDef, old: str, new: str) -> None:
    i = table.index_of.get(old)
    if i is None:
        raise UndefinedColumn(f'column "{old}" does not exist')
    if new in table.index_of:
        raise DuplicateColumn(f'column "{new}" of relation "{table.name}" already exists')
    columns = table.columns[:i] + (replace(table.columns[i], name=new),) + table.columns[i + 1 :]
    checks = tuple(replace(c, expr=rename_column_refs(c.expr, old, new)) for c in table.checks)
    renamed = replace(table, columns=columns, checks=checks)
    _refuse_broken(ctx, f'column "{old}"', table, renamed)
    put_relation(ctx.txn, renamed)


def _rename_constraint(ctx: DdlContext, table: TableDef, old: str, new: str) -> None:
    if old not in table.constraint_names():
        raise UndefinedObject(f'constraint "{old}" for table "{table.name}" does not exist')
    if new in table.constraint_names():
        raise DuplicateObject(f'constraint "{new}" for relation "{table.name}" already exists')
    index_backed = old == table.pkey_name or any(x.name == old for x in table.indexes)
    if index_backed:
        if not check_name_free(ctx, table.schema, new):
            raise DuplicateTable(f'relation "{new}" already exists')
        delete_relation(ctx.txn, table.schema, old)
        put_relation(ctx.txn, IndexName(new, table.schema, table.id))
    table = replace(
        table,
        pkey_name=new if old == table.pkey_name else table.pkey_name,
        indexes=tuple(replace(x, name=new) if x.name == old else x for x in table.indexes),
        checks=tuple(replace(c, name=new) if c.name == old else c for c in table.checks),
        foreign_keys=tuple(replace(f, name=new) if f.name == old else f for f in table.foreign_keys),
    )
    put_relation(ctx.txn, table)


def _rename_schema(stmt: D.Rename, ctx: DdlContext) -> str:
    old, new = stmt.old or "", stmt.new
    catalog = ctx.catalog
    if old not in catalog.schemas:
        raise QuorumError(f'schema "{old}" does not exist', sqlstate="3F000")
    if old == "public":
        raise FeatureNotSupported("cannot rename schema public: QuorumDB always has it")
    if new in catalog.schemas:
        raise QuorumError(f'schema "{new}" already exists', sqlstate="42P06")
    ctx.txn.lock(keys.schema_key(old))
    ctx.txn.lock(keys.schema_key(new))
    members = [r for (s, _), r in catalog.relations.items() if s == old]
    for relation in members:
        if isinstance(relation, TableDef):
            lock_table_for_ddl(ctx, relation)
        delete_relation(ctx.txn, old, relation.name)
        put_relation(ctx.txn, replace(relation, schema=new))
    schema = catalog.schemas[old]
    ctx.txn.delete(keys.schema_key(old))
    ctx.txn.put(keys.schema_key(new), replace(schema, name=new).encode())
    return "ALTER SCHEMA"

