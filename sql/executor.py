"""The executor: compiles a `Plan` into closures once, then runs it per execution.

`compile_plan` walks the plan tree a single time, compiling every expression
(`sql/expr.py`) and precomputing key prefixes, column positions and checks;
the result (`Executable`) is cached with the plan. Running it costs only the
generator steps: rows are pulled through nested generators, one at a time,
so a scan streams and a LIMIT stops it early. Only Sort (and a hash
aggregate's groups) hold rows in memory.

Table scans decode rows straight from storage; scans feeding UPDATE/DELETE
also yield each row's key. Aggregation lives in `sql/aggregate.py`, writes
and DDL in `sql/modify.py`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import QuorumError

from . import modify
from . import types as T
from .aggregate import aggregate_rows
from .bound import BoundExpr, ColumnRef
from .expr import ExecContext, compile_expr, compile_predicate
from .plan import (
    Aggregate,
    CreateTable,
    Delete,
    Distinct,
    DropTable,
    Explain,
    Filter,
    Insert,
    KeyLookup,
    KeyRange,
    Limit,
    Plan,
    PlanNode,
    Project,
    Result,
    SeqScan,
    Sort,
    SortSpec,
    Update,
    ValuesScan,
    explain,
)
from .result import Notice
from .rowcodec import decode_row

__all__ = ["Executable", "compile_plan"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]
KeyedSource = Callable[[ExecContext], Iterator[tuple[bytes, Row]]]
_EMPTY: Row = ()


class Executable:
    """A compiled plan. Exactly one of `query`, `modify`, `ddl` is set."""

    __slots__ = ("plan", "query", "modify", "ddl", "columns")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.columns: dict[
            int, Any
        ] = {}  # result columns per extra_float_digits (filled by the session)
        self.query: RowSource | None = None  # rows of a SELECT / EXPLAIN
        self.modify: Callable[[ExecContext], int] | None = (
            None  # INSERT/UPDATE/DELETE: rows affected
        )
        self.ddl: Callable[[ExecContext], list[Notice]] | None = None


def compile_plan(plan: Plan) -> Executable:
    exe = Executable(plan)
    root = plan.root
    if isinstance(root, Insert):
        exe.modify = modify.insert(root, _rows(root.source))
    elif isinstance(root, Update):
        exe.modify = modify.update(root, _keyed(root.source))
    elif isinstance(root, Delete):
        exe.modify = modify.delete(root, _keyed(root.source))
    elif isinstance(root, CreateTable):
        exe.ddl = modify.create(root)
    elif isinstance(root, DropTable):
        exe.ddl = modify.drop(root)
    elif isinstance(root, Explain):
        lines = tuple((line,) for line in explain(root.plan.root))
        exe.query = lambda ctx: iter(lines)
    else:
        exe.query = _rows(root)
    return exe


# ---- row sources -------------------------------------------------------------------


def _rows(node: PlanNode) -> RowSource:
    builder = _ROW_BUILDERS.get(type(node))
    if builder is None:
        raise TypeError(f"cannot execute {type(node).__name__}")
    return builder(node)


def _drop_keys(keyed: KeyedSource) -> RowSource:
    def rows(ctx: ExecContext) -> Iterator[Row]:
        for _, row in keyed(ctx):
            yield row

    return rows


def _keyed(node: PlanNode) -> KeyedSource:
    """A scan that yields (key, row): the input of UPDATE and DELETE."""
    if isinstance(node, SeqScan):
        return _seq_scan(node)
    if isinstance(node, KeyLookup):
        return _key_lookup(node)
    if isinstance(node, KeyRange):
        return _key_range(node)
    raise TypeError(f"{type(node).__name__} is not a table scan")


def _filtered(
    pairs: Callable[[ExecContext], Iterator[tuple[bytes, bytes]]], filter: BoundExpr | None
) -> KeyedSource:
    if filter is None:

        def all_rows(ctx: ExecContext) -> Iterator[tuple[bytes, Row]]:
            for key, value in pairs(ctx):
                yield key, decode_row(value)

        return all_rows
    predicate = compile_predicate(filter)

    def matching_rows(ctx: ExecContext) -> Iterator[tuple[bytes, Row]]:
        for key, value in pairs(ctx):
            row = decode_row(value)
            if predicate(row, ctx):
                yield key, row

    return matching_rows


def _seq_scan(node: SeqScan) -> KeyedSource:
    start, end = node.table.key_range
    reverse = node.reverse

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        return ctx.txn.scan(start, end, reverse=reverse)  # type: ignore[no-any-return]

    return _filtered(pairs, node.filter)


def _key_lookup(node: KeyLookup) -> KeyedSource:
    prefix = node.table.prefix
    key_fns = [[compile_expr(e) for e in key] for key in node.keys]
    reverse = node.reverse
    encode = keycode.encode
    if len(key_fns) == 1 and len(key_fns[0]) == 1:
        (only,) = key_fns[0]

        def one_pair(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
            key = prefix + keycode.encode_one(only(_EMPTY, ctx))
            value = ctx.txn.get(key)
            if value is not None:
                yield key, value

        return _filtered(one_pair, node.filter)

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        wanted = {prefix + encode([f(_EMPTY, ctx) for f in fns]) for fns in key_fns}
        get = ctx.txn.get
        for key in sorted(wanted, reverse=reverse):
            value = get(key)
            if value is not None:
                yield key, value

    return _filtered(pairs, node.filter)


def _key_range(node: KeyRange) -> KeyedSource:
    table_prefix = node.table.prefix
    prefix_fns = [compile_expr(e) for e in node.prefix]
    lower = compile_expr(node.lower) if node.lower is not None else None
    upper = compile_expr(node.upper) if node.upper is not None else None
    lower_inclusive, upper_inclusive, reverse = (
        node.lower_inclusive,
        node.upper_inclusive,
        node.reverse,
    )

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        values = [f(_EMPTY, ctx) for f in prefix_fns]
        if None in values:
            return iter(())
        prefix = table_prefix + keycode.encode(values)
        start: bytes = prefix
        end = keycode.prefix_end(prefix)
        if lower is not None:
            low = lower(_EMPTY, ctx)
            if low is None:
                return iter(())
            bound = prefix + keycode.encode_one(low)
            start = bound if lower_inclusive else keycode.prefix_end(bound)  # type: ignore[assignment]
        if upper is not None:
            high = upper(_EMPTY, ctx)
            if high is None:
                return iter(())
            bound = prefix + keycode.encode_one(high)
            end = keycode.prefix_end(bound) if upper_inclusive else bound
        return ctx.txn.scan(start, end, reverse=reverse)  # type: ignore[no-any-return]

    return _filtered(pairs, node.filter)


def _result(node: Result) -> RowSource:
    def one_empty_row(ctx: ExecContext) -> Iterator[Row]:
        yield _EMPTY

    return one_empty_row


def _values(node: ValuesScan) -> RowSource:
    compiled = [_row_maker(row) for row in node.rows]

    def values(ctx: ExecContext) -> Iterator[Row]:
        for make in compiled:
            yield make(_EMPTY, ctx)

    return values


def _row_maker(exprs: tuple[BoundExpr, ...]) -> Callable[[Row, ExecContext], Row]:
    """fn(row, ctx) -> tuple of the expressions' values."""
    if exprs and all(isinstance(e, ColumnRef) for e in exprs):
        indexes = [e.index for e in exprs]  # type: ignore[attr-defined]
        if len(indexes) == 1:
            (i,) = indexes

            def one_column(row: Row, ctx: ExecContext) -> Row:
                return (row[i],)

            return one_column
        getter = itemgetter(*indexes)

        def columns(row: Row, ctx: ExecContext) -> Row:
            return getter(row)  # type: ignore[no-any-return]

        return columns
    fns = [compile_expr(e) for e in exprs]

    def make(row: Row, ctx: ExecContext) -> Row:
        return tuple([f(row, ctx) for f in fns])

    return make


