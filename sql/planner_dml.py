"""Planning of INSERT / UPDATE / DELETE with their query extensions.

The base forms (targets, value conversion, defaults, identity columns) are
`planner_writes`' job; this module adds what makes them queries:

* ``RETURNING`` expressions over the written row (for UPDATE ... FROM and
  DELETE ... USING, over the joined row too); the statement then returns
  rows (tag ``INSERT 0 n``/``UPDATE n``/``DELETE n``);
* ``INSERT ... ON CONFLICT (columns) | ON CONSTRAINT name DO NOTHING | DO
  UPDATE SET ... [WHERE ...]``: the arbiter must be the primary key or a
  unique index (42P10 otherwise); SET and WHERE see the existing row as the
  target table and the proposed one as ``excluded``;
* ``UPDATE ... FROM`` / ``DELETE ... USING``: the target table joined with
  the other items like a SELECT's FROM (the target's scan carries each
  row's key), each target row written once;
* ``WITH`` before the statement.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial

from quorumdb.storage.errors import QuorumError, SyntaxErrorSQL

from . import ast
from . import types as T
from .access import conjuncts
from .binder import Binder, Level, mismatch
from .bound import BoundExpr, ColumnRef
from .catalog import IndexDef, TableDef
from .plan import Conflict, Delete, Insert, OutputColumn, Plan, Update
from .planner_from import FromPlanner
from .scope import Relation, Scope, ScopeColumn, pos

__all__ = ["plan_write"]


def plan_write(stmt: ast.Insert | ast.Update | ast.Delete, planner: object) -> Plan:
    """The Plan of a write statement (`planner` is the statement's QueryPlanner)."""
    level = Level()
    if stmt.with_ is not None:
        planner._push_ctes(stmt.with_, stmt, level)  # type: ignore[attr-defined]
    try:
        if isinstance(stmt, ast.Insert):
            return _insert(stmt, planner)
        if isinstance(stmt, ast.Update):
            return _update(stmt, planner, level)
        return _delete(stmt, planner, level)
    finally:
        if stmt.with_ is not None:
            planner._ctes.pop()  # type: ignore[attr-defined]


def _plan(root: Insert | Update | Delete, tag: str, returning: tuple[ast.SelectItem, ...],
          columns: tuple[OutputColumn, ...] | None) -> Plan:  # fmt: skip
    return Plan(root, tag, columns if returning else None, writes=True)


def _table_columns(table: TableDef, visible: str, offset: int = 0) -> list[ScopeColumn]:
    return [
        ScopeColumn(visible, c.name, c.type, offset + i, table.oid, i + 1)
        for i, c in enumerate(table.columns)
    ]


def _bind_returning(
    items: tuple[ast.SelectItem, ...], binder: Binder
) -> tuple[tuple[BoundExpr, ...], tuple[OutputColumn, ...]]:
    from .planner import column_name
    from .planner_select import _expand_star

    exprs: list[BoundExpr] = []
    columns: list[OutputColumn] = []
    for item in items:
        if isinstance(item.expr, ast.Star):
            for c in _expand_star(item.expr, binder.scope):
                exprs.append(binder.column(c))
                columns.append(OutputColumn(c.name, c.type, c.table_oid, c.column_number))
            continue
        e = binder.bind_output(item.expr)
        exprs.append(e)
        name = item.name or column_name(item.expr)
        if isinstance(e, ColumnRef):
            columns.append(OutputColumn(name, e.type, e.table_oid, e.column_number))
        else:
            columns.append(OutputColumn(name, e.type))
    return tuple(exprs), tuple(columns)


# ---- INSERT ---------------------------------------------------------------------------


def _insert(stmt: ast.Insert, planner: object) -> Plan:
    from . import planner_writes

    context = planner.context  # type: ignore[attr-defined]
    catalog = planner.catalog  # type: ignore[attr-defined]
    node = planner_writes.plan_insert(stmt, catalog, context)
    assert isinstance(node, Insert)
    table = node.table
    visible = stmt.table.alias or table.name
    returning = None
    columns = None
    if stmt.returning:
        scope = Scope(_table_columns(table, visible), [Relation(visible, table.name, None)])
        binder = Binder(scope, context, aggregates_allowed="RETURNING")
        returning, columns = _bind_returning(stmt.returning, binder)
    conflict = _conflict(stmt, table, visible, context) if stmt.on_conflict is not None else None
    root = replace(node, returning=returning, conflict=conflict)
    return _plan(root, "INSERT", stmt.returning, columns)


def _arbiter(
    stmt: ast.Insert, table: TableDef
) -> tuple[tuple[int, ...], str, IndexDef | None] | None:
    spec = stmt.on_conflict
    assert spec is not None
    if spec.constraint is not None:
        if spec.constraint == table.pkey_name and table.primary_key:
            return table.primary_key, table.pkey_name, None
        for index in table.indexes:
            if index.unique and index.name == spec.constraint:
                return index.columns, index.name, index
        raise QuorumError(
            f'constraint "{spec.constraint}" for table "{table.name}" does not exist',
            sqlstate="42704",
        )
    if not spec.columns:
        return None
    wanted = set()
    for name in spec.columns:
        index_of = table.index_of.get(name)
        if index_of is None:
            raise QuorumError(
                f'column "{name}" does not exist', sqlstate="42703", position=pos(spec.location)
            )
        wanted.add(index_of)
    if table.primary_key and set(table.primary_key) == wanted:
        return table.primary_key, table.pkey_name, None
    for index in table.indexes:
        if index.unique and set(index.columns) == wanted:
            return index.columns, index.name, index
    raise QuorumError(
        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
        sqlstate="42P10",
    )


def _conflict(stmt: ast.Insert, table: TableDef, visible: str, context: object) -> Conflict:
    from .planner_writes import _assign

    spec = stmt.on_conflict
    assert spec is not None
    arbiter = _arbiter(stmt, table)
    if spec.action == "nothing":
        if arbiter is None:
            names = ", ".join(name for name, _, _ in table.unique_keys())
            return Conflict((), names, None)
        return Conflict(arbiter[0], arbiter[1], arbiter[2])
    if arbiter is None:
        raise SyntaxErrorSQL(
            "ON CONFLICT DO UPDATE requires inference specification or constraint name",
            hint="For example, ON CONFLICT (column_name).",
            position=pos(spec.location),
        )
    n = len(table.columns)
    scope = Scope(
        _table_columns(table, visible) + _table_columns(table, "excluded", n),
        [Relation(visible, table.name, None), Relation("excluded", "excluded", None)],
    )
    binder = Binder(scope, context, aggregates_allowed="ON CONFLICT DO UPDATE")  # type: ignore[arg-type]
    assignments: list[tuple[int, BoundExpr]] = []
    for a in spec.assignments:
        index = table.index_of.get(a.column)
        if index is None:
            raise QuorumError(
                f'column "{a.column}" of relation "{table.name}" does not exist',
                sqlstate="42703",
                position=pos(a.location),
            )
        if any(i == index for i, _ in assignments):
            raise SyntaxErrorSQL(
                f'multiple assignments to same column "{a.column}"', position=pos(a.location)
            )
        column = table.columns[index]
        if isinstance(a.value, ast.Default):
            from .constraints import default_value

            value = default_value(column, binder.context.planner.catalog, binder.context)  # type: ignore[union-attr]
        else:
            value = _assign(binder, binder.bind(a.value), column, ast.leftmost_location(a.value))
        assignments.append((index, value))
    where = binder.bind_condition(spec.where, "WHERE") if spec.where is not None else None
    return Conflict(arbiter[0], arbiter[1], arbiter[2], tuple(assignments), where, update=True)


# ---- UPDATE / DELETE --------------------------------------------------------------------


def _target_item_scope(
    stmt: ast.Update | ast.Delete, planner: object, level: Level, extra: tuple[ast.FromItem, ...]
) -> tuple[FromPlanner, object]:
    from .planner import resolve_table

    table = resolve_table(stmt.table, planner.catalog)  # type: ignore[attr-defined]
    fp = FromPlanner(planner, level, target=table)
    target = fp.item(stmt.table, None)
    item = fp.build(extra, target)
    return fp, item


def _bind_table_returning(
    stmt: ast.Update | ast.Delete, table: TableDef, context: object, level: Level
) -> tuple[tuple[BoundExpr, ...] | None, tuple[OutputColumn, ...] | None]:
    """RETURNING of a single-table UPDATE/DELETE, over the target's columns only."""
    if not stmt.returning:
        return None, None
    visible = stmt.table.alias or table.name
    scope = Scope(_table_columns(table, visible), [Relation(visible, table.name, None)])
    binder = Binder(scope, context, aggregates_allowed="RETURNING", level=level)  # type: ignore[arg-type]
    return _bind_returning(stmt.returning, binder)


def _update(stmt: ast.Update, planner: object, level: Level) -> Plan:
    from . import planner_writes

    context = planner.context  # type: ignore[attr-defined]
    catalog = planner.catalog  # type: ignore[attr-defined]
    if not stmt.from_:
        node = planner_writes.plan_update(stmt, catalog, context)
        assert isinstance(node, Update)
        returning, columns = _bind_table_returning(stmt, node.table, context, level)
        return _plan(replace(node, returning=returning), "UPDATE", stmt.returning, columns)
    fp, item = _target_item_scope(stmt, planner, level, stmt.from_)
    table = fp.target
    assert table is not None
    scope = item.scope  # type: ignore[attr-defined]
    binder = Binder(scope, context, aggregates_allowed="UPDATE", level=level)
    where = binder.with_scope(scope, "WHERE").bind_condition(stmt.where, "WHERE") if stmt.where is not None else None  # fmt: skip
    assignments = planner_writes.bind_assignments(stmt, table, binder, catalog, context)
    returning, columns = None, None
    if stmt.returning:
        returning, columns = _bind_returning(stmt.returning, binder.with_scope(scope, "RETURNING"))
    source = fp.finish(item, conjuncts(where))  # type: ignore[arg-type]
    root = Update(table, source, assignments, returning, keyed_rows=True)
    return _plan(root, "UPDATE", stmt.returning, columns)


def _delete(stmt: ast.Delete, planner: object, level: Level) -> Plan:
    from . import planner_writes

    context = planner.context  # type: ignore[attr-defined]
    catalog = planner.catalog  # type: ignore[attr-defined]
    if not stmt.using:
        node = planner_writes.plan_delete(stmt, catalog, context)
        assert isinstance(node, Delete)
        returning, columns = _bind_table_returning(stmt, node.table, context, level)
        return _plan(replace(node, returning=returning), "DELETE", stmt.returning, columns)
    fp, item = _target_item_scope(stmt, planner, level, stmt.using)
    table = fp.target
    assert table is not None
    scope = item.scope  # type: ignore[attr-defined]
    binder = Binder(scope, context, aggregates_allowed="WHERE", level=level)
    where = binder.bind_condition(stmt.where, "WHERE") if stmt.where is not None else None
    returning, columns = None, None
    if stmt.returning:
        returning, columns = _bind_returning(stmt.returning, binder.with_scope(scope, "RETURNING"))
    source = fp.finish(item, conjuncts(where))  # type: ignore[arg-type]
    root = Delete(table, source, returning, keyed_rows=True)
    return _plan(root, "DELETE", stmt.returning, columns)


del partial, mismatch, T
