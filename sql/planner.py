"""The planner: a statement's syntax tree + the catalog -> a `Plan`.

Queries become a pipeline of plan nodes, bottom-up:

    scan (with the WHERE filter; see `access.choose_scan`)
    -> Aggregate (GROUP BY / aggregates) -> Filter (HAVING)
    -> Sort (unless the scan is already in key order) -> Limit -> Project

With DISTINCT, Project and Distinct come before Sort (whose keys must then be
select-list entries, as in PostgreSQL). Writes (`planner_writes.py`) reuse the
same scan selection. The planner is pure: it reads only the `Catalog` it is
given, so its output can be cached per catalog version.
"""

from __future__ import annotations

from functools import partial

from quorumdb.storage.errors import (
    DatatypeMismatch,
    FeatureNotSupported,
    QuorumError,
    SyntaxErrorSQL,
    UndefinedTable,
)

from . import ast
from . import types as T
from .access import choose_scan, ordered_by_key
from .binder import BindContext, Binder, coerce, common_type
from .bound import AggRef, BoundExpr, ColumnRef, Const, ParamRef, format_expr, transform
from .casts import CastContext
from .catalog import Catalog, TableDef
from .plan import (
    Aggregate,
    Distinct,
    Explain,
    Filter,
    Limit,
    OutputColumn,
    Plan,
    PlanNode,
    Project,
    Result,
    Sort,
    SortSpec,
    ValuesScan,
    aggregate_names,
)
from .scope import Relation, Scope, ScopeColumn, pos
from .types import SqlType

__all__ = ["plan_statement", "resolve_table", "table_scope", "column_name"]


def plan_statement(
    stmt: ast.Statement, catalog: Catalog, param_types: list[SqlType | None] | None = None
) -> Plan:
    """Plan one statement. `param_types` (None: no parameters allowed) is filled in
    with the types inferred for untyped parameters."""
    from . import planner_writes

    context = BindContext(param_types)
    if isinstance(stmt, ast.Select):
        root, columns = plan_select(stmt, catalog, context)
        plan = Plan(root, "SELECT", columns)
    elif isinstance(stmt, ast.Values):
        root, columns = plan_values(stmt, context)
        plan = Plan(root, "SELECT", columns)
    elif isinstance(stmt, ast.Insert):
        plan = Plan(planner_writes.plan_insert(stmt, catalog, context), "INSERT", writes=True)
    elif isinstance(stmt, ast.Update):
        plan = Plan(planner_writes.plan_update(stmt, catalog, context), "UPDATE", writes=True)
    elif isinstance(stmt, ast.Delete):
        plan = Plan(planner_writes.plan_delete(stmt, catalog, context), "DELETE", writes=True)
    elif isinstance(stmt, ast.CreateTable):
        plan = Plan(planner_writes.plan_create_table(stmt), "CREATE TABLE", writes=True)
    elif isinstance(stmt, ast.DropTable):
        plan = Plan(planner_writes.plan_drop_table(stmt), "DROP TABLE", writes=True)
    elif isinstance(stmt, ast.Explain):
        inner = plan_statement(stmt.statement, catalog, param_types)
        if inner.tag in ("CREATE TABLE", "DROP TABLE"):
            raise FeatureNotSupported(f"EXPLAIN {inner.tag} is not supported")
        plan = Plan(Explain(inner), "EXPLAIN", (OutputColumn("QUERY PLAN", T.TEXT),))
    else:
        raise FeatureNotSupported(f"{type(stmt).__name__} cannot be planned")
    context.raise_deferred()
    params = tuple(t if t is not None else T.TEXT for t in (param_types or ()))
    return Plan(plan.root, plan.tag, plan.columns, params, plan.writes, catalog.version)


# ---- tables and scopes ------------------------------------------------------------


def resolve_table(name: ast.TableName, catalog: Catalog) -> TableDef:
    if name.schema not in (None, "public"):
        if name.schema in ("pg_catalog", "information_schema"):
            raise UndefinedTable(
                f'relation "{name.schema}.{name.name}" does not exist', position=pos(name.location)
            )
        raise QuorumError(
            f'schema "{name.schema}" does not exist', sqlstate="3F000", position=pos(name.location)
        )
    return catalog.table(name.name, pos(name.location))


def table_scope(table: TableDef, ref: ast.TableName) -> Scope:
    visible = ref.alias or table.name
    columns = [
        ScopeColumn(visible, c.name, c.type, i, table.oid, i + 1)
        for i, c in enumerate(table.columns)
    ]
    return Scope(columns, [Relation(visible, table.name, None if ref.alias else "public")])


