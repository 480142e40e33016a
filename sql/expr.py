"""Expression compilation: a bound expression becomes a Python closure, once per plan.

A compiled expression is ``fn(row, ctx) -> value`` where `row` is the tuple
the plan node evaluates against and `ctx` the `ExecContext` of the running
statement (parameters, transaction, session values, parameter slots).
Compilation happens when a plan is built and the closures are cached with
it, so evaluating a row costs only the calls themselves, never a walk over
the tree.

SQL's three-valued logic lives here: strict calls return NULL (None) when
any argument is NULL, AND/OR follow the truth tables (false AND NULL is
false, true OR NULL is true), ``x = ANY (array)`` is NULL when nothing
matched and a NULL was seen, and a predicate keeps a row only when it is
exactly true. Common shapes (column op constant) get specialised closures.

Things that depend on the session or the moment (TimeZone, now(),
random()) are read from the `ExecContext` when the statement runs, never
baked into a cached plan: ``ctx.zone``, ``ctx.now``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .bound import (
    AndExpr,
    ArrayCompare,
    ArrayExpr,
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
    MinMaxExpr,
    NotExpr,
    NullIfExpr,
    NullTest,
    OrExpr,
    OuterRef,
    ParamRef,
    SessionValue,
    SubPlan,
    Subscript,
)
from .functions import Operator
from .types import FLOAT4, FLOAT8, JSONB, NUMERIC

__all__ = [
    "ExecContext",
    "SessionInfo",
    "Compiled",
    "compile_expr",
    "compile_predicate",
    "evaluate",
    "operator_impl",
    "register_subplan_compiler",
]

Row = tuple[Any, ...]
Compiled = Callable[[Row, "ExecContext"], Any]
_MISSING = object()


class SessionInfo(Protocol):
    """What a running statement may ask of the session that runs it."""

    @property
    def row_ids(self) -> Iterator[int]:
        """Numbers for hidden row ids (unique on this node)."""
        ...

    def session_value(self, name: str, args: tuple[object, ...]) -> object: ...


class ExecContext:
    """Everything a running statement's expressions and plan nodes need.

    `slots` holds the parameters enclosing plan nodes pass to inner ones
    (correlated subqueries, LATERAL, index nested loops); `memo` caches what
    is computed once per execution (uncorrelated subqueries); `stats` is
    set by EXPLAIN ANALYZE."""

    __slots__ = ("txn", "params", "session", "slots", "memo", "stats", "_zone", "_now", "_stmt")

    def __init__(self, txn: Any, params: tuple[object, ...], session: SessionInfo | None) -> None:
        self.txn = txn
        self.params = params
        self.session = session
        self.slots: dict[int, Any] = {}
        self.memo: dict[Any, Any] = {}
        self.stats: dict[int, list[float]] | None = None
        self._zone: Any = None
        self._now: int | None = None
        self._stmt: int | None = None

    @property
    def zone(self) -> Any:
        """The session's TimeZone as a `types_datetime.Zone`."""
        if self._zone is None:
            from .types_datetime import zone

            name = None
            if self.session is not None:
                try:
                    name = self.session.session_value("current_setting", ("TimeZone",))
                except Exception:  # noqa: BLE001 - a session without settings: UTC
                    name = None
            self._zone = zone(name if isinstance(name, str) else None)
        return self._zone

    @property
    def statement_now(self) -> int:
        """When the statement started (microseconds since 2000-01-01 UTC)."""
        if self._stmt is None:
            self._stmt = _micros(time.time())
        return self._stmt

    @property
    def now(self) -> int:
        """When the transaction started: now(), current_timestamp (fixed for the transaction)."""
        if self._now is None:
            started = getattr(self.session, "transaction_timestamp", None)
            value = started() if callable(started) else None
            self._now = _micros(value) if isinstance(value, float) else self.statement_now
        return self._now


def _micros(epoch_seconds: float) -> int:
    return int(round(epoch_seconds * 1_000_000)) - 946_684_800_000_000


def evaluate(e: BoundExpr) -> object:
    """Evaluate an expression that references no row, parameter or session (constant folding)."""
    return compile_expr(e)((), ExecContext(None, (), None))


