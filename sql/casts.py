"""Casts between SQL types, and the contexts in which PostgreSQL applies them.

PostgreSQL's ``pg_cast`` marks each cast *implicit* (applied anywhere, e.g.
``int4 + int8``), *assignment* (also when storing into a column: a numeric
into an integer column) or *explicit* (only with ``CAST``/``::``). This
module is that table for our types, plus the conversion functions.

`find_cast(src, dst, context)` returns a `Cast`: `fn` converts a non-NULL
value (None: the value is already right), or raises. Type modifiers
(``varchar(n)``, ``numeric(p,s)``) are applied after the base conversion:
explicitly a varchar is truncated, on assignment it is an error (22001).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from quorumdb.storage.errors import FeatureNotSupported, NumericValueOutOfRange, QuorumError

from . import types as T
from .types import SqlType

__all__ = ["CastContext", "Cast", "find_cast", "cast_value", "CannotCoerce"]

Convert = Callable[[object], object]


class CastContext(enum.IntEnum):
    IMPLICIT = 0
    ASSIGNMENT = 1
    EXPLICIT = 2


class CannotCoerce(QuorumError):
    sqlstate = "42846"


@dataclass(frozen=True, slots=True)
class Cast:
    fn: Convert | None  # None: no conversion needed
    context: CastContext  # the weakest context in which the cast is allowed


_INTS = {T.INT2.oid, T.INT4.oid, T.INT8.oid}
_FLOATS = {T.FLOAT4.oid, T.FLOAT8.oid}
_STRINGS = {T.TEXT.oid, T.VARCHAR.oid}
_INT_WIDTH = {T.INT2.oid: 2, T.INT4.oid: 4, T.INT8.oid: 8}


def _int_narrow(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def narrow(value: object) -> object:
        if lo <= value <= hi:  # type: ignore[operator]
            return value
        raise NumericValueOutOfRange(message)

    return narrow


def _float_to_int(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def convert(value: object) -> object:
        if math.isnan(value) or math.isinf(value):  # type: ignore[arg-type]
            raise NumericValueOutOfRange(message)
        result = round(value)  # type: ignore[call-overload]  # rint(): half to even
        if lo <= result <= hi:
            return result
        raise NumericValueOutOfRange(message)

    return convert


def _numeric_to_int(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def convert(value: object) -> object:
        d: Decimal = value  # type: ignore[assignment]
        if not d.is_finite():
            what = "NaN" if d.is_nan() else "infinity"
            raise FeatureNotSupported(f"cannot convert {what} to {dst.display}")
        result = int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=T.EXACT))
        if lo <= result <= hi:
            return result
        raise NumericValueOutOfRange(message)

    return convert


def _to_float4(value: object) -> object:
    as_float = float(value)  # type: ignore[arg-type]
    try:
        result = T.to_float4(as_float)
    except OverflowError:
        raise NumericValueOutOfRange("value out of range: overflow") from None
    if result == 0.0 and as_float != 0.0:
        raise NumericValueOutOfRange("value out of range: underflow")
    return result


def _to_float8(value: object) -> object:
    return float(value)  # type: ignore[arg-type]  # int64 always fits


def _numeric_to_float(dst: SqlType) -> Convert:
    # PostgreSQL converts through the text form, so range errors quote the number.
    narrow = dst.oid == T.FLOAT4.oid

    def convert(value: object) -> object:
        d: Decimal = value  # type: ignore[assignment]
        result = float(d)
        if d.is_finite() and not d.is_zero():
            try:
                result = T.to_float4(result) if narrow else result
            except OverflowError:
                result = math.inf
            if math.isinf(result) or result == 0.0:
                raise NumericValueOutOfRange(
                    f'"{T.format_numeric(d)}" is out of range for type {dst.display}'
                )
        return result

    return convert


def _float_to_numeric(digits: int) -> Convert:
    def convert(value: object) -> object:
        f: float = value  # type: ignore[assignment]
        if f != f:
            return Decimal("NaN")
        if math.isinf(f):
            return Decimal("Infinity") if f > 0 else Decimal("-Infinity")
        result = Decimal(f"{f:.{digits}g}")
        if result.as_tuple().exponent > 0:  # type: ignore[operator]
            result = result.quantize(Decimal(1), context=T.EXACT)
        return result

    return convert


def _int_to_numeric(value: object) -> object:
    return Decimal(value)  # type: ignore[arg-type]


def _bool_to_int(value: object) -> object:
    return 1 if value else 0


def _int_to_bool(value: object) -> object:
    return value != 0


def _bool_to_text(value: object) -> object:
    return "true" if value else "false"


def _output_of(src: SqlType) -> Convert:
    def convert(value: object) -> object:
        return T.format_text(src, value)

    return convert


def _input_of(dst: SqlType) -> Convert:
    def convert(value: object) -> object:
        return T.parse_text(dst, value)  # type: ignore[arg-type]

    return convert


def _base_cast(src: SqlType, dst: SqlType) -> Cast | None:
    s, d = src.oid, dst.oid
    I, A, E = CastContext.IMPLICIT, CastContext.ASSIGNMENT, CastContext.EXPLICIT  # noqa: E741
    if s == d:
        return Cast(None, I)
    if s == T.UNKNOWN.oid:
        if d in _STRINGS:
            return Cast(None, I)
        return Cast(_input_of(dst), I)
    if s in _INTS:
        if d in _INTS:
            if _INT_WIDTH[d] > _INT_WIDTH[s]:
                return Cast(None, I)
            return Cast(_int_narrow(dst), A)
        if d == T.FLOAT8.oid:
            return Cast(_to_float8, I)
        if d == T.FLOAT4.oid:
            return Cast(_to_float4, I)
        if d == T.NUMERIC.oid:
            return Cast(_int_to_numeric, I)
        if d == T.BOOL.oid and s == T.INT4.oid:
            return Cast(_int_to_bool, E)
    elif s in _FLOATS:
        if d == T.FLOAT8.oid:
            return Cast(None, I)
        if d == T.FLOAT4.oid:
            return Cast(_to_float4, A)
        if d in _INTS:
            return Cast(_float_to_int(dst), A)
        if d == T.NUMERIC.oid:
            return Cast(_float_to_numeric(6 if s == T.FLOAT4.oid else 15), A)
    elif s == T.NUMERIC.oid:
        if d in _INTS:
            return Cast(_numeric_to_int(dst), A)
        if d in _FLOATS:
            return Cast(_numeric_to_float(dst), I)
    elif s in _STRINGS:
        if d in _STRINGS:
            return Cast(None, I)
        return Cast(_input_of(dst), E)
    elif s == T.BOOL.oid and d == T.INT4.oid:
        return Cast(_bool_to_int, E)
    if d in _STRINGS:
        # Every type converts to a string type through its output function.
        return Cast(_bool_to_text if s == T.BOOL.oid else _output_of(src), A)
    return None


def _typmod_fn(dst: SqlType, context: CastContext) -> Convert | None:
    if dst.typmod < 0:
        return None
    if dst.oid == T.NUMERIC.oid:

        def apply_numeric(value: object) -> object:
            return T.round_numeric(value, dst)  # type: ignore[arg-type]

        return apply_numeric
    limit = dst.typmod - 4
    if context is CastContext.EXPLICIT:

        def truncate(value: object) -> object:
            return value[:limit]  # type: ignore[index]

        return truncate

    def check(value: object) -> object:
        return T.check_varchar(value, dst)  # type: ignore[arg-type]

    return check


def find_cast(src: SqlType, dst: SqlType, context: CastContext) -> Cast | None:
    """The conversion from `src` to `dst` allowed in `context`, or None."""
    if src == dst:
        return Cast(None, CastContext.IMPLICIT)
    base = _base_cast(src, dst.base)
    if base is None or base.context > context:
        return None
    modifier = _typmod_fn(dst, context)
    if modifier is None:
        return base
    if base.fn is None:
        return Cast(modifier, base.context)
    first = base.fn

    def convert_then_modify(value: object) -> object:
        return modifier(first(value))

    return Cast(convert_then_modify, base.context)


def cast_value(value: object, src: SqlType, dst: SqlType, context: CastContext) -> object:
    """Convert one value (None stays None); raises CannotCoerce if no such cast."""
    cast = find_cast(src, dst, context)
    if cast is None:
        raise CannotCoerce(f"cannot cast type {src} to {dst}")
    if value is None or cast.fn is None:
        return value
    return cast.fn(value)