def _filter(node: Filter) -> RowSource:
    source = _rows(node.source)
    predicate = compile_predicate(node.predicate)

    def filtered(ctx: ExecContext) -> Iterator[Row]:
        for row in source(ctx):
            if predicate(row, ctx):
                yield row

    return filtered


def _project(node: Project) -> RowSource:
    source = _rows(node.source)
    make = _row_maker(node.exprs)

    def projected(ctx: ExecContext) -> Iterator[Row]:
        for row in source(ctx):
            yield make(row, ctx)

    return projected


def _sort_key(position: int, spec: SortSpec) -> Callable[[tuple[Row, Row]], Any]:
    # Python sorts None-free keys: NULLs get a flag that puts them first or last.
    nulls_high = spec.nulls_first == spec.descending
    null_key = (1,) if nulls_high else (0,)
    nan_aware = spec.expr.type.oid in (T.FLOAT4.oid, T.FLOAT8.oid, T.NUMERIC.oid)
    flag = 0 if nulls_high else 1

    def key(item: tuple[Row, Row]) -> Any:
        v = item[0][position]
        if v is None:
            return null_key
        if nan_aware and T.is_nan(v):
            return (flag, 1, 0)
        return (flag, 0, v)

    return key


def _sort(node: Sort) -> RowSource:
    source = _rows(node.source)
    make_keys = _row_maker(tuple(k.expr for k in node.keys))
    passes = [
        (_sort_key(j, spec), spec.descending) for j, spec in reversed(list(enumerate(node.keys)))
    ]

    def sorted_rows(ctx: ExecContext) -> Iterator[Row]:
        decorated = [(make_keys(row, ctx), row) for row in source(ctx)]
        for key, descending in passes:  # stable sorts, least significant key first
            decorated.sort(key=key, reverse=descending)
        for _, row in decorated:
            yield row

    return sorted_rows


