"""Access-path selection: turn a table scan plus WHERE into the cheapest scan node.

Rows are stored in primary-key order, so conditions on the key's leading
columns select a contiguous key range:

* every key column fixed (``id = 5``, ``a = 1 AND b IN (2, 3)``) -> `KeyLookup`
  (point reads, at most `MAX_LOOKUP_KEYS` of them);
* a fixed leading prefix and/or a range on the next key column (``id > 5``,
  ``id BETWEEN 1 AND 9``, ``a = 1 AND b < 3``) -> `KeyRange`;
* anything else -> `SeqScan`.

A condition is usable only when it compares the bare key column (at most an
identity conversion such as int4 -> int8) with an expression that does not
depend on the row, in a comparison whose values encode like the column's
(``int_col = 1.5`` compares as numeric and stays a filter). Conditions used
for the access path are exact, so they are dropped from the residual filter.

`ordered_by_key` tells the planner when the chosen scan already returns rows
in the requested ORDER BY, so no Sort is needed.
"""

from __future__ import annotations

import itertools

from . import types as T
from .bound import (
    AndExpr,
    BoundExpr,
    Call,
    CastExpr,
    ColumnRef,
    InListExpr,
    column_refs,
)
from .catalog import TableDef
from .functions import COMMUTED
from .plan import KeyLookup, KeyRange, PlanNode, SeqScan, SortSpec

__all__ = ["choose_scan", "ordered_by_key", "MAX_LOOKUP_KEYS"]

MAX_LOOKUP_KEYS = 1000

_FAMILY = {
    T.INT2.oid: "int",
    T.INT4.oid: "int",
    T.INT8.oid: "int",
    T.FLOAT4.oid: "float",
    T.FLOAT8.oid: "float",
    T.NUMERIC.oid: "numeric",
    T.TEXT.oid: "text",
    T.VARCHAR.oid: "text",
    T.BOOL.oid: "bool",
}


def _key_column(e: BoundExpr) -> ColumnRef | None:
    """The column `e` reads, if `e` is a column under identity conversions only."""
    while isinstance(e, CastExpr) and e.fn is None:
        e = e.arg
    return e if isinstance(e, ColumnRef) else None


def _row_independent(e: BoundExpr) -> bool:
    return not column_refs(e)


def _usable(column: ColumnRef, compared_as: T.SqlType, table: TableDef) -> bool:
    declared = table.columns[column.index].type
    family = _FAMILY.get(declared.oid)
    return family is not None and family == _FAMILY.get(compared_as.oid)


_Condition = tuple[int, str, object]  # (column index, "=" / "<" / ... / "in", value expr(s))


def _condition(e: BoundExpr, table: TableDef) -> _Condition | None:
    """(column index, operator or "in", value expr(s)) if `e` can drive a key access."""
    if isinstance(e, Call) and len(e.args) == 2 and e.op.name in COMMUTED and e.op.infix:
        op = e.op.name
        left, right = e.args
        column = _key_column(left)
        value = right
        if column is None or not _row_independent(right):
            column, value, op = _key_column(right), left, COMMUTED[op]
            if column is None or not _row_independent(left):
                return None
        if op == "<>" or not _usable(column, e.op.args[0], table):
            return None
        return column.index, op, value
    if isinstance(e, InListExpr) and not e.negated:
        column = _key_column(e.arg)
        if column is None or not all(_row_independent(i) for i in e.items):
            return None
        if not _usable(column, e.items[0].type if e.items else column.type, table):
            return None
        return column.index, "in", e.items
    return None


def choose_scan(table: TableDef, where: BoundExpr | None) -> PlanNode:
    """The scan of `table` for a WHERE clause (bound over the table's columns)."""
    conjuncts = (
        list(where.args) if isinstance(where, AndExpr) else ([where] if where is not None else [])
    )
    if not table.primary_key or not conjuncts:
        return SeqScan(table, where)
    conditions = [(c, _condition(c, table)) for c in conjuncts]
    used: set[int] = set()

    def take(column: int, ops: tuple[str, ...]) -> tuple[int, str, object] | None:
        for n, (_, cond) in enumerate(conditions):
            if n not in used and cond is not None and cond[0] == column and cond[1] in ops:
                used.add(n)
                return cond
        return None

    choices: list[tuple[BoundExpr, ...]] = []
    for column in table.primary_key:
        cond = take(column, ("=",)) or take(column, ("in",))
        if cond is None:
            break
        choices.append((cond[2],) if cond[1] == "=" else tuple(cond[2]))  # type: ignore[arg-type]
    fixed = len(choices)
    count = 1
    for values in choices:
        count *= len(values)

    if fixed == len(table.primary_key) and count <= MAX_LOOKUP_KEYS:
        keys = tuple(itertools.product(*choices))
        return KeyLookup(table, keys, _residual(conditions, used))

    # A range: the leading single-valued prefix, then bounds on the next key column.
    prefix: list[BoundExpr] = []
    kept: set[int] = set()
    for values in choices:
        if len(values) != 1:
            break
        prefix.append(values[0])
    for n, (_, cond) in enumerate(conditions):
        if n in used and cond is not None and table.primary_key.index(cond[0]) < len(prefix):
            kept.add(n)
    used = kept
    lower = upper = None
    lower_inclusive = upper_inclusive = True
    if len(prefix) < len(table.primary_key):
        next_column = table.primary_key[len(prefix)]
        low = take(next_column, (">", ">="))
        if low is not None:
            lower, lower_inclusive = low[2], low[1] == ">="
        high = take(next_column, ("<", "<="))
        if high is not None:
            upper, upper_inclusive = high[2], high[1] == "<="
    if not prefix and lower is None and upper is None:
        return SeqScan(table, where)
    return KeyRange(
        table,
        tuple(prefix),
        lower,  # type: ignore[arg-type]
        lower_inclusive,
        upper,  # type: ignore[arg-type]
        upper_inclusive,
        _residual(conditions, used),
    )


def _residual(
    conditions: list[tuple[BoundExpr, _Condition | None]], used: set[int]
) -> BoundExpr | None:
    rest = [c for n, (c, _) in enumerate(conditions) if n not in used]
    if not rest:
        return None
    if len(rest) == 1:
        return rest[0]
    return AndExpr(T.BOOL, tuple(rest))


def ordered_by_key(scan: PlanNode, keys: tuple[SortSpec, ...]) -> PlanNode | None:
    """`scan` (reversed if needed) if it already yields rows in the order of `keys`."""
    if not isinstance(scan, (SeqScan, KeyRange, KeyLookup)) or not keys:
        return None
    pk = scan.table.primary_key
    if not pk or len(keys) > len(pk):
        return None
    descending = keys[0].descending
    for spec, column in zip(keys, pk, strict=False):
        ref = spec.expr
        # Key columns are never NULL, so NULLS FIRST/LAST does not matter.
        if not isinstance(ref, ColumnRef) or ref.index != column or spec.descending != descending:
            return None
    if descending == scan.reverse:
        return scan
    return _reversed(scan)


def _reversed(scan: PlanNode) -> PlanNode:
    if isinstance(scan, SeqScan):
        return SeqScan(scan.table, scan.filter, not scan.reverse)
    if isinstance(scan, KeyLookup):
        return KeyLookup(scan.table, scan.keys, scan.filter, not scan.reverse)
    assert isinstance(scan, KeyRange)
    return KeyRange(
        scan.table,
        scan.prefix,
        scan.lower,
        scan.lower_inclusive,
        scan.upper,
        scan.upper_inclusive,
        scan.filter,
        not scan.reverse,
    )
