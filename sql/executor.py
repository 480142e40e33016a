"""The executor: compiles a `Plan` into closures once, then runs it per execution.

`compile_plan` walks the plan tree a single time, compiling every expression
(`sql/expr.py`) and precomputing key prefixes, column positions and checks;
the result (`Executable`) is cached with the plan. Running it costs only the
generator steps: rows are pulled through nested generators, one at a time,
so a scan streams and a LIMIT stops it early. Only Sort, hash tables (hash
join build side, hash aggregate groups, DISTINCT, set operations) and
materialized CTEs hold rows in memory.

Table scans decode rows straight from storage; scans feeding UPDATE/DELETE
also yield each row's key. Joins live in `sql/exec_join.py`, aggregation in
`sql/aggregate.py`, window functions in `sql/window.py`, writes in
`sql/modify.py` (plain) and `sql/dml.py` (RETURNING, ON CONFLICT, FROM,
USING), EXPLAIN in `sql/explain.py`.

EXPLAIN ANALYZE compiles with instrumentation: every node's row source is
wrapped to count rows, loops and time into ``ctx.stats``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cmp_to_key
from operator import itemgetter
from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import modify
from . import types as T
from .aggregate import aggregate_rows
from .bound import BoundExpr, Call, ColumnRef, SortSpec, SubPlan
from .expr import (
    Compiled,
    ExecContext,
    compile_expr,
    compile_predicate,
    operator_impl,
    register_subplan_compiler,
)
from .plan import (
    Aggregate,
    CteScan,
    Delete,
    Distinct,
    DistinctOn,
    Explain,
    Filter,
    FunctionScan,
    HashJoin,
    IndexScan,
    Insert,
    KeyLookup,
    KeyRange,
    Limit,
    NestedLoop,
    Plan,
    PlanNode,
    Project,
    ProjectSet,
    RecursiveUnion,
    Result,
    SeqScan,
    SetOp,
    Sort,
    SubqueryScan,
    Update,
    ValuesScan,
    Window,
    WorkTableScan,
)
from .result import Notice
from .row_locking import LockRows, lock_rows
from .rowcodec import decode_row

__all__ = ["Executable", "compile_plan", "RowCompiler", "sort_key"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]
KeyedSource = Callable[[ExecContext], Iterator[tuple[bytes, Row]]]
PairSource = Callable[[ExecContext], Iterable[tuple[bytes, bytes]]]  # stored (key, value)
_EMPTY: Row = ()


class Executable:
    """A compiled plan. Exactly one of `query`, `modify`, `ddl` is set."""

    __slots__ = ("plan", "query", "modify", "ddl", "columns")

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        # result columns per output settings (filled by the session)
        self.columns: dict[Any, Any] = {}
        self.query: RowSource | None = None  # rows of a SELECT / EXPLAIN / RETURNING
        self.modify: Callable[[ExecContext], int] | None = (
            None  # INSERT/UPDATE/DELETE: rows affected
        )
        self.ddl: Callable[[ExecContext], list[Notice]] | None = None


def compile_plan(plan: Plan) -> Executable:
    exe = Executable(plan)
    root = plan.root
    compiler = RowCompiler()
    with compiler:
        if isinstance(root, Explain):
            from .explain import explain_source

            exe.query = explain_source(root)
        elif isinstance(root, (Insert, Update, Delete)):
            _compile_write(exe, root, compiler)
        else:
            exe.query = compiler.rows(root)
    return exe


def _compile_write(exe: Executable, root: Insert | Update | Delete, compiler: RowCompiler) -> None:
    from . import dml

    if dml.is_extended(root):
        run = dml.compile_write(root, compiler)
        if root.returning is not None:
            exe.query = run
        else:
            exe.modify = lambda ctx: sum(1 for _ in run(ctx))
        return
    if isinstance(root, Insert):
        exe.modify = modify.insert(root, compiler.rows(root.source))
    elif isinstance(root, Update):
        exe.modify = modify.update(root, compiler.keyed(root.source))
    else:
        exe.modify = modify.delete(root, compiler.keyed(root.source))


_ACTIVE = threading.local()


class RowCompiler:
    """Compiles plan nodes into row sources (instrumented for EXPLAIN ANALYZE)."""

    def __init__(self, instrument: bool = False) -> None:
        self.instrument = instrument

    def __enter__(self) -> RowCompiler:
        self._previous = getattr(_ACTIVE, "compiler", None)
        _ACTIVE.compiler = self
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE.compiler = self._previous

    def rows(self, node: PlanNode) -> RowSource:
        builder = _ROW_BUILDERS.get(type(node))
        if builder is None:
            raise TypeError(f"cannot execute {type(node).__name__}")
        source = builder(self, node)
        if self.instrument:
            source = _instrumented(node, source)
        return source

    def keyed(self, node: PlanNode) -> KeyedSource:
        """A scan that yields (key, row): the input of UPDATE and DELETE."""
        pairs = _SCAN_PAIRS.get(type(node))
        if pairs is None:
            raise TypeError(f"{type(node).__name__} is not a table scan")
        source = _filtered(pairs(node), node.filter, node.emit_key)  # type: ignore[attr-defined]
        if self.instrument:
            counted = _instrumented(node, lambda ctx: source(ctx))  # type: ignore[arg-type,return-value]
            return counted  # type: ignore[return-value]
        return source


def _instrumented(
    node: PlanNode, source: Callable[[ExecContext], Iterator[Any]]
) -> Callable[[ExecContext], Iterator[Any]]:
    key = id(node)

    def counted(ctx: ExecContext) -> Iterator[Any]:
        stats = ctx.stats
        if stats is None:
            yield from source(ctx)
            return
        entry = stats.setdefault(key, [0, 0, 0.0, 0.0])
        entry[1] += 1
        started = time.perf_counter()
        first = True
        for row in source(ctx):
            if first:
                entry[3] += time.perf_counter() - started
                first = False
            entry[0] += 1
            entry[2] += time.perf_counter() - started
            yield row
            started = time.perf_counter()
        entry[2] += time.perf_counter() - started

    return counted


def current_compiler() -> RowCompiler:
    found = getattr(_ACTIVE, "compiler", None)
    return found if found is not None else RowCompiler()


# ---- table scans -------------------------------------------------------------------


def _drop_keys(keyed: KeyedSource) -> RowSource:
    def rows(ctx: ExecContext) -> Iterator[Row]:
        for _, row in keyed(ctx):
            yield row

    return rows


def _filtered(pairs: PairSource, filter: BoundExpr | None, emit_key: bool = False) -> KeyedSource:
    """(key, row) for each stored pair that passes `filter`; with `emit_key` the key is
    also the row's last column (UPDATE and DELETE find the row by it)."""
    if emit_key:
        predicate = compile_predicate(filter) if filter is not None else None

        def rows_with_keys(ctx: ExecContext) -> Iterator[tuple[bytes, Row]]:
            for key, value in pairs(ctx):
                row = decode_row(value) + (key,)
                if predicate is None or predicate(row, ctx):
                    yield key, row

        return rows_with_keys
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


