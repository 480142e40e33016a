"""Operators, scalar functions and aggregates: type resolution and implementations.

Resolution follows PostgreSQL for the types we have. An untyped literal
(``unknown``) takes the type of the other operand; numbers of different types
meet at the wider one (int2 < int4 < int8 < numeric < float8, and float4 op
float4 stays float4); strings compare as text. When no operator fits, the
error is PostgreSQL's 42883 ``operator does not exist: integer = boolean``.

Every implementation receives non-NULL arguments already converted to the
operator's argument types and returns a value of its result type, raising
PostgreSQL's errors (22003 out of range, 22012 division by zero). NULL
handling (strictness) is the caller's job (`sql/expr.py`).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from quorumdb.storage.errors import (
    DivisionByZero,
    FeatureNotSupported,
    NumericValueOutOfRange,
    QuorumError,
    UndefinedFunction,
)

from . import types as T
from .types import SqlType

__all__ = [
    "Operator",
    "AggregateFunction",
    "resolve_binary",
    "resolve_unary",
    "resolve_function",
    "resolve_aggregate",
    "is_aggregate",
    "numeric_div",
    "arith_type",
    "operator_error",
]

Impl = Callable[..., object]


@dataclass(frozen=True, slots=True)
class Operator:
    """A resolved operator or function; args are coerced to `args` before `impl` is called."""

    name: str
    args: tuple[SqlType, ...]
    result: SqlType
    impl: Impl = field(compare=False, repr=False)
    infix: bool = True  # rendered as "a + b" (else "name(a, b)")


def operator_error(
    name: str, left: SqlType | None, right: SqlType, position: int | None
) -> QuorumError:
    if left is None:
        return UndefinedFunction(
            f"operator does not exist: {name} {right.base}",
            hint="No operator matches the given name and argument type. You might need to add an explicit type cast.",
            position=position,
        )
    # Messages name types without modifiers, as PostgreSQL's format_type_be does.
    return UndefinedFunction(
        f"operator does not exist: {left.base} {name} {right.base}",
        hint="No operator matches the given name and argument types. You might need to add explicit type casts.",
        position=position,
    )


# ---- numbers ---------------------------------------------------------------

_NUM_RANK = {
    T.INT2.oid: 0,
    T.INT4.oid: 1,
    T.INT8.oid: 2,
    T.NUMERIC.oid: 3,
    T.FLOAT4.oid: 4,
    T.FLOAT8.oid: 5,
}


def arith_type(left: SqlType, right: SqlType) -> SqlType:
    """The type two numeric operands meet at."""
    if left.oid == T.FLOAT4.oid and right.oid == T.FLOAT4.oid:
        return T.FLOAT4
    rank = max(_NUM_RANK[left.oid], _NUM_RANK[right.oid])
    if rank == 4:
        return T.FLOAT8
    return (T.INT2, T.INT4, T.INT8, T.NUMERIC, T.FLOAT8, T.FLOAT8)[rank]


def _int_ops(t: SqlType) -> dict[str, Impl]:
    lo, hi, message = T.INT_RANGES[t.oid]

    def check(r: int) -> int:
        if lo <= r <= hi:
            return r
        raise NumericValueOutOfRange(message)

    def add(a: int, b: int) -> int:
        r = a + b
        return r if lo <= r <= hi else check(r)

    def sub(a: int, b: int) -> int:
        r = a - b
        return r if lo <= r <= hi else check(r)

    def mul(a: int, b: int) -> int:
        r = a * b
        return r if lo <= r <= hi else check(r)

    def div(a: int, b: int) -> int:
        if b == 0:
            raise DivisionByZero("division by zero")
        q = abs(a) // abs(b)
        return check(q if (a < 0) == (b < 0) else -q)

    def mod(a: int, b: int) -> int:
        if b == 0:
            raise DivisionByZero("division by zero")
        r = abs(a) % abs(b)
        return -r if a < 0 else r

    def neg(a: int) -> int:
        return check(-a)

    return {"+": add, "-": sub, "*": mul, "/": div, "%": mod, "neg": neg}


def _float_ops(t: SqlType) -> dict[str, Impl]:
    narrow = t.oid == T.FLOAT4.oid

    def finish(r: float, a: float, b: float, zero_check: bool) -> float:
        if math.isinf(r) and not (math.isinf(a) or math.isinf(b)):
            raise NumericValueOutOfRange("value out of range: overflow")
        if zero_check and r == 0.0 and a != 0.0 and b != 0.0 and not math.isinf(b):
            raise NumericValueOutOfRange("value out of range: underflow")
        if narrow:
            try:
                n = T.to_float4(r)
            except OverflowError:
                raise NumericValueOutOfRange("value out of range: overflow") from None
            if n == 0.0 and r != 0.0:
                raise NumericValueOutOfRange("value out of range: underflow")
            return n
        return r

    def add(a: float, b: float) -> float:
        return finish(a + b, a, b, False)

    def sub(a: float, b: float) -> float:
        return finish(a - b, a, b, False)

    def mul(a: float, b: float) -> float:
        return finish(a * b, a, b, True)

    def div(a: float, b: float) -> float:
        if b == 0.0:
            if a != a:
                return a
            raise DivisionByZero("division by zero")
        return finish(a / b, a, b, True)

    def neg(a: float) -> float:
        return -a

    return {"+": add, "-": sub, "*": mul, "/": div, "neg": neg}


def _pow(a: float, b: float) -> float:
    if a == 0.0 and b < 0.0:
        raise QuorumError("zero raised to a negative power is undefined", sqlstate="2201F")
    if a < 0.0 and not b.is_integer():
        raise QuorumError(
            "a negative number raised to a non-integer power yields a complex result",
            sqlstate="2201F",
        )
    try:
        r = math.pow(a, b)
    except OverflowError:
        raise NumericValueOutOfRange("value out of range: overflow") from None
    return r


def _first_digit_weight(value: Decimal) -> tuple[int, int]:
    """(weight, first base-10000 digit) as PostgreSQL's NumericVar sees `value`."""
    if value.is_zero():
        return 0, 0
    weight = value.adjusted() // 4
    first = int(abs(value).scaleb(-4 * weight, context=T.EXACT))
    return weight, first


