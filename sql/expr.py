"""Expression compilation: a bound expression becomes a Python closure, once per plan.

A compiled expression is ``fn(row, ctx) -> value`` where `row` is the tuple
the plan node evaluates against and `ctx` the `ExecContext` of the running
statement (parameters, transaction, session values). Compilation happens
when a plan is built and the closures are cached with it, so evaluating a
row costs only the calls themselves, never a walk over the tree.

SQL's three-valued logic lives here: strict calls return NULL (None) when
any argument is NULL, AND/OR follow the truth tables (false AND NULL is
false, true OR NULL is true), and a predicate keeps a row only when it is
exactly true. Common shapes (column op constant) get specialised closures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .bound import (
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
    ParamRef,
    SessionValue,
)
from .types import FLOAT4, FLOAT8, NUMERIC

__all__ = [
    "ExecContext",
    "SessionInfo",
    "Compiled",
    "compile_expr",
    "compile_predicate",
    "evaluate",
]

Row = tuple[Any, ...]
Compiled = Callable[[Row, "ExecContext"], Any]


class SessionInfo(Protocol):
    """What a running statement may ask of the session that runs it."""

    @property
    def row_ids(self) -> Iterator[int]:
        """Numbers for hidden row ids (unique on this node)."""
        ...

    def session_value(self, name: str, args: tuple[object, ...]) -> object: ...


class ExecContext:
    """Everything a running statement's expressions and plan nodes need."""

    __slots__ = ("txn", "params", "session")

    def __init__(self, txn: Any, params: tuple[object, ...], session: SessionInfo | None) -> None:
        self.txn = txn
        self.params = params
        self.session = session


def evaluate(e: BoundExpr) -> object:
    """Evaluate an expression that references no row, parameter or session (constant folding)."""
    return compile_expr(e)((), None)  # type: ignore[arg-type]


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
    if isinstance(e, Call) and len(e.args) == 2 and e.type.oid == 16:
        # comparisons: `impl(...) is True` is implied, impl returns a bool
        a0, a1 = e.args
        impl = e.op.impl
        if isinstance(a0, ColumnRef) and isinstance(a1, Const):
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


def _call(e: Call) -> Compiled:
    impl = e.op.impl
    args = e.args
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


def _cast(e: CastExpr) -> Compiled:
    inner = compile_expr(e.arg)
    fn = e.fn
    if fn is None:
        return inner
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


def _in_list(e: InListExpr) -> Compiled:
    a = compile_expr(e.arg)
    negated = e.negated
    hashable = (
        e.items
        and all(isinstance(i, Const) for i in e.items)
        and e.arg.type.oid
        not in (
            FLOAT4.oid,
            FLOAT8.oid,
            NUMERIC.oid,
        )
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


_COMPILERS: dict[type, Callable[[Any], Compiled]] = {
    ColumnRef: _column,
    Const: _const,
    ParamRef: _param,
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
}
