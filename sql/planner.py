"""The planner: a statement's syntax tree + the catalog -> a `Plan`.

`plan_statement` creates one `QueryPlanner` per statement; it plans query
expressions recursively (subqueries in expressions are planned when the
binder meets them, through `plan_subquery`):

* a SELECT block (`planner_select.plan_select`): FROM (`planner_from`),
  WHERE pushdown, GROUP BY/aggregates, HAVING, windows, set-returning
  select lists, DISTINCT [ON], ORDER BY, LIMIT;
* VALUES lists;
* UNION / INTERSECT / EXCEPT [ALL], with PostgreSQL's column type
  resolution (an untyped literal in one branch takes the other's type);
* WITH: a CTE referenced once is planned inline like a subquery in FROM,
  one referenced several times (or MATERIALIZED) runs once per execution
  (`CteScan`); WITH RECURSIVE runs its recursive term over a work table.

Writes are planned by `planner_writes`. The planner is pure: it reads only
the `Catalog` it is given, so its output can be cached per catalog version.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from quorumdb.storage.errors import (
    DatatypeMismatch,
    FeatureNotSupported,
    QuorumError,
    SyntaxErrorSQL,
)

from . import ast
from . import types as T
from .binder import BindContext, Binder, Level, coerce, common_type
from .bound import BoundExpr, ColumnRef, Const, ParamRef, SortSpec
from .casts import CastContext
from .catalog import Catalog, TableDef
from .plan import (
    CteScan,
    Explain,
    Limit,
    OutputColumn,
    Plan,
    PlanNode,
    Project,
    RecursiveUnion,
    SetOp,
    Sort,
    SubqueryScan,
    ValuesScan,
    WorkTableScan,
)
from .scope import Relation, Scope, ScopeColumn, pos
from .types import SqlType

__all__ = [
    "plan_statement",
    "QueryPlanner",
    "resolve_table",
    "table_scope",
    "column_name",
    "bind_limits",
    "check_values_width",
    "bind_values_rows",
]


def plan_statement(
    stmt: ast.Statement, catalog: Catalog, param_types: list[SqlType | None] | None = None
) -> Plan:
    """Plan one statement. `param_types` (None: no parameters allowed) is filled in
    with the types inferred for untyped parameters."""
    from .planner_dml import plan_write

    context = BindContext(param_types)
    planner = QueryPlanner(catalog, context)
    context.planner = planner
    if isinstance(stmt, (ast.Select, ast.Values, ast.SetOperation)):
        root, columns = planner.plan_query(stmt, Level())
        plan = Plan(root, "SELECT", columns)
        if isinstance(stmt, ast.Select) and stmt.locking:  # FOR UPDATE: sql/row_locking.py
            from .row_locking import apply_locking

            plan = Plan(apply_locking(root, stmt.locking), "SELECT", columns, writes=True)
    elif isinstance(stmt, (ast.Insert, ast.Update, ast.Delete)):
        plan = plan_write(stmt, planner)
    elif isinstance(stmt, ast.Explain):
        try:
            inner = plan_statement(stmt.statement, catalog, param_types)
        except FeatureNotSupported as exc:
            if "cannot be planned" in exc.message:
                raise FeatureNotSupported(
                    f"EXPLAIN {type(stmt.statement).__name__} is not supported"
                ) from None
            raise
        summary = stmt.analyze if stmt.summary is None else stmt.summary
        plan = Plan(
            Explain(inner, stmt.analyze, stmt.timing, summary),
            "EXPLAIN",
            (OutputColumn("QUERY PLAN", T.TEXT),),
            writes=inner.writes and stmt.analyze,
        )
    else:
        raise FeatureNotSupported(f"{type(stmt).__name__} cannot be planned")
    context.raise_deferred()
    params = tuple(t if t is not None else T.TEXT for t in (param_types or ()))
    return Plan(plan.root, plan.tag, plan.columns, params, plan.writes, catalog.version)


# ---- tables and scopes ------------------------------------------------------------


def resolve_table(name: ast.TableName, catalog: Catalog) -> TableDef:
    return catalog.table(name.name, pos(name.location), name.schema)


def table_scope(table: TableDef, ref: ast.TableName) -> Scope:
    visible = ref.alias or table.name
    columns = [
        ScopeColumn(visible, c.name, c.type, i, table.oid, i + 1)
        for i, c in enumerate(table.columns)
    ]
    return Scope(columns, [Relation(visible, table.name, None if ref.alias else table.schema)])


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
            return e.type.last_name if e.type.last_name != "bpchar" else "bpchar", 1
        return name, strength
    if isinstance(e, ast.Case):
        return "case", 1
    if isinstance(e, ast.Coalesce):
        return "coalesce", 2
    if isinstance(e, ast.NullIf):
        return "nullif", 2
    if isinstance(e, ast.MinMax):
        return e.op, 2
    if isinstance(e, ast.ArrayExpr):
        return "array", 2
    if isinstance(e, ast.Subscript):
        return _figure_colname(e.operand)
    if isinstance(e, ast.SubLink):
        if e.kind == "exists":
            return "exists", 2
        if e.kind == "array":
            return "array", 2
        if e.kind == "scalar" and isinstance(e.query, ast.Select) and len(e.query.items) == 1:
            item = e.query.items[0]
            if item.name:
                return item.name, 2
            return _figure_colname(item.expr)
    return None, 0


# ---- CTEs ----------------------------------------------------------------------------


@dataclass(eq=False)
class _Cte:
    name: str
    columns: tuple[str, ...]
    query: ast.Statement
    recursive: bool
    materialize: bool
    id: int
    level: Level  # the query block whose WITH defines it
    location: int
    planned: tuple[PlanNode, tuple[OutputColumn, ...]] | None = None
    worktable: tuple[int, tuple[OutputColumn, ...]] | None = None
    in_progress: bool = False


def _references(node: object, name: str) -> int:
    count = 0
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.TableName):
            count += n.name == name and n.schema is None
        elif isinstance(n, (tuple, list)):
            stack.extend(n)
        elif hasattr(n, "__dataclass_fields__"):
            stack.extend(getattr(n, f, None) for f in n.__dataclass_fields__)  # type: ignore[attr-defined]
    return count


class QueryPlanner:
    """Plans the query expressions of one statement (see the module docstring)."""

    def __init__(self, catalog: Catalog, context: BindContext) -> None:
        self.catalog = catalog
        self.context = context
        self._ctes: list[dict[str, _Cte]] = []
        self._next_id = 0

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def resolve_table(self, ref: ast.TableName) -> TableDef:
        return resolve_table(ref, self.catalog)

    # ---- subqueries ---------------------------------------------------------------------

    def plan_subquery(
        self, query: ast.Statement, outer: Binder
    ) -> tuple[PlanNode, tuple[OutputColumn, ...], Level]:
        if not isinstance(query, (ast.Select, ast.Values, ast.SetOperation)):
            raise FeatureNotSupported("data-modifying statements in subqueries are not supported")
        level = Level(outer)
        node, columns = self.plan_query(query, level)
        return node, columns, level

    def plan_query(
        self, query: ast.Statement, level: Level, resolve_unknown: bool = True
    ) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        with_ = getattr(query, "with_", None)
        if with_ is not None:
            self._push_ctes(with_, query, level)
        try:
            if isinstance(query, ast.Select):
                from .planner_select import plan_select

                return plan_select(self, query, level, resolve_unknown)
            if isinstance(query, ast.Values):
                return self.plan_values(query, level)
            if isinstance(query, ast.SetOperation):
                return self.plan_setop(query, level)
            raise FeatureNotSupported(f"{type(query).__name__} is not supported here")
        finally:
            if with_ is not None:
                self._ctes.pop()

    # ---- WITH ---------------------------------------------------------------------------

    def _push_ctes(self, with_: ast.With, query: ast.Statement, level: Level) -> None:
        frame: dict[str, _Cte] = {}
        for cte in with_.ctes:
            if cte.name in frame:
                raise QuorumError(
                    f'WITH query name "{cte.name}" specified more than once',
                    sqlstate="42712",
                    position=pos(cte.location),
                )
            if not isinstance(cte.query, (ast.Select, ast.Values, ast.SetOperation)):
                raise FeatureNotSupported(
                    "data-modifying statements in WITH are not supported",
                    position=pos(cte.location),
                )
            recursive = with_.recursive and _references(cte.query, cte.name) > 0
            refs = _references(query, cte.name) - _references(cte.query, cte.name)
            materialize = recursive or (
                cte.materialized is not False and (cte.materialized or refs > 1)
            )
            frame[cte.name] = _Cte(cte.name, cte.columns, cte.query, recursive, materialize, self.new_id(), level, cte.location)  # fmt: skip
        self._ctes.append(frame)

    def find_cte(self, name: str) -> _Cte | None:
        for frame in reversed(self._ctes):
            if name in frame:
                return frame[name]
        return None

    def cte_scan(self, cte: _Cte, ref: ast.TableName) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        alias = ref.alias or ref.name
        if cte.in_progress:
            if cte.worktable is None:
                raise QuorumError(
                    f'recursive reference to query "{cte.name}" must not appear within its non-recursive term',
                    sqlstate="42P19",
                    position=pos(ref.location),
                )
            worktable, columns = cte.worktable
            return WorkTableScan(worktable, cte.name), columns
        if cte.materialize and cte.planned is not None:
            node, columns = cte.planned
            return CteScan(cte.name, node, cte.id, alias), columns
        level = Level(cte.level.outer)
        cte.in_progress = True
        try:
            if cte.recursive:
                node, columns = self._plan_recursive(cte, level)
            else:
                node, columns = self.plan_query(cte.query, level)
        finally:
            cte.in_progress = False
        columns = self._cte_columns(cte, columns, cte.location)
        cte.level.params.extend(level.params)  # references to enclosing queries
        if cte.materialize:
            cte.planned = (node, columns)
            return CteScan(cte.name, node, cte.id, alias), columns
        return SubqueryScan(node, alias), columns

    def _cte_columns(
        self, cte: _Cte, columns: tuple[OutputColumn, ...], location: int
    ) -> tuple[OutputColumn, ...]:
        if len(cte.columns) > len(columns):
            raise QuorumError(
                f'WITH query "{cte.name}" has {len(columns)} columns available but {len(cte.columns)} columns specified',
                sqlstate="42P10",
                position=pos(location),
            )
        return tuple(
            replace(c, name=cte.columns[i]) if i < len(cte.columns) else c
            for i, c in enumerate(columns)
        )

    def _plan_recursive(self, cte: _Cte, level: Level) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        query = cte.query
        if not (isinstance(query, ast.SetOperation) and query.op == "union"):
            raise QuorumError(
                f'recursive query "{cte.name}" does not have the form non-recursive-term UNION [ALL] recursive-term',
                sqlstate="42P19",
            )
        if query.order_by or query.limit is not None or query.offset is not None:
            raise FeatureNotSupported("ORDER BY/LIMIT in a recursive query is not implemented")
        base, base_columns = self.plan_query(query.left, level)
        base_columns = self._cte_columns(cte, base_columns, cte.location)
        worktable = self.new_id()
        cte.worktable = (worktable, base_columns)
        recursive, rec_columns = self.plan_query(query.right, level, resolve_unknown=False)
        if len(rec_columns) != len(base_columns):
            raise SyntaxErrorSQL("each UNION query must have the same number of columns")
        types = []
        for i, (b, r) in enumerate(zip(base_columns, rec_columns, strict=True)):
            t = common_type([(b.type, b.location), (r.type, r.location)], "UNION")
            if t != b.type.base and not (b.type.element is not None and t == b.type):
                raise DatatypeMismatch(
                    f'recursive query "{cte.name}" column {i + 1} has type {b.type} in non-recursive term but type {t} overall',
                    hint="Cast the output of the non-recursive term to the correct type.",
                    position=pos(b.location),
                )
            types.append(b.type)
        recursive = self._coerce_outputs(recursive, rec_columns, types)
        return RecursiveUnion(base, recursive, worktable, not query.all), base_columns

    # ---- VALUES -----------------------------------------------------------------------

    def plan_values(
        self, stmt: ast.Values, level: Level
    ) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        binder = Binder(Scope.EMPTY, self.context, aggregates_allowed="VALUES", level=level)
        rows, types = bind_values_rows(stmt, binder)
        columns = tuple(
            OutputColumn(f"column{j + 1}", t, location=_values_location(stmt, j))
            for j, t in enumerate(types)
        )
        source: PlanNode = ValuesScan(tuple(tuple(r) for r in rows))
        refs = [ColumnRef(t, j, f"column{j + 1}") for j, t in enumerate(types)]
        if stmt.order_by:
            scope = Scope(
                [ScopeColumn("*VALUES*", c.name, c.type, j) for j, c in enumerate(columns)],
                [Relation("*VALUES*", "*VALUES*", None)],
            )
            order_binder = Binder(scope, self.context, aggregates_allowed="ORDER BY", level=level)
            keys = []
            for k in stmt.order_by:
                e = _output_reference(k.expr, list(refs), "ORDER BY") or order_binder.bind_output(
                    k.expr
                )
                keys.append(
                    SortSpec(
                        e, k.descending, k.descending if k.nulls_first is None else k.nulls_first
                    )
                )
            source = Sort(source, tuple(keys))
        limit, offset = bind_limits(stmt.limit, stmt.offset, self.context)
        if limit is not None or offset is not None:
            source = Limit(source, limit, offset)
        return source, columns

    # ---- UNION / INTERSECT / EXCEPT -----------------------------------------------------

    def plan_setop(
        self, stmt: ast.SetOperation, level: Level
    ) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        construct = stmt.op.upper()
        left, left_columns = self.plan_query(stmt.left, level, resolve_unknown=False)
        right, right_columns = self.plan_query(stmt.right, level, resolve_unknown=False)
        if len(left_columns) != len(right_columns):
            raise SyntaxErrorSQL(
                f"each {construct} query must have the same number of columns",
                position=pos(right_columns[0].location if right_columns else -1),
            )
        types = [
            common_type([(lc.type, lc.location), (rc.type, rc.location)], construct)
            for lc, rc in zip(left_columns, right_columns, strict=True)
        ]
        left = self._coerce_outputs(left, left_columns, types)
        right = self._coerce_outputs(right, right_columns, types)
        columns = tuple(
            OutputColumn(lc.name, t, location=lc.location)
            for lc, t in zip(left_columns, types, strict=True)
        )
        node: PlanNode = SetOp(stmt.op, stmt.all, left, right)
        if stmt.order_by:
            node = Sort(node, tuple(self._setop_sort_key(k, columns, level) for k in stmt.order_by))
        limit, offset = bind_limits(stmt.limit, stmt.offset, self.context)
        if limit is not None or offset is not None:
            node = Limit(node, limit, offset)
        return node, columns

    def _setop_sort_key(
        self, key: ast.SortKey, columns: tuple[OutputColumn, ...], level: Level
    ) -> SortSpec:
        refs: list[BoundExpr] = [ColumnRef(c.type, j, c.name) for j, c in enumerate(columns)]
        nulls_first = key.descending if key.nulls_first is None else key.nulls_first
        e = _output_reference(key.expr, refs, "ORDER BY")
        if e is None and isinstance(key.expr, ast.ColumnName) and len(key.expr.parts) == 1:
            matches = [r for r in refs if getattr(r, "name", None) == key.expr.parts[0]]
            if matches:
                e = matches[0]
        if e is None:
            raise FeatureNotSupported(
                "invalid UNION/INTERSECT/EXCEPT ORDER BY clause",
                detail="Only result column names can be used, not expressions or functions.",
                hint="Add the expression/function to every SELECT, or move the UNION into a FROM clause.",
                position=pos(ast.leftmost_location(key.expr)),
            )
        return SortSpec(e, key.descending, nulls_first)

    def type_unknown_outputs(
        self, node: PlanNode, columns: tuple[OutputColumn, ...], targets: list[SqlType]
    ) -> tuple[PlanNode, tuple[OutputColumn, ...]]:
        """Untyped literal outputs (INSERT ... SELECT 'x') parsed as their target types now,
        so a bad one fails with its position, as in PostgreSQL."""
        types = [
            t.base if c.type.oid == T.UNKNOWN.oid else c.type
            for c, t in zip(columns, targets, strict=False)
        ] + [c.type for c in columns[len(targets) :]]
        node = self._coerce_outputs(node, columns, types)
        return node, tuple(replace(c, type=t) for c, t in zip(columns, types, strict=True))

    def _coerce_outputs(
        self, node: PlanNode, columns: tuple[OutputColumn, ...], types: list[SqlType]
    ) -> PlanNode:
        """`node`'s output columns converted to `types` (untyped literals parsed)."""
        if all(c.type == t for c, t in zip(columns, types, strict=True)):
            return node
        context = self.context

        def convert(e: BoundExpr, c: OutputColumn, t: SqlType) -> BoundExpr:
            if e.type == t:
                return e

            def error() -> QuorumError:
                return DatatypeMismatch(
                    f"cannot convert type {c.type} to {t}", position=pos(c.location)
                )

            if isinstance(e, ParamRef) and e.type.oid == T.UNKNOWN.oid:
                assert context.param_types is not None
                context.param_types[e.index] = t
                return ParamRef(t, e.index)
            return coerce(e, t, CastContext.IMPLICIT, error, c.location, context.fold_errors)

        if isinstance(node, Project):
            exprs = tuple(
                convert(e, c, t) for e, c, t in zip(node.exprs, columns, types, strict=True)
            )
            return replace(node, exprs=exprs)
        if isinstance(node, ValuesScan):
            rows = tuple(
                tuple(convert(e, c, t) for e, c, t in zip(row, columns, types, strict=True))
                for row in node.rows
            )
            return replace(node, rows=rows)
        refs = tuple(
            convert(ColumnRef(c.type, j, c.name), c, t)
            for j, (c, t) in enumerate(zip(columns, types, strict=True))
        )
        return Project(node, refs)


def _values_location(stmt: ast.Values, column: int) -> int:
    if stmt.rows and column < len(stmt.rows[0]):
        return ast.leftmost_location(stmt.rows[0][column])
    return -1


def _output_reference(node: ast.Expr, exprs: list[BoundExpr], clause: str) -> BoundExpr | None:
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


def bind_limits(
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
            error = DatatypeMismatch(
                f"VALUES types {types[j].base} and {e.type.base} cannot be matched",
                position=pos(location),
            )
            if isinstance(e, ParamRef) and e.type.oid == T.UNKNOWN.oid:
                row[j] = binder.coerce_literal(e, types[j], location, partial(_same, error))
                continue
            row[j] = coerce(
                e,
                types[j],
                CastContext.IMPLICIT,
                partial(_same, error),
                location,
                binder.context.fold_errors,
            )
    return bound, types


def _same(error: QuorumError) -> QuorumError:
    return error


del Any
