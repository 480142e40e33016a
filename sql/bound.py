"""Typed, name-resolved expressions: what the binder produces and plans carry.

Every node has its SQL `type`. Column references are positions in the row
of the plan node they are evaluated against; operators and casts hold the
function that implements them, chosen once at bind time. Nodes are frozen
values (implementation callables and source locations are excluded from
equality), so two occurrences of the same expression compare equal, which
is how GROUP BY matches select-list expressions.

`sql/expr.py` compiles these trees into closures; `format_expr` renders
them for EXPLAIN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from . import types as T
from .functions import AggregateFunction, Operator
from .types import SqlType

__all__ = [
    "BoundExpr",
    "ColumnRef",
    "Const",
    "ParamRef",
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
    "AggCall",
    "AggRef",
    "transform",
    "format_expr",
    "column_refs",
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
class Call(BoundExpr):
    """A strict operator or function call: NULL in any argument gives NULL."""

    op: Operator
    args: tuple[BoundExpr, ...]


@dataclass(frozen=True, slots=True)
class CastExpr(BoundExpr):
    arg: BoundExpr
    fn: Callable[[object], object] | None = field(
        compare=False, repr=False
    )  # None: same representation
    explicit: bool = False


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
class AggCall:
    """One aggregate computed by an Aggregate plan node; arg None is count(*)."""

    func: AggregateFunction
    arg: BoundExpr | None
    distinct: bool = False


@dataclass(frozen=True, slots=True)
class AggRef(BoundExpr):
    """While binding a select list: the k-th aggregate of the query."""

    number: int


Transform = Callable[[BoundExpr], BoundExpr]


def transform(e: BoundExpr, fn: Transform) -> BoundExpr:
    """Rebuild `e` with `fn` applied to each direct child (not to `e` itself)."""
    if isinstance(e, (ColumnRef, Const, ParamRef, AggRef)):
        return e
    if isinstance(e, Call):
        return Call(e.type, e.op, tuple(fn(a) for a in e.args))
    if isinstance(e, CastExpr):
        return CastExpr(e.type, fn(e.arg), e.fn, e.explicit)
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
    raise TypeError(f"unknown expression {type(e).__name__}")


def column_refs(e: BoundExpr) -> list[ColumnRef]:
    """Every ColumnRef inside `e`."""
    found: list[ColumnRef] = []

    def visit(node: BoundExpr) -> BoundExpr:
        if isinstance(node, ColumnRef):
            found.append(node)
        else:
            transform(node, visit)
        return node

    visit(e)
    return found


def _literal(value: object, t: SqlType) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        quoted = "'" + value.replace("'", "''") + "'"
        return quoted if t.oid in (T.TEXT.oid, T.UNKNOWN.oid) else f"{quoted}::{t.name}"
    if isinstance(value, (float, Decimal)) or t.oid not in T.INT_RANGES:
        return (
            f"{T.format_text(t, value)}::{t.name}"
            if t.oid != T.NUMERIC.oid
            else T.format_text(t, value)
        )
    return str(value)


def format_expr(e: BoundExpr) -> str:
    """SQL-like text for EXPLAIN: (id = 1), (v)::numeric, count(*)."""
    if isinstance(e, ColumnRef):
        return e.name
    if isinstance(e, Const):
        return _literal(e.value, e.type)
    if isinstance(e, ParamRef):
        return f"${e.index + 1}"
    if isinstance(e, Call):
        args = [format_expr(a) for a in e.args]
        if not e.op.infix:
            return f"{e.op.name}({', '.join(args)})"
        if len(args) == 1:
            return f"({e.op.name}{args[0]})"
        name = {"~~": "LIKE", "!~~": "NOT LIKE", "~~*": "ILIKE", "!~~*": "NOT ILIKE"}.get(
            e.op.name, e.op.name
        )
        return f"({args[0]} {name} {args[1]})"
    if isinstance(e, CastExpr):
        return f"({format_expr(e.arg)})::{e.type}"
    if isinstance(e, AndExpr):
        return "(" + " AND ".join(format_expr(a) for a in e.args) + ")"
    if isinstance(e, OrExpr):
        return "(" + " OR ".join(format_expr(a) for a in e.args) + ")"
    if isinstance(e, NotExpr):
        return f"(NOT {format_expr(e.arg)})"
    if isinstance(e, NullTest):
        return f"({format_expr(e.arg)} IS {'NOT ' if e.negated else ''}NULL)"
    if isinstance(e, BoolTest):
        word = {True: "TRUE", False: "FALSE", None: "UNKNOWN"}[e.test]
        return f"({format_expr(e.arg)} IS {'NOT ' if e.negated else ''}{word})"
    if isinstance(e, InListExpr):
        items = ", ".join(format_expr(i) for i in e.items)
        return f"({format_expr(e.arg)} {'NOT ' if e.negated else ''}IN ({items}))"
    if isinstance(e, DistinctExpr):
        return f"({format_expr(e.left)} IS {'NOT ' if e.negated else ''}DISTINCT FROM {format_expr(e.right)})"
    if isinstance(e, CaseExpr):
        whens = " ".join(
            f"WHEN {format_expr(c)} THEN {format_expr(r)}"
            for c, r in zip(e.conditions, e.results, strict=False)
        )
        return f"CASE {whens} ELSE {format_expr(e.default)} END"
    if isinstance(e, CoalesceExpr):
        return f"COALESCE({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, NullIfExpr):
        return f"NULLIF({format_expr(e.left)}, {format_expr(e.right)})"
    if isinstance(e, SessionValue):
        return f"{e.name}({', '.join(format_expr(a) for a in e.args)})" if e.args else e.name
    if isinstance(e, AggRef):
        return f"agg#{e.number}"
    raise TypeError(f"unknown expression {type(e).__name__}")
