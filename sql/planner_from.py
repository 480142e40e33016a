"""FROM-clause planning: relations, joins, predicate pushdown and join methods.

`FromPlanner.build` turns the FROM list into a tree of `Item`s (base
tables, views, subqueries, set-returning functions, CTE references, joins)
with a `Scope` for name resolution; a comma list is a chain of cross joins.
`FromPlanner.finish` then plans the tree with the WHERE clause's conjuncts:

* pushdown: a conjunct goes to the lowest join input that has every column
  it reads, as far as outer joins allow (a WHERE condition on the nullable
  side of a LEFT JOIN stays above it; an ON condition on that side filters
  the nullable input; FULL JOIN keeps everything at the join);
* base tables get their access path from `access.choose_scan`;
* each join picks a method: an **index nested loop** when the right input
  is a table whose primary key or an index the join's equalities fix and
  the left input is estimated small (the equalities become `OuterRef`
  parameters of the inner scan), otherwise a **hash join** on the
  equalities, otherwise a **nested loop** over the right input run once;
* LATERAL items (and functions whose arguments read earlier items) are
  re-run per left row: a parameterized nested loop.

Join order is the order written; estimates are rough constants (no
statistics are kept), which is enough to choose between the methods above.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import partial
from typing import cast

from quorumdb.storage.errors import (
    AmbiguousColumn,
    DuplicateColumn,
    QuorumError,
    SyntaxErrorSQL,
    UndefinedColumn,
)

from . import ast
from . import types as T
from .access import choose_scan, conjuncts
from .binder import Binder, Level, common_type, location_of, mismatch
from .bound import (
    AndExpr,
    BoundExpr,
    Call,
    CoalesceExpr,
    ColumnRef,
    Const,
    OuterRef,
    column_refs,
    shift_columns,
    transform,
)
from .catalog import TableDef, ViewDef
from .plan import (
    Aggregate,
    CteScan,
    Filter,
    FunctionScan,
    HashJoin,
    IndexScan,
    KeyLookup,
    KeyRange,
    Limit,
    NestedLoop,
    PlanNode,
    Project,
    Result,
    SeqScan,
    SubqueryScan,
    ValuesScan,
)
from .scope import Relation, Scope, ScopeColumn, pos

__all__ = ["Item", "FromPlanner", "estimate", "and_all", "INL_MAX_LEFT_ROWS"]

INL_MAX_LEFT_ROWS = 100  # an index nested loop when the outer input is estimated at most this


def and_all(parts: list[BoundExpr]) -> BoundExpr | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    flat: list[BoundExpr] = []
    for p in parts:
        flat.extend(p.args if isinstance(p, AndExpr) else (p,))
    return AndExpr(T.BOOL, tuple(flat))


@dataclass(eq=False)
class Item:
    """A FROM item being planned; positions in `scope` are local to the item."""

    scope: Scope
    width: int
    table: TableDef | None = None  # a base table
    alias: str = ""
    node: PlanNode | None = None  # a subquery, function, CTE or VALUES
    params: tuple[tuple[int, BoundExpr], ...] = ()  # LATERAL: slots set from the left row
    kind: str = ""  # for joins: inner, left, right, full, cross
    left: Item | None = None
    right: Item | None = None
    on: list[BoundExpr] = field(default_factory=list)
    emit_key: bool = False


class FromPlanner:
    """Plans one query block's FROM clause (see the module docstring)."""

    def __init__(self, planner: object, level: Level, target: TableDef | None = None) -> None:
        self.planner = planner  # a planner.QueryPlanner
        self.level = level
        self.context = planner.context  # type: ignore[attr-defined]
        self.target = target  # UPDATE/DELETE target: its scan emits row keys

    # ---- building ------------------------------------------------------------------

    def build(self, items: tuple[ast.FromItem, ...], first: Item | None = None) -> Item | None:
        current = first
        for node in items:
            item = self.item(node, current)
            # a comma: a cross join, whatever `node` itself is (a JOIN's ON belongs to it alone)
            current = item if current is None else self._combine("cross", current, item, None)
        return current

    def item(self, node: ast.FromItem, preceding: Item | None) -> Item:
        if isinstance(node, ast.TableName):
            return self._table(node, preceding)
        if isinstance(node, ast.Join):
            left = self.item(node.left, preceding)
            before = left if preceding is None else _virtual_join(preceding, left)
            right = self.item(node.right, before)
            return self._combine(node.kind, left, right, node)
        if isinstance(node, ast.SubqueryRef):
            return self._subquery(node, preceding)
        return self._function(node, preceding)

    def _table(self, ref: ast.TableName, preceding: Item | None) -> Item:
        planner = self.planner
        if ref.schema is None:
            cte = planner.find_cte(ref.name)  # type: ignore[attr-defined]
            if cte is not None:
                node, columns = planner.cte_scan(cte, ref)  # type: ignore[attr-defined]
                return self._node_item(node, [c.name for c in columns], [c.type for c in columns], ref.alias or ref.name, ref.column_aliases, ref.location)  # fmt: skip
        catalog = planner.catalog  # type: ignore[attr-defined]
        if ref.schema in (None, "pg_catalog", "information_schema"):
            virtual = _catalog_table(ref)  # pg_catalog / information_schema (sql/pgcatalog.py)
            if virtual is not None:
                return virtual(self, preceding)
        found = catalog.lookup(ref.name, ref.schema)
        if isinstance(found, ViewDef):
            from .views import expand_view

            return self._subquery(expand_view(found, ref), preceding, view=True)
        table = planner.resolve_table(ref)  # type: ignore[attr-defined]
        visible = ref.alias or table.name
        names = _aliased([c.name for c in table.columns], ref.column_aliases, visible, ref.location)
        columns = [
            ScopeColumn(visible, name, c.type, i, table.oid, i + 1)
            for i, (name, c) in enumerate(zip(names, table.columns, strict=True))
        ]
        scope = Scope(columns, [Relation(visible, table.name, None if ref.alias else table.schema)])
        emit_key = self.target is not None and table is self.target
        width = len(table.columns) + (1 if emit_key else 0)
        return Item(scope, width, table=table, alias=ref.alias or "", emit_key=emit_key)

    def _node_item(
        self,
        node: PlanNode,
        names: list[str],
        types: list[T.SqlType],
        visible: str,
        aliases: tuple[str, ...],
        location: int,
        params: tuple[tuple[int, BoundExpr], ...] = (),
    ) -> Item:
        names = _aliased(names, aliases, visible, location)
        columns = [
            ScopeColumn(visible, n, t, i) for i, (n, t) in enumerate(zip(names, types, strict=True))
        ]
        return Item(Scope(columns, [Relation(visible, visible, None)]), len(columns), node=node, alias=visible, params=params)  # fmt: skip

    def _lateral_binder(self, preceding: Item | None) -> Binder:
        scope = preceding.scope if preceding is not None else Scope.EMPTY
        return Binder(scope, self.context, level=self.level)

    def _subquery(self, ref: ast.SubqueryRef, preceding: Item | None, view: bool = False) -> Item:
        if ref.alias is None:
            raise SyntaxErrorSQL(
                "subquery in FROM must have an alias",
                hint="For example, FROM (SELECT ...) [AS] foo.",
                position=pos(ref.location),
            )
        if ref.lateral:
            outer: Binder | None = self._lateral_binder(preceding)
        else:
            outer = self.level.outer
        level = Level(outer)
        node, columns = self.planner.plan_query(ref.query, level)  # type: ignore[attr-defined]
        params: tuple[tuple[int, BoundExpr], ...] = ()
        if ref.lateral:
            params = tuple(level.params)
        else:
            for slot, value in level.params:  # refer to enclosing queries: ours to pass on
                self.level.params.append((slot, value))
        names = [c.name for c in columns]
        return self._node_item(
            SubqueryScan(node, ref.alias), names, [c.type for c in columns], ref.alias,
            ref.column_aliases, ref.location, params,
        )  # fmt: skip

    def _function(self, ref: ast.FunctionRef, preceding: Item | None) -> Item:
        level = Level(self._lateral_binder(preceding))
        binder = Binder(
            Scope.EMPTY, self.context, level=level,
            aggregates_allowed="functions in FROM", srf_allowed=True,
        )  # fmt: skip
        call = binder.bind(ref.call)
        if not isinstance(call, Call):
            call = Call(call.type, _identity_op(call.type), (call,))
        call, params = _enclosing_refs_inline(call, level.params)
        op = call.op
        if op.out_columns:
            names = [n for n, _ in op.out_columns]
            types = [t for _, t in op.out_columns]
        else:
            names = [ref.alias or op.name] if not ref.column_aliases else [op.name]
            types = [call.type]
        if ref.ordinality:
            names.append("ordinality")
            types.append(T.INT8)
        visible = ref.alias or op.name
        node = FunctionScan(
            call, len(names) - (1 if ref.ordinality else 0), ref.ordinality, visible
        )
        return self._node_item(node, names, types, visible, ref.column_aliases, ref.location, params)  # fmt: skip

    # ---- joins -------------------------------------------------------------------------

    def _combine(self, kind: str, left: Item, right: Item, node: ast.Join | None) -> Item:
        location = getattr(node, "location", -1)
        for r in right.scope.relations:
            if left.scope.has_relation(r.visible):
                raise QuorumError(
                    f'table name "{r.visible}" specified more than once',
                    sqlstate="42712",
                )
        shifted = right.scope.shifted(left.width)
        on: list[BoundExpr] = []
        names: tuple[str, ...] = ()
        if node is not None:
            names = node.using
            if node.natural:
                right_names = {c.name for c in right.scope.columns if not c.hidden}
                seen: list[str] = []
                for c in left.scope.columns:
                    if not c.hidden and c.name in right_names and c.name not in seen:
                        seen.append(c.name)
                names = tuple(seen)
        merged: list[ScopeColumn] = []
        binder = Binder(left.scope.join(shifted), self.context, level=self.level,
                        aggregates_allowed="JOIN conditions")  # fmt: skip
        if names:
            merged, on = self._using(kind, names, left, shifted, binder, location)
        scope = left.scope.join(shifted, merged, names)
        if node is not None and node.on is not None:
            binder = Binder(
                scope, self.context, level=self.level, aggregates_allowed="JOIN conditions"
            )
            on.extend(conjuncts(binder.bind_condition(node.on, "JOIN/ON")))
        return Item(scope, left.width + right.width, kind=kind, left=left, right=right, on=on)

    def _using(
        self,
        kind: str,
        names: tuple[str, ...],
        left: Item,
        right_scope: Scope,
        binder: Binder,
        location: int,
    ) -> tuple[list[ScopeColumn], list[BoundExpr]]:
        merged: list[ScopeColumn] = []
        conditions: list[BoundExpr] = []
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise DuplicateColumn(
                    f'column name "{name}" appears more than once in USING clause'
                )
            seen.add(name)
            sides = []
            for which, scope in (("left", left.scope), ("right", right_scope)):
                found = scope.unqualified(name)
                if not found:
                    raise UndefinedColumn(
                        f'column "{name}" specified in USING clause does not exist in {which} table'
                    )
                if len(found) > 1:
                    raise AmbiguousColumn(
                        f'common column name "{name}" appears more than once in {which} table'
                    )
                sides.append(binder.column(found[0]))
            l_expr, r_expr = sides
            t = common_type([(l_expr.type, -1), (r_expr.type, -1)], "JOIN/USING")
            node = ast.ColumnName((name,))
            l_conv = binder.coerce_literal(l_expr, t, -1, partial(mismatch, l_expr, t, -1))
            r_conv = binder.coerce_literal(r_expr, t, -1, partial(mismatch, r_expr, t, -1))
            equal = binder._apply("=", [l_conv, r_conv], [node, node], location)
            conditions.append(equal)
            if kind == "full":
                merged.append(
                    ScopeColumn(None, name, t, -1, expr=CoalesceExpr(t, (l_conv, r_conv)))
                )
            else:
                chosen = r_conv if kind == "right" else l_conv
                if isinstance(chosen, ColumnRef):
                    merged.append(ScopeColumn(None, name, t, chosen.index, chosen.table_oid, chosen.column_number))  # fmt: skip
                else:
                    merged.append(ScopeColumn(None, name, t, -1, expr=chosen))
        return merged, conditions

    # ---- finishing: pushdown, access paths, join methods -------------------------------------

    def finish(self, item: Item, filters: list[BoundExpr]) -> PlanNode:
        if item.table is not None:
            return choose_scan(item.table, filters, item.alias, item.emit_key)
        if item.left is None:
            node = item.node
            assert node is not None
            if filters:
                predicate = and_all(filters)
                if isinstance(node, FunctionScan) and node.filter is None:
                    return replace(node, filter=predicate)
                return Filter(node, predicate)  # type: ignore[arg-type]
            return node
        assert item.right is not None
        lw = item.left.width
        kind = item.kind
        left_f: list[BoundExpr] = []
        right_f: list[BoundExpr] = []
        conds: list[BoundExpr] = []
        above: list[BoundExpr] = []
        for f in filters:
            side = _side(f, lw)
            if side == "left" and kind in ("inner", "cross", "left"):
                left_f.append(f)
            elif side == "right" and kind in ("inner", "cross", "right"):
                right_f.append(shift_columns(f, -lw))
            elif side == "both" and kind in ("inner", "cross"):
                conds.append(f)
            else:
                above.append(f)
        for c in item.on:
            side = _side(c, lw)
            if side == "left" and kind in ("inner", "cross", "right"):
                left_f.append(c)
            elif side == "right" and kind in ("inner", "cross", "left"):
                right_f.append(shift_columns(c, -lw))
            else:
                conds.append(c)
        left_node = self.finish(item.left, left_f)
        node = self._join(item, left_node, right_f, conds)
        if above:
            node = Filter(node, and_all(above))  # type: ignore[arg-type]
        return node

    def _join(
        self,
        item: Item,
        left_node: PlanNode,
        right_filters: list[BoundExpr],
        conds: list[BoundExpr],
    ) -> PlanNode:
        assert item.left is not None and item.right is not None
        kind = "inner" if item.kind == "cross" else item.kind
        right = item.right
        lw, rw = item.left.width, right.width
        if right.params:
            right_node = self.finish(right, right_filters)
            return NestedLoop(left_node, right_node, kind, and_all(conds), right.params, rw, lw)
        equi: list[tuple[BoundExpr, BoundExpr, Call]] = []
        residual: list[BoundExpr] = []
        for c in conds:
            pair = _equi(c, lw)
            if pair is None:
                residual.append(c)
            else:
                equi.append(pair)
        if (
            equi
            and kind in ("inner", "left")
            and right.table is not None
            and estimate(left_node) <= INL_MAX_LEFT_ROWS
        ):
            params: list[tuple[int, BoundExpr]] = []
            probes: list[BoundExpr] = []
            for l_expr, r_expr, call in equi:
                slot = self.context.new_slot()
                params.append((slot, l_expr))
                probes.append(
                    Call(call.type, call.op, (OuterRef(l_expr.type, slot, _name(l_expr)), r_expr))
                )
            scan = choose_scan(right.table, probes + right_filters, right.alias, right.emit_key)
            if not isinstance(scan, SeqScan):
                return NestedLoop(left_node, scan, kind, and_all(residual), tuple(params), rw, lw)
        right_node = self.finish(right, right_filters)
        if equi:
            return HashJoin(
                left_node,
                right_node,
                kind,
                tuple(e[0] for e in equi),
                tuple(e[1] for e in equi),
                and_all(residual),
                lw,
                rw,
            )
        return NestedLoop(left_node, right_node, kind, and_all(conds), (), rw, lw)