def compile_predicate(e: BoundExpr) -> Callable[[Row, ExecContext], bool]:
    """A filter: true only when the expression is exactly TRUE (NULL drops the row)."""
    if isinstance(e, AndExpr):
        parts = [compile_predicate(a) for a in e.args]
        if len(parts) == 2:
            p0, p1 = parts

            def both(row: Row, ctx: ExecContext) -> bool:
                return p0(row, ctx) and p1(row, ctx)

            return both

        def every(row: Row, ctx: ExecContext) -> bool:
            for p in parts:
                if not p(row, ctx):
                    return False
            return True

        return every
    if isinstance(e, Call) and len(e.args) == 2 and e.type.oid == 16 and e.op.context is None:
        # comparisons: `impl(...) is True` is implied, impl returns a bool
        a0, a1 = e.args
        impl = e.op.impl
        if isinstance(a0, ColumnRef) and isinstance(a1, Const) and e.op.strict:
            i, v = a0.index, a1.value
            if v is None:
                return _never

            def column_vs_const(row: Row, ctx: ExecContext) -> bool:
                x = row[i]
                return x is not None and impl(x, v) is True

            return column_vs_const
    fn = compile_expr(e)

    def is_true(row: Row, ctx: ExecContext) -> bool:
        return fn(row, ctx) is True

    return is_true


def _never(row: Row, ctx: ExecContext) -> bool:
    return False


def compile_expr(e: BoundExpr) -> Compiled:
    compiler = _COMPILERS.get(type(e))
    if compiler is None:
        raise TypeError(f"cannot compile {type(e).__name__}")
    return compiler(e)


def _column(e: ColumnRef) -> Compiled:
    i = e.index

    def column(row: Row, ctx: ExecContext) -> Any:
        return row[i]

    return column


def _const(e: Const) -> Compiled:
    v = e.value

    def const(row: Row, ctx: ExecContext) -> Any:
        return v

    return const


def _param(e: ParamRef) -> Compiled:
    i = e.index

    def param(row: Row, ctx: ExecContext) -> Any:
        return ctx.params[i]

    return param


def _outer(e: OuterRef) -> Compiled:
    slot = e.slot

    def outer(row: Row, ctx: ExecContext) -> Any:
        return ctx.slots[slot]

    return outer


def operator_impl(op: Operator) -> Callable[..., Any]:
    """impl(ctx, *args) for any operator (adds the zone or context it asks for)."""
    impl = op.impl
    if op.context == "zone":
        return lambda ctx, *args: impl(ctx.zone, *args)
    if op.context == "ctx":
        return lambda ctx, *args: impl(ctx, *args)
    return lambda ctx, *args: impl(*args)


def _call(e: Call) -> Compiled:
    op = e.op
    impl = op.impl
    args = e.args
    if op.context is not None or not op.strict:
        return _call_general(e)
    if not args:

        def call0(row: Row, ctx: ExecContext) -> Any:
            return impl()

        return call0
    if len(args) == 1:
        a = compile_expr(args[0])

        def call1(row: Row, ctx: ExecContext) -> Any:
            x = a(row, ctx)
            return None if x is None else impl(x)

        return call1
    if len(args) == 2:
        left, right = args
        if isinstance(left, ColumnRef) and isinstance(right, Const):
            i, v = left.index, right.value
            if v is None:
                return _const(Const(e.type, None))

            def column_op_const(row: Row, ctx: ExecContext) -> Any:
                x = row[i]
                return None if x is None else impl(x, v)

            return column_op_const
        if isinstance(left, ColumnRef) and isinstance(right, ColumnRef):
            i, j = left.index, right.index

            def column_op_column(row: Row, ctx: ExecContext) -> Any:
                x = row[i]
                if x is None:
                    return None
                y = row[j]
                return None if y is None else impl(x, y)

            return column_op_column
        a, b = compile_expr(left), compile_expr(right)

        def call2(row: Row, ctx: ExecContext) -> Any:
            x = a(row, ctx)
            if x is None:
                return None
            y = b(row, ctx)
            return None if y is None else impl(x, y)

        return call2
    compiled = [compile_expr(a) for a in args]

    def call_n(row: Row, ctx: ExecContext) -> Any:
        values = []
        for c in compiled:
            x = c(row, ctx)
            if x is None:
                return None
            values.append(x)
        return impl(*values)

    return call_n


def _call_general(e: Call) -> Compiled:
    """Calls that need the session's zone or context, or take NULL arguments."""
    op = e.op
    impl = op.impl
    compiled = [compile_expr(a) for a in e.args]
    strict = op.strict
    context = op.context

    def call(row: Row, ctx: ExecContext) -> Any:
        values = [c(row, ctx) for c in compiled]
        if strict and None in values:
            return None
        if context == "zone":
            return impl(ctx.zone, *values)
        if context == "ctx":
            return impl(ctx, *values)
        return impl(*values)

    return call


