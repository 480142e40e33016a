"""Planning of writes: INSERT, UPDATE, DELETE, CREATE TABLE, DROP TABLE.

Values headed for a column are converted with PostgreSQL's *assignment*
rules (a numeric fits an integer column by rounding, anything fits a text
column; a boolean never fits an integer column: 42804 with PostgreSQL's
wording and hint). An untyped literal is parsed directly as the column's
type, so a bad one fails with 22P02 at its position. Typmods (varchar(n),
numeric(p,s)) and NOT NULL are enforced by the executor on the final row.
"""

from __future__ import annotations

from typing import Any

from quorumdb.storage.errors import (
    DatatypeMismatch,
    DuplicateColumn,
    QuorumError,
    SyntaxErrorSQL,
    UndefinedColumn,
)

from . import ast
from . import types as T
from .access import choose_scan
from .binder import BindContext, Binder, coerce
from .bound import BoundExpr, ColumnRef, Const
from .casts import CastContext
from .catalog import Catalog, ColumnInfo, TableDef
from .constraints import bind_default, check_identity_insert, check_identity_update, default_value
from .plan import Delete, Insert, PlanNode, Update, ValuesScan
from .planner import check_values_width, resolve_table, table_scope
from .scope import Scope, pos

__all__ = ["plan_insert", "plan_update", "plan_delete"]


def _assign(binder: Binder, e: BoundExpr, column: ColumnInfo, location: int) -> BoundExpr:
    def mismatch() -> QuorumError:
        return DatatypeMismatch(
            f'column "{column.name}" is of type {column.type.base} but expression is of type {e.type.base}',
            hint="You will need to rewrite or cast the expression.",
            position=pos(location),
        )

    if e.type.oid == T.UNKNOWN.oid and not isinstance(e, Const):
        # A parameter takes the column's base type; its modifier (char(n) padding,
        # varchar(n) length, numeric scale) is then applied like any assignment's.
        e = binder.coerce_literal(e, column.type, location, mismatch)
    return coerce(
        e, column.type, CastContext.ASSIGNMENT, mismatch, location, binder.context.fold_errors
    )


def _target_columns(stmt: ast.Insert, table: TableDef) -> list[tuple[int, int]]:
    """(column index, location of the name in the column list) for each target."""
    if not stmt.columns:
        return [(i, -1) for i in range(len(table.columns))]
    targets: list[tuple[int, int]] = []
    for name, location in stmt.columns:
        index = table.index_of.get(name)
        if index is None:
            raise UndefinedColumn(
                f'column "{name}" of relation "{table.name}" does not exist', position=pos(location)
            )
        if any(i == index for i, _ in targets):
            raise DuplicateColumn(
                f'column "{name}" specified more than once', position=pos(location)
            )
        targets.append((index, location))
    return targets


def _location(e: ast.Expr) -> int:
    return ast.leftmost_location(e)


def plan_insert(stmt: ast.Insert, catalog: Catalog, ctx: BindContext) -> PlanNode:
    table = resolve_table(stmt.table, catalog)
    targets = _target_columns(stmt, table)
    explicit_columns = bool(stmt.columns)
    binder = Binder(Scope.EMPTY, ctx, aggregates_allowed="VALUES")
    # Columns not written get their DEFAULT (evaluated per row, on the leader).
    values: list[BoundExpr | None] = [bind_default(c, catalog, ctx) for c in table.columns]

    if stmt.source is None:  # DEFAULT VALUES
        return Insert(table, ValuesScan(((),)), tuple(values))

    if isinstance(stmt.source, ast.Values):
        width = check_values_width(stmt.source)
        _check_width(
            width, targets, explicit_columns, stmt.source.rows[0] if stmt.source.rows else ()
        )
        if stmt.source.order_by or stmt.source.limit is not None or stmt.source.offset is not None:
            raise SyntaxErrorSQL("ORDER BY/LIMIT on INSERT ... VALUES is not supported")
        rows = []
        for row in stmt.source.rows:
            bound_row: list[BoundExpr] = []
            deferred: list[tuple[int, QuorumError]] = []
            for (index, _), node in zip(targets, row, strict=False):
                column = table.columns[index]
                if isinstance(node, ast.Default):
                    bound_row.append(default_value(column, catalog, ctx))
                    continue
                check_identity_insert(column)
                mark = len(ctx.fold_errors)
                bound_row.append(_assign(binder, binder.bind(node), column, _location(node)))
                deferred.extend((index, e) for e in ctx.fold_errors[mark:])
                del ctx.fold_errors[mark:]
            # PostgreSQL folds constants after putting the row in table-column order.
            ctx.fold_errors.extend(e for _, e in sorted(deferred, key=lambda pair: pair[0]))
            rows.append(tuple(bound_row))
        for j, (index, _) in enumerate(targets[:width]):
            values[index] = ColumnRef(table.columns[index].type, j, table.columns[index].name)
        return Insert(table, ValuesScan(tuple(rows)), tuple(values))

    source, columns = _plan_source(stmt.source, ctx)
    item_nodes = [ast.ColumnName((c.name,), c.location) for c in columns]
    _check_width(len(columns), targets, explicit_columns, item_nodes)
    source, columns = ctx.planner.type_unknown_outputs(  # type: ignore[union-attr]
        source, columns, [table.columns[i].type for i, _ in targets]
    )
    for j, ((index, _), out) in enumerate(zip(targets, columns, strict=False)):
        column = table.columns[index]
        check_identity_insert(column)
        values[index] = _assign(binder, ColumnRef(out.type, j, out.name), column, out.location)
    return Insert(table, source, tuple(values))