def _scan_rows(node: SeqScan | KeyLookup | KeyRange | IndexScan) -> RowSource:
    """A table scan as a plain row source: `_filtered` without the keys, built directly
    so that a row passes one generator less (a point SELECT's whole pipeline is a few
    generators deep, each a measurable share of it)."""
    pairs = _SCAN_PAIRS[type(node)](node)
    if node.emit_key:
        return _drop_keys(_filtered(pairs, node.filter, True))
    if node.filter is None:

        def all_rows(ctx: ExecContext) -> Iterator[Row]:
            for _, value in pairs(ctx):
                yield decode_row(value)

        return all_rows
    predicate = compile_predicate(node.filter)

    def matching_rows(ctx: ExecContext) -> Iterator[Row]:
        for _, value in pairs(ctx):
            row = decode_row(value)
            if predicate(row, ctx):
                yield row

    return matching_rows


def _seq_scan(node: SeqScan) -> PairSource:
    start, end = node.table.key_range
    reverse = node.reverse

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        return ctx.txn.scan(start, end, reverse=reverse)  # type: ignore[no-any-return]

    return pairs


def _key_lookup(node: KeyLookup) -> PairSource:
    prefix = node.table.prefix
    key_fns = [[compile_expr(e) for e in key] for key in node.keys]
    reverse = node.reverse
    encode = keycode.encode
    if len(key_fns) == 1 and len(key_fns[0]) == 1:
        (only,) = key_fns[0]
        encode_one = keycode.encode_one

        def one_pair(ctx: ExecContext) -> Iterable[tuple[bytes, bytes]]:
            # A tuple, not a generator: its caller is a generator already, so the
            # read still happens when the first row is asked for.
            value = only(_EMPTY, ctx)
            if value is None:
                return ()
            key = prefix + encode_one(value)
            raw = ctx.txn.get(key)
            return () if raw is None else ((key, raw),)

        return one_pair

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        wanted = set()
        for fns in key_fns:
            values = [f(_EMPTY, ctx) for f in fns]
            if None not in values:
                wanted.add(prefix + encode(values))
        get = ctx.txn.get
        for key in sorted(wanted, reverse=reverse):
            value = get(key)
            if value is not None:
                yield key, value

    return pairs