def column_name(e: ast.Expr) -> str:
    """PostgreSQL's FigureColname: the default name of a select-list column."""
    name, _ = _figure_colname(e)
    return name or "?column?"


def _figure_colname(e: ast.Expr) -> tuple[str | None, int]:
    if isinstance(e, ast.ColumnName):
        return e.parts[-1], 2
    if isinstance(e, ast.FuncCall):
        return e.name, 2
    if isinstance(e, ast.Cast):
        name, strength = _figure_colname(e.operand)
        if strength <= 1:
            return e.type.last_name, 1
        return name, strength
    if isinstance(e, ast.Case):
        return "case", 1
    if isinstance(e, ast.Coalesce):
        return "coalesce", 2
    if isinstance(e, ast.NullIf):
        return "nullif", 2
    return None, 0


# ---- SELECT ----------------------------------------------------------------------------


def plan_select(
    stmt: ast.Select, catalog: Catalog, ctx: BindContext
) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
    if len(stmt.from_) > 1:
        raise FeatureNotSupported("queries over more than one table (joins) are not supported")
    table: TableDef | None = None
    if stmt.from_:
        table = resolve_table(stmt.from_[0], catalog)
        scope = table_scope(table, stmt.from_[0])
    else:
        scope = Scope.EMPTY
    binder = Binder(scope, ctx)

    # Clauses are analysed in PostgreSQL's order (select list, WHERE, HAVING,
    # ORDER BY, GROUP BY, DISTINCT, OFFSET, LIMIT, then the grouping checks), so
    # a statement with several errors reports the same one.
    # Select list (aggregates are collected by `binder`).
    exprs: list[BoundExpr] = []
    columns: list[OutputColumn] = []
    for item in stmt.items:
        if isinstance(item.expr, ast.Star):
            expanded = _expand_star(item.expr, scope)
            for c in expanded:
                exprs.append(ColumnRef(c.type, c.index, c.name, c.table_oid, c.column_number))
                columns.append(OutputColumn(c.name, c.type, c.table_oid, c.column_number))
            continue
        e = binder.bind_output(item.expr)
        exprs.append(e)
        name = item.name or column_name(item.expr)
        if isinstance(e, ColumnRef):
            columns.append(OutputColumn(name, e.type, e.table_oid, e.column_number))
        else:
            columns.append(OutputColumn(name, e.type))

    where = (
        binder.with_scope(scope, "WHERE").bind_condition(stmt.where, "WHERE")
        if stmt.where
        else None
    )
    having = binder.bind_condition(stmt.having, "HAVING") if stmt.having is not None else None
    order = [_bind_sort_key(k, binder, stmt.items, exprs, columns) for k in stmt.order_by]
    group_by = [_bind_group_item(g, binder, scope, stmt.items, exprs) for g in stmt.group_by]
    distinct_order: tuple[SortSpec, ...] = ()
    if stmt.distinct and order:
        locations = [ast.leftmost_location(k.expr) for k in stmt.order_by]
        distinct_order = tuple(
            _distinct_sort_key(s, exprs, loc) for s, loc in zip(order, locations, strict=True)
        )
    limit, offset = _bind_limits(stmt.limit, stmt.offset, ctx)

    source: PlanNode = choose_scan(table, where) if table is not None else _result(where)
    if binder.aggregates or group_by or having is not None:
        aggregate = Aggregate(source, tuple(group_by), tuple(binder.aggregates))
        names = aggregate_names(aggregate)
        source = aggregate
        exprs = [_after_aggregate(e, group_by, names) for e in exprs]
        order = [
            SortSpec(_after_aggregate(s.expr, group_by, names), s.descending, s.nulls_first)
            for s in order
        ]
        if having is not None:
            source = Filter(source, _after_aggregate(having, group_by, names))

    if stmt.distinct:
        source = Distinct(Project(source, tuple(exprs)))
        if distinct_order:
            # Keys refer to select-list entries, which read the same after aggregation.
            source = Sort(source, distinct_order)
        if limit is not None or offset is not None:
            source = Limit(source, limit, offset)
        return source, tuple(columns)
    if order:
        in_order = ordered_by_key(source, tuple(order))
        source = in_order if in_order is not None else Sort(source, tuple(order))
    if limit is not None or offset is not None:
        source = Limit(source, limit, offset)
    return Project(source, tuple(exprs)), tuple(columns)


