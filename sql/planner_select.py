"""Planning of one SELECT block: the pipeline from FROM to the select list.

Bottom-up:

    FROM + WHERE (planner_from: pushdown, access paths, joins)
    -> Aggregate (GROUP BY / aggregates) -> Filter (HAVING)
    -> Window (one node per distinct window definition, each over a Sort)
    -> ProjectSet (set-returning functions in the select list)
    -> Sort (unless the scan is already in key order) -> Limit -> Project

With DISTINCT, Project and Distinct come before Sort (whose keys must then
be select-list entries, as in PostgreSQL); DISTINCT ON sorts by its
expressions and keeps the first row of each group. Clauses are analysed in
PostgreSQL's order (select list, WHERE, HAVING, ORDER BY, GROUP BY,
DISTINCT, OFFSET, LIMIT, then the grouping checks), so a statement with
several errors reports the same one.

Grouping by a table's primary key makes its other columns usable ungrouped
(PostgreSQL's functional dependency rule).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quorumdb.storage.errors import QuorumError, SyntaxErrorSQL

from . import ast
from .access import conjuncts, ordered_by_key
from .binder import Binder, Level
from .bound import (
    AggCall,
    AggRef,
    BoundExpr,
    Call,
    ColumnRef,
    Frame,
    SortSpec,
    SubPlan,
    WindowCall,
    WindowRef,
    format_expr,
    transform,
)
from .catalog import FIRST_TABLE_OID
from .plan import (
    Aggregate,
    Distinct,
    DistinctOn,
    Filter,
    Limit,
    OutputColumn,
    PlanNode,
    Project,
    ProjectSet,
    Result,
    Sort,
    Window,
)
from .planner import _output_reference, bind_limits, column_name
from .planner_from import FromPlanner, and_all
from .scope import Scope, ScopeColumn, pos

if TYPE_CHECKING:
    from .planner import QueryPlanner

__all__ = ["plan_select", "aggregate_names"]


def plan_select(
    qp: QueryPlanner, stmt: ast.Select, level: Level, resolve_unknown: bool = True
) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
    ctx = qp.context
    fp = FromPlanner(qp, level)
    item = fp.build(stmt.from_)
    scope = item.scope if item is not None else Scope.EMPTY
    for w in stmt.windows:
        if w.name in level.window_defs:
            raise QuorumError(
                f'window "{w.name}" is already defined', sqlstate="42P20", position=pos(w.location)
            )
        level.window_defs[w.name] = w  # type: ignore[index]
    binder = Binder(scope, ctx, level=level, srf_allowed=True)

    exprs: list[BoundExpr] = []
    columns: list[OutputColumn] = []
    for entry in stmt.items:
        if isinstance(entry.expr, ast.Star):
            for c in _expand_star(entry.expr, scope):
                e = binder.column(c)
                exprs.append(e)
                columns.append(
                    OutputColumn(c.name, c.type, c.table_oid, c.column_number, entry.location)
                )
            continue
        e = binder.bind(entry.expr)
        if resolve_unknown:
            e = binder.resolve_unknown(e, ast.leftmost_location(entry.expr))
        exprs.append(e)
        name = entry.name or column_name(entry.expr)
        location = ast.leftmost_location(entry.expr)
        if isinstance(e, ColumnRef):
            columns.append(OutputColumn(name, e.type, e.table_oid, e.column_number, location))
        else:
            columns.append(OutputColumn(name, e.type, location=location))

    where = (
        binder.with_scope(scope, "WHERE").bind_condition(stmt.where, "WHERE")
        if stmt.where is not None
        else None
    )
    having = (
        Binder(scope, ctx, level=level, windows_allowed="HAVING").bind_condition(
            stmt.having, "HAVING"
        )
        if stmt.having is not None
        else None
    )
    order = [_bind_sort_key(k, binder, exprs, columns) for k in stmt.order_by]
    group_by = [_bind_group_item(g, binder, scope, stmt.items, exprs) for g in stmt.group_by]
    distinct_on = [_bind_distinct_on(e, binder, exprs, columns) for e in stmt.distinct_on]
    distinct_order: tuple[SortSpec, ...] = ()
    if stmt.distinct and not stmt.distinct_on and order:
        locations = [ast.leftmost_location(k.expr) for k in stmt.order_by]
        distinct_order = tuple(
            _distinct_sort_key(s, exprs, loc) for s, loc in zip(order, locations, strict=True)
        )
    limit, offset = bind_limits(stmt.limit, stmt.offset, ctx)

    if item is not None:
        source: PlanNode = fp.finish(item, conjuncts(where))
        width = item.width
    else:
        source = Result() if where is None else Filter(Result(), where)
        width = 0

    if level.aggregates or group_by or having is not None:
        uses = [*exprs, *(s.expr for s in order), *distinct_on]
        if having is not None:
            uses.append(having)
        for call in level.windows:
            uses.extend((*call.args, *call.partition_by, *(s.expr for s in call.order_by)))
        group_by = _add_dependent_columns(group_by, uses, qp)
        aggregate = Aggregate(source, tuple(group_by), tuple(level.aggregates))
        names = aggregate_names(aggregate)
        source = aggregate
        width = len(group_by) + len(level.aggregates)

        def after(e: BoundExpr) -> BoundExpr:
            return _after_aggregate(e, group_by, names)

        exprs = [after(e) for e in exprs]
        order = [SortSpec(after(s.expr), s.descending, s.nulls_first) for s in order]
        distinct_order = tuple(SortSpec(after(s.expr), s.descending, s.nulls_first) for s in distinct_order)  # fmt: skip
        distinct_on = [after(e) for e in distinct_on]
        level.windows[:] = [_window_after(call, after) for call in level.windows]
        if having is not None:
            source = Filter(source, after(having))

    if level.windows:
        source, width, exprs, order, distinct_on = _plan_windows(
            source, width, level.windows, exprs, order, distinct_on
        )

    srfs: list[Call] = []

    def extract(e: BoundExpr) -> BoundExpr:
        if isinstance(e, Call) and e.op.returns_set:
            if e not in srfs:
                srfs.append(e)
            return ColumnRef(e.type, width + srfs.index(e), e.op.name)
        return transform(e, extract)

    if any(_has_srf(e) for e in exprs):
        exprs = [extract(e) for e in exprs]
        order = [SortSpec(extract(s.expr), s.descending, s.nulls_first) for s in order]
        source = ProjectSet(source, tuple(srfs))
        width += len(srfs)

    if stmt.distinct_on:
        keys = _distinct_on_keys(distinct_on, order, stmt)
        source = DistinctOn(Sort(source, keys), tuple(distinct_on))
        if limit is not None or offset is not None:
            source = Limit(source, limit, offset)
        return Project(source, tuple(exprs)), tuple(columns)
    if stmt.distinct:
        source = Distinct(Project(source, tuple(exprs)))
        if distinct_order:
            source = Sort(source, distinct_order)
        if limit is not None or offset is not None:
            source = Limit(source, limit, offset)
        return source, tuple(columns)
    if order:
        in_order = ordered_by_key(source, tuple(order), limit is not None)
        source = in_order if in_order is not None else Sort(source, tuple(order))
    if limit is not None or offset is not None:
        source = Limit(source, limit, offset)
    return Project(source, tuple(exprs)), tuple(columns)


def _has_srf(e: BoundExpr) -> bool:
    found = False

    def visit(node: BoundExpr) -> BoundExpr:
        nonlocal found
        if isinstance(node, Call) and node.op.returns_set:
            found = True
            return node
        return transform(node, visit)

    visit(e)
    return found


def _expand_star(star: ast.Star, scope: Scope) -> list[ScopeColumn]:
    if not scope.relations:
        raise SyntaxErrorSQL(
            "SELECT * with no tables specified is not valid", position=pos(star.location)
        )
    if star.table is None:
        return list(scope.star)
    scope.check_relation(star.table, None, star.location)
    return scope.relation_columns(star.table)


def _bind_group_item(
    node: ast.Expr,
    binder: Binder,
    scope: Scope,
    items: tuple[ast.SelectItem, ...],
    exprs: list[BoundExpr],
) -> BoundExpr:
    by_number = _output_reference(node, exprs, "GROUP BY")
    if by_number is not None:
        if isinstance(by_number, AggRef) or _contains(by_number, AggRef):
            number = node.value if isinstance(node, ast.Literal) else None
            entry = (
                items[number - 1] if isinstance(number, int) and 0 < number <= len(items) else None
            )
            location = _first_aggregate(entry.expr) if entry is not None else -1
            raise QuorumError(
                "aggregate functions are not allowed in GROUP BY",
                sqlstate="42803",
                position=pos(location if location >= 0 else getattr(node, "location", -1)),
            )
        return by_number
    if isinstance(node, ast.ColumnName) and len(node.parts) == 1:
        # An input column wins over an output name in GROUP BY (SQL92 rules as PostgreSQL applies them).
        if not scope.unqualified(node.parts[0]):
            for item, e in zip(items, exprs, strict=False):
                if item.name == node.parts[0]:
                    return e
    return binder.with_scope(scope, "GROUP BY").bind_output(node)


def _first_aggregate(node: ast.Node) -> int:
    """Where the first aggregate call inside a select-list entry starts (-1: none found)."""
    from .aggfuncs import is_aggregate

    if isinstance(node, ast.FuncCall) and is_aggregate(node.name) and node.over is None:
        return node.location
    for name in getattr(node, "__dataclass_fields__", {}):
        value = getattr(node, name)
        children = value if isinstance(value, tuple) else (value,)
        for child in children:
            if isinstance(child, ast.Node):
                found = _first_aggregate(child)
                if found >= 0:
                    return found
    return -1


def _bind_sort_key(
    key: ast.SortKey, binder: Binder, exprs: list[BoundExpr], columns: list[OutputColumn]
) -> SortSpec:
    nulls_first = key.descending if key.nulls_first is None else key.nulls_first
    e = _by_output(key.expr, binder, exprs, columns, "ORDER BY")
    return SortSpec(e, key.descending, nulls_first)


def _by_output(
    node: ast.Expr, binder: Binder, exprs: list[BoundExpr], columns: list[OutputColumn], clause: str
) -> BoundExpr:
    e = _output_reference(node, exprs, clause)
    if e is None and isinstance(node, ast.ColumnName) and len(node.parts) == 1:
        # An output column name wins over an input column in ORDER BY.
        matches = [x for x, c in zip(exprs, columns, strict=False) if c.name == node.parts[0]]
        if len(matches) > 1 and any(m != matches[0] for m in matches):
            raise QuorumError(
                f'{clause} "{node.parts[0]}" is ambiguous',
                sqlstate="42702",
                position=pos(node.location),
            )
        if matches:
            e = matches[0]
    if e is None:
        e = binder.bind_output(node)
    return e


def _bind_distinct_on(
    node: ast.Expr, binder: Binder, exprs: list[BoundExpr], columns: list[OutputColumn]
) -> BoundExpr:
    return _by_output(node, binder, exprs, columns, "DISTINCT ON")


def _distinct_on_keys(
    on: list[BoundExpr], order: list[SortSpec], stmt: ast.Select
) -> tuple[SortSpec, ...]:
    leading = [s.expr for s in order[: len(on)]]
    if order and any(e not in on for e in leading):
        raise QuorumError(
            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
            sqlstate="42P10",
            position=pos(ast.leftmost_location(stmt.distinct_on[0])),
        )
    keys = list(order)
    for e in on:
        if e not in [k.expr for k in keys]:
            keys.insert(len(leading), SortSpec(e))
    return tuple(keys)


def _contains(e: BoundExpr, kind: type) -> bool:
    found = False

    def visit(node: BoundExpr) -> BoundExpr:
        nonlocal found
        if isinstance(node, kind):
            found = True
        return transform(node, visit)

    visit(e)
    return found


def aggregate_names(node: Aggregate) -> list[str]:
    """How each aggregate of `node` is shown: count(*), sum(DISTINCT n)."""
    names = []
    for agg in node.aggregates:
        if not agg.args:
            arg = "*"
        else:
            arg = ("DISTINCT " if agg.distinct else "") + ", ".join(
                format_expr(a) for a in agg.args
            )
        names.append(f"{agg.func.name}({arg})")
    return names


def _add_dependent_columns(
    group_by: list[BoundExpr], uses: list[BoundExpr], qp: QueryPlanner
) -> list[BoundExpr]:
    """Columns of a table grouped by its primary key may appear ungrouped: group by them too."""
    grouped = {
        (g.relation, g.column_number) for g in group_by if isinstance(g, ColumnRef) and g.table_oid
    }
    if not grouped:
        return group_by
    result = list(group_by)
    for use in uses:
        for ref in _ungrouped(use, result):
            table = qp.catalog.tables_by_id.get(ref.table_oid - FIRST_TABLE_OID)
            if table is None or not table.primary_key:
                continue
            if all((ref.relation, i + 1) in grouped for i in table.primary_key):
                result.append(ref)
    return result


def _ungrouped(e: BoundExpr, group_by: list[BoundExpr]) -> list[ColumnRef]:
    found: list[ColumnRef] = []

    def visit(node: BoundExpr) -> BoundExpr:
        if node in group_by:
            return node
        if isinstance(node, ColumnRef):
            if node.table_oid and node not in found:
                found.append(node)
            return node
        return transform(node, visit)

    visit(e)
    return found


def _after_aggregate(
    e: BoundExpr, group_by: list[BoundExpr], agg_names: list[str], in_subquery: bool = False
) -> BoundExpr:
    """Rewrite an expression to read the Aggregate node's output row."""
    for i, g in enumerate(group_by):
        if e == g:
            return ColumnRef(
                e.type,
                i,
                getattr(e, "name", None) or format_expr(e),
                getattr(e, "table_oid", 0),
                getattr(e, "column_number", 0),
                relation=getattr(e, "relation", ""),
            )
    if isinstance(e, AggRef):
        return ColumnRef(e.type, len(group_by) + e.number, agg_names[e.number])
    if isinstance(e, ColumnRef):
        name = f"{e.relation}.{e.name}" if e.relation else e.name
        if in_subquery:
            raise QuorumError(
                f'subquery uses ungrouped column "{name}" from outer query',
                sqlstate="42803",
                position=pos(e.location),
            )
        raise QuorumError(
            f'column "{name}" must appear in the GROUP BY clause or be used in an aggregate function',
            sqlstate="42803",
            position=pos(e.location),
        )
    if isinstance(e, SubPlan):
        return SubPlan(
            e.type,
            e.kind,
            e.plan,
            tuple((slot, _after_aggregate(p, group_by, agg_names, True)) for slot, p in e.params),
            _after_aggregate(e.operand, group_by, agg_names) if e.operand is not None else None,
            e.test,
            e.convert,
            e.number,
        )
    return transform(e, lambda child: _after_aggregate(child, group_by, agg_names, in_subquery))


