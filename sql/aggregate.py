"""Aggregation: the accumulators behind count/sum/min/max/avg and the grouping loop.

Aggregates skip NULL inputs; over no rows count is 0 and the others NULL
(and without GROUP BY exactly one row comes out). Result types and scales
are PostgreSQL's: sum(int4) is bigint, sum(int8) and avg(integer) numeric,
avg divides with numeric division's scale rules. Groups live in a dict
(a hash aggregate), in first-seen order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from quorumdb.storage.errors import QuorumError

from . import types as T
from .bound import AggCall
from .expr import ExecContext, compile_expr
from .functions import comparison_impl, numeric_div
from .plan import Aggregate

__all__ = ["aggregate_rows"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]


class _Accumulator:
    __slots__ = ("value", "count")

    def __init__(self) -> None:
        self.value: Any = None
        self.count = 0


def _aggregate_fns(
    agg: AggCall,
) -> tuple[Callable[[_Accumulator, Any], None], Callable[[_Accumulator], Any]]:
    """(step, final) for one aggregate; step is called with non-NULL inputs only."""
    name = agg.func.name
    arg_type = agg.func.arg
    result_type = agg.func.result

    def count_step(acc: _Accumulator, v: Any) -> None:
        acc.count += 1

    if name == "count":
        return count_step, lambda acc: acc.count
    if name in ("min", "max"):
        better = comparison_impl(arg_type, "<" if name == "min" else ">")  # type: ignore[arg-type]

        def extreme(acc: _Accumulator, v: Any) -> None:
            if acc.count == 0 or better(v, acc.value):
                acc.value = v
            acc.count += 1

        return extreme, lambda acc: acc.value
    numeric_sum = arg_type.oid == T.NUMERIC.oid  # type: ignore[union-attr]

    def add(acc: _Accumulator, v: Any) -> None:
        if acc.count == 0:
            acc.value = v
        elif numeric_sum:
            acc.value = T.EXACT.add(acc.value, v)
        else:
            acc.value += v
        acc.count += 1

    if name == "sum":

        def sum_final(acc: _Accumulator) -> Any:
            if acc.count == 0:
                return None
            if result_type.oid == T.NUMERIC.oid and not isinstance(acc.value, Decimal):
                return Decimal(acc.value)
            if result_type.oid == T.INT8.oid:
                lo, hi, message = T.INT_RANGES[T.INT8.oid]
                if not lo <= acc.value <= hi:
                    raise QuorumError(message, sqlstate="22003")
            if result_type.oid == T.FLOAT4.oid:
                return T.to_float4(acc.value)
            return acc.value

        return add, sum_final

    def avg_final(acc: _Accumulator) -> Any:
        if acc.count == 0:
            return None
        if result_type.oid == T.FLOAT8.oid:
            return acc.value / acc.count
        return numeric_div(Decimal(acc.value), Decimal(acc.count))

    return add, avg_final


def aggregate_rows(
    node: Aggregate, source: RowSource, group_key: Callable[[Row, ExecContext], Row] | None
) -> RowSource:
    """The rows of `node`: `source` yields its input, `group_key` computes a row's group."""
    specs = []
    for agg in node.aggregates:
        step, final = _aggregate_fns(agg)
        arg = compile_expr(agg.arg) if agg.arg is not None else None
        specs.append((arg, step, final, agg.distinct))
    n = len(specs)

    def accumulate(
        accs: list[_Accumulator], seen: list[set[Any]] | None, row: Row, ctx: ExecContext
    ) -> None:
        for j in range(n):
            arg, step, _, distinct = specs[j]
            if arg is None:
                step(accs[j], None)
                continue
            v = arg(row, ctx)
            if v is None:
                continue
            if distinct:
                assert seen is not None
                if v in seen[j]:
                    continue
                seen[j].add(v)
            step(accs[j], v)

    def finish(accs: list[_Accumulator]) -> Row:
        return tuple(specs[j][2](accs[j]) for j in range(n))

    any_distinct = any(s[3] for s in specs)
    if group_key is None:
        if n == 1 and specs[0][0] is None:  # count(*): just count

            def count_rows(ctx: ExecContext) -> Iterator[Row]:
                yield (sum(1 for _ in source(ctx)),)

            return count_rows

        def single_group(ctx: ExecContext) -> Iterator[Row]:
            accs = [_Accumulator() for _ in range(n)]
            seen: list[set[Any]] | None = [set() for _ in range(n)] if any_distinct else None
            for row in source(ctx):
                accumulate(accs, seen, row, ctx)
            yield finish(accs)

        return single_group

    def grouped(ctx: ExecContext) -> Iterator[Row]:
        groups: dict[Row, tuple[list[_Accumulator], list[set[Any]] | None]] = {}
        for row in source(ctx):
            key = group_key(row, ctx)
            state = groups.get(key)
            if state is None:
                state = groups[key] = (
                    [_Accumulator() for _ in range(n)],
                    [set() for _ in range(n)] if any_distinct else None,
                )
            accumulate(state[0], state[1], row, ctx)
        for key, (accs, _) in groups.items():
            yield key + finish(accs)

    return grouped