def _result(where: BoundExpr | None) -> PlanNode:
    if where is None:
        return Result()
    return Filter(Result(), where)


def _expand_star(star: ast.Star, scope: Scope) -> list[ScopeColumn]:
    if not scope.relations:
        raise SyntaxErrorSQL(
            "SELECT * with no tables specified is not valid", position=pos(star.location)
        )
    if star.table is None:
        return list(scope.columns)
    scope.check_relation(star.table, None, star.location)
    return [c for c in scope.columns if c.relation == star.table]


def _output_reference(
    node: ast.Expr, items: tuple[ast.SelectItem, ...], exprs: list[BoundExpr], clause: str
) -> BoundExpr | None:
    """ORDER BY / GROUP BY 2 (a column number) -> that select-list entry."""
    if isinstance(node, ast.Literal) and node.kind == "int":
        n = node.value
        if not 1 <= n <= len(exprs):  # type: ignore[operator]
            raise QuorumError(
                f"{clause} position {n} is not in select list",
                sqlstate="42P10",
                position=pos(node.location),
            )
        return exprs[n - 1]  # type: ignore[operator]
    return None


def _bind_group_item(
    node: ast.Expr,
    binder: Binder,
    scope: Scope,
    items: tuple[ast.SelectItem, ...],
    exprs: list[BoundExpr],
) -> BoundExpr:
    by_number = _output_reference(node, items, exprs, "GROUP BY")
    if by_number is not None:
        if isinstance(by_number, AggRef) or _contains_aggregate(by_number):
            raise QuorumError(
                "aggregate functions are not allowed in GROUP BY",
                sqlstate="42803",
                position=pos(getattr(node, "location", -1)),
            )
        return by_number
    if isinstance(node, ast.ColumnName) and len(node.parts) == 1:
        # An input column wins over an output name in GROUP BY (SQL92 rules as PostgreSQL applies them).
        if not any(c.name == node.parts[0] for c in scope.columns):
            for item, e in zip(items, exprs, strict=False):
                if item.name == node.parts[0]:
                    return e
    return binder.with_scope(scope, "GROUP BY").bind(node)


def _bind_sort_key(
    key: ast.SortKey,
    binder: Binder,
    items: tuple[ast.SelectItem, ...],
    exprs: list[BoundExpr],
    columns: list[OutputColumn],
) -> SortSpec:
    nulls_first = key.descending if key.nulls_first is None else key.nulls_first
    e = _output_reference(key.expr, items, exprs, "ORDER BY")
    if e is None and isinstance(key.expr, ast.ColumnName) and len(key.expr.parts) == 1:
        # An output column name wins over an input column in ORDER BY.
        matches = [x for x, c in zip(exprs, columns, strict=False) if c.name == key.expr.parts[0]]
        if len(matches) > 1 and any(m != matches[0] for m in matches):
            raise QuorumError(
                f'ORDER BY "{key.expr.parts[0]}" is ambiguous',
                sqlstate="42702",
                position=pos(key.expr.location),
            )
        if matches:
            e = matches[0]
    if e is None:
        e = binder.bind_output(key.expr)
    return SortSpec(e, key.descending, nulls_first)


def _contains_aggregate(e: BoundExpr) -> bool:
    found = False

    def visit(node: BoundExpr) -> BoundExpr:
        nonlocal found
        if isinstance(node, AggRef):
            found = True
        return transform(node, visit)

    visit(e)
    return found


def _after_aggregate(e: BoundExpr, group_by: list[BoundExpr], agg_names: list[str]) -> BoundExpr:
    """Rewrite an expression to read the Aggregate node's output row."""
    for i, g in enumerate(group_by):
        if e == g:
            return ColumnRef(
                e.type,
                i,
                _display_name(e),
                getattr(e, "table_oid", 0),
                getattr(e, "column_number", 0),
            )
    if isinstance(e, AggRef):
        return ColumnRef(e.type, len(group_by) + e.number, agg_names[e.number])
    if isinstance(e, ColumnRef):
        name = f"{e.relation}.{e.name}" if e.relation else e.name
        raise QuorumError(
            f'column "{name}" must appear in the GROUP BY clause or be used in an aggregate function',
            sqlstate="42803",
            position=pos(e.location),
        )
    return transform(e, lambda child: _after_aggregate(child, group_by, agg_names))


def _display_name(e: BoundExpr) -> str:
    return format_expr(e)


