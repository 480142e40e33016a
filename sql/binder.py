"""The binder: syntax-tree expressions -> typed, name-resolved `bound` expressions.

It resolves column names against a `Scope` (the relations in FROM), and,
inside a subquery, against the enclosing queries' scopes (a correlated
reference becomes an `OuterRef` to a parameter slot the enclosing plan
fills: `Level.params`). It infers types the way PostgreSQL's parse analysis
does (an untyped literal takes its type from context, and is converted
right away so that a bad literal fails with its position: 22P02 at
character n), picks operators, functions and casts (`sql/functions.py`,
`sql/casts.py`), and folds immutable operations on constants (as
PostgreSQL's planner does, so ``1/0`` fails even when no row is read).

Aggregate and window calls are collected per query block (`Level`) and
replaced by `AggRef` / `WindowRef` placeholders; the planner rewrites the
expressions above the Aggregate and Window nodes. Function calls,
aggregates, windows, subqueries and arrays are bound by the `CallBinder`
mixin (`sql/binder_calls.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

from quorumdb.storage.errors import (
    DatatypeMismatch,
    QuorumError,
    SyntaxErrorSQL,
    UndefinedColumn,
    UndefinedTable,
)

from . import ast
from . import types as T
from .binder_calls import CallBinder
from .bound import (
    AggCall,
    AndExpr,
    BoolTest,
    BoundExpr,
    Call,
    CaseExpr,
    CastExpr,
    CoalesceExpr,
    ColumnRef,
    Const,
    DistinctExpr,
    InListExpr,
    NotExpr,
    NullIfExpr,
    NullTest,
    OrExpr,
    OuterRef,
    ParamRef,
    WindowCall,
    column_refs,
)
from .casts import CannotCoerce, CastContext, find_cast
from .expr import evaluate
from .functions import (
    comparison_impl,
    operator_error,
    resolve_binary,
    resolve_unary,
)
from .scope import Scope, ScopeColumn, pos
from .types import SqlType

__all__ = ["Binder", "BindContext", "Level", "common_type", "coerce", "SubqueryPlanner"]


class SubqueryPlanner(Protocol):
    """What the binder asks the planner for: a subquery planned inside `outer`."""

    def plan_subquery(
        self, query: ast.Statement, outer: Binder
    ) -> tuple[Any, tuple[Any, ...], Level]: ...


class BindContext:
    """What all binders of one statement share.

    `param_types[i]` is the type of $(i+1); None there means "infer it from
    context" (typed like an untyped literal), and `param_types=None` means
    parameters are not allowed (simple query protocol). `fold_errors` holds
    errors from evaluating constant expressions: PostgreSQL folds constants
    when planning, after parse analysis, so such an error is raised only once
    the whole statement has been analysed (`raise_deferred`) and any analysis
    error in it wins. `planner` plans subqueries (None: subqueries are not
    allowed, as in DEFAULT and CHECK expressions). Parameter slots and
    subplan numbers are allocated per statement.
    """

    __slots__ = ("param_types", "fold_errors", "planner", "slots", "subplans")

    def __init__(
        self,
        param_types: list[SqlType | None] | None = None,
        planner: SubqueryPlanner | None = None,
    ) -> None:
        self.param_types = param_types
        self.fold_errors: list[QuorumError] = []
        self.planner = planner
        self.slots = 0
        self.subplans = 0

    def raise_deferred(self) -> None:
        if self.fold_errors:
            raise self.fold_errors[0]

    def new_slot(self) -> int:
        self.slots += 1
        return self.slots

    def new_subplan(self) -> int:
        self.subplans += 1
        return self.subplans


class Level:
    """One query block's binding state, shared by the binders of its clauses: its
    aggregates and window calls, named windows, and the correlated references it
    makes to `outer` (the binder of the enclosing query's clause)."""

    __slots__ = ("outer", "params", "aggregates", "agg_locations", "windows", "window_defs")

    def __init__(self, outer: Binder | None = None) -> None:
        self.outer = outer
        self.params: list[tuple[int, BoundExpr]] = []
        self.aggregates: list[AggCall] = []
        self.agg_locations: list[int] = []
        self.windows: list[WindowCall] = []
        self.window_defs: dict[str, ast.WindowSpec] = {}

    def correlate(self, value: BoundExpr, context: BindContext, name: str) -> OuterRef:
        for slot, existing in self.params:
            if existing == value and existing.type == value.type:
                return OuterRef(value.type, slot, name)
        slot = context.new_slot()
        self.params.append((slot, value))
        return OuterRef(value.type, slot, name)


# Casts to the reg* types, bound by sql/pgfunctions.py (session values: name <-> oid).
_CATALOG_CASTS = frozenset(
    {"regclass", "regtype", "regnamespace", "regproc", "regprocedure", "regrole"}
)


def coerce(
    e: BoundExpr,
    target: SqlType,
    context: CastContext,
    on_error: Callable[[], QuorumError],
    literal_location: int = -1,
    fold_errors: list[QuorumError] | None = None,
) -> BoundExpr:
    """Convert `e` to `target`. An untyped literal is converted now (an invalid one
    fails with its position); a typed constant is folded, its error deferred into
    `fold_errors` when given. Conversions that depend on the session's TimeZone
    are validated now but run per execution."""
    if e.type == target:
        return e
    if isinstance(e, Const) and e.type.oid == T.UNKNOWN.oid and e.value is not None:
        # The input function reports the literal's position; the type modifier (a
        # separate step in PostgreSQL, e.g. varchar's length check) does not.
        cast = find_cast(e.type, target.base, context)
        if cast is None:
            raise on_error()
        if target.oid == T.INTERVAL.oid and target.typmod >= 0:
            # interval '90' minute: the fields decide what a bare number means
            try:
                return Const(target, T.parse_text(target, e.value))  # type: ignore[arg-type]
            except QuorumError as exc:
                if exc.position is None:
                    exc.position = pos(literal_location)
                raise
        if cast.zoned:
            return _zoned_literal(e, target, cast.fn, context, literal_location)  # type: ignore[arg-type]
        try:
            value = cast.fn(e.value) if cast.fn else e.value
        except QuorumError as exc:
            if exc.position is None:
                exc.position = pos(literal_location)
            raise
        if target.typmod >= 0:
            modifier = find_cast(target.base, target, context)
            if modifier is not None and modifier.fn is not None:
                try:
                    value = modifier.fn(value)
                except QuorumError as exc:
                    # PostgreSQL applies a type modifier as a separate step, folded at plan time.
                    if fold_errors is None:
                        raise
                    fold_errors.append(exc)
                    return CastExpr(target, Const(target.base, value), modifier.fn, False)
        return Const(target, value)
    if isinstance(e, Const) and e.value is None:
        if find_cast(e.type, target, context) is None and e.type.oid != T.UNKNOWN.oid:
            raise on_error()
        return Const(target, None)
    cast = find_cast(e.type, target, context)
    if cast is None:
        raise on_error()
    result = CastExpr(target, e, cast.fn, context is CastContext.EXPLICIT, cast.zoned)
    if isinstance(e, Const) and not cast.zoned:
        try:
            return Const(target, evaluate(result))
        except QuorumError as exc:
            if fold_errors is None:
                raise
            fold_errors.append(exc)
    return result


def _zoned_literal(
    e: Const, target: SqlType, fn: Callable[..., object], context: CastContext, location: int
) -> BoundExpr:
    """'2020-01-01 10:00'::timestamptz: parsed in the session's zone at run time; folded
    now only when the text names its own zone (or the value does not depend on one)."""
    from .types_datetime import UTC, find_zone

    try:
        in_utc = fn(e.value, UTC)
        elsewhere = fn(e.value, find_zone("+13:37"))
    except QuorumError as exc:
        if exc.position is None:
            exc.position = pos(location)
        raise
    modifier = find_cast(target.base, target, context) if target.typmod >= 0 else None
    if in_utc == elsewhere:
        value = in_utc
        if modifier is not None and modifier.fn is not None:
            value = modifier.fn(value)
        return Const(target, value)
    if modifier is not None and modifier.fn is not None:
        then = modifier.fn

        def convert(value: object, zone: object) -> object:
            return then(fn(value, zone))

        return CastExpr(target, e, convert, False, True)
    return CastExpr(target, e, fn, False, True)


def common_type(types: list[tuple[SqlType, int]], construct: str | None) -> SqlType:
    """PostgreSQL's select_common_type (CASE, COALESCE, VALUES, UNION, ARRAY, IN).

    With `construct` None there is no error: the result is UNKNOWN when the
    types cannot be matched."""
    known = [(t, loc) for t, loc in types if t.oid != T.UNKNOWN.oid]
    if not known:
        return T.TEXT
    first, _ = known[0]
    if all(t == first for t, _ in known):
        return first.base if first.element is None else first
    # Keep the current type unless it is its category's preferred one (double
    # precision, text) or the next type is reachable from it implicitly and
    # not the other way round (int4 then numeric -> numeric).
    result = first.base
    for t, loc in known[1:]:
        t = t.base
        if t == result:
            continue
        if t.category != result.category:
            if construct is None:
                return T.UNKNOWN
            raise DatatypeMismatch(
                f"{construct} types {result} and {t} cannot be matched", position=pos(loc)
            )
        if (
            not result.preferred
            and find_cast(result, t, CastContext.IMPLICIT) is not None
            and find_cast(t, result, CastContext.IMPLICIT) is None
        ):
            result = t
    return result


def location_of(node: ast.Node) -> int:
    return ast.leftmost_location(node)


_location = location_of


def mismatch(e: BoundExpr, target: SqlType, location: int) -> QuorumError:
    return DatatypeMismatch(
        f"cannot convert type {e.type.base} to {target.base}", position=pos(location)
    )


class Binder(CallBinder):
    """Binds expressions of one clause (or query block) against `scope`."""

    def __init__(
        self,
        scope: Scope,
        context: BindContext,
        *,
        aggregates_allowed: str | None = None,
        level: Level | None = None,
        windows_allowed: str | None = None,
        srf_allowed: bool = False,
    ) -> None:
        self.scope = scope
        self.context = context
        self.param_types = context.param_types
        # None: aggregates collected; else the clause name for the 42803 error ("WHERE")
        self.aggregates_allowed = aggregates_allowed
        # None: window calls collected; else the clause name for the 42P20 error
        self.windows_allowed = (
            windows_allowed if windows_allowed is not None else aggregates_allowed
        )
        self.srf_allowed = srf_allowed
        self.level = level if level is not None else Level()

    @property
    def aggregates(self) -> list[AggCall]:
        return self.level.aggregates

    def with_scope(self, scope: Scope, clause: str | None, *, windows: str | None = None) -> Binder:
        """A binder for another clause of the same query block."""
        return Binder(
            scope,
            self.context,
            aggregates_allowed=clause,
            level=self.level,
            windows_allowed=windows if windows is not None else clause,
        )

    # ---- entry points -------------------------------------------------------------

    def bind(self, node: ast.Expr) -> BoundExpr:
        method = getattr(self, "_bind_" + type(node).__name__, None)
        if method is None:
            raise QuorumError(f"unexpected expression {type(node).__name__}", sqlstate="XX000")
        return method(node)  # type: ignore[no-any-return]

    def bind_condition(self, node: ast.Expr, clause: str) -> BoundExpr:
        """A boolean clause such as WHERE: must be boolean (42804 otherwise)."""
        return self.to_bool(self.bind(node), clause, _location(node))

    def bind_output(self, node: ast.Expr) -> BoundExpr:
        """A value that leaves the query: an untyped literal becomes text."""
        e = self.bind(node)
        return self.resolve_unknown(e, _location(node))

    def resolve_unknown(self, e: BoundExpr, location: int) -> BoundExpr:
        if e.type.oid == T.UNKNOWN.oid:
            if isinstance(e, ParamRef):
                return self._infer_param(e, T.TEXT)
            return self._coerce(
                e, T.TEXT, CastContext.IMPLICIT, partial(mismatch, e, T.TEXT, location)
            )
        return e

    def to_bool(self, e: BoundExpr, construct: str, location: int) -> BoundExpr:
        if e.type.oid == T.BOOL.oid:
            return e
        if e.type.oid == T.UNKNOWN.oid:
            return self.coerce_literal(e, T.BOOL, location, partial(mismatch, e, T.BOOL, location))
        raise DatatypeMismatch(
            f"argument of {construct} must be type boolean, not type {e.type.base}",
            position=pos(location),
        )

    def coerce_literal(
        self, e: BoundExpr, target: SqlType, location: int, on_error: Callable[[], QuorumError]
    ) -> BoundExpr:
        if isinstance(e, ParamRef) and e.type.oid == T.UNKNOWN.oid:
            return self._infer_param(e, target)
        return self._coerce(e, target, CastContext.IMPLICIT, on_error, location)

    def _coerce(
        self,
        e: BoundExpr,
        target: SqlType,
        context: CastContext,
        on_error: Callable[[], QuorumError],
        location: int = -1,
    ) -> BoundExpr:
        return coerce(e, target, context, on_error, location, self.context.fold_errors)

    def _infer_param(self, e: ParamRef, target: SqlType) -> BoundExpr:
        assert self.param_types is not None
        self.param_types[e.index] = target.base
        return ParamRef(target.base, e.index)

    # ---- leaves --------------------------------------------------------------------

    def _bind_Literal(self, node: ast.Literal) -> BoundExpr:
        kind, value = node.kind, node.value
        if kind == "int":
            lo, hi, _ = T.INT_RANGES[T.INT4.oid]
            return Const(T.INT4 if lo <= value <= hi else T.INT8, value)  # type: ignore[operator]
        if kind == "numeric":
            return Const(T.NUMERIC, T.parse_text(T.NUMERIC, value))  # type: ignore[arg-type]
        if kind == "string":
            return Const(T.UNKNOWN, value)
        if kind == "bool":
            return Const(T.BOOL, value)
        return Const(T.UNKNOWN, None)

    def _bind_ColumnName(self, node: ast.ColumnName) -> BoundExpr:
        try:
            c = self.scope.resolve(node.parts, node.location)
        except (UndefinedColumn, UndefinedTable) as inner:
            outer = self.level.outer
            if outer is None:
                raise
            try:
                value = outer._bind_ColumnName(node)
            except UndefinedTable:
                raise inner from None
            except UndefinedColumn as outer_error:
                if isinstance(inner, UndefinedTable):
                    raise outer_error from None
                raise inner from None
            name = ".".join(node.parts)
            return self.level.correlate(value, self.context, name)
        return self.column(c, node.location)

    def column(self, c: ScopeColumn, location: int = -1) -> BoundExpr:
        if c.index < 0:
            return c.expr  # type: ignore[no-any-return]
        return ColumnRef(
            c.type, c.index, c.name, c.table_oid, c.column_number, location, c.relation or ""
        )

    def _bind_Param(self, node: ast.Param) -> BoundExpr:
        n = node.number
        if self.param_types is None or n < 1 or n > max(len(self.param_types), 65535):
            raise QuorumError(
                f"there is no parameter ${n}", sqlstate="42P02", position=pos(node.location)
            )
        while len(self.param_types) < n:
            self.param_types.append(None)
        known = self.param_types[n - 1]
        return ParamRef(known if known is not None else T.UNKNOWN, n - 1)

    def _bind_Star(self, node: ast.Star) -> BoundExpr:
        raise SyntaxErrorSQL("* is not allowed here", position=pos(node.location))

    def _bind_Default(self, node: ast.Default) -> BoundExpr:
        raise SyntaxErrorSQL("DEFAULT is not allowed in this context", position=pos(node.location))

    # ---- operators -------------------------------------------------------------------

    def _apply(
        self, op_name: str, args: list[BoundExpr], nodes: list[ast.Expr], location: int
    ) -> BoundExpr:
        """Resolve and apply an operator to bound arguments."""
        if len(args) == 1:
            op = resolve_unary(op_name, args[0].type, pos(location))
        else:
            op = resolve_binary(op_name, args[0].type, args[1].type, pos(location))
        left = args[0].type if len(args) == 2 else None
        error = partial(operator_error, op_name, left, args[-1].type, pos(location))
        converted = tuple(
            self.coerce_literal(a, want, _location(n), error)
            for a, want, n in zip(args, op.args, nodes, strict=False)
        )
        return self.fold(Call(op.result, op, converted))

    def fold(self, e: BoundExpr) -> BoundExpr:
        if (
            isinstance(e, Call)
            and e.op.volatility == "i"
            and e.op.context is None
            and not e.op.returns_set
            and all(isinstance(a, Const) for a in e.args)
        ):
            try:
                return Const(e.type, evaluate(e))
            except QuorumError as exc:
                self.context.fold_errors.append(exc)
        return e

    def _bind_UnaryOp(self, node: ast.UnaryOp) -> BoundExpr:
        operand = self.bind(node.operand)
        if node.op == "-" and isinstance(operand, Const) and operand.type.oid == T.UNKNOWN.oid:
            location = _location(node.operand)
            operand = self._coerce(
                operand,
                T.NUMERIC,
                CastContext.IMPLICIT,
                partial(mismatch, operand, T.NUMERIC, location),
            )
        return self._apply(node.op, [operand], [node.operand], node.location)

    def equality(
        self, left: BoundExpr, right: BoundExpr, nodes: tuple[ast.Expr, ast.Expr], location: int
    ) -> tuple[BoundExpr, BoundExpr, Callable[[Any, Any], Any]]:
        """Both sides converted for their "=" operator, and its implementation."""
        op = resolve_binary("=", left.type, right.type, pos(location))
        error = partial(operator_error, "=", left.type, right.type, pos(location))
        left = self.coerce_literal(left, op.args[0], _location(nodes[0]), error)
        right = self.coerce_literal(right, op.args[1], _location(nodes[1]), error)
        impl = op.impl
        if op.context is not None:
            raise QuorumError(
                f"comparing {op.args[0]} with {op.args[1]} here is not supported", sqlstate="0A000"
            )
        return left, right, impl

    def _bind_BinaryOp(self, node: ast.BinaryOp) -> BoundExpr:
        left, right = self.bind(node.left), self.bind(node.right)
        if node.op in ("is distinct from", "is not distinct from"):
            left, right, eq = self.equality(left, right, (node.left, node.right), node.location)
            return DistinctExpr(T.BOOL, left, right, eq, negated=node.op == "is not distinct from")
        if node.op == "!=":
            return self._apply("<>", [left, right], [node.left, node.right], node.location)
        return self._apply(node.op, [left, right], [node.left, node.right], node.location)

    def _bind_BoolOp(self, node: ast.BoolOp) -> BoundExpr:
        construct = node.op.upper()
        args: list[BoundExpr] = []
        for a in node.args:
            b = self.to_bool(self.bind(a), construct, _location(a))
            # flatten nested ANDs/ORs: a AND (b AND c) -> AND(a, b, c)
            if (
                isinstance(b, AndExpr)
                and node.op == "and"
                or isinstance(b, OrExpr)
                and node.op == "or"
            ):
                args.extend(b.args)  # type: ignore[attr-defined]
            else:
                args.append(b)
        if node.op == "and":
            return AndExpr(T.BOOL, tuple(args))
        return OrExpr(T.BOOL, tuple(args))

    def _bind_Not(self, node: ast.Not) -> BoundExpr:
        arg = self.to_bool(self.bind(node.operand), "NOT", _location(node.operand))
        if isinstance(arg, Const):
            return Const(T.BOOL, None if arg.value is None else not arg.value)
        return NotExpr(T.BOOL, arg)

    def _bind_IsNull(self, node: ast.IsNull) -> BoundExpr:
        return NullTest(T.BOOL, self.bind(node.operand), node.negated)

    def _bind_BooleanTest(self, node: ast.BooleanTest) -> BoundExpr:
        construct = f"IS {'NOT ' if node.negated else ''}{node.test.upper()}"
        arg = self.to_bool(self.bind(node.operand), construct, _location(node.operand))
        test = {"true": True, "false": False, "unknown": None}[node.test]
        return BoolTest(T.BOOL, arg, test, node.negated)

    def _bind_Between(self, node: ast.Between) -> BoundExpr:
        def range_test(low: ast.Expr, high: ast.Expr) -> BoundExpr:
            if node.negated:
                return self._bind_BoolOp(
                    ast.BoolOp(
                        "or",
                        (
                            ast.BinaryOp("<", node.operand, low, node.location),
                            ast.BinaryOp(">", node.operand, high, node.location),
                        ),
                        node.location,
                    )
                )
            return self._bind_BoolOp(
                ast.BoolOp(
                    "and",
                    (
                        ast.BinaryOp(">=", node.operand, low, node.location),
                        ast.BinaryOp("<=", node.operand, high, node.location),
                    ),
                    node.location,
                )
            )

        if not node.symmetric:
            return range_test(node.low, node.high)
        first, second = range_test(node.low, node.high), range_test(node.high, node.low)
        if node.negated:
            return AndExpr(T.BOOL, (first, second))
        return OrExpr(T.BOOL, (first, second))

    def _bind_InList(self, node: ast.InList) -> BoundExpr:
        """As PostgreSQL: the row-independent items that share a type with the operand
        form one list test; every other item is compared separately (OR-ed for IN,
        AND-ed for NOT IN)."""
        op = "<>" if node.negated else "="
        arg = self.bind(node.operand)
        items = [(self.bind(n), n) for n in node.items]
        constants = [(b, n) for b, n in items if not column_refs(b)]
        separate = items
        parts: list[BoundExpr] = []
        if len(constants) > 1:
            t = common_type([(arg.type, -1)] + [(b.type, -1) for b, _ in constants], None)
            if t.oid != T.UNKNOWN.oid and all(
                find_cast(x.type, t, CastContext.IMPLICIT) is not None
                for x in [arg] + [b for b, _ in constants]
            ):
                err = partial(operator_error, "=", arg.type, t, pos(node.location))
                converted = tuple(
                    self.coerce_literal(b, t, _location(n), err) for b, n in constants
                )
                list_arg = self.coerce_literal(arg, t, _location(node.operand), err)
                parts.append(
                    InListExpr(T.BOOL, list_arg, converted, comparison_impl(t, "="), node.negated)
                )
                separate = [(b, n) for b, n in items if column_refs(b)]
        for b, n in separate:
            parts.append(self._apply(op, [arg, b], [node.operand, n], node.location))
        if len(parts) == 1:
            return parts[0]
        return AndExpr(T.BOOL, tuple(parts)) if node.negated else OrExpr(T.BOOL, tuple(parts))

    def _bind_Cast(self, node: ast.Cast) -> BoundExpr:
        if node.type.names[-1] in _CATALOG_CASTS and not node.type.array:
            from .pgfunctions import bind_reg_cast  # x::regclass etc. (sql/pgfunctions.py)

            catalog_cast = bind_reg_cast(self, node)
            if catalog_cast is not None:
                return catalog_cast
        target = T.type_from_name(
            node.type.names, node.type.modifiers, pos(node.type.location), node.type.array
        )
        if isinstance(node.operand, ast.ArrayExpr) and not node.operand.items:
            if target.element is None:
                raise CannotCoerce(
                    f"cannot cast type unknown[] to {target}", position=pos(node.location)
                )
            return Const(target, ())
        arg = self.bind(node.operand)
        if isinstance(arg, ParamRef) and arg.type.oid == T.UNKNOWN.oid:
            inferred = self._infer_param(arg, target)
            if target.typmod < 0:
                return inferred
            return self._coerce(
                inferred,
                target,
                CastContext.EXPLICIT,
                partial(mismatch, arg, target, node.location),
            )
        return self.cast(arg, target, node.location, _location(node.operand))

    def cast(
        self, arg: BoundExpr, target: SqlType, location: int, literal_location: int
    ) -> BoundExpr:
        def cannot() -> QuorumError:
            return CannotCoerce(
                f"cannot cast type {arg.type.base} to {target.base if target.element is None else target}",
                position=pos(location),
            )

        return self._coerce(arg, target, CastContext.EXPLICIT, cannot, literal_location)

    def _bind_Case(self, node: ast.Case) -> BoundExpr:
        # PostgreSQL's order: each WHEN and its THEN, then ELSE; but the ELSE
        # result comes first when choosing the common type.
        conditions: list[BoundExpr] = []
        bound_results: list[BoundExpr] = []
        for when, then in node.whens:
            test = ast.BinaryOp("=", node.operand, when, _location(when)) if node.operand else when
            conditions.append(self.to_bool(self.bind(test), "CASE/WHEN", _location(when)))
            bound_results.append(self.bind(then))
        result_nodes = [r for _, r in node.whens]
        if node.default is not None:
            bound_results.insert(0, self.bind(node.default))
            result_nodes.insert(0, node.default)
        results = bound_results
        t = common_type(
            [(r.type, _location(n)) for r, n in zip(results, result_nodes, strict=True)], "CASE"
        )
        converted = [
            self.coerce_literal(r, t, _location(n), partial(mismatch, r, t, _location(n)))
            for r, n in zip(results, result_nodes, strict=True)
        ]
        default = converted.pop(0) if node.default is not None else Const(t, None)
        return CaseExpr(t, tuple(conditions), tuple(converted), default)

    def _bind_Coalesce(self, node: ast.Coalesce) -> BoundExpr:
        args = [self.bind(a) for a in node.args]
        t = common_type(
            [(a.type, _location(n)) for a, n in zip(args, node.args, strict=False)], "COALESCE"
        )
        converted = tuple(
            self.coerce_literal(a, t, _location(n), partial(mismatch, a, t, _location(n)))
            for a, n in zip(args, node.args, strict=True)
        )
        return CoalesceExpr(t, converted)

    def _bind_NullIf(self, node: ast.NullIf) -> BoundExpr:
        left, right = self.bind(node.left), self.bind(node.right)
        left, right, eq = self.equality(left, right, (node.left, node.right), node.location)
        return NullIfExpr(left.type, left, right, eq)