def _virtual_join(left: Item, right: Item) -> Item:
    """What a LATERAL item in a join's right side can see: everything before it."""
    return Item(left.scope.join(right.scope.shifted(left.width)), left.width + right.width)


def _aliased(names: list[str], aliases: tuple[str, ...], visible: str, location: int) -> list[str]:
    if len(aliases) > len(names):
        raise QuorumError(
            f'table "{visible}" has {len(names)} columns available but {len(aliases)} columns specified',
            sqlstate="42P10",
            position=pos(location),
        )
    return list(aliases) + names[len(aliases) :]


def _side(e: BoundExpr, left_width: int) -> str:
    refs = [c.index for c in column_refs(e)]
    if not refs:
        return "none"
    if all(i < left_width for i in refs):
        return "left"
    if all(i >= left_width for i in refs):
        return "right"
    return "both"


def _equi(c: BoundExpr, left_width: int) -> tuple[BoundExpr, BoundExpr, Call] | None:
    """(left key, right key over the right row, the equality) of a hashable equijoin."""
    if not (
        isinstance(c, Call)
        and c.op.name == "="
        and len(c.args) == 2
        and c.op.context is None
        and c.op.args[0] == c.op.args[1]
        and c.op.args[0].oid not in (T.FLOAT4.oid, T.FLOAT8.oid)
    ):
        return None
    a, b = c.args
    sa, sb = _side(a, left_width), _side(b, left_width)
    if sa == "left" and sb == "right":
        return a, shift_columns(b, -left_width), c
    if sa == "right" and sb == "left":
        flipped = Call(c.type, c.op, (b, a))
        return b, shift_columns(a, -left_width), flipped
    return None


