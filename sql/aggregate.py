"""Aggregation: the accumulators behind every aggregate and the grouping loop.

Strict aggregates skip rows with a NULL argument; over no rows count is 0
and the others NULL (and without GROUP BY exactly one row comes out).
``array_agg``/``json_agg`` keep NULLs. Result types and scales are
PostgreSQL's: sum(int4) is bigint, sum(int8) and avg(integer) numeric, avg
divides with numeric division's scale rules, variance/stddev over integers
and numerics use numeric arithmetic (float inputs the Youngs-Cramer
recurrence, as PostgreSQL does). FILTER drops rows before the aggregate
sees them; DISTINCT and ORDER BY inside the call buffer the group's input,
sort it, and (DISTINCT) drop duplicates, so ``array_agg(DISTINCT x)`` comes
out sorted as in PostgreSQL. Groups live in a dict (a hash aggregate), in
first-seen order.

`accumulator_factory` is shared with window functions (`sql/window.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Context, Decimal
from typing import Any

from quorumdb.storage.errors import NumericValueOutOfRange, QuorumError

from . import types as T
from .bound import AggCall, SortSpec
from .expr import ExecContext, compile_expr, compile_predicate
from .functions import comparison_impl
from .functions_numeric import dscale, numeric_div
from .plan import Aggregate

__all__ = ["aggregate_rows", "accumulator_factory", "Accumulator"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]


class Accumulator:
    """The state of one aggregate over one group."""

    __slots__ = ()

    def add(self, *values: Any) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError


class _Count(Accumulator):
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def add(self, *values: Any) -> None:
        self.n += 1

    def result(self) -> Any:
        return self.n


class _Sum(Accumulator):
    __slots__ = ("total", "n", "kind")

    def __init__(self, kind: str) -> None:
        self.total: Any = None
        self.n = 0
        self.kind = kind

    def add(self, v: Any) -> None:
        if self.n == 0:
            self.total = v
        elif self.kind == "numeric":
            self.total = T.EXACT.add(self.total, v)
        elif self.kind == "interval":
            t = self.total
            self.total = type(t)(t.months + v.months, t.days + v.days, t.micros + v.micros)
        else:
            self.total += v
        self.n += 1


def _sum_factory(agg: AggCall) -> Callable[[], Accumulator]:
    arg = agg.func.args[0]
    result = agg.func.result
    kind = (
        "numeric"
        if arg.oid == T.NUMERIC.oid
        else ("interval" if arg.oid == T.INTERVAL.oid else "plain")
    )

    class Sum(_Sum):
        __slots__ = ()

        def result(self) -> Any:
            if self.n == 0:
                return None
            total = self.total
            if result.oid == T.NUMERIC.oid and not isinstance(total, Decimal):
                return Decimal(total)
            if result.oid == T.INT8.oid:
                lo, hi, message = T.INT_RANGES[T.INT8.oid]
                if not lo <= total <= hi:
                    raise NumericValueOutOfRange(message)
            if result.oid == T.FLOAT4.oid:
                return T.to_float4(total)
            return total

    return lambda: Sum(kind)


def _avg_factory(agg: AggCall) -> Callable[[], Accumulator]:
    arg = agg.func.args[0]
    floats = arg.oid in (T.FLOAT4.oid, T.FLOAT8.oid)
    interval = arg.oid == T.INTERVAL.oid
    kind = "numeric" if arg.oid == T.NUMERIC.oid else ("interval" if interval else "plain")

    class Avg(_Sum):
        __slots__ = ()

        def result(self) -> Any:
            if self.n == 0:
                return None
            if floats:
                return self.total / self.n
            if interval:
                from .functions_datetime import interval_mul

                return interval_mul(self.total, 1.0 / self.n)
            return numeric_div(Decimal(self.total), Decimal(self.n))

    return lambda: Avg(kind)


def _extreme_factory(agg: AggCall) -> Callable[[], Accumulator]:
    t = agg.func.args[0]
    better = comparison_impl(t, "<" if agg.func.kind == "min" else ">")

    class Extreme(Accumulator):
        __slots__ = ("value", "seen")

        def __init__(self) -> None:
            self.value: Any = None
            self.seen = False

        def add(self, v: Any) -> None:
            if not self.seen or better(v, self.value):
                self.value = v
                self.seen = True

        def result(self) -> Any:
            return self.value

    return Extreme


def _variance_factory(agg: AggCall) -> Callable[[], Accumulator]:
    kind = agg.func.kind
    sample = kind in ("stddev", "stddev_samp", "variance", "var_samp")
    root = kind.startswith("stddev")
    floats = agg.func.result.oid == T.FLOAT8.oid

    class FloatVariance(Accumulator):
        __slots__ = ("n", "sx", "sxx")

        def __init__(self) -> None:
            self.n, self.sx, self.sxx = 0, 0.0, 0.0

        def add(self, x: Any) -> None:
            self.n += 1
            self.sx += x
            if self.n > 1:
                tmp = x * self.n - self.sx
                self.sxx += tmp * tmp / (self.n * (self.n - 1))

        def result(self) -> Any:
            n = self.n
            if n == 0 or (sample and n == 1):
                return None
            value = self.sxx / (n - 1 if sample else n)
            return math.sqrt(value) if root else value

    class NumericVariance(Accumulator):
        __slots__ = ("n", "sx", "sxx", "scale")

        def __init__(self) -> None:
            self.n, self.sx, self.sxx, self.scale = 0, Decimal(0), Decimal(0), 0

        def add(self, x: Any) -> None:
            d = Decimal(x)
            self.n += 1
            self.sx = T.EXACT.add(self.sx, d)
            self.sxx = T.EXACT.add(self.sxx, T.EXACT.multiply(d, d))
            self.scale = max(self.scale, dscale(d))

        def result(self) -> Any:
            n = self.n
            if n == 0 or (sample and n == 1):
                return None
            numerator = T.EXACT.subtract(
                T.EXACT.multiply(Decimal(n), self.sxx), T.EXACT.multiply(self.sx, self.sx)
            )
            if numerator <= 0:
                return Decimal(0)
            denominator = Decimal(n * (n - 1) if sample else n * n)
            value = numeric_div(numerator, denominator)
            if not root:
                return value
            scale = dscale(value)
            root_value = Context(prec=max(value.adjusted(), 0) + scale + 30).sqrt(value)
            return root_value.quantize(Decimal(1).scaleb(-scale), context=T.EXACT)

    return FloatVariance if floats else NumericVariance


class _StringAgg(Accumulator):
    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[Any] = []

    def add(self, value: Any, delimiter: Any = None) -> None:
        if value is None:
            return
        if self.parts and delimiter is not None:
            self.parts.append(delimiter)
        self.parts.append(value)

    def result(self) -> Any:
        if not self.parts:
            return None
        first = self.parts[0]
        return (b"" if isinstance(first, bytes) else "").join(self.parts)


class _Collect(Accumulator):
    __slots__ = ("items", "any")

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.any = False

    def add(self, *values: Any) -> None:
        self.items.append(values[0] if len(values) == 1 else values)
        self.any = True


def _array_agg_factory(agg: AggCall) -> Callable[[], Accumulator]:
    nested = agg.func.args[0].element is not None

    class ArrayAgg(_Collect):
        __slots__ = ()

        def result(self) -> Any:
            if not self.any:
                return None
            if nested:
                if any(v is None for v in self.items):
                    raise QuorumError("cannot accumulate null arrays", sqlstate="22004")
                lengths = {len(v) for v in self.items}
                if len(lengths) > 1:
                    raise QuorumError(
                        "cannot accumulate arrays of different dimensionality", sqlstate="2202E"
                    )
            return tuple(self.items)

    return ArrayAgg


def _json_agg_factory(agg: AggCall) -> Callable[[], Accumulator]:
    from .functions_json import json_text_of, to_json_value
    from .types_json import Jsonb

    kind = agg.func.kind
    if kind in ("json_object_agg", "jsonb_object_agg"):
        from .functions_string import to_text

        key_text = to_text(agg.func.args[0])
        convert = to_json_value(agg.func.args[1])

        class ObjectAgg(_Collect):
            __slots__ = ()

            def add(self, key: Any, value: Any = None) -> None:
                if key is None:
                    raise QuorumError("field name must not be null", sqlstate="22004")
                self.items.append((key_text(key), None if value is None else convert(value)))
                self.any = True

            def result(self) -> Any:
                if not self.any:
                    return None
                if kind == "jsonb_object_agg":
                    return Jsonb(dict(self.items))
                from .types_json import quote_json

                body = ", ".join(
                    f"{quote_json(k)} : {json_text_of(v, True)}" for k, v in self.items
                )
                return "{ " + body + " }"

        return ObjectAgg
    convert = to_json_value(agg.func.args[0])

    class JsonAgg(_Collect):
        __slots__ = ()

        def result(self) -> Any:
            if not self.any:
                return None
            values = [None if v is None else convert(v) for v in self.items]
            if kind == "jsonb_agg":
                return Jsonb(values)
            return "[" + ", ".join(json_text_of(v, True) for v in values) + "]"

    return JsonAgg


class _Bool(Accumulator):
    __slots__ = ("value", "every")

    def __init__(self, every: bool) -> None:
        self.value: Any = None
        self.every = every

    def add(self, v: Any) -> None:
        if self.value is None:
            self.value = v
        elif self.every:
            self.value = self.value and v
        else:
            self.value = self.value or v

    def result(self) -> Any:
        return self.value


class _Bits(Accumulator):
    __slots__ = ("value", "conjunction")

    def __init__(self, conjunction: bool) -> None:
        self.value: Any = None
        self.conjunction = conjunction

    def add(self, v: Any) -> None:
        if self.value is None:
            self.value = v
        else:
            self.value = (self.value & v) if self.conjunction else (self.value | v)

    def result(self) -> Any:
        return self.value


_NOT_STRICT = frozenset({"count_star", "array_agg", "json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg", "string_agg"})  # fmt: skip


def accumulator_factory(agg: AggCall) -> Callable[[], Accumulator]:
    kind = agg.func.kind
    if kind in ("count", "count_star"):
        return _Count
    if kind == "sum":
        return _sum_factory(agg)
    if kind == "avg":
        return _avg_factory(agg)
    if kind in ("min", "max"):
        return _extreme_factory(agg)
    if kind in ("stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop"):
        return _variance_factory(agg)
    if kind == "string_agg":
        return _StringAgg
    if kind == "array_agg":
        return _array_agg_factory(agg)
    if kind in ("json_agg", "jsonb_agg", "json_object_agg", "jsonb_object_agg"):
        return _json_agg_factory(agg)
    if kind in ("bool_and", "bool_or"):
        return lambda: _Bool(kind == "bool_and")
    if kind in ("bit_and", "bit_or"):
        return lambda: _Bits(kind == "bit_and")
    raise QuorumError(f"aggregate {agg.func.name} is not implemented", sqlstate="0A000")


class _Spec:
    """One aggregate of an Aggregate node, compiled."""

    __slots__ = (
        "args",
        "filter",
        "strict",
        "buffered",
        "factory",
        "order",
        "distinct",
        "width",
        "_sort_specs",
    )

    def __init__(self, agg: AggCall) -> None:
        self.args = [compile_expr(a) for a in agg.args]
        self.filter = compile_predicate(agg.filter) if agg.filter is not None else None
        self.strict = agg.func.kind not in _NOT_STRICT
        self.factory = accumulator_factory(agg)
        self.distinct = agg.distinct
        self.width = len(agg.args)
        order = list(agg.order_by)
        if agg.distinct and not order:
            order = [SortSpec(a) for a in agg.args]
        self.order = [compile_expr(o.expr) for o in order]
        self.buffered = bool(order)
        self._sort_specs = order

    def sort(self, rows: list[tuple[Any, ...]], ctx: ExecContext) -> list[tuple[Any, ...]]:
        """Buffered (order keys + args) rows sorted, duplicates dropped for DISTINCT."""
        from .bound import ColumnRef
        from .executor import sorted_rows

        specs = tuple(
            SortSpec(ColumnRef(s.expr.type, i), s.descending, s.nulls_first)
            for i, s in enumerate(self._sort_specs)
        )
        ordered = sorted_rows(rows, specs, ctx)
        if not self.distinct:
            return ordered
        out: list[tuple[Any, ...]] = []
        previous: Any = object()
        for row in ordered:
            args = row[len(self.order) :]
            if args != previous:
                previous = args
                out.append(row)
        return out


def aggregate_rows(
    node: Aggregate, source: RowSource, group_key: Callable[[Row, ExecContext], Row] | None
) -> RowSource:
    """The rows of `node`: `source` yields its input, `group_key` computes a row's group."""
    specs = [_Spec(agg) for agg in node.aggregates]
    n = len(specs)

    if group_key is None and n == 1 and not specs[0].args and specs[0].filter is None:
        # count(*): just count

        def count_rows(ctx: ExecContext) -> Iterator[Row]:
            yield (sum(1 for _ in source(ctx)),)

        return count_rows

    def new_state() -> list[Any]:
        return [[] if s.buffered else s.factory() for s in specs]

    def accumulate(state: list[Any], row: Row, ctx: ExecContext) -> None:
        for j in range(n):
            spec = specs[j]
            if spec.filter is not None and not spec.filter(row, ctx):
                continue
            values = [a(row, ctx) for a in spec.args]
            if spec.strict and None in values:
                continue
            if spec.buffered:
                state[j].append(tuple(o(row, ctx) for o in spec.order) + tuple(values))
            else:
                state[j].add(*values)

    def finish(state: list[Any], ctx: ExecContext) -> Row:
        out = []
        for j in range(n):
            spec = specs[j]
            acc = state[j]
            if spec.buffered:
                buffered = spec.sort(acc, ctx)
                acc = spec.factory()
                skip = len(spec.order)
                for row in buffered:
                    acc.add(*row[skip:])
            out.append(acc.result())
        return tuple(out)

    if group_key is None:

        def single_group(ctx: ExecContext) -> Iterator[Row]:
            state = new_state()
            for row in source(ctx):
                accumulate(state, row, ctx)
            yield finish(state, ctx)

        return single_group

    def grouped(ctx: ExecContext) -> Iterator[Row]:
        groups: dict[Row, list[Any]] = {}
        for row in source(ctx):
            key = group_key(row, ctx)
            state = groups.get(key)
            if state is None:
                state = groups[key] = new_state()
            accumulate(state, row, ctx)
        for key, state in groups.items():
            yield key + finish(state, ctx)

    return grouped