def _cast(e: CastExpr) -> Compiled:
    inner = compile_expr(e.arg)
    fn = e.fn
    if fn is None:
        return inner
    if e.zoned:
        if isinstance(e.arg, Const):
            key = object()
            value = e.arg.value

            def zoned_const(row: Row, ctx: ExecContext) -> Any:
                found = ctx.memo.get(key, _MISSING)
                if found is _MISSING:
                    found = ctx.memo[key] = None if value is None else fn(value, ctx.zone)
                return found

            return zoned_const

        def zoned(row: Row, ctx: ExecContext) -> Any:
            x = inner(row, ctx)
            return None if x is None else fn(x, ctx.zone)

        return zoned
    if isinstance(e.arg, ColumnRef):
        i = e.arg.index

        def cast_column(row: Row, ctx: ExecContext) -> Any:
            x = row[i]
            return None if x is None else fn(x)

        return cast_column

    def cast(row: Row, ctx: ExecContext) -> Any:
        x = inner(row, ctx)
        return None if x is None else fn(x)

    return cast


def _and(e: AndExpr) -> Compiled:
    parts = [compile_expr(a) for a in e.args]

    def and_(row: Row, ctx: ExecContext) -> Any:
        result: bool | None = True
        for p in parts:
            v = p(row, ctx)
            if v is False:
                return False
            if v is None:
                result = None
        return result

    return and_


def _or(e: OrExpr) -> Compiled:
    parts = [compile_expr(a) for a in e.args]

    def or_(row: Row, ctx: ExecContext) -> Any:
        result: bool | None = False
        for p in parts:
            v = p(row, ctx)
            if v is True:
                return True
            if v is None:
                result = None
        return result

    return or_


def _not(e: NotExpr) -> Compiled:
    a = compile_expr(e.arg)

    def not_(row: Row, ctx: ExecContext) -> Any:
        v = a(row, ctx)
        return None if v is None else not v

    return not_


def _null_test(e: NullTest) -> Compiled:
    a = compile_expr(e.arg)
    if e.negated:

        def is_not_null(row: Row, ctx: ExecContext) -> Any:
            return a(row, ctx) is not None

        return is_not_null

    def is_null(row: Row, ctx: ExecContext) -> Any:
        return a(row, ctx) is None

    return is_null


def _bool_test(e: BoolTest) -> Compiled:
    a = compile_expr(e.arg)
    test, negated = e.test, e.negated

    def bool_test(row: Row, ctx: ExecContext) -> Any:
        return (a(row, ctx) is test) != negated

    return bool_test


_UNHASHABLE = (FLOAT4.oid, FLOAT8.oid, NUMERIC.oid, JSONB.oid)


def _in_list(e: InListExpr) -> Compiled:
    a = compile_expr(e.arg)
    negated = e.negated
    hashable = (
        e.items
        and all(isinstance(i, Const) for i in e.items)
        and e.arg.type.oid not in _UNHASHABLE
        and e.arg.type.element is None
    )
    if hashable:
        values = {i.value for i in e.items if i.value is not None}  # type: ignore[attr-defined]
        has_null = any(i.value is None for i in e.items)  # type: ignore[attr-defined]

        def in_set(row: Row, ctx: ExecContext) -> Any:
            x = a(row, ctx)
            if x is None:
                return None
            if x in values:
                return not negated
            return None if has_null else negated

        return in_set
    items = [compile_expr(i) for i in e.items]
    eq = e.eq

    def in_list(row: Row, ctx: ExecContext) -> Any:
        x = a(row, ctx)
        if x is None:
            return None
        saw_null = False
        for item in items:
            y = item(row, ctx)
            if y is None:
                saw_null = True
            elif eq(x, y):
                return not negated
        return None if saw_null else negated

    return in_list


def _distinct(e: DistinctExpr) -> Compiled:
    left, right = compile_expr(e.left), compile_expr(e.right)
    eq, negated = e.eq, e.negated

    def distinct(row: Row, ctx: ExecContext) -> Any:
        x, y = left(row, ctx), right(row, ctx)
        if x is None or y is None:
            differs = (x is None) != (y is None)
        else:
            differs = not eq(x, y)
        return differs != negated

    return distinct


def _case(e: CaseExpr) -> Compiled:
    arms = [
        (compile_expr(c), compile_expr(r)) for c, r in zip(e.conditions, e.results, strict=False)
    ]
    default = compile_expr(e.default)

    def case(row: Row, ctx: ExecContext) -> Any:
        for condition, result in arms:
            if condition(row, ctx) is True:
                return result(row, ctx)
        return default(row, ctx)

    return case


def _coalesce(e: CoalesceExpr) -> Compiled:
    parts = [compile_expr(a) for a in e.args]

    def coalesce(row: Row, ctx: ExecContext) -> Any:
        for p in parts:
            v = p(row, ctx)
            if v is not None:
                return v
        return None

    return coalesce


def _nullif(e: NullIfExpr) -> Compiled:
    left, right = compile_expr(e.left), compile_expr(e.right)
    eq = e.eq

    def nullif(row: Row, ctx: ExecContext) -> Any:
        x = left(row, ctx)
        if x is None:
            return None
        y = right(row, ctx)
        return None if y is not None and eq(x, y) else x

    return nullif


