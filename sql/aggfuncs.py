"""The catalog of aggregate and window functions, resolved like PostgreSQL's.

Aggregates are listed with their pg_proc signatures (``sum(integer)
returns bigint``, ``array_agg(anynonarray) returns anyarray``) and resolved
with the same candidate selection as ordinary functions (`sql/functions.py`),
so ``sum('1')`` is "not unique" and ``avg(int4)`` is numeric. A resolved
`AggregateFunction` names the accumulator `kind` that `sql/aggregate.py`
runs. Window functions (`WindowFunction`) are either the ranking/offset
functions below or any aggregate used with OVER.
"""

from __future__ import annotations

from dataclasses import dataclass

from quorumdb.storage.errors import QuorumError

from . import types as T
from .functions import Signature, resolve_among, resolve_function_error
from .types import SqlType

__all__ = [
    "AggregateFunction",
    "WindowFunction",
    "is_aggregate",
    "is_window_function",
    "resolve_aggregate",
    "resolve_window",
]


@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """A resolved aggregate: argument types, result type, accumulator kind."""

    name: str
    args: tuple[SqlType, ...]
    result: SqlType
    kind: str

    @property
    def arg(self) -> SqlType | None:
        return self.args[0] if self.args else None


@dataclass(frozen=True, slots=True)
class WindowFunction:
    """A resolved window function; `aggregate` is set for an aggregate used with OVER."""

    name: str
    args: tuple[SqlType, ...]
    result: SqlType
    kind: str
    aggregate: AggregateFunction | None = None


_AGGREGATES: dict[str, list[Signature]] = {}
_WINDOWS: dict[str, list[Signature]] = {}


def _agg(name: str, args: tuple[object, ...], result: object, kind: str) -> None:
    _AGGREGATES.setdefault(name, []).append(Signature(name, args, result, kind))  # type: ignore[arg-type]


def _win(name: str, args: tuple[object, ...], result: object, kind: str) -> None:
    _WINDOWS.setdefault(name, []).append(Signature(name, args, result, kind))  # type: ignore[arg-type]


INTS = (T.INT2, T.INT4, T.INT8)
FLOATS = (T.FLOAT4, T.FLOAT8)
N = T.NUMERIC

_agg("count", (), T.INT8, "count_star")
_agg("count", ("any",), T.INT8, "count")
for _t in (T.INT2, T.INT4):
    _agg("sum", (_t,), T.INT8, "sum")
_agg("sum", (T.INT8,), N, "sum")
_agg("sum", (N,), N, "sum")
_agg("sum", (T.FLOAT4,), T.FLOAT4, "sum")
_agg("sum", (T.FLOAT8,), T.FLOAT8, "sum")
_agg("sum", (T.INTERVAL,), T.INTERVAL, "sum")
for _t in (*INTS, N):
    _agg("avg", (_t,), N, "avg")
for _t in FLOATS:
    _agg("avg", (_t,), T.FLOAT8, "avg")
_agg("avg", (T.INTERVAL,), T.INTERVAL, "avg")
for _name in ("min", "max"):
    for _t in (*INTS, *FLOATS, N, T.TEXT, T.BPCHAR, T.DATE, T.TIME, T.TIMESTAMP, T.TIMESTAMPTZ,
               T.INTERVAL):  # fmt: skip
        _agg(_name, (_t,), _t, _name)
    _agg(_name, ("anyarray",), "anyarray", _name)
for _name in ("stddev", "stddev_samp", "stddev_pop", "variance", "var_samp", "var_pop"):
    for _t in (*INTS, N):
        _agg(_name, (_t,), N, _name)
    for _t in FLOATS:
        _agg(_name, (_t,), T.FLOAT8, _name)
for _name in ("bit_and", "bit_or"):
    for _t in INTS:
        _agg(_name, (_t,), _t, _name)
_agg("string_agg", (T.TEXT, T.TEXT), T.TEXT, "string_agg")
_agg("string_agg", (T.BYTEA, T.BYTEA), T.BYTEA, "string_agg")
_agg("array_agg", ("anynonarray",), "anyarray", "array_agg")
_agg("array_agg", ("anyarray",), "anyarray", "array_agg")
_agg("bool_and", (T.BOOL,), T.BOOL, "bool_and")
_agg("every", (T.BOOL,), T.BOOL, "bool_and")
_agg("bool_or", (T.BOOL,), T.BOOL, "bool_or")
_agg("json_agg", ("anyelement",), T.JSON, "json_agg")
_agg("jsonb_agg", ("anyelement",), T.JSONB, "jsonb_agg")
_agg("json_object_agg", ("any", "any"), T.JSON, "json_object_agg")
_agg("jsonb_object_agg", ("any", "any"), T.JSONB, "jsonb_object_agg")

_win("row_number", (), T.INT8, "row_number")
_win("rank", (), T.INT8, "rank")
_win("dense_rank", (), T.INT8, "dense_rank")
_win("percent_rank", (), T.FLOAT8, "percent_rank")
_win("cume_dist", (), T.FLOAT8, "cume_dist")
_win("ntile", (T.INT4,), T.INT4, "ntile")
for _name in ("lag", "lead"):
    _win(_name, ("anyelement",), "anyelement", _name)
    _win(_name, ("anyelement", T.INT4), "anyelement", _name)
    _win(_name, ("anycompatible", T.INT4, "anycompatible"), "anycompatible", _name)
_win("first_value", ("anyelement",), "anyelement", "first_value")
_win("last_value", ("anyelement",), "anyelement", "last_value")
_win("nth_value", ("anyelement", T.INT4), "anyelement", "nth_value")


def is_aggregate(name: str) -> bool:
    return name in _AGGREGATES


def is_window_function(name: str) -> bool:
    return name in _WINDOWS


def resolve_aggregate(
    name: str, args: tuple[SqlType, ...], star: bool, position: int | None
) -> AggregateFunction:
    if star:
        if name != "count":
            raise QuorumError(
                f"{name}(*) specified, but {name} is not an aggregate function"
                if not is_aggregate(name)
                else f"function {name}(*) does not exist",
                sqlstate="42809" if not is_aggregate(name) else "42883",
                position=position,
            )
        return AggregateFunction("count", (), T.INT8, "count_star")
    if name == "count" and not args:
        raise QuorumError(
            "count(*) must be used to call a parameterless aggregate function",
            sqlstate="42809",
            position=position,
        )
    op = resolve_among(name, _AGGREGATES.get(name, []), args, position)
    if op is None:
        raise resolve_function_error(name, args, position)
    return AggregateFunction(name, op.args, op.result, op.impl)  # type: ignore[arg-type]


def resolve_window(
    name: str, args: tuple[SqlType, ...], star: bool, position: int | None
) -> WindowFunction:
    if is_aggregate(name):
        agg = resolve_aggregate(name, args, star, position)
        return WindowFunction(name, agg.args, agg.result, "aggregate", agg)
    op = resolve_among(name, _WINDOWS.get(name, []), args, position)
    if op is None:
        raise resolve_function_error(name, args, position)
    return WindowFunction(name, op.args, op.result, op.impl)  # type: ignore[arg-type]
