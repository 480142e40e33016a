"""Binding of calls and composite expressions: functions, aggregates, window functions,
subqueries, arrays, ``op ANY/ALL (array)``, subscripts and GREATEST/LEAST.

A mixin of `sql/binder.Binder` (it uses the Binder's scope, context and
helpers). Errors follow PostgreSQL's parse analysis: where aggregates and
window functions may appear (42803/42P20), nesting, DISTINCT/ORDER BY/FILTER
on non-aggregates (42809), subqueries returning the wrong number of columns
(42601), empty arrays without a type (42P18).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, cast

from quorumdb.storage.errors import (
    DatatypeMismatch,
    FeatureNotSupported,
    QuorumError,
    SyntaxErrorSQL,
)

from . import ast
from . import types as T
from .aggfuncs import is_aggregate, is_window_function, resolve_aggregate, resolve_window
from .bound import (
    AggCall,
    AggRef,
    ArrayCompare,
    ArrayExpr,
    BoundExpr,
    Call,
    ColumnRef,
    Const,
    Frame,
    MinMaxExpr,
    OuterRef,
    SessionValue,
    SortSpec,
    SubPlan,
    Subscript,
    WindowCall,
    WindowRef,
    transform,
)
from .casts import CastContext, find_cast
from .functions import (
    comparison_impl,
    function_exists,
    operator_error,
    resolve_binary,
    resolve_function,
)
from .scope import pos
from .sequence_functions import SEQUENCE_FUNCTIONS, bind_sequence_call

if TYPE_CHECKING:
    from .binder import Binder

__all__ = ["CallBinder"]

_SESSION_FUNCTIONS = {
    "current_user": T.TEXT,
    "session_user": T.TEXT,
    "current_database": T.TEXT,
    "current_schema": T.TEXT,
}


def _loc(node: ast.Node) -> int:
    return ast.leftmost_location(node)


def _only_outer_columns(args: tuple[BoundExpr, ...]) -> bool:
    """Whether `args` read columns of enclosing queries and none of their own."""
    kinds: set[type] = set()

    def visit(e: BoundExpr) -> BoundExpr:
        kinds.add(type(e))
        return transform(e, visit)

    for a in args:
        visit(a)
    return OuterRef in kinds and ColumnRef not in kinds


class CallBinder:
    """Mixin: the `_bind_*` methods for calls and composite expressions."""

    if TYPE_CHECKING:  # provided by Binder
        from .binder import BindContext, Level
        from .casts import CastContext as _Context
        from .scope import Scope

        scope: Scope
        context: BindContext
        level: Level
        aggregates_allowed: str | None
        windows_allowed: str | None
        srf_allowed: bool

        def bind(self, node: ast.Expr) -> BoundExpr: ...
        def bind_output(self, node: ast.Expr) -> BoundExpr: ...
        def bind_condition(self, node: ast.Expr, clause: str) -> BoundExpr: ...
        def with_scope(
            self, scope: Scope, clause: str | None, *, windows: str | None = None
        ) -> Binder: ...
        def coerce_literal(
            self, e: BoundExpr, target: T.SqlType, location: int, on_error: Any
        ) -> BoundExpr: ...
        def _coerce(
            self,
            e: BoundExpr,
            target: T.SqlType,
            context: _Context,
            on_error: Any,
            location: int = -1,
        ) -> BoundExpr: ...
        def fold(self, e: BoundExpr) -> BoundExpr: ...
        def cast(
            self, arg: BoundExpr, target: T.SqlType, location: int, literal_location: int
        ) -> BoundExpr: ...

    # ---- functions -----------------------------------------------------------------

    def _bind_FuncCall(self, node: ast.FuncCall) -> BoundExpr:
        name = node.name
        position = pos(node.location)
        if node.over is not None:
            return self._bind_window(node)
        if is_aggregate(name):
            return self._bind_aggregate(node)
        if is_window_function(name):
            raise QuorumError(
                f"window function {name} requires an OVER clause",
                sqlstate="42809",
                position=position,
            )
        for present, what in (
            (node.star, f"{name}(*)"),
            (node.distinct, "DISTINCT"),
            (node.filter is not None, "FILTER"),
            (bool(node.order_by), "ORDER BY"),
        ):
            if present:
                raise QuorumError(
                    f"{what} specified, but {name} is not an aggregate function",
                    sqlstate="42809",
                    position=position,
                )
        if name in SEQUENCE_FUNCTIONS:
            return bind_sequence_call(cast("Binder", self), node)
        args = [self.bind(a) for a in node.args]
        if name == "pg_typeof" and len(args) == 1:
            return Const(
                T.REGTYPE, str(args[0].type.base if args[0].type.element is None else args[0].type)
            )
        if name in _SESSION_FUNCTIONS and not args:
            return SessionValue(_SESSION_FUNCTIONS[name], name)
        if name == "current_time":
            raise FeatureNotSupported(
                "current_time (time with time zone) is not supported",
                hint="Use localtime or current_timestamp.",
                position=position,
            )
        if name == "current_setting":
            wanted = (T.TEXT, T.BOOL)[: len(args)]
            if not 1 <= len(args) <= 2 or any(
                find_cast(a.type, w, CastContext.IMPLICIT) is None
                for a, w in zip(args, wanted, strict=True)
            ):
                from .functions import resolve_function_error

                raise resolve_function_error(name, tuple(a.type for a in args), position)
            converted = tuple(
                self.coerce_literal(a, w, _loc(n), partial(_mismatch, a, w, _loc(n)))
                for a, w, n in zip(args, wanted, node.args, strict=True)
            )
            return SessionValue(T.TEXT, name, converted)
        types = tuple(a.type for a in args)
        if not function_exists(name) and len(args) == 1:
            as_cast = self._function_style_cast(name, args[0], node)
            if as_cast is not None:
                return as_cast
        op = resolve_function(name, types, position)
        if op.returns_set and not self.srf_allowed:
            raise FeatureNotSupported(
                f"set-returning functions are not allowed in {self.aggregates_allowed or 'this context'}",
                position=position,
            )
        converted = tuple(
            self.coerce_literal(a, want, _loc(n), partial(_mismatch, a, want, _loc(n)))
            for a, want, n in zip(args, op.args, node.args, strict=True)
        )
        return self.fold(Call(op.result, op, converted))

    def _function_style_cast(
        self, name: str, arg: BoundExpr, node: ast.FuncCall
    ) -> BoundExpr | None:
        """int4(x), text(x), date(ts): a call named after a type is a cast (PostgreSQL)."""
        try:
            target = T.type_from_name((name,))
        except QuorumError:
            return None
        return self.cast(arg, target, node.location, _loc(node.args[0]))

    # ---- aggregates -------------------------------------------------------------------

    def _bind_aggregate(self, node: ast.FuncCall) -> BoundExpr:
        # PostgreSQL's order: the arguments, the function, the clause, then nesting
        # (reported by the outer aggregate, at the inner one).
        level = self.level
        before = len(level.agg_locations)
        windows_before = len(level.windows)
        args = [self.bind(a) for a in node.args]
        func = resolve_aggregate(
            node.name, tuple(a.type for a in args), node.star, pos(node.location)
        )
        if self.aggregates_allowed is not None:
            raise QuorumError(
                f"aggregate functions are not allowed in {self.aggregates_allowed}",
                sqlstate="42803",
                position=pos(node.location),
            )
        if len(level.agg_locations) > before:
            raise QuorumError(
                "aggregate function calls cannot be nested",
                sqlstate="42803",
                position=pos(level.agg_locations[before]),
            )
        if len(level.windows) > windows_before:
            raise QuorumError(
                "aggregate function calls cannot contain window function calls",
                sqlstate="42803",
                position=pos(max(_window_location(node.args[0]) if node.args else -1, -1)),
            )
        level.agg_locations.append(node.location)
        converted = tuple(
            self.coerce_literal(a, want, _loc(n), partial(_mismatch, a, want, _loc(n)))
            for a, want, n in zip(args, func.args, node.args, strict=True)
        )
        if _only_outer_columns(converted):
            # PostgreSQL evaluates such an aggregate in the outer query (its "level").
            raise FeatureNotSupported(
                "aggregate functions over columns of an outer query only are not supported",
                position=pos(node.location),
            )
        inner = self.with_scope(self.scope, "FILTER")
        inner_level_aggs = len(level.agg_locations)
        filter_ = inner.bind_condition(node.filter, "FILTER") if node.filter is not None else None
        del level.agg_locations[inner_level_aggs:]
        order = tuple(
            SortSpec(
                self.bind_output(k.expr),
                k.descending,
                k.descending if k.nulls_first is None else k.nulls_first,
            )
            for k in node.order_by
        )
        if node.distinct and order and any(o.expr not in converted for o in order):
            raise QuorumError(
                "in an aggregate with DISTINCT, ORDER BY expressions must appear in argument list",
                sqlstate="42P10",
                position=pos(_loc(node.order_by[0].expr)),
            )
        call = AggCall(func, converted, node.distinct, filter_, order)
        if call not in level.aggregates:
            level.aggregates.append(call)
        return AggRef(func.result, level.aggregates.index(call))

    # ---- window functions -------------------------------------------------------------

    def _window_spec(self, spec: ast.WindowSpec) -> ast.WindowSpec:
        """An OVER clause with the named window it refers to merged in."""
        if spec.ref is None:
            return spec
        base = self.level.window_defs.get(spec.ref)
        if base is None:
            raise QuorumError(
                f'window "{spec.ref}" does not exist', sqlstate="42704", position=pos(spec.location)
            )
        if spec.partition_by:
            raise QuorumError(
                f'cannot override PARTITION BY clause of window "{spec.ref}"',
                sqlstate="42P20",
                position=pos(spec.location),
            )
        if spec.order_by and base.order_by:
            raise QuorumError(
                f'cannot override ORDER BY clause of window "{spec.ref}"',
                sqlstate="42P20",
                position=pos(spec.location),
            )
        base = self._window_spec(base)
        own_frame = spec.start is not None
        return ast.WindowSpec(
            None,
            None,
            base.partition_by,
            spec.order_by or base.order_by,
            spec.frame_mode if own_frame else base.frame_mode,
            spec.start if own_frame else base.start,
            spec.end if own_frame else base.end,
            spec.exclude if own_frame else base.exclude,
            spec.location,
        )

    def _bind_window(self, node: ast.FuncCall) -> BoundExpr:
        assert node.over is not None
        if self.windows_allowed is not None:
            raise QuorumError(
                f"window functions are not allowed in {self.windows_allowed}",
                sqlstate="42P20",
                position=pos(node.location),
            )
        level = self.level
        windows_before = len(level.windows)
        args = [self.bind(a) for a in node.args]
        if len(level.windows) > windows_before:
            raise QuorumError(
                "window function calls cannot be nested",
                sqlstate="42P20",
                position=pos(node.location),
            )
        func = resolve_window(node.name, tuple(a.type for a in args), node.star, pos(node.location))
        if node.distinct:
            raise FeatureNotSupported(
                "DISTINCT is not implemented for window functions", position=pos(node.location)
            )
        if node.order_by:
            raise FeatureNotSupported(
                "aggregate ORDER BY is not implemented for window functions",
                position=pos(node.location),
            )
        converted = tuple(
            self.coerce_literal(a, want, _loc(n), partial(_mismatch, a, want, _loc(n)))
            for a, want, n in zip(args, func.args, node.args, strict=True)
        )
        filter_ = None
        if node.filter is not None:
            if func.aggregate is None:
                raise FeatureNotSupported(
                    "FILTER is not implemented for non-aggregate window functions",
                    position=pos(node.location),
                )
            filter_ = self.with_scope(self.scope, "FILTER").bind_condition(node.filter, "FILTER")
        spec = self._window_spec(node.over)
        partition = tuple(self.bind_output(e) for e in spec.partition_by)
        order = tuple(
            SortSpec(
                self.bind_output(k.expr),
                k.descending,
                k.descending if k.nulls_first is None else k.nulls_first,
            )
            for k in spec.order_by
        )
        frame = self._frame(spec, order)
        call = WindowCall(func, converted, partition, order, frame, filter_)
        level.windows.append(call)
        return WindowRef(func.result, len(level.windows) - 1)

    def _frame(self, spec: ast.WindowSpec, order: tuple[SortSpec, ...]) -> Frame:
        if spec.start is None:
            return Frame()
        end = spec.end or ast.FrameBound("current row")

        def offset(bound: ast.FrameBound) -> BoundExpr | None:
            if bound.offset is None:
                return None
            e = self.with_scope(self.scope, "window frame").bind(bound.offset)
            if spec.frame_mode in ("rows", "groups"):
                target = T.INT8
            else:
                if len(order) != 1:
                    raise QuorumError(
                        "RANGE with offset PRECEDING/FOLLOWING requires exactly one ORDER BY column",
                        sqlstate="42P20",
                        position=pos(spec.location),
                    )
                column = order[0].expr.type
                target = T.INTERVAL if column.category == "D" else column
            return self.coerce_literal(
                e, target, _loc(bound.offset), partial(_mismatch, e, target, _loc(bound.offset))
            )

        if spec.start.kind == "unbounded following":
            raise QuorumError("frame start cannot be UNBOUNDED FOLLOWING", sqlstate="42P20", position=pos(spec.location))  # fmt: skip
        if end.kind == "unbounded preceding":
            raise QuorumError("frame end cannot be UNBOUNDED PRECEDING", sqlstate="42P20", position=pos(spec.location))  # fmt: skip
        return Frame(
            spec.frame_mode,
            spec.start.kind,
            offset(spec.start),
            end.kind,
            offset(end),
            spec.exclude,
        )

    # ---- subqueries ------------------------------------------------------------------

    def _bind_SubLink(self, node: ast.SubLink) -> BoundExpr:
        planner = self.context.planner
        if planner is None:
            raise FeatureNotSupported(
                f"cannot use subquery in {self.aggregates_allowed or 'this context'}",
                position=pos(node.location),
            )
        if self.aggregates_allowed in ("DEFAULT expressions", "check constraints"):
            raise FeatureNotSupported(f"cannot use subquery in {self.aggregates_allowed}", position=pos(node.location))  # fmt: skip
        plan, columns, level = planner.plan_subquery(node.query, cast("Binder", self))
        params = tuple(level.params)
        number = self.context.new_subplan()
        if node.kind == "exists":
            return SubPlan(T.BOOL, "exists", plan, params, number=number)
        if node.kind in ("scalar", "array"):
            if len(columns) != 1:
                raise SyntaxErrorSQL(
                    "subquery must return only one column", position=pos(node.location)
                )
            t = columns[0].type
            result = T.array_of(t) if node.kind == "array" else t
            return SubPlan(result, node.kind, plan, params, number=number)
        assert node.operand is not None
        operand = self.bind(node.operand)
        if len(columns) != 1:
            raise SyntaxErrorSQL(
                "subquery has too many columns"
                if len(columns) > 1
                else "subquery has too few columns",
                position=pos(node.location),
            )
        column = columns[0].type
        op = resolve_binary(node.op, operand.type, column, pos(node.location))
        if op.result.oid != T.BOOL.oid:
            raise DatatypeMismatch(
                f"operator {node.op} must return type boolean, not type {op.result}",
                position=pos(node.location),
            )
        error = partial(operator_error, node.op, operand.type, column, pos(node.location))
        operand = self.coerce_literal(operand, op.args[0], _loc(node.operand), error)
        found = find_cast(column, op.args[1], CastContext.IMPLICIT)
        if found is None:
            raise error()
        return SubPlan(T.BOOL, node.kind, plan, params, operand, op, found.fn, number)

    # ---- arrays --------------------------------------------------------------------------

    def _bind_ArrayExpr(self, node: ast.ArrayExpr) -> BoundExpr:
        from .binder import common_type

        if not node.items:
            raise QuorumError(
                "cannot determine type of empty array",
                sqlstate="42P18",
                hint="Explicitly cast to the desired type, for example ARRAY[]::integer[].",
                position=pos(node.location),
            )
        items = [self.bind(i) for i in node.items]
        nested = all(isinstance(i, ast.ArrayExpr) for i in node.items)
        t = common_type(
            [(i.type, _loc(n)) for i, n in zip(items, node.items, strict=True)], "ARRAY"
        )
        converted = [
            self.coerce_literal(i, t, _loc(n), partial(_mismatch, i, t, _loc(n)))
            for i, n in zip(items, node.items, strict=True)
        ]
        array_type = t if nested else T.array_of(t)
        if all(isinstance(c, Const) for c in converted):
            return Const(array_type, tuple(c.value for c in converted))  # type: ignore[attr-defined]
        return ArrayExpr(array_type, tuple(converted))

    def _bind_Quantified(self, node: ast.Quantified) -> BoundExpr:
        left = self.bind(node.operand)
        right = self.bind(node.array)
        if right.type.oid == T.UNKNOWN.oid:
            element = T.UNKNOWN
        elif right.type.element is None:
            raise QuorumError(
                "op ANY/ALL (array) requires array on right side",
                sqlstate="42809",
                position=pos(node.location),
            )
        else:
            element = right.type.element
        op = resolve_binary(node.op, left.type, element, pos(node.location))
        if op.result.oid != T.BOOL.oid:
            raise QuorumError(
                "op ANY/ALL (array) requires operator to yield boolean",
                sqlstate="42809",
                position=pos(node.location),
            )
        error = partial(operator_error, node.op, left.type, element, pos(node.location))
        left = self.coerce_literal(left, op.args[0], _loc(node.operand), error)
        right = self.coerce_literal(right, T.array_of(op.args[1]), _loc(node.array), error)
        return ArrayCompare(T.BOOL, left, right, op, node.all)

    def _bind_Subscript(self, node: ast.Subscript) -> BoundExpr:
        arg = self.bind(node.operand)
        index = self.bind(node.index)
        location = _loc(node.index)
        if arg.type.oid == T.JSONB.oid:
            want = T.INT4 if index.type.is_numeric else T.TEXT
            index = self.coerce_literal(
                index, want, location, partial(_mismatch, index, want, location)
            )
            return Subscript(T.JSONB, arg, index)
        if arg.type.element is None:
            raise DatatypeMismatch(
                f"cannot subscript type {arg.type} because it does not support subscripting",
                position=pos(_loc(node.operand)),
            )
        index = self._coerce(
            index,
            T.INT4,
            CastContext.ASSIGNMENT,
            partial(_subscript_error, index, location),
            location,
        )
        return Subscript(arg.type.element, arg, index)

    def _bind_MinMax(self, node: ast.MinMax) -> BoundExpr:
        from .binder import common_type

        args = [self.bind(a) for a in node.args]
        construct = node.op.upper()
        t = common_type(
            [(a.type, _loc(n)) for a, n in zip(args, node.args, strict=True)], construct
        )
        converted = tuple(
            self.coerce_literal(a, t, _loc(n), partial(_mismatch, a, t, _loc(n)))
            for a, n in zip(args, node.args, strict=True)
        )
        better = comparison_impl(t, ">" if node.op == "greatest" else "<")
        return MinMaxExpr(t, converted, node.op == "greatest", better)


def _window_location(node: ast.Node) -> int:
    """Where the first window function call inside `node` starts."""
    if isinstance(node, ast.FuncCall) and node.over is not None:
        return node.location
    for name in getattr(node, "__dataclass_fields__", {}):
        value = getattr(node, name)
        for child in value if isinstance(value, tuple) else (value,):
            if isinstance(child, ast.Node):
                found = _window_location(child)
                if found >= 0:
                    return found
    return -1 if not isinstance(node, ast.FuncCall) else -1


def _mismatch(e: BoundExpr, target: T.SqlType, location: int) -> QuorumError:
    return DatatypeMismatch(
        f"cannot convert type {e.type.base} to {target.base}", position=pos(location)
    )


def _subscript_error(e: BoundExpr, location: int) -> QuorumError:
    return DatatypeMismatch(
        f"array subscript must have type integer, not type {e.type}", position=pos(location)
    )