def _name(e: BoundExpr) -> str:
    if isinstance(e, ColumnRef):
        return f"{e.relation}.{e.name}" if e.relation else e.name
    return "?"


def _identity_op(t: T.SqlType):  # type: ignore[no-untyped-def]
    from .functions import Operator

    return Operator("value", (t,), t, lambda v: v, infix=False)


def estimate(node: PlanNode) -> float:
    """A rough row count (no statistics): enough to tell small inputs from big ones."""
    if isinstance(node, KeyLookup):
        return float(len(node.keys))
    if isinstance(node, IndexScan):
        per_probe = (
            1.0 if node.index.unique and len(node.prefixes[0]) == len(node.index.columns) else 10.0
        )
        return per_probe * len(node.prefixes) * (0.5 if node.filter is not None else 1.0)
    if isinstance(node, KeyRange):
        base = 10.0 if node.prefix else 300.0
        return base * (0.5 if node.filter is not None else 1.0)
    if isinstance(node, SeqScan):
        if node.filter is None:
            return 1000.0
        return 1000.0 * 0.1 ** len(conjuncts(node.filter))
    if isinstance(node, Filter):
        return estimate(node.source) * 0.25
    if isinstance(node, (SubqueryScan, Project)):
        return estimate(node.source)
    if isinstance(node, ValuesScan):
        return float(len(node.rows))
    if isinstance(node, Result):
        return 1.0
    if isinstance(node, Aggregate):
        return 1.0 if not node.group_by else estimate(node.source) / 10
    if (
        isinstance(node, Limit)
        and isinstance(node.limit, Const)
        and isinstance(node.limit.value, int)
    ):
        return min(float(node.limit.value), estimate(node.source))
    if isinstance(node, (HashJoin, NestedLoop)):
        return max(estimate(node.left), estimate(node.right))
    if isinstance(node, FunctionScan):
        return 100.0
    if isinstance(node, CteScan):
        return estimate(node.cte)
    return 1000.0