def _bounds(
    prefix: bytes,
    lower: Compiled | None,
    lower_inclusive: bool,
    upper: Compiled | None,
    upper_inclusive: bool,
    ctx: ExecContext,
    option: int = 0,
) -> tuple[bytes, bytes | None] | None:
    """[start, end) of the keys under `prefix` whose next element is within the bounds;
    `option` is that element's order (keycode.DESC / NULLS_FIRST: an index column's)."""
    if option & keycode.DESC:  # a descending element: the lower value bounds the keys above
        lower, lower_inclusive, upper, upper_inclusive = (
            upper, upper_inclusive, lower, lower_inclusive
        )
    start: bytes = prefix
    end = keycode.prefix_end(prefix)
    if lower is not None:
        low = lower(_EMPTY, ctx)
        if low is None:
            return None
        bound = prefix + keycode.encode_ordered((low,), (option,))
        start = bound if lower_inclusive else keycode.prefix_end(bound)  # type: ignore[assignment]
    if upper is not None:
        high = upper(_EMPTY, ctx)
        if high is None:
            return None
        bound = prefix + keycode.encode_ordered((high,), (option,))
        end = keycode.prefix_end(bound) if upper_inclusive else bound
    # NULLs sort after (0xFF) or before (0x00) every value: one bound must not reach them.
    if upper is None and lower is not None and not option & keycode.NULLS_FIRST:
        end = prefix + b"\xff"
    if lower is None and upper is not None and option & keycode.NULLS_FIRST:
        start = prefix + b"\x01"
    return start, end


def _key_range(node: KeyRange) -> PairSource:
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
        bounds = _bounds(table_prefix + keycode.encode(values), lower, lower_inclusive, upper, upper_inclusive, ctx)  # fmt: skip
        if bounds is None:
            return iter(())
        return ctx.txn.scan(bounds[0], bounds[1], reverse=reverse)  # type: ignore[no-any-return]

    return pairs