def _session_value(e: SessionValue) -> Compiled:
    name = e.name
    args = [compile_expr(a) for a in e.args]

    def session_value(row: Row, ctx: ExecContext) -> Any:
        return ctx.session.session_value(name, tuple(a(row, ctx) for a in args))  # type: ignore[union-attr]

    return session_value


def _array(e: ArrayExpr) -> Compiled:
    items = [compile_expr(i) for i in e.items]

    def array(row: Row, ctx: ExecContext) -> Any:
        return tuple([i(row, ctx) for i in items])

    return array


def _array_compare(e: ArrayCompare) -> Compiled:
    from .types_array import flatten

    left, array = compile_expr(e.left), compile_expr(e.array)
    impl = operator_impl(e.op)
    every = e.all
    if (
        not every
        and e.op.name == "="
        and isinstance(e.array, Const)
        and e.array.value is not None
        and e.left.type.oid not in _UNHASHABLE
        and e.left.type.element is None
        and e.op.context is None
        and e.op.args[0] == e.op.args[1]
    ):
        elements = flatten(e.array.value)  # type: ignore[arg-type]
        values = {v for v in elements if v is not None}
        has_null = None in elements
        empty = not elements

        def in_array(row: Row, ctx: ExecContext) -> Any:
            if empty:
                return False
            x = left(row, ctx)
            if x is None:
                return None
            if x in values:
                return True
            return None if has_null else False

        return in_array

    def compare(row: Row, ctx: ExecContext) -> Any:
        a = array(row, ctx)
        if a is None:
            return None
        elements = flatten(a)
        if not elements:
            return every
        x = left(row, ctx)
        if x is None:
            return None
        saw_null = False
        for v in elements:
            if v is None:
                saw_null = True
                continue
            r = impl(ctx, x, v)
            if r is None:
                saw_null = True
            elif every and not r:
                return False
            elif not every and r:
                return True
        return None if saw_null else every

    return compare


def _subscript(e: Subscript) -> Compiled:
    arg, index = compile_expr(e.arg), compile_expr(e.index)
    if e.arg.type.oid == JSONB.oid:
        from .types_json import Jsonb

        def jsonb_subscript(row: Row, ctx: ExecContext) -> Any:
            doc, key = arg(row, ctx), index(row, ctx)
            if doc is None or key is None:
                return None
            v = doc.value
            if isinstance(v, dict) and isinstance(key, str):
                return Jsonb(v[key], normalised=True) if key in v else None
            if isinstance(v, list) and isinstance(key, int):
                k = key + len(v) if key < 0 else key
                return Jsonb(v[k], normalised=True) if 0 <= k < len(v) else None
            return None

        return jsonb_subscript

    def subscript(row: Row, ctx: ExecContext) -> Any:
        a, i = arg(row, ctx), index(row, ctx)
        if a is None or i is None or not 1 <= i <= len(a):
            return None
        v = a[i - 1]
        return None if isinstance(v, tuple) and e.type.element is None else v

    return subscript


def _min_max(e: MinMaxExpr) -> Compiled:
    parts = [compile_expr(a) for a in e.args]
    better = e.better

    def min_max(row: Row, ctx: ExecContext) -> Any:
        best = None
        for p in parts:
            v = p(row, ctx)
            if v is not None and (best is None or better(v, best)):
                best = v
        return best

    return min_max


_SUBPLAN_COMPILER: list[Callable[[SubPlan], Compiled]] = []


def register_subplan_compiler(compiler: Callable[[SubPlan], Compiled]) -> None:
    """The executor compiles subqueries (it knows plan nodes; this module does not)."""
    _SUBPLAN_COMPILER[:] = [compiler]


def _subplan(e: SubPlan) -> Compiled:
    if not _SUBPLAN_COMPILER:
        from . import executor  # noqa: F401  (registers the compiler)
    return _SUBPLAN_COMPILER[0](e)


_COMPILERS: dict[type, Callable[[Any], Compiled]] = {
    ColumnRef: _column,
    Const: _const,
    ParamRef: _param,
    OuterRef: _outer,
    Call: _call,
    CastExpr: _cast,
    AndExpr: _and,
    OrExpr: _or,
    NotExpr: _not,
    NullTest: _null_test,
    BoolTest: _bool_test,
    InListExpr: _in_list,
    DistinctExpr: _distinct,
    CaseExpr: _case,
    CoalesceExpr: _coalesce,
    NullIfExpr: _nullif,
    SessionValue: _session_value,
    ArrayExpr: _array,
    ArrayCompare: _array_compare,
    Subscript: _subscript,
    MinMaxExpr: _min_max,
    SubPlan: _subplan,
}