def _dscale(value: Decimal) -> int:
    exp = value.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def numeric_div(a: Decimal, b: Decimal) -> Decimal:
    """numeric / numeric with PostgreSQL's result scale (select_div_scale)."""
    if b.is_zero() and not b.is_nan():
        raise DivisionByZero("division by zero")
    if not (a.is_finite() and b.is_finite()):
        if a.is_nan() or b.is_nan() or (a.is_infinite() and b.is_infinite()):
            return Decimal("NaN")
        if a.is_infinite():
            return a if not b.is_signed() else a.copy_negate()
        return Decimal(0)
    w1, d1 = _first_digit_weight(a)
    w2, d2 = _first_digit_weight(b)
    qweight = w1 - w2 - (1 if d1 <= d2 else 0)
    rscale = max(16 - qweight * 4, _dscale(a), _dscale(b), 0)
    rscale = min(rscale, 1000)
    digits = max(a.adjusted() - b.adjusted() + 2, 1) + rscale + 4
    quotient = Context(prec=digits, rounding=ROUND_HALF_UP).divide(a, b)
    return quotient.quantize(Decimal(1).scaleb(-rscale), context=T.EXACT)


def _numeric_guard(fn: Callable[[Decimal, Decimal], Decimal]) -> Impl:
    def op(a: Decimal, b: Decimal) -> Decimal:
        try:
            return fn(a, b)
        except InvalidOperation:  # inf - inf and friends
            return Decimal("NaN")

    return op


def _numeric_mod(a: Decimal, b: Decimal) -> Decimal:
    if b.is_zero():
        raise DivisionByZero("division by zero")
    return T.EXACT.remainder(a, b)