def _index_scan(node: IndexScan) -> PairSource:
    table_prefix = node.table.prefix
    probes = [[compile_expr(e) for e in prefix] for prefix in node.prefixes]
    lower = compile_expr(node.lower) if node.lower is not None else None
    upper = compile_expr(node.upper) if node.upper is not None else None
    lower_inclusive, upper_inclusive, reverse = (
        node.lower_inclusive,
        node.upper_inclusive,
        node.reverse,
    )

    value_prefix = node.index.value_prefix
    # the order of the column the bounds are on (after those the probes fix)
    option = node.index.option(len(node.prefixes[0])) if node.prefixes else 0

    def pairs(ctx: ExecContext) -> Iterator[tuple[bytes, bytes]]:
        txn = ctx.txn
        prefixes = set()
        for fns in probes:
            values = tuple([f(_EMPTY, ctx) for f in fns])
            if None not in values:
                prefixes.add(value_prefix(values))
        seen: set[bytes] = set()
        for prefix in sorted(prefixes, reverse=reverse):
            bounds = _bounds(prefix, lower, lower_inclusive, upper, upper_inclusive, ctx, option)
            if bounds is None:
                continue
            for _, suffix in txn.scan(bounds[0], bounds[1], reverse=reverse):
                key = table_prefix + suffix
                if key in seen:
                    continue
                seen.add(key)
                raw = txn.get(key)
                if raw is not None:
                    yield key, raw

    return pairs


# The stored (key, value) pairs each kind of table scan reads.
_SCAN_PAIRS: dict[type, Callable[[Any], PairSource]] = {
    SeqScan: _seq_scan,
    KeyLookup: _key_lookup,
    KeyRange: _key_range,
    IndexScan: _index_scan,
}


# ---- other sources -----------------------------------------------------------------------


def _result(c: RowCompiler, node: Result) -> RowSource:
    def one_empty_row(ctx: ExecContext) -> Iterator[Row]:
        yield _EMPTY

    return one_empty_row


def _values(c: RowCompiler, node: ValuesScan) -> RowSource:
    compiled = [row_maker(row) for row in node.rows]

    def values(ctx: ExecContext) -> Iterator[Row]:
        for make in compiled:
            yield make(_EMPTY, ctx)

    return values


def _function_scan(c: RowCompiler, node: FunctionScan) -> RowSource:
    call = node.call
    op = call.op
    args = [compile_expr(a) for a in call.args]
    impl = operator_impl(op)
    ordinality = node.ordinality
    predicate = compile_predicate(node.filter) if node.filter is not None else None
    returns_set, strict = op.returns_set, op.strict

    def rows(ctx: ExecContext) -> Iterator[Row]:
        values = [a(_EMPTY, ctx) for a in args]
        if strict and None in values:
            produced: Any = [] if returns_set else [(None,)]
        elif returns_set:
            produced = impl(ctx, *values)
        else:
            produced = [(impl(ctx, *values),)]
        # statement_timeout and cancel reach long set-returning functions too.
        check = ctx.txn.interrupt if returns_set and ctx.txn is not None else None
        for n, row in enumerate(produced, 1):
            if check is not None and not n & 511:
                check()
            out = (*row, n) if ordinality else row
            if predicate is None or predicate(out, ctx):
                yield out

    return rows


def row_maker(exprs: tuple[BoundExpr, ...]) -> Callable[[Row, ExecContext], Row]:
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


def _filter(c: RowCompiler, node: Filter) -> RowSource:
    source = c.rows(node.source)
    predicate = compile_predicate(node.predicate)

    def filtered(ctx: ExecContext) -> Iterator[Row]:
        for row in source(ctx):
            if predicate(row, ctx):
                yield row

    return filtered


def _project(c: RowCompiler, node: Project) -> RowSource:
    source = c.rows(node.source)
    make = row_maker(node.exprs)

    def projected(ctx: ExecContext) -> Iterator[Row]:
        for row in source(ctx):
            yield make(row, ctx)

    return projected


def _project_set(c: RowCompiler, node: ProjectSet) -> RowSource:
    source = c.rows(node.source)
    calls: list[tuple[list[Compiled], Callable[..., Any], bool]] = []
    for e in node.exprs:
        assert isinstance(e, Call)
        if e.op.out_columns and len(e.op.out_columns) > 1:
            raise FeatureNotSupported(
                f"{e.op.name}() returning a record is not supported in a select list"
            )
        calls.append(([compile_expr(a) for a in e.args], operator_impl(e.op), e.op.strict))

    def rows(ctx: ExecContext) -> Iterator[Row]:
        for row in source(ctx):
            results = []
            for args, impl, strict in calls:
                values = [a(row, ctx) for a in args]
                results.append(
                    [] if strict and None in values else [r[0] for r in impl(ctx, *values)]
                )
            longest = max((len(r) for r in results), default=0)
            for i in range(longest):
                yield row + tuple(r[i] if i < len(r) else None for r in results)

    return rows