def _distinct_sort_key(spec: SortSpec, exprs: list[BoundExpr], location: int) -> SortSpec:
    for i, e in enumerate(exprs):
        if e == spec.expr:
            return SortSpec(
                ColumnRef(e.type, i, _display_name(e)), spec.descending, spec.nulls_first
            )
    raise QuorumError(
        "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
        sqlstate="42P10",
        position=pos(location),
    )


def _bind_limits(
    limit: ast.Expr | None, offset: ast.Expr | None, ctx: BindContext
) -> tuple[BoundExpr | None, BoundExpr | None]:
    def bind(node: ast.Expr | None, clause: str) -> BoundExpr | None:
        if node is None:
            return None
        binder = Binder(Scope.EMPTY, ctx, aggregates_allowed=clause)
        e = binder.bind(node)
        if isinstance(e, Const) and e.value is None:
            return None if clause == "LIMIT" else Const(T.INT8, None)

        def mismatch() -> QuorumError:
            return DatatypeMismatch(
                f"argument of {clause} must be type bigint, not type {e.type.base}",
                position=pos(getattr(node, "location", -1)),
            )

        if isinstance(e, ParamRef) and e.type.oid == T.UNKNOWN.oid:
            return binder.coerce_literal(e, T.INT8, -1, mismatch)
        location = getattr(node, "location", -1)
        return coerce(e, T.INT8, CastContext.ASSIGNMENT, mismatch, location, ctx.fold_errors)

    bound_offset = bind(offset, "OFFSET")  # PostgreSQL checks OFFSET first
    return bind(limit, "LIMIT"), bound_offset


# ---- VALUES ------------------------------------------------------------------------------


def check_values_width(stmt: ast.Values) -> int:
    width = len(stmt.rows[0])
    for row in stmt.rows[1:]:
        if len(row) != width:
            location = getattr(row[0], "location", -1) if row else -1
            raise SyntaxErrorSQL("VALUES lists must all be the same length", position=pos(location))
    return width


def bind_values_rows(
    stmt: ast.Values, binder: Binder
) -> tuple[list[list[BoundExpr]], list[SqlType]]:
    """Bind the rows of a VALUES statement; each column gets the rows' common type."""
    width = check_values_width(stmt)
    bound = [[binder.bind(e) for e in row] for row in stmt.rows]
    types = []
    for j in range(width):
        t = common_type(
            [
                (row[j].type, getattr(stmt.rows[i][j], "location", -1))
                for i, row in enumerate(bound)
            ],
            "VALUES",
        )
        types.append(t)
    for i, row in enumerate(bound):
        for j, e in enumerate(row):
            location = getattr(stmt.rows[i][j], "location", -1)
            mismatch = DatatypeMismatch(
                f"VALUES types {types[j].base} and {e.type.base} cannot be matched",
                position=pos(location),
            )
            row[j] = coerce(
                e,
                types[j],
                CastContext.IMPLICIT,
                partial(_same, mismatch),
                location,
                binder.context.fold_errors,
            )
    return bound, types


def _same(error: QuorumError) -> QuorumError:
    return error


def plan_values(stmt: ast.Values, ctx: BindContext) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
    binder = Binder(Scope.EMPTY, ctx, aggregates_allowed="VALUES")
    rows, types = bind_values_rows(stmt, binder)
    columns = tuple(OutputColumn(f"column{j + 1}", t) for j, t in enumerate(types))
    source: PlanNode = ValuesScan(tuple(tuple(r) for r in rows))
    refs = [ColumnRef(t, j, f"column{j + 1}") for j, t in enumerate(types)]
    if stmt.order_by:
        scope = Scope(
            [ScopeColumn("*VALUES*", c.name, c.type, j) for j, c in enumerate(columns)],
            [Relation("*VALUES*", "*VALUES*", None)],
        )
        order_binder = Binder(scope, ctx, aggregates_allowed="ORDER BY")
        keys = []
        for k in stmt.order_by:
            e = _output_reference(k.expr, (), list(refs), "ORDER BY") or order_binder.bind_output(
                k.expr
            )
            keys.append(
                SortSpec(e, k.descending, k.descending if k.nulls_first is None else k.nulls_first)
            )
        source = Sort(source, tuple(keys))
    limit, offset = _bind_limits(stmt.limit, stmt.offset, ctx)
    if limit is not None or offset is not None:
        source = Limit(source, limit, offset)
    return source, columns
