"""Access-path selection: a table plus its pushed-down conditions -> the cheapest scan.

Rows are stored in primary-key order and each secondary index keeps
entries in its columns' order (`sql/keys.py`), so conditions on leading
columns select contiguous key ranges:

* every primary-key column fixed (``id = 5``, ``a = 1 AND b IN (2, 3)``)
  -> `KeyLookup` (point reads, at most `MAX_LOOKUP_KEYS` of them);
* leading index columns fixed and/or a range on the next one -> `IndexScan`
  (a unique index fully fixed is as good as a point read);
* a fixed leading primary-key prefix and/or a range on the next key column
  -> `KeyRange`;
* anything else -> `SeqScan` (which still streams in key order).

Among the candidates the one fixing the most leading columns wins; the
primary key wins ties (no second lookup per row). A condition is usable
only when it compares the bare column (at most an identity conversion such
as int4 -> int8) with an expression that does not depend on the row (a
constant, a parameter, or an `OuterRef` set by an enclosing nested loop:
that is how an index nested loop is planned), in a comparison whose values
encode like the column's (``int_col = 1.5`` compares as numeric and stays a
filter). Conditions used for the access path are exact, so they are dropped
from the residual filter.

`ordered_by_key` tells the planner when a scan already returns rows in the
requested ORDER BY, so no Sort is needed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from quorumdb.storage import keycode

from . import types as T
from .bound import (
    AndExpr,
    BoundExpr,
    Call,
    CastExpr,
    ColumnRef,
    InListExpr,
    column_refs,
    is_volatile,
)
from .catalog import IndexDef, TableDef
from .functions import COMMUTED
from .plan import IndexScan, KeyLookup, KeyRange, PlanNode, SeqScan, SortSpec

__all__ = ["choose_scan", "ordered_by_key", "conjuncts", "MAX_LOOKUP_KEYS"]

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
    T.BPCHAR.oid: "bpchar",
    T.BOOL.oid: "bool",
    T.DATE.oid: "date",
    T.TIME.oid: "time",
    T.TIMESTAMP.oid: "timestamp",
    T.TIMESTAMPTZ.oid: "timestamptz",
    T.UUID.oid: "uuid",
    T.BYTEA.oid: "bytea",
}


def conjuncts(where: BoundExpr | None) -> list[BoundExpr]:
    if where is None:
        return []
    return list(where.args) if isinstance(where, AndExpr) else [where]


def _key_column(e: BoundExpr) -> ColumnRef | None:
    """The column `e` reads, if `e` is a column under identity conversions only."""
    while isinstance(e, CastExpr) and e.fn is None:
        e = e.arg
    return e if isinstance(e, ColumnRef) else None


def _row_independent(e: BoundExpr) -> bool:
    return not column_refs(e) and not is_volatile(e)


def _usable(column: ColumnRef, compared_as: T.SqlType, table: TableDef) -> bool:
    declared = table.columns[column.index].type
    family = _FAMILY.get(declared.oid)
    return family is not None and family == _FAMILY.get(compared_as.oid)


_Condition = tuple[int, str, object]  # (column index, "=" / "<" / ... / "in", value expr(s))


def _condition(e: BoundExpr, table: TableDef) -> _Condition | None:
    """(column index, operator or "in", value expr(s)) if `e` can drive a key access."""
    if (
        isinstance(e, Call)
        and len(e.args) == 2
        and e.op.name in COMMUTED
        and e.op.infix
        and e.op.context is None
        and e.op.args[0] == e.op.args[1]
    ):
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


@dataclass(slots=True)
class _Path:
    """A candidate access path over some key columns (the pk's or an index's)."""

    columns: tuple[int, ...]
    index: IndexDef | None
    choices: list[tuple[BoundExpr, ...]]  # per fixed leading column: its value(s)
    used: set[int]  # conditions consumed by the fixed prefix
    lower: _Condition | None = None
    upper: _Condition | None = None
    lower_n: int = -1
    upper_n: int = -1

    @property
    def fixed(self) -> int:
        return len(self.choices)

    @property
    def probes(self) -> int:
        count = 1
        for values in self.choices:
            count *= len(values)
        return count

    def score(self) -> tuple[int, int, int, int]:
        full = self.fixed == len(self.columns) and (self.index is None or self.index.unique)
        bounds = (self.lower is not None) + (self.upper is not None)
        return (
            2 if full else (1 if self.fixed or bounds else 0),
            self.fixed,
            # (a, b) with a = 1 AND b > 2 narrows the range on b: better than (a) alone.
            bounds,
            1 if self.index is None else 0,
        )


def _build_path(
    columns: tuple[int, ...], index: IndexDef | None, conditions: list[_Condition | None]
) -> _Path:
    used: set[int] = set()

    def take(column: int, ops: tuple[str, ...]) -> tuple[int, _Condition] | None:
        for n, cond in enumerate(conditions):
            if n not in used and cond is not None and cond[0] == column and cond[1] in ops:
                used.add(n)
                return n, cond
        return None

    choices: list[tuple[BoundExpr, ...]] = []
    taken: list[int] = []
    for column in columns:
        found = take(column, ("=",)) or take(column, ("in",))
        if found is None:
            break
        n, cond = found
        taken.append(n)
        choices.append((cond[2],) if cond[1] == "=" else tuple(cond[2]))  # type: ignore[arg-type]
    if index is None and len(choices) < len(columns):
        # Point reads need whole primary keys; a partial key is one range: stop at an IN.
        for k, values in enumerate(choices):
            if len(values) != 1:
                for n in taken[k:]:
                    used.discard(n)
                del choices[k:]
                break
    path = _Path(columns, index, choices, used)
    if path.fixed < len(columns) and all(len(v) == 1 for v in choices):
        next_column = columns[path.fixed]
        low = take(next_column, (">", ">="))
        if low is not None:
            path.lower_n, path.lower = low
        high = take(next_column, ("<", "<="))
        if high is not None:
            path.upper_n, path.upper = high
    return path


def choose_scan(
    table: TableDef,
    where: BoundExpr | list[BoundExpr] | None,
    alias: str = "",
    emit_key: bool = False,
) -> PlanNode:
    """The scan of `table` for its conditions (bound over the table's columns)."""
    parts = where if isinstance(where, list) else conjuncts(where)
    if not parts:
        return SeqScan(table, None, alias=alias, emit_key=emit_key)
    conditions = [_condition(c, table) for c in parts]
    candidates: list[_Path] = []
    if table.primary_key:
        candidates.append(_build_path(table.primary_key, None, conditions))
    for index in table.indexes:
        candidates.append(_build_path(index.columns, index, conditions))
    best: _Path | None = None
    for path in candidates:
        if path.score()[0] == 0 or path.probes > MAX_LOOKUP_KEYS:
            continue
        if best is None or path.score() > best.score():
            best = path
    if best is None:
        return SeqScan(table, _residual(parts, set()), alias=alias, emit_key=emit_key)
    used = set(best.used)
    lower = upper = None
    lower_inclusive = upper_inclusive = True
    if best.lower is not None:
        used.add(best.lower_n)
        lower, lower_inclusive = best.lower[2], best.lower[1] == ">="
    if best.upper is not None:
        used.add(best.upper_n)
        upper, upper_inclusive = best.upper[2], best.upper[1] == "<="
    residual = _residual(parts, used)
    if best.index is not None:
        return IndexScan(
            table,
            best.index,
            tuple(itertools.product(*best.choices)),
            lower,  # type: ignore[arg-type]
            lower_inclusive,
            upper,  # type: ignore[arg-type]
            upper_inclusive,
            residual,
            alias=alias,
            emit_key=emit_key,
        )
    if best.fixed == len(table.primary_key):
        keys = tuple(itertools.product(*best.choices))
        return KeyLookup(table, keys, residual, alias=alias, emit_key=emit_key)
    return KeyRange(
        table,
        tuple(v[0] for v in best.choices),
        lower,  # type: ignore[arg-type]
        lower_inclusive,
        upper,  # type: ignore[arg-type]
        upper_inclusive,
        residual,
        alias=alias,
        emit_key=emit_key,
    )


def _residual(parts: list[BoundExpr], used: set[int]) -> BoundExpr | None:
    rest = [c for n, c in enumerate(parts) if n not in used]
    if not rest:
        return None
    if len(rest) == 1:
        return rest[0]
    return AndExpr(T.BOOL, tuple(rest))


def ordered_by_key(
    scan: PlanNode, keys: tuple[SortSpec, ...], limited: bool = False
) -> PlanNode | None:
    """`scan` (reversed if needed) if it already yields rows in the order of `keys`; with
    a LIMIT (`limited`), a full scan becomes a scan of an index in that order, so only
    the rows needed are read."""
    if not keys:
        return None
    if isinstance(scan, IndexScan):
        return _index_in_order(scan, keys, len(scan.prefixes[0])) if len(scan.prefixes) == 1 else None
    if not isinstance(scan, (SeqScan, KeyRange, KeyLookup)):
        return None
    in_order = _pk_in_order(scan, keys)
    if in_order is None and limited and isinstance(scan, SeqScan):
        for index in scan.table.indexes:
            full = IndexScan(scan.table, index, ((),), filter=scan.filter, alias=scan.alias,
                             emit_key=scan.emit_key)  # fmt: skip
            in_order = _index_in_order(full, keys, 0)
            if in_order is not None:
                break
    return in_order


def _index_in_order(scan: IndexScan, keys: tuple[SortSpec, ...], fixed: int) -> PlanNode | None:
    """`scan` forwards or backwards if the index columns after the `fixed` ones have the
    order of `keys` (each with its direction and NULLs placement), or exactly the reverse."""
    index = scan.index
    if len(keys) > len(index.columns) - fixed:
        return None
    forward = backward = True
    for k, spec in enumerate(keys):
        ref = spec.expr
        if not isinstance(ref, ColumnRef) or ref.index != index.columns[fixed + k]:
            return None
        option = index.option(fixed + k)
        descending = bool(option & keycode.DESC)
        nulls_first = bool(option & keycode.NULLS_FIRST)
        forward &= spec.descending == descending and spec.nulls_first == nulls_first
        backward &= spec.descending != descending and spec.nulls_first != nulls_first
    if forward:
        return replace(scan, reverse=False) if scan.reverse else scan
    if backward:
        return replace(scan, reverse=True)
    return None


def _pk_in_order(scan: SeqScan | KeyRange | KeyLookup, keys: tuple[SortSpec, ...]) -> PlanNode | None:
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
    return replace(scan, reverse=not scan.reverse)