# ---- ordering ---------------------------------------------------------------------------------


def sort_key(t: T.SqlType) -> Callable[[Any], Any] | None:
    """A key making values of `t` order as PostgreSQL orders them (None: natural order)."""
    if t.element is not None:
        from .functions_array import array_comparator

        return cmp_to_key(array_comparator(t.element))
    if t.oid == T.BPCHAR.oid:
        return lambda v: v.rstrip(" ")
    if t.oid == T.JSONB.oid:
        return lambda v: v.sort_key()
    return None


def _sort_key(position: int, spec: SortSpec) -> Callable[[tuple[Row, Row]], Any]:
    # Python sorts None-free keys: NULLs get a flag that puts them first or last.
    nulls_high = spec.nulls_first == spec.descending
    null_key = (1,) if nulls_high else (0,)
    nan_aware = spec.expr.type.oid in (T.FLOAT4.oid, T.FLOAT8.oid, T.NUMERIC.oid)
    flag = 0 if nulls_high else 1
    convert = sort_key(spec.expr.type)

    def key(item: tuple[Row, Row]) -> Any:
        v = item[0][position]
        if v is None:
            return null_key
        if nan_aware and T.is_nan(v):
            return (flag, 1, 0)
        return (flag, 0, v if convert is None else convert(v))

    return key


def sorted_rows(rows: list[Row], keys: tuple[SortSpec, ...], ctx: ExecContext) -> list[Row]:
    make_keys = row_maker(tuple(k.expr for k in keys))
    decorated = [(make_keys(row, ctx), row) for row in rows]
    for j, spec in reversed(list(enumerate(keys))):  # stable sorts, least significant key first
        decorated.sort(key=_sort_key(j, spec), reverse=spec.descending)
    return [row for _, row in decorated]


def _sort(c: RowCompiler, node: Sort) -> RowSource:
    source = c.rows(node.source)
    make_keys = row_maker(tuple(k.expr for k in node.keys))
    passes = [
        (_sort_key(j, spec), spec.descending) for j, spec in reversed(list(enumerate(node.keys)))
    ]

    def sorted_source(ctx: ExecContext) -> Iterator[Row]:
        decorated = [(make_keys(row, ctx), row) for row in source(ctx)]
        for key, descending in passes:
            decorated.sort(key=key, reverse=descending)
        for _, row in decorated:
            yield row

    return sorted_source


def _distinct(c: RowCompiler, node: Distinct) -> RowSource:
    source = c.rows(node.source)

    def distinct(ctx: ExecContext) -> Iterator[Row]:
        seen: set[Row] = set()
        for row in source(ctx):
            if row not in seen:
                seen.add(row)
                yield row

    return distinct


def _distinct_on(c: RowCompiler, node: DistinctOn) -> RowSource:
    source = c.rows(node.source)
    make_key = row_maker(node.keys)

    def first_of_each(ctx: ExecContext) -> Iterator[Row]:
        previous: Any = object()
        for row in source(ctx):
            key = make_key(row, ctx)
            if key != previous:
                previous = key
                yield row

    return first_of_each


def _limit(c: RowCompiler, node: Limit) -> RowSource:
    source = c.rows(node.source)
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


# ---- set operations, CTEs ---------------------------------------------------------------------