_NUMERIC_OPS: dict[str, Impl] = {
    "+": _numeric_guard(T.EXACT.add),
    "-": _numeric_guard(T.EXACT.subtract),
    "*": _numeric_guard(T.EXACT.multiply),
    "/": numeric_div,
    "%": _numeric_guard(_numeric_mod),
    "neg": Decimal.copy_negate,
}

_ARITH: dict[int, dict[str, Impl]] = {
    T.INT2.oid: _int_ops(T.INT2),
    T.INT4.oid: _int_ops(T.INT4),
    T.INT8.oid: _int_ops(T.INT8),
    T.FLOAT4.oid: _float_ops(T.FLOAT4),
    T.FLOAT8.oid: _float_ops(T.FLOAT8),
    T.NUMERIC.oid: _NUMERIC_OPS,
}

# ---- comparisons -------------------------------------------------------------
# PostgreSQL orders NaN above every number and equal to itself.


def _f_eq(a: float, b: float) -> bool:
    return a == b or (a != a and b != b)


def _f_ne(a: float, b: float) -> bool:
    return not _f_eq(a, b)


def _f_lt(a: float, b: float) -> bool:
    return a < b or (b != b and a == a)


def _f_le(a: float, b: float) -> bool:
    return a <= b or b != b


def _f_gt(a: float, b: float) -> bool:
    return a > b or (a != a and b == b)


def _f_ge(a: float, b: float) -> bool:
    return a >= b or a != a


def _n_key(a: Decimal) -> tuple[int, Decimal]:
    return (1, Decimal(0)) if a.is_nan() else (0, a)


def _n_cmp(op: Callable[[Any, Any], bool]) -> Impl:
    def compare(a: Decimal, b: Decimal) -> bool:
        try:
            return op(a, b)
        except InvalidOperation:
            return op(_n_key(a), _n_key(b))

    return compare


def _n_eq(a: Decimal, b: Decimal) -> bool:
    return a == b or (a.is_nan() and b.is_nan())


_GENERIC_CMP: dict[str, Impl] = {
    "=": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_FLOAT_CMP: dict[str, Impl] = {
    "=": _f_eq,
    "<>": _f_ne,
    "<": _f_lt,
    "<=": _f_le,
    ">": _f_gt,
    ">=": _f_ge,
}
_NUMERIC_CMP: dict[str, Impl] = {
    "=": _n_eq,
    "<>": lambda a, b: not _n_eq(a, b),
    "<": _n_cmp(operator.lt),
    "<=": _n_cmp(operator.le),
    ">": _n_cmp(operator.gt),
    ">=": _n_cmp(operator.ge),
}
COMPARISONS = frozenset(_GENERIC_CMP)
COMMUTED = {"=": "=", "<>": "<>", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def comparison_impl(t: SqlType, name: str) -> Impl:
    if t.oid in (T.FLOAT4.oid, T.FLOAT8.oid):
        return _FLOAT_CMP[name]
    if t.oid == T.NUMERIC.oid:
        return _NUMERIC_CMP[name]
    return _GENERIC_CMP[name]


def comparison_type(left: SqlType, right: SqlType) -> SqlType | None:
    """The type both sides of a comparison are converted to, or None if incomparable."""
    if left.oid == T.UNKNOWN.oid:
        left = T.TEXT if right.oid == T.UNKNOWN.oid else right.base
    if right.oid == T.UNKNOWN.oid:
        right = left.base
    if left.is_numeric and right.is_numeric:
        return arith_type(left, right)
    if left.is_string and right.is_string:
        return T.TEXT
    if left.oid == right.oid and left.oid in (T.BOOL.oid, T.REGTYPE.oid):
        return left.base
    return None


# ---- strings ------------------------------------------------------------------


@lru_cache(maxsize=256)
def _like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if case_insensitive else 0))


def _like(a: str, pattern: str) -> bool:
    return _like_regex(pattern, False).fullmatch(a) is not None


def _ilike(a: str, pattern: str) -> bool:
    return _like_regex(pattern, True).fullmatch(a) is not None


_LIKE: dict[str, Impl] = {
    "~~": _like,
    "!~~": lambda a, p: not _like(a, p),
    "~~*": _ilike,
    "!~~*": lambda a, p: not _ilike(a, p),
}