def _window_after(call: WindowCall, after: object) -> WindowCall:
    f = after  # type: ignore[assignment]
    frame = call.frame
    return WindowCall(
        call.func,
        tuple(f(a) for a in call.args),  # type: ignore[operator]
        tuple(f(p) for p in call.partition_by),  # type: ignore[operator]
        tuple(SortSpec(f(s.expr), s.descending, s.nulls_first) for s in call.order_by),  # type: ignore[operator]
        Frame(
            frame.mode,
            frame.start,
            f(frame.start_offset) if frame.start_offset is not None else None,  # type: ignore[operator]
            frame.end,
            f(frame.end_offset) if frame.end_offset is not None else None,  # type: ignore[operator]
            frame.exclude,
        ),
        f(call.filter) if call.filter is not None else None,  # type: ignore[operator]
    )


def _distinct_sort_key(spec: SortSpec, exprs: list[BoundExpr], location: int) -> SortSpec:
    for i, e in enumerate(exprs):
        if e == spec.expr:
            return SortSpec(
                ColumnRef(e.type, i, getattr(e, "name", None) or format_expr(e)),
                spec.descending,
                spec.nulls_first,
            )
    raise QuorumError(
        "for SELECT DISTINCT, ORDER BY expressions must appear in select list",
        sqlstate="42P10",
        position=pos(location),
    )