def _set_op(c: RowCompiler, node: SetOp) -> RowSource:
    left, right = c.rows(node.left), c.rows(node.right)
    op, every = node.op, node.all

    def union(ctx: ExecContext) -> Iterator[Row]:
        if every:
            yield from left(ctx)
            yield from right(ctx)
            return
        seen: set[Row] = set()
        for row in itertools.chain(left(ctx), right(ctx)):
            if row not in seen:
                seen.add(row)
                yield row

    def intersect_except(ctx: ExecContext) -> Iterator[Row]:
        counts: dict[Row, int] = {}
        for row in right(ctx):
            counts[row] = counts.get(row, 0) + 1
        emitted: dict[Row, int] = {}
        for row in left(ctx):
            n = emitted.get(row, 0)
            if op == "intersect":
                limit = counts.get(row, 0) if every else min(counts.get(row, 0), 1)
                if n < limit:
                    emitted[row] = n + 1
                    yield row
            else:
                if every:
                    if counts.get(row, 0) > 0:
                        counts[row] -= 1
                        continue
                    yield row
                elif row not in counts and n == 0:
                    emitted[row] = 1
                    yield row

    return union if op == "union" else intersect_except


def _recursive_union(c: RowCompiler, node: RecursiveUnion) -> RowSource:
    base, recursive = c.rows(node.base), c.rows(node.recursive)
    key = ("worktable", node.worktable)
    distinct = node.distinct

    def rows(ctx: ExecContext) -> Iterator[Row]:
        seen: set[Row] = set()
        working: list[Row] = []
        for row in base(ctx):
            if distinct:
                if row in seen:
                    continue
                seen.add(row)
            working.append(row)
            yield row
        while working:
            ctx.memo[key] = working
            produced: list[Row] = []
            for row in recursive(ctx):
                if distinct:
                    if row in seen:
                        continue
                    seen.add(row)
                produced.append(row)
                yield row
            working = produced

    return rows


def _worktable(c: RowCompiler, node: WorkTableScan) -> RowSource:
    key = ("worktable", node.worktable)

    def rows(ctx: ExecContext) -> Iterator[Row]:
        yield from ctx.memo.get(key, ())

    return rows


class _Shared:
    """A CTE's rows, produced once on demand and read by every reference."""

    __slots__ = ("rows", "source", "done")

    def __init__(self, source: Iterator[Row]) -> None:
        self.rows: list[Row] = []
        self.source = source
        self.done = False

    def read(self) -> Iterator[Row]:
        i = 0
        while True:
            if i < len(self.rows):
                yield self.rows[i]
                i += 1
                continue
            if self.done:
                return
            try:
                self.rows.append(next(self.source))
            except StopIteration:
                self.done = True


def _cte_scan(c: RowCompiler, node: CteScan) -> RowSource:
    source = c.rows(node.cte)
    key = ("cte", node.cte_id)

    def rows(ctx: ExecContext) -> Iterator[Row]:
        shared = ctx.memo.get(key)
        if shared is None:
            shared = ctx.memo[key] = _Shared(source(ctx))
        return shared.read()  # type: ignore[no-any-return]

    return rows


def _subquery_scan(c: RowCompiler, node: SubqueryScan) -> RowSource:
    return c.rows(node.source)


# ---- subqueries in expressions ----------------------------------------------------------------