del location_of


def _catalog_table(ref: ast.TableName):  # type: ignore[no-untyped-def]
    """A pg_catalog/information_schema relation, planned as its set-returning function
    (sql/pgcatalog.py); None if `ref` is not one."""
    from .pgcatalog import lookup

    table = lookup(ref.schema, ref.name)
    if table is None:
        return None

    def plan(planner: FromPlanner, preceding: Item | None) -> Item:
        visible = ref.alias or ref.name
        call = ast.FuncCall(table.function, (), location=ref.location)
        item = planner._function(
            ast.FunctionRef(call, visible, ref.column_aliases, location=ref.location), preceding
        )
        if not ref.alias:  # visible by its real name: "pg_catalog.pg_class.relname" resolves
            item.scope.relations = [Relation(visible, ref.name, table.schema)]
        return item

    return plan


def _enclosing_refs_inline(
    call: Call, params: list[tuple[int, BoundExpr]]
) -> tuple[Call, tuple[tuple[int, BoundExpr], ...]]:
    """Split a FROM function's correlated references: those to preceding FROM items stay
    LATERAL parameters (the join sets them per left row); those to an enclosing query
    (``unnest(outer.col)`` in a subquery) are already that query's outer references,
    set before this query block runs, so they replace the parameter in the call. A
    function first in FROM has no join to set its parameters."""
    lateral = tuple((slot, value) for slot, value in params if column_refs(value))
    enclosing = {slot: value for slot, value in params if not column_refs(value)}
    if not enclosing:
        return call, lateral

    def inline(node: BoundExpr) -> BoundExpr:
        if isinstance(node, OuterRef) and node.slot in enclosing:
            return enclosing[node.slot]
        return transform(node, inline)

    return cast(Call, inline(call)), lateral