def _plan_windows(
    source: PlanNode,
    width: int,
    calls: list[WindowCall],
    exprs: list[BoundExpr],
    order: list[SortSpec],
    distinct_on: list[BoundExpr],
) -> tuple[PlanNode, int, list[BoundExpr], list[SortSpec], list[BoundExpr]]:
    """One Window node per distinct (PARTITION BY, ORDER BY); WindowRefs -> their columns."""
    groups: list[tuple[tuple[BoundExpr, ...], tuple[SortSpec, ...], list[int]]] = []
    for n, call in enumerate(calls):
        for partition, ordering, members in groups:
            if partition == call.partition_by and ordering == call.order_by:
                members.append(n)
                break
        else:
            groups.append((call.partition_by, call.order_by, [n]))
    position: dict[int, int] = {}
    for partition, ordering, members in groups:
        keys = tuple(SortSpec(p) for p in partition) + ordering
        if keys:
            source = Sort(source, keys)
        source = Window(source, tuple(calls[n] for n in members), partition, ordering)
        for n in members:
            position[n] = width
            width += 1

    def replace_refs(e: BoundExpr) -> BoundExpr:
        if isinstance(e, WindowRef):
            return ColumnRef(e.type, position[e.number], calls[e.number].func.name)
        return transform(e, replace_refs)

    return (
        source,
        width,
        [replace_refs(e) for e in exprs],
        [SortSpec(replace_refs(s.expr), s.descending, s.nulls_first) for s in order],
        [replace_refs(e) for e in distinct_on],
    )


del and_all, AggCall