def _concat_op(left: SqlType, right: SqlType) -> Operator | None:
    # text || anything: the other operand goes through its cast to text (true -> 'true').
    from .casts import CastContext, find_cast

    if not (left.is_string or right.is_string):
        return None
    lt = T.TEXT if left.is_string else left.base
    rt = T.TEXT if right.is_string else right.base
    if lt is T.TEXT and rt is T.TEXT:
        return Operator("||", (T.TEXT, T.TEXT), T.TEXT, operator.add)
    other = rt if lt is T.TEXT else lt
    cast = find_cast(other, T.TEXT, CastContext.EXPLICIT)
    if cast is None or cast.fn is None:
        return None
    to_text = cast.fn
    if lt is T.TEXT:

        def textanycat(a: str, b: object) -> str:
            return a + to_text(b)  # type: ignore[operator]

        return Operator("||", (T.TEXT, rt), T.TEXT, textanycat)

    def anytextcat(a: object, b: str) -> str:
        return to_text(a) + b  # type: ignore[operator]

    return Operator("||", (lt, T.TEXT), T.TEXT, anytextcat)


# ---- resolution -----------------------------------------------------------------


def resolve_binary(
    name: str, left: SqlType, right: SqlType, position: int | None = None
) -> Operator:
    """The operator `left name right`, or raise 42883 like PostgreSQL."""
    given = (left, right)  # the error names the types as written, `unknown` included
    if name in COMPARISONS:
        t = comparison_type(left, right)
        if t is not None:
            return Operator(name, (t, t), T.BOOL, comparison_impl(t, name))
    elif name == "||":
        op = _concat_op(left, right)
        if op is not None:
            return op
    elif name in ("~~", "!~~", "~~*", "!~~*"):
        if left.is_string and right.is_string:
            return Operator(name, (T.TEXT, T.TEXT), T.BOOL, _LIKE[name])
    elif name in ("+", "-", "*", "/", "%", "^"):
        if name == "^" and left.oid == right.oid == T.UNKNOWN.oid:
            left = right = T.FLOAT8  # only numeric candidates: the preferred type wins
        if left.oid == T.UNKNOWN.oid and right.oid == T.UNKNOWN.oid:
            raise QuorumError(
                f"operator is not unique: unknown {name} unknown",
                sqlstate="42725",
                hint="Could not choose a best candidate operator. You might need to add explicit type casts.",
                position=position,
            )
        if left.oid == T.UNKNOWN.oid:
            left = right.base
        if right.oid == T.UNKNOWN.oid:
            right = left.base
        if (
            left.is_numeric
            and right.is_numeric
            and left.oid != T.REGTYPE.oid
            and right.oid != T.REGTYPE.oid
        ):
            t = arith_type(left, right)
            if name == "^":
                if t.oid == T.NUMERIC.oid:
                    raise FeatureNotSupported(
                        "numeric ^ numeric is not supported", position=position
                    )
                return Operator("^", (T.FLOAT8, T.FLOAT8), T.FLOAT8, _pow)
            impl = _ARITH[t.oid].get(name)
            if impl is not None:
                return Operator(name, (t, t), t, impl)
    raise operator_error(name, given[0], given[1], position)


def resolve_unary(name: str, arg: SqlType, position: int | None = None) -> Operator:
    if arg.oid == T.UNKNOWN.oid:
        arg = T.NUMERIC if name in ("-", "+") else arg
    if arg.is_numeric and arg.oid != T.REGTYPE.oid and name in ("-", "+"):
        t = arg.base
        if name == "+":
            return Operator("+", (t,), t, _identity)
        return Operator("-", (t,), t, _ARITH[t.oid]["neg"])
    raise operator_error(name, None, arg, position)


def _identity(a: object) -> object:
    return a


# ---- scalar functions -------------------------------------------------------------

VERSION = "PostgreSQL 15.0 (QuorumDB 0.1.0) on x86_64-pc-linux-gnu, compiled by CPython, 64-bit"


