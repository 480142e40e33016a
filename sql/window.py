"""Window functions: one Window plan node's calls over partitions of its sorted input.

The input arrives sorted by PARTITION BY then ORDER BY; each partition is
buffered and every row gets one value per call. Rows with equal ORDER BY
values are *peers*. Ranking functions (row_number, rank, dense_rank,
percent_rank, cume_dist, ntile) and lag/lead look at positions in the
partition; first_value/last_value/nth_value and aggregates look at the
row's *frame*:

* ROWS counts rows, GROUPS counts peer groups, RANGE compares ORDER BY
  values (``RANGE BETWEEN 5 PRECEDING AND CURRENT ROW`` over numbers,
  dates and timestamps with interval offsets);
* the default frame is RANGE UNBOUNDED PRECEDING to CURRENT ROW (with its
  peers), or the whole partition without ORDER BY;
* EXCLUDE CURRENT ROW / GROUP / TIES remove rows from a frame.

Aggregates over the default frame are computed incrementally (one pass per
partition); other frames aggregate each row's frame afresh.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator
from typing import Any

from quorumdb.storage.errors import QuorumError

from . import types as T
from .aggregate import accumulator_factory
from .bound import AggCall, Frame, WindowCall
from .executor import row_maker
from .expr import ExecContext, compile_expr, compile_predicate
from .plan import Window

__all__ = ["window_rows"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]


def window_rows(node: Window, source: RowSource) -> RowSource:
    partition_key = row_maker(node.partition_by) if node.partition_by else None
    order_key = row_maker(tuple(s.expr for s in node.order_by)) if node.order_by else None
    evaluators = [_evaluator(call, node) for call in node.calls]

    def rows(ctx: ExecContext) -> Iterator[Row]:
        partition: list[Row] = []
        current: Any = None
        for row in source(ctx):
            key = partition_key(row, ctx) if partition_key is not None else ()
            if partition and key != current:
                yield from _emit(partition, order_key, evaluators, ctx)
                partition = []
            current = key
            partition.append(row)
        if partition:
            yield from _emit(partition, order_key, evaluators, ctx)

    return rows


Evaluator = Callable[[list[Row], list[int], ExecContext], list[Any]]


def _emit(
    partition: list[Row],
    order_key: Callable[[Row, ExecContext], Row] | None,
    evaluators: list[Evaluator],
    ctx: ExecContext,
) -> Iterator[Row]:
    # peers[i]: the number of the peer group of row i
    peers: list[int] = []
    previous: Any = object()
    group = -1
    for row in partition:
        key = order_key(row, ctx) if order_key is not None else ()
        if key != previous:
            group += 1
            previous = key
        peers.append(group)
    columns = [evaluate(partition, peers, ctx) for evaluate in evaluators]
    for i, row in enumerate(partition):
        yield row + tuple(c[i] for c in columns)


def _group_bounds(peers: list[int]) -> tuple[list[int], list[int]]:
    """first[i] / last[i]: positions of the first and last peer of row i."""
    n = len(peers)
    first = [0] * n
    last = [0] * n
    start = 0
    for i in range(1, n + 1):
        if i == n or peers[i] != peers[start]:
            for j in range(start, i):
                first[j], last[j] = start, i - 1
            start = i
    return first, last


def _evaluator(call: WindowCall, node: Window) -> Evaluator:
    kind = call.func.kind
    args = [compile_expr(a) for a in call.args]
    if kind == "row_number":
        return lambda rows, peers, ctx: list(range(1, len(rows) + 1))
    if kind in ("rank", "dense_rank", "percent_rank", "cume_dist"):
        return _ranking(kind)
    if kind == "ntile":
        return _ntile(args[0])
    if kind in ("lag", "lead"):
        return _offset(kind, args)
    frame_of = _framer(call.frame, call, node)
    if kind in ("first_value", "last_value", "nth_value"):
        return _value_at(kind, args, frame_of)
    assert call.func.aggregate is not None
    return _aggregate(call, args, frame_of)


def _ranking(kind: str) -> Evaluator:
    def evaluate(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[Any]:
        n = len(rows)
        first, last = _group_bounds(peers)
        if kind == "rank":
            return [first[i] + 1 for i in range(n)]
        if kind == "dense_rank":
            return [peers[i] + 1 for i in range(n)]
        if kind == "percent_rank":
            return [0.0 if n == 1 else first[i] / (n - 1) for i in range(n)]
        return [(last[i] + 1) / n for i in range(n)]

    return evaluate


def _ntile(arg: Callable[..., Any]) -> Evaluator:
    def evaluate(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[Any]:
        n = len(rows)
        buckets = arg(rows[0], ctx)
        if buckets is None:
            return [None] * n
        if buckets <= 0:
            raise QuorumError("argument of ntile must be greater than zero", sqlstate="22014")
        size, extra = divmod(n, buckets)
        out: list[Any] = []
        bucket = 1
        remaining = size + (1 if extra else 0)
        for _ in range(n):
            if remaining == 0:
                bucket += 1
                remaining = size + (1 if bucket <= extra else 0)
            out.append(bucket)
            remaining -= 1
        return out

    return evaluate


def _offset(kind: str, args: list[Callable[..., Any]]) -> Evaluator:
    value = args[0]
    offset = args[1] if len(args) > 1 else None
    default = args[2] if len(args) > 2 else None
    sign = -1 if kind == "lag" else 1

    def evaluate(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[Any]:
        out: list[Any] = []
        n = len(rows)
        for i, row in enumerate(rows):
            k = offset(row, ctx) if offset is not None else 1
            if k is None:
                out.append(None)
                continue
            j = i + sign * k
            if 0 <= j < n:
                out.append(value(rows[j], ctx))
            else:
                out.append(default(row, ctx) if default is not None else None)
        return out

    return evaluate


Framer = Callable[[list[Row], list[int], ExecContext], list[list[int]] | None]


def _framer(frame: Frame, call: WindowCall, node: Window) -> Framer:
    """Row positions of each row's frame; None means "the default frame" (fast path)."""
    if frame == Frame():
        return lambda rows, peers, ctx: None
    start_offset = compile_expr(frame.start_offset) if frame.start_offset is not None else None
    end_offset = compile_expr(frame.end_offset) if frame.end_offset is not None else None
    order = node.order_by
    mode = frame.mode
    order_value = compile_expr(order[0].expr) if mode == "range" and order else None
    descending = bool(order) and order[0].descending
    add = _adder(order[0].expr.type) if order_value is not None else None

    def frames(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[list[int]] | None:
        n = len(rows)
        bounds = _Bounds(mode, n, peers, descending, add)
        if order_value is not None:
            bounds.keys = [order_value(r, ctx) for r in rows]
        out = []
        for i, row in enumerate(rows):
            lo = bounds.position(frame.start, start_offset, True, i, row, ctx)
            hi = bounds.position(frame.end, end_offset, False, i, row, ctx)
            members = list(range(max(lo, 0), min(hi, n - 1) + 1))
            if frame.exclude == "current row":
                members = [j for j in members if j != i]
            elif frame.exclude == "group":
                members = [j for j in members if peers[j] != peers[i]]
            elif frame.exclude == "ties":
                members = [j for j in members if j == i or peers[j] != peers[i]]
            out.append(members)
        return out

    return frames


def _adder(t: T.SqlType) -> Callable[[Any, Any, int], Any]:
    """value +/- offset for RANGE frames."""
    if t.oid in (T.DATE.oid, T.TIMESTAMP.oid, T.TIMESTAMPTZ.oid):
        from .functions_datetime import timestamp_pl_interval
        from .types_datetime import USECS_PER_DAY

        is_date = t.oid == T.DATE.oid

        def add_interval(value: Any, offset: Any, sign: int) -> Any:
            base = value * USECS_PER_DAY if is_date else value
            moved = timestamp_pl_interval(base, offset if sign > 0 else -offset)
            return moved / USECS_PER_DAY if is_date else moved

        return add_interval
    return lambda value, offset, sign: value + offset if sign > 0 else value - offset


class _Bounds:
    """Frame bounds of the rows of one partition (positions, inclusive)."""

    def __init__(self, mode: str, n: int, peers: list[int], descending: bool,
                 add: Callable[[Any, Any, int], Any] | None) -> None:  # fmt: skip
        self.mode = mode
        self.n = n
        self.peers = peers
        self.first, self.last = _group_bounds(peers)
        self.group_start = {}
        for i in range(n - 1, -1, -1):
            self.group_start[peers[i]] = i
        self.descending = descending
        self.add = add
        self.keys: list[Any] | None = None

    def position(self, kind: str, offset: Callable[..., Any] | None, is_start: bool,
                 i: int, row: Row, ctx: ExecContext) -> int:  # fmt: skip
        n, peers = self.n, self.peers
        if kind == "unbounded preceding":
            return 0
        if kind == "unbounded following":
            return n - 1
        if kind == "current row":
            if self.mode == "rows":
                return i
            return self.first[i] if is_start else self.last[i]
        amount = offset(row, ctx) if offset is not None else 0
        what = "starting" if is_start else "ending"
        if amount is None:
            raise QuorumError(f"frame {what} offset must not be null", sqlstate="22004")
        negative = amount.span() < 0 if hasattr(amount, "span") else amount < 0
        if negative:
            raise QuorumError(f"frame {what} offset must not be negative", sqlstate="22013")
        sign = -1 if kind == "preceding" else 1
        if self.mode == "rows":
            return i + sign * amount
        if self.mode == "groups":
            target = peers[i] + sign * amount
            if target < 0:
                return 0 if is_start else -1
            if target > peers[-1]:
                return n if is_start else n - 1
            return self.group_start[target] if is_start else bisect.bisect_right(peers, target) - 1
        keys = self.keys
        assert keys is not None and self.add is not None
        value = keys[i]
        if value is None:
            return self.first[i] if is_start else self.last[i]
        limit = self.add(value, amount, sign * (-1 if self.descending else 1))
        if is_start:
            for j in range(n):
                k = keys[j]
                if k is not None and (k >= limit if not self.descending else k <= limit):
                    return j
            return n
        for j in range(n - 1, -1, -1):
            k = keys[j]
            if k is not None and (k <= limit if not self.descending else k >= limit):
                return j
        return -1


def _value_at(kind: str, args: list[Callable[..., Any]], frame_of: Framer) -> Evaluator:
    value = args[0]
    nth = args[1] if len(args) > 1 else None

    def evaluate(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[Any]:
        frames = _frames(frame_of, rows, peers, ctx)
        out: list[Any] = []
        for i, members in enumerate(frames):
            if not members:
                out.append(None)
                continue
            if kind == "first_value":
                out.append(value(rows[members[0]], ctx))
            elif kind == "last_value":
                out.append(value(rows[members[-1]], ctx))
            else:
                k = nth(rows[i], ctx)  # type: ignore[misc]
                if k is None:
                    out.append(None)
                    continue
                if k <= 0:
                    raise QuorumError(
                        "argument of nth_value must be greater than zero", sqlstate="22016"
                    )
                out.append(value(rows[members[k - 1]], ctx) if k <= len(members) else None)
        return out

    return evaluate


def _frames(
    frame_of: Framer, rows: list[Row], peers: list[int], ctx: ExecContext
) -> list[list[int]]:
    frames = frame_of(rows, peers, ctx)
    if frames is not None:
        return frames
    first, last = _group_bounds(peers)
    return [list(range(0, last[i] + 1)) for i in range(len(rows))]


def _aggregate(call: WindowCall, args: list[Callable[..., Any]], frame_of: Framer) -> Evaluator:
    agg = call.func.aggregate
    assert agg is not None
    factory = accumulator_factory(AggCall(agg, call.args))
    predicate = compile_predicate(call.filter) if call.filter is not None else None
    strict = agg.kind not in ("count_star", "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "string_agg")  # fmt: skip

    def feed(acc: Any, row: Row, ctx: ExecContext) -> None:
        if predicate is not None and not predicate(row, ctx):
            return
        values = [a(row, ctx) for a in args]
        if strict and None in values:
            return
        acc.add(*values)

    def evaluate(rows: list[Row], peers: list[int], ctx: ExecContext) -> list[Any]:
        frames = frame_of(rows, peers, ctx)
        n = len(rows)
        if frames is None:
            # default frame: running aggregate, one value per peer group
            first, last = _group_bounds(peers)
            out: list[Any] = [None] * n
            acc = factory()
            i = 0
            while i < n:
                end = last[i]
                for j in range(i, end + 1):
                    feed(acc, rows[j], ctx)
                result = _snapshot(acc)
                for j in range(i, end + 1):
                    out[j] = result
                i = end + 1
            return out
        out = []
        cache: dict[tuple[int, ...], Any] = {}
        for members in frames:
            key = tuple(members)
            if key not in cache:
                acc = factory()
                for j in members:
                    feed(acc, rows[j], ctx)
                cache[key] = acc.result()
            out.append(cache[key])
        return out

    return evaluate


def _snapshot(acc: Any) -> Any:
    """The accumulator's current result (accumulators that build lists copy them)."""
    return acc.result()
