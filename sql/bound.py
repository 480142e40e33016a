"""Typed, name-resolved expressions: what the binder produces and plans carry.

Every node has its SQL `type`. Column references are positions in the row
of the plan node they are evaluated against; a reference to an enclosing
query's row (a correlated subquery, a LATERAL item, the inner side of an
index nested loop) is an `OuterRef` to a numbered parameter slot that the
enclosing plan node fills before running the inner plan. Operators and
casts hold the function that implements them, chosen once at bind time.
Nodes are frozen values (implementation callables and source locations are
excluded from equality), so two occurrences of the same expression compare
equal, which is how GROUP BY matches select-list expressions.

`sql/expr.py` compiles these trees into closures; `format_expr` renders
them for EXPLAIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import types as T
from .functions import Operator
from .types import SqlType

if TYPE_CHECKING:
    from .aggfuncs import AggregateFunction, WindowFunction

__all__ = [
    "BoundExpr",
    "ColumnRef",
    "Const",
    "ParamRef",
    "OuterRef",
    "Call",
    "CastExpr",
    "AndExpr",
    "OrExpr",
    "NotExpr",
    "NullTest",
    "BoolTest",
    "InListExpr",
    "DistinctExpr",
    "CaseExpr",
    "CoalesceExpr",
    "NullIfExpr",
    "SessionValue",
    "ArrayExpr",
    "ArrayCompare",
    "Subscript",
    "MinMaxExpr",
    "SubPlan",
    "SortSpec",
    "Frame",
    "AggCall",
    "AggRef",
    "WindowCall",
    "WindowRef",
    "transform",
    "format_expr",
    "column_refs",
    "outer_refs",
    "shift_columns",
    "map_columns",
    "is_volatile",
]


@dataclass(frozen=True, slots=True)
class BoundExpr:
    type: SqlType


@dataclass(frozen=True, slots=True)
class ColumnRef(BoundExpr):
    index: int
    name: str = field(default="?", compare=False)
    table_oid: int = field(default=0, compare=False)
    column_number: int = field(default=0, compare=False)  # 1-based attnum, 0 if not a table column
    location: int = field(default=-1, compare=False)
    relation: str = field(default="", compare=False)  # the table's name or alias in the query


@dataclass(frozen=True, slots=True)
class Const(BoundExpr):
    value: object


@dataclass(frozen=True, slots=True)
class ParamRef(BoundExpr):
    index: int  # 0-based: $1 is 0


@dataclass(frozen=True, slots=True)
class OuterRef(BoundExpr):
    """A value of an enclosing row, passed in parameter slot `slot` (ctx.slots)."""

    slot: int
    name: str = field(default="?", compare=False)


@dataclass(frozen=True, slots=True)
class Call(BoundExpr):
    """An operator or function call (strict ones give NULL for any NULL argument)."""

    op: Operator
    args: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class CastExpr(BoundExpr):
    arg: BoundExpr
    fn: Callable[..., object] | None = field(compare=False, repr=False)  # None: same value
    explicit: bool = False
    zoned: bool = False  # fn(value, zone): depends on the session's TimeZone


@dataclass(frozen=True, slots=True)
class AndExpr(BoundExpr):
    args: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class OrExpr(BoundExpr):
    args: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class NotExpr(BoundExpr):
    arg: BoundExpr


@dataclass(frozen=True, slots=True)
class NullTest(BoundExpr):
    arg: BoundExpr
    negated: bool = False


@dataclass(frozen=True, slots=True)
class BoolTest(BoundExpr):
    """IS [NOT] TRUE/FALSE/UNKNOWN; `test` is True, False or None (unknown)."""

    arg: BoundExpr
    test: bool | None
    negated: bool = False


@dataclass(frozen=True, slots=True)
class InListExpr(BoundExpr):
    """arg [NOT] IN (items): items are already converted to the comparison type."""

    arg: BoundExpr
    items: tuple[BoundExpr, ...]
    eq: Callable[[Any, Any], Any] = field(compare=False, repr=False)
    negated: bool = False


@dataclass(frozen=True, slots=True)
class DistinctExpr(BoundExpr):
    """left IS [NOT] DISTINCT FROM right (a null-safe comparison)."""

    left: BoundExpr
    right: BoundExpr
    eq: Callable[[Any, Any], Any] = field(compare=False, repr=False)
    negated: bool = False


@dataclass(frozen=True, slots=True)
class CaseExpr(BoundExpr):
    """CASE WHEN c1 THEN r1 ... ELSE default END (a simple CASE is bound to this form)."""

    conditions: tuple[BoundExpr, ...]
    results: tuple[BoundExpr, ...]
    default: BoundExpr


@dataclass(frozen=True, slots=True)
class CoalesceExpr(BoundExpr):
    args: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class NullIfExpr(BoundExpr):
    left: BoundExpr
    right: BoundExpr
    eq: Callable[[Any, Any], Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SessionValue(BoundExpr):
    """A value that depends on the session, not the plan: current_user, current_setting(x)."""

    name: str
    args: tuple[BoundExpr, ...] = ()


@dataclass(frozen=True, slots=True)
class ArrayExpr(BoundExpr):
    """ARRAY[...]: items of the element type (or sub-arrays, for a 2-D array)."""

    items: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class ArrayCompare(BoundExpr):
    """left op ANY (array) / left op ALL (array)."""

    left: BoundExpr
    array: BoundExpr
    op: Operator
    all: bool = False


@dataclass(frozen=True, slots=True)
class Subscript(BoundExpr):
    """array[index] (1-based) or jsonb[key]."""

    arg: BoundExpr
    index: BoundExpr


@dataclass(frozen=True, slots=True)
class MinMaxExpr(BoundExpr):
    """GREATEST/LEAST: NULLs are ignored; NULL only when every argument is."""

    args: tuple[BoundExpr, ...]
    greatest: bool
    better: Callable[[Any, Any], Any] = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SubPlan(BoundExpr):
    """A subquery used as a value. `kind`: "scalar", "exists", "array", "any", "all".

    `params` are (slot, expression over the enclosing row) pairs filled before each
    run; a subplan without params is run once per statement execution. For
    "any"/"all", `test` compares `operand` with the subquery's column (converted
    by `convert`)."""

    kind: str
    plan: Any = field(compare=False)  # a PlanNode
    params: tuple[tuple[int, BoundExpr], ...] = ()
    operand: BoundExpr | None = None
    test: Operator | None = field(default=None, compare=False)
    convert: Callable[..., object] | None = field(default=None, compare=False, repr=False)
    number: int = 0


@dataclass(frozen=True, slots=True)
class SortSpec:
    expr: BoundExpr
    descending: bool = False
    nulls_first: bool = False


@dataclass(frozen=True, slots=True)
class Frame:
    """A window frame: mode "rows"/"range"/"groups"; bounds "unbounded preceding",
    "preceding", "current row", "following", "unbounded following"."""

    mode: str = "range"
    start: str = "unbounded preceding"
    start_offset: BoundExpr | None = None
    end: str = "current row"
    end_offset: BoundExpr | None = None
    exclude: str | None = None


@dataclass(frozen=True, slots=True)
class AggCall:
    """One aggregate computed by an Aggregate plan node; no args is count(*)."""

    func: AggregateFunction
    args: tuple[BoundExpr, ...]
    distinct: bool = False
    filter: BoundExpr | None = None
    order_by: tuple[SortSpec, ...] = ()

    @property
    def arg(self) -> BoundExpr | None:
        return self.args[0] if self.args else None


@dataclass(frozen=True, slots=True)
class AggRef(BoundExpr):
    """While binding a select list: the k-th aggregate of the query."""

    number: int


@dataclass(frozen=True, slots=True)
class WindowCall:
    """One window function call computed by a Window plan node."""

    func: WindowFunction
    args: tuple[BoundExpr, ...]
    partition_by: tuple[BoundExpr, ...]
    order_by: tuple[SortSpec, ...]
    frame: Frame
    filter: BoundExpr | None = None


@dataclass(frozen=True, slots=True)
class WindowRef(BoundExpr):
    """While binding a select list: the k-th window function call of the query."""

    number: int


Transform = Callable[[BoundExpr], BoundExpr]


def transform(e: BoundExpr, fn: Transform) -> BoundExpr:
    """Rebuild `e` with `fn` applied to each direct child (not to `e` itself)."""
    t = type(e)
    if t in (ColumnRef, Const, ParamRef, AggRef, OuterRef, WindowRef):
        return e
    if t is Call:
        return Call(e.type, e.op, tuple(fn(a) for a in e.args))  # type: ignore[attr-defined]
    if isinstance(e, CastExpr):
        return CastExpr(e.type, fn(e.arg), e.fn, e.explicit, e.zoned)
    if isinstance(e, AndExpr):
        return AndExpr(e.type, tuple(fn(a) for a in e.args))
    if isinstance(e, OrExpr):
        return OrExpr(e.type, tuple(fn(a) for a in e.args))
    if isinstance(e, NotExpr):
        return NotExpr(e.type, fn(e.arg))
    if isinstance(e, NullTest):
        return NullTest(e.type, fn(e.arg), e.negated)
    if isinstance(e, BoolTest):
        return BoolTest(e.type, fn(e.arg), e.test, e.negated)
    if isinstance(e, InListExpr):
        return InListExpr(e.type, fn(e.arg), tuple(fn(i) for i in e.items), e.eq, e.negated)
    if isinstance(e, DistinctExpr):
        return DistinctExpr(e.type, fn(e.left), fn(e.right), e.eq, e.negated)
    if isinstance(e, CaseExpr):
        return CaseExpr(
            e.type,
            tuple(fn(c) for c in e.conditions),
            tuple(fn(r) for r in e.results),
            fn(e.default),
        )
    if isinstance(e, CoalesceExpr):
        return CoalesceExpr(e.type, tuple(fn(a) for a in e.args))
    if isinstance(e, NullIfExpr):
        return NullIfExpr(e.type, fn(e.left), fn(e.right), e.eq)
    if isinstance(e, SessionValue):
        return SessionValue(e.type, e.name, tuple(fn(a) for a in e.args))
    if isinstance(e, ArrayExpr):
        return ArrayExpr(e.type, tuple(fn(a) for a in e.items))
    if isinstance(e, ArrayCompare):
        return ArrayCompare(e.type, fn(e.left), fn(e.array), e.op, e.all)
    if isinstance(e, Subscript):
        return Subscript(e.type, fn(e.arg), fn(e.index))
    if isinstance(e, MinMaxExpr):
        return MinMaxExpr(e.type, tuple(fn(a) for a in e.args), e.greatest, e.better)
    if isinstance(e, SubPlan):
        return SubPlan(
            e.type,
            e.kind,
            e.plan,
            tuple((slot, fn(p)) for slot, p in e.params),
            fn(e.operand) if e.operand is not None else None,
            e.test,
            e.convert,
            e.number,
        )
    raise TypeError(f"unknown expression {type(e).__name__}")


def _collect(e: BoundExpr, kind: type) -> list[Any]:
    found: list[Any] = []

    def visit(node: BoundExpr) -> BoundExpr:
        if isinstance(node, kind):
            found.append(node)
        else:
            transform(node, visit)
        return node

    visit(e)
    return found


def column_refs(e: BoundExpr) -> list[ColumnRef]:
    """Every ColumnRef inside `e` (a subplan's parameters included, its plan not)."""
    return _collect(e, ColumnRef)


def outer_refs(e: BoundExpr) -> list[OuterRef]:
    return _collect(e, OuterRef)


def map_columns(e: BoundExpr, fn: Callable[[ColumnRef], BoundExpr]) -> BoundExpr:
    """`e` with every ColumnRef replaced by fn(ref)."""

    def visit(node: BoundExpr) -> BoundExpr:
        if isinstance(node, ColumnRef):
            return fn(node)
        return transform(node, visit)

    return visit(e)


def shift_columns(e: BoundExpr, offset: int) -> BoundExpr:
    """`e` over a row whose positions moved right by `offset`."""
    if offset == 0:
        return e
    return map_columns(
        e,
        lambda c: ColumnRef(
            c.type, c.index + offset, c.name, c.table_oid, c.column_number, c.location, c.relation
        ),
    )


def is_volatile(e: BoundExpr) -> bool:
    """Whether `e` calls a volatile function (random(), clock_timestamp(), ...)."""
    found = False

    def visit(node: BoundExpr) -> BoundExpr:
        nonlocal found
        if isinstance(node, Call) and node.op.volatility == "v":
            found = True
        elif isinstance(node, SubPlan):
            found = True
        return transform(node, visit)

    visit(e)
    return found


# ---- EXPLAIN text -------------------------------------------------------------------------


def _literal(value: object, t: SqlType) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if t.oid in T.INT_RANGES:
        return str(value)
    if t.oid == T.NUMERIC.oid and isinstance(value, Decimal) and value.is_finite():
        return T.format_numeric(value)
    text = T.format_text(t, value).replace("'", "''")
    return f"'{text}'::{t}"


def format_expr(e: BoundExpr, qualify: bool = False) -> str:
    """SQL-like text for EXPLAIN: (id = 1), (v)::numeric, count(*)."""

    def f(x: BoundExpr) -> str:
        return format_expr(x, qualify)

    if isinstance(e, ColumnRef):
        return f"{e.relation}.{e.name}" if qualify and e.relation else e.name
    if isinstance(e, Const):
        return _literal(e.value, e.type)
    if isinstance(e, ParamRef):
        return f"${e.index + 1}"
    if isinstance(e, OuterRef):
        return e.name if e.name != "?" else f"${e.slot}"
    if isinstance(e, Call):
        args = [f(a) for a in e.args]
        if not e.op.infix:
            return f"{e.op.name}({', '.join(args)})"
        if len(args) == 1:
            return f"({e.op.name}{args[0]})"
        name = {"~~": "~~", "!~~": "!~~"}.get(e.op.name, e.op.name)
        return f"({args[0]} {name} {args[1]})"
    if isinstance(e, CastExpr):
        if e.fn is None and not e.explicit:
            return f(e.arg)  # a relabelling (numeric(8,2) -> numeric) is not shown
        return f"({f(e.arg)})::{e.type}"
    if isinstance(e, AndExpr):
        return "(" + " AND ".join(f(a) for a in e.args) + ")"
    if isinstance(e, OrExpr):
        return "(" + " OR ".join(f(a) for a in e.args) + ")"
    if isinstance(e, NotExpr):
        return f"(NOT {f(e.arg)})"
    if isinstance(e, NullTest):
        return f"({f(e.arg)} IS {'NOT ' if e.negated else ''}NULL)"
    if isinstance(e, BoolTest):
        word = {True: "TRUE", False: "FALSE", None: "UNKNOWN"}[e.test]
        return f"({f(e.arg)} IS {'NOT ' if e.negated else ''}{word})"
    if isinstance(e, InListExpr):
        items = ", ".join(f(i) for i in e.items)
        return f"({f(e.arg)} {'<> ALL' if e.negated else '= ANY'} (ARRAY[{items}]))"
    if isinstance(e, DistinctExpr):
        return f"({f(e.left)} IS {'NOT ' if e.negated else ''}DISTINCT FROM {f(e.right)})"
    if isinstance(e, CaseExpr):
        whens = " ".join(
            f"WHEN {f(c)} THEN {f(r)}" for c, r in zip(e.conditions, e.results, strict=False)
        )
        return f"CASE {whens} ELSE {f(e.default)} END"
    if isinstance(e, CoalesceExpr):
        return f"COALESCE({', '.join(f(a) for a in e.args)})"
    if isinstance(e, NullIfExpr):
        return f"NULLIF({f(e.left)}, {f(e.right)})"
    if isinstance(e, SessionValue):
        return f"{e.name}({', '.join(f(a) for a in e.args)})" if e.args else e.name
    if isinstance(e, ArrayExpr):
        return f"ARRAY[{', '.join(f(a) for a in e.items)}]"
    if isinstance(e, ArrayCompare):
        return f"({f(e.left)} {e.op.name} {'ALL' if e.all else 'ANY'} ({f(e.array)}))"
    if isinstance(e, Subscript):
        return f"{f(e.arg)}[{f(e.index)}]"
    if isinstance(e, MinMaxExpr):
        return f"{'GREATEST' if e.greatest else 'LEAST'}({', '.join(f(a) for a in e.args)})"
    if isinstance(e, SubPlan):
        label = f"(SubPlan {e.number})"
        if e.kind in ("any", "all") and e.operand is not None and e.test is not None:
            return f"({f(e.operand)} {e.test.name} {e.kind.upper()} {label})"
        return label
    if isinstance(e, AggRef):
        return f"agg#{e.number}"
    if isinstance(e, WindowRef):
        return f"window#{e.number}"
    raise TypeError(f"unknown expression {type(e).__name__}")