def _plan_source(query: ast.Statement, ctx: BindContext) -> tuple[PlanNode, tuple[Any, ...]]:
    """INSERT ... SELECT / VALUES with ORDER BY / set operations: the query's rows
    (untyped literals stay untyped until the target columns convert them)."""
    from .binder import Level

    assert ctx.planner is not None
    return ctx.planner.plan_query(query, Level(), resolve_unknown=False)  # type: ignore[attr-defined,no-any-return]


def _check_width(
    width: int, targets: list[tuple[int, int]], explicit: bool, first_row: object
) -> None:
    exprs = list(first_row)  # type: ignore[call-overload]
    if width > len(targets):
        location = _location(exprs[len(targets)]) if len(exprs) > len(targets) else -1
        raise SyntaxErrorSQL(
            "INSERT has more expressions than target columns", position=pos(location)
        )
    if width < len(targets) and explicit:
        raise SyntaxErrorSQL(
            "INSERT has more target columns than expressions", position=pos(targets[width][1])
        )
    del targets[width:]


def plan_update(stmt: ast.Update, catalog: Catalog, ctx: BindContext) -> PlanNode:
    table = resolve_table(stmt.table, catalog)
    scope = table_scope(table, stmt.table)
    binder = Binder(scope, ctx, aggregates_allowed="UPDATE")
    # PostgreSQL analyses WHERE before SET.
    where = (
        binder.with_scope(scope, "WHERE").bind_condition(stmt.where, "WHERE")
        if stmt.where
        else None
    )
    return Update(table, choose_scan(table, where), bind_assignments(stmt, table, binder, catalog, ctx))


def bind_assignments(
    stmt: ast.Update, table: TableDef, binder: Binder, catalog: Catalog, ctx: BindContext
) -> tuple[tuple[int, BoundExpr], ...]:
    """SET column = value, ...: each value converted for its column (shared with UPDATE ... FROM)."""
    assignments: list[tuple[int, BoundExpr]] = []
    for a in stmt.assignments:
        index = table.index_of.get(a.column)
        if index is None:
            raise UndefinedColumn(
                f'column "{a.column}" of relation "{table.name}" does not exist',
                position=pos(a.location),
            )
        if any(i == index for i, _ in assignments):
            raise SyntaxErrorSQL(f'multiple assignments to same column "{a.column}"')
        column = table.columns[index]
        if isinstance(a.value, ast.Default):
            value: BoundExpr = default_value(column, catalog, ctx)
        else:
            check_identity_update(column)
            value = _assign(binder, binder.bind(a.value), column, _location(a.value))
        assignments.append((index, value))
    return tuple(assignments)


def plan_delete(stmt: ast.Delete, catalog: Catalog, ctx: BindContext) -> PlanNode:
    table = resolve_table(stmt.table, catalog)
    scope = table_scope(table, stmt.table)
    binder = Binder(scope, ctx, aggregates_allowed="WHERE")
    where = binder.bind_condition(stmt.where, "WHERE") if stmt.where else None
    return Delete(table, choose_scan(table, where))