def _distinct(node: Distinct) -> RowSource:
    source = _rows(node.source)

    def distinct(ctx: ExecContext) -> Iterator[Row]:
        seen: set[Row] = set()
        for row in source(ctx):
            if row not in seen:
                seen.add(row)
                yield row

    return distinct


def _limit(node: Limit) -> RowSource:
    source = _rows(node.source)
    limit = compile_expr(node.limit) if node.limit is not None else None
    offset = compile_expr(node.offset) if node.offset is not None else None

    def limited(ctx: ExecContext) -> Iterator[Row]:
        count = limit(_EMPTY, ctx) if limit is not None else None
        skip = offset(_EMPTY, ctx) if offset is not None else 0
        if count is not None and count < 0:
            raise QuorumError("LIMIT must not be negative", sqlstate="2201W")
        if skip is None:
            skip = 0
        if skip < 0:
            raise QuorumError("OFFSET must not be negative", sqlstate="2201X")
        if count == 0:
            return iter(())
        return itertools.islice(source(ctx), skip, None if count is None else skip + count)

    return limited  # type: ignore[return-value]


_ROW_BUILDERS: dict[type, Callable[[Any], RowSource]] = {
    SeqScan: lambda n: _drop_keys(_seq_scan(n)),
    KeyLookup: lambda n: _drop_keys(_key_lookup(n)),
    KeyRange: lambda n: _drop_keys(_key_range(n)),
    Result: _result,
    ValuesScan: _values,
    Filter: _filter,
    Project: _project,
    Sort: _sort,
    Distinct: _distinct,
    Limit: _limit,
    Aggregate: lambda n: aggregate_rows(
        n, _rows(n.source), _row_maker(n.group_by) if n.group_by else None
    ),
}