def compile_subplan(e: SubPlan) -> Compiled:
    compiler = current_compiler()
    source = compiler.rows(e.plan)
    params = [(slot, compile_expr(p)) for slot, p in e.params]
    kind = e.kind
    memo_key = object()

    def run(row: Row, ctx: ExecContext) -> Iterator[Row]:
        for slot, f in params:
            ctx.slots[slot] = f(row, ctx)
        return source(ctx)

    def once(ctx: ExecContext, compute: Callable[[], Any]) -> Any:
        found = ctx.memo.get(memo_key, _MISSING)
        if found is _MISSING:
            found = ctx.memo[memo_key] = compute()
        return found

    if kind == "exists":

        def exists(row: Row, ctx: ExecContext) -> Any:
            if not params:
                return once(ctx, lambda: any(True for _ in run(row, ctx)))
            for _ in run(row, ctx):
                return True
            return False

        return exists
    if kind == "scalar":

        def scalar_value(row: Row, ctx: ExecContext) -> Any:
            result = None
            for n, r in enumerate(run(row, ctx)):
                if n:
                    raise QuorumError(
                        "more than one row returned by a subquery used as an expression",
                        sqlstate="21000",
                    )
                result = r[0]
            return result

        if not params:
            return lambda row, ctx: once(ctx, lambda: scalar_value(row, ctx))
        return scalar_value
    if kind == "array":

        def array_value(row: Row, ctx: ExecContext) -> Any:
            return tuple(r[0] for r in run(row, ctx))

        if not params:
            return lambda row, ctx: once(ctx, lambda: array_value(row, ctx))
        return array_value
    assert e.operand is not None and e.test is not None
    operand = compile_expr(e.operand)
    impl = operator_impl(e.test)
    convert = e.convert
    every = kind == "all"

    def values(row: Row, ctx: ExecContext) -> list[Any]:
        out = [r[0] for r in run(row, ctx)]
        return out if convert is None else [None if v is None else convert(v) for v in out]

    hashed = (
        not every
        and not params
        and e.test.name == "="
        and e.test.context is None
        and e.test.args[0] == e.test.args[1]
        and e.operand.type.oid not in (T.FLOAT4.oid, T.FLOAT8.oid, T.JSONB.oid)
        and e.operand.type.element is None
    )
    if hashed:
        norm = sort_key(e.operand.type) if e.operand.type.oid == T.BPCHAR.oid else None

        def in_set(row: Row, ctx: ExecContext) -> Any:
            found = ctx.memo.get(memo_key)
            if found is None:
                vs = values(row, ctx)
                keyed = {v if norm is None else norm(v) for v in vs if v is not None}
                found = ctx.memo[memo_key] = (keyed, None in vs)
            members, has_null = found
            x = operand(row, ctx)
            if x is None:
                return None if members or has_null else False
            if (x if norm is None else norm(x)) in members:
                return True
            return None if has_null else False

        return in_set

    def quantified(row: Row, ctx: ExecContext) -> Any:
        vs = once(ctx, lambda: values(row, ctx)) if not params else values(row, ctx)
        if not vs:
            return every
        x = operand(row, ctx)
        if x is None:
            return None
        saw_null = False
        for v in vs:
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

    return quantified


_MISSING = object()
register_subplan_compiler(compile_subplan)


def _aggregate(c: RowCompiler, node: Aggregate) -> RowSource:
    return aggregate_rows(
        node, c.rows(node.source), row_maker(node.group_by) if node.group_by else None
    )


def _window(c: RowCompiler, node: Window) -> RowSource:
    from .window import window_rows

    return window_rows(node, c.rows(node.source))


def _nested_loop(c: RowCompiler, node: NestedLoop) -> RowSource:
    from .exec_join import nested_loop

    return nested_loop(node, c.rows(node.left), c.rows(node.right))


def _hash_join(c: RowCompiler, node: HashJoin) -> RowSource:
    from .exec_join import hash_join

    return hash_join(node, c.rows(node.left), c.rows(node.right))


_ROW_BUILDERS: dict[type, Callable[[RowCompiler, Any], RowSource]] = {
    SeqScan: lambda c, n: _scan_rows(n),
    KeyLookup: lambda c, n: _scan_rows(n),
    KeyRange: lambda c, n: _scan_rows(n),
    IndexScan: lambda c, n: _scan_rows(n),
    FunctionScan: _function_scan,
    Result: _result,
    ValuesScan: _values,
    Filter: _filter,
    Project: _project,
    ProjectSet: _project_set,
    Sort: _sort,
    Distinct: _distinct,
    DistinctOn: _distinct_on,
    Limit: _limit,
    Aggregate: _aggregate,
    Window: _window,
    NestedLoop: _nested_loop,
    HashJoin: _hash_join,
    SetOp: _set_op,
    RecursiveUnion: _recursive_union,
    WorkTableScan: _worktable,
    CteScan: _cte_scan,
    SubqueryScan: _subquery_scan,
    LockRows: lambda c, n: lock_rows(n, c.keyed(n.scan)),  # SELECT ... FOR UPDATE
}