def _abs(t: SqlType) -> Impl:
    if t.oid in T.INT_RANGES:
        lo, hi, message = T.INT_RANGES[t.oid]

        def int_abs(a: int) -> int:
            r = abs(a)
            if r > hi:
                raise NumericValueOutOfRange(message)
            return r

        return int_abs
    if t.oid == T.NUMERIC.oid:
        return Decimal.copy_abs
    return abs


def resolve_function(name: str, args: tuple[SqlType, ...], position: int | None = None) -> Operator:
    """A scalar function by name and argument types (aggregates: `resolve_aggregate`)."""
    n = len(args)
    if name == "version" and n == 0:
        return Operator(name, (), T.TEXT, lambda: VERSION, infix=False)
    if name == "abs" and n == 1:
        t = args[0] if args[0].oid != T.UNKNOWN.oid else T.FLOAT8
        if t.is_numeric:
            return Operator(name, (t.base,), t.base, _abs(t.base), infix=False)
    if name in ("lower", "upper") and n == 1 and args[0].is_string:
        impl = str.lower if name == "lower" else str.upper
        return Operator(name, (T.TEXT,), T.TEXT, impl, infix=False)
    if name in ("length", "char_length", "character_length") and n == 1 and args[0].is_string:
        return Operator(name, (T.TEXT,), T.INT4, len, infix=False)
    raise resolve_function_error(name, args, position)


# ---- aggregates ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateFunction:
    """An aggregate: `arg` is the input type (None for count(*)), `kind` picks the accumulator."""

    name: str
    arg: SqlType | None
    result: SqlType


_AGGREGATES = frozenset({"count", "sum", "min", "max", "avg"})


def is_aggregate(name: str) -> bool:
    return name in _AGGREGATES


def resolve_aggregate(
    name: str, args: tuple[SqlType, ...], star: bool, position: int | None
) -> AggregateFunction:
    if not args and not star:
        raise QuorumError(
            f"{name}(*) must be used to call a parameterless aggregate function"
            if name == "count"
            else f"function {name}() does not exist",
            sqlstate="42809" if name == "count" else "42883",
            hint=None
            if name == "count"
            else "No function matches the given name and argument types. You might need to add explicit type casts.",
            position=position,
        )
    if name == "count":
        if star:
            return AggregateFunction("count", None, T.INT8)
        if len(args) == 1:
            return AggregateFunction(
                "count", args[0] if args[0].oid != T.UNKNOWN.oid else T.TEXT, T.INT8
            )
    elif len(args) == 1 and not star:
        if args[0].oid == T.UNKNOWN.oid and name in ("sum", "avg"):
            raise QuorumError(
                f"function {name}(unknown) is not unique",
                sqlstate="42725",
                hint="Could not choose a best candidate function. You might need to add explicit type casts.",
                position=position,
            )
        t = args[0].base if args[0].oid != T.UNKNOWN.oid else T.TEXT
        if name in ("min", "max") and (t.is_numeric or t.is_string or t.oid == T.BOOL.oid):
            if t.oid == T.BOOL.oid:
                raise resolve_function_error(name, args, position)
            return AggregateFunction(
                name, T.TEXT if t.is_string else t, T.TEXT if t.is_string else t
            )
        if t.is_numeric:
            if name == "sum":
                result = {T.INT2.oid: T.INT8, T.INT4.oid: T.INT8, T.INT8.oid: T.NUMERIC}.get(
                    t.oid, t
                )
                return AggregateFunction("sum", t, result)
            if name == "avg":
                result = T.FLOAT8 if t.oid in (T.FLOAT4.oid, T.FLOAT8.oid) else T.NUMERIC
                return AggregateFunction("avg", t, result)
    raise resolve_function_error(name, args, position)


def resolve_function_error(
    name: str, args: tuple[SqlType, ...], position: int | None
) -> QuorumError:
    shown = ", ".join(str(t.base) for t in args)
    return UndefinedFunction(
        f"function {name}({shown}) does not exist",
        hint="No function matches the given name and argument types. You might need to add explicit type casts.",
        position=position,
    )
