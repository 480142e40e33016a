"""Casts between SQL types, and the contexts in which PostgreSQL applies them.

PostgreSQL's ``pg_cast`` marks each cast *implicit* (applied anywhere, e.g.
``int4 + int8``), *assignment* (also when storing into a column: a numeric
into an integer column) or *explicit* (only with ``CAST``/``::``). This
module is that table for our types, plus the conversion functions. Casts
not in the table go through text, as PostgreSQL's I/O conversion casts do:
any type to a string type on assignment, a string type to any type
explicitly.

`find_cast(src, dst, context)` returns a `Cast`: `fn` converts a non-NULL
value (None: the value is already right), or raises. A cast whose result
depends on the session's TimeZone (timestamp <-> timestamptz, timestamptz
to text, ...) is `zoned`: its `fn(value, zone)` also takes the session's
`Zone`, and it is never folded into a constant when planning. Type
modifiers (``varchar(n)``, ``numeric(p,s)``, ``timestamp(p)``) are applied
after the base conversion: explicitly a varchar is truncated, on assignment
it is an error (22001).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from quorumdb.storage.errors import FeatureNotSupported, NumericValueOutOfRange, QuorumError

from . import types as T
from . import types_datetime as DT
from .types import SqlType

__all__ = ["CastContext", "Cast", "find_cast", "cast_value", "CannotCoerce"]

Convert = Callable[..., object]


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
    zoned: bool = False  # fn(value, zone): depends on the session's TimeZone


_INTS = {T.INT2.oid, T.INT4.oid, T.INT8.oid}
_FLOATS = {T.FLOAT4.oid, T.FLOAT8.oid}
_STRINGS = {T.TEXT.oid, T.VARCHAR.oid, T.BPCHAR.oid}
_INT_WIDTH = {T.INT2.oid: 2, T.INT4.oid: 4, T.INT8.oid: 8}
I, A, E = CastContext.IMPLICIT, CastContext.ASSIGNMENT, CastContext.EXPLICIT  # noqa: E741


def _int_narrow(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def narrow(value: Any) -> object:
        if lo <= value <= hi:
            return value
        raise NumericValueOutOfRange(message)

    return narrow


def _float_to_int(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def convert(value: Any) -> object:
        if math.isnan(value) or math.isinf(value):
            raise NumericValueOutOfRange(message)
        result = round(value)  # rint(): half to even
        if lo <= result <= hi:
            return result
        raise NumericValueOutOfRange(message)

    return convert


def _numeric_to_int(dst: SqlType) -> Convert:
    lo, hi, message = T.INT_RANGES[dst.oid]

    def convert(value: Any) -> object:
        d: Decimal = value
        if not d.is_finite():
            what = "NaN" if d.is_nan() else "infinity"
            raise FeatureNotSupported(f"cannot convert {what} to {dst.display}")
        result = int(d.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=T.EXACT))
        if lo <= result <= hi:
            return result
        raise NumericValueOutOfRange(message)

    return convert


def _to_float4(value: Any) -> object:
    as_float = float(value)
    try:
        result = T.to_float4(as_float)
    except OverflowError:
        raise NumericValueOutOfRange("value out of range: overflow") from None
    if result == 0.0 and as_float != 0.0:
        raise NumericValueOutOfRange("value out of range: underflow")
    return result


def _to_float8(value: Any) -> object:
    return float(value)  # int64 always fits


def _numeric_to_float(dst: SqlType) -> Convert:
    # PostgreSQL converts through the text form, so range errors quote the number.
    narrow = dst.oid == T.FLOAT4.oid

    def convert(value: Any) -> object:
        d: Decimal = value
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
    def convert(value: Any) -> object:
        f: float = value
        if f != f:
            return Decimal("NaN")
        if math.isinf(f):
            return Decimal("Infinity") if f > 0 else Decimal("-Infinity")
        result = Decimal(f"{f:.{digits}g}")
        if result.as_tuple().exponent > 0:  # type: ignore[operator]
            result = result.quantize(Decimal(1), context=T.EXACT)
        return result

    return convert


def _int_to_numeric(value: Any) -> object:
    return Decimal(value)


def _bool_to_int(value: Any) -> object:
    return 1 if value else 0


def _int_to_bool(value: Any) -> object:
    return value != 0


def _int_to_oid(value: Any) -> object:
    return value & 0xFFFFFFFF  # int4 -> oid is binary-coercible: -1 is 4294967295


def _int8_to_oid(value: Any) -> object:
    if not 0 <= value <= 0xFFFFFFFF:
        raise NumericValueOutOfRange("OID out of range")
    return value


def _oid_to_int4(value: Any) -> object:
    return value - (1 << 32) if value >= 1 << 31 else value


def _regtype_to_oid(value: Any) -> object:
    """A regtype value is the type's format_type() name ("integer", "text[]")."""
    from .pgcatalog import TYPE_NAMES

    name, array = (value[:-2], True) if value.endswith("[]") else (value, False)
    try:
        return T.type_from_name((name,), array=array).oid
    except QuorumError:
        for oid, (typname, display, *_rest) in TYPE_NAMES.items():
            if value in (typname, display):
                return oid
        raise


def _bool_to_text(value: Any) -> object:
    return "true" if value else "false"


def _rtrim(value: Any) -> object:
    return value.rstrip(" ")


def _output_of(src: SqlType) -> tuple[Convert, bool]:
    if T.depends_on_zone(src):

        def zoned_output(value: Any, zone: DT.Zone) -> object:
            return T.format_text(src, value, zone.name)

        return zoned_output, True

    def output(value: Any) -> object:
        return T.format_text(src, value)

    return output, False


def _input_of(dst: SqlType) -> tuple[Convert, bool]:
    if dst.oid == T.TIMESTAMPTZ.oid:

        def timestamptz_input(value: Any, zone: DT.Zone) -> object:
            return DT.parse_timestamp(dst, value, zone)

        return timestamptz_input, True
    if dst.element is not None and T.depends_on_zone(dst):
        raise FeatureNotSupported("input of timestamp with time zone arrays is not supported")

    def convert(value: Any) -> object:
        return T.parse_text(dst, value)

    return convert, False


# ---- dates and times ----------------------------------------------------------


def _date_to_timestamp(days: Any) -> object:
    if days == DT.DATE_POS_INF:
        return DT.TS_POS_INF
    if days == DT.DATE_NEG_INF:
        return DT.TS_NEG_INF
    return DT.check_timestamp(days * DT.USECS_PER_DAY)


def _date_to_timestamptz(days: Any, zone: DT.Zone) -> object:
    ts: int = _date_to_timestamp(days)  # type: ignore[assignment]
    return DT.check_timestamp(zone.to_utc(ts))


def _timestamp_to_date(ts: Any) -> object:
    if ts == DT.TS_POS_INF:
        return DT.DATE_POS_INF
    if ts == DT.TS_NEG_INF:
        return DT.DATE_NEG_INF
    return ts // DT.USECS_PER_DAY


def _timestamptz_to_date(ts: Any, zone: DT.Zone) -> object:
    return _timestamp_to_date(zone.to_local(ts))


def _timestamp_to_timestamptz(ts: Any, zone: DT.Zone) -> object:
    return DT.check_timestamp(zone.to_utc(ts))


def _timestamptz_to_timestamp(ts: Any, zone: DT.Zone) -> object:
    return DT.check_timestamp(zone.to_local(ts))


def _timestamp_to_time(ts: Any) -> object:
    if ts in (DT.TS_NEG_INF, DT.TS_POS_INF):
        raise QuorumError("timestamp out of range", sqlstate="22008")
    return ts % DT.USECS_PER_DAY


def _timestamptz_to_time(ts: Any, zone: DT.Zone) -> object:
    return _timestamp_to_time(zone.to_local(ts))


def _time_to_interval(micros: Any) -> object:
    return DT.Interval(0, 0, micros)


def _interval_to_time(value: Any) -> object:
    return value.micros % DT.USECS_PER_DAY


# ---- json ---------------------------------------------------------------------


def _json_to_jsonb(value: Any) -> object:
    from .types_json import jsonb_from_text

    return jsonb_from_text(value)


def _jsonb_to_json(value: Any) -> object:
    from .types_json import format_jsonb

    return format_jsonb(value)


def _jsonb_to_scalar(dst: SqlType) -> Convert:
    from .types_json import Jsonb, format_jsonb

    want = "boolean" if dst.oid == T.BOOL.oid else "numeric"
    then = None if dst.oid in (T.BOOL.oid, T.NUMERIC.oid) else find_cast(T.NUMERIC, dst, E)

    def convert(value: Jsonb) -> object:
        v = value.value
        ok = (
            isinstance(v, bool)
            if want == "boolean"
            else (isinstance(v, Decimal) and not isinstance(v, bool))
        )
        if not ok:
            kind = _jsonb_kind(v)
            raise QuorumError(
                f"cannot cast jsonb {kind} to type {dst.display}",
                sqlstate="22023",
            )
        if then is not None and then.fn is not None:
            return then.fn(v)
        return v

    del format_jsonb
    return convert


def _jsonb_kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "numeric"


# ---- the table ----------------------------------------------------------------


def _base_cast(src: SqlType, dst: SqlType) -> Cast | None:
    s, d = src.oid, dst.oid
    if s == d and src.element == dst.element:
        if s == T.BPCHAR.oid and dst.typmod < 0:
            return Cast(None, I)
        return Cast(None, I)
    if s == T.UNKNOWN.oid:
        if d in _STRINGS:
            return Cast(None, I)
        fn, zoned = _input_of(dst)
        return Cast(fn, I, zoned)
    if src.element is not None and dst.element is not None:
        return _array_cast(src, dst)
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
        if d == T.OID.oid:
            return Cast(_int8_to_oid if s == T.INT8.oid else _int_to_oid, I)
    elif s == T.REGTYPE.oid and d == T.OID.oid:
        return Cast(_regtype_to_oid, I)
    elif s == T.OID.oid:
        if d == T.INT8.oid:
            return Cast(None, A)
        if d == T.INT4.oid:
            return Cast(_oid_to_int4, A)
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
            # char(n) loses its padding when it becomes text or varchar
            return Cast(_rtrim if s == T.BPCHAR.oid and d != T.BPCHAR.oid else None, I)
        fn, zoned = _input_of(dst)
        return Cast(fn, E, zoned)
    elif s == T.BOOL.oid and d == T.INT4.oid:
        return Cast(_bool_to_int, E)
    elif s == T.DATE.oid:
        if d == T.TIMESTAMP.oid:
            return Cast(_date_to_timestamp, I)
        if d == T.TIMESTAMPTZ.oid:
            return Cast(_date_to_timestamptz, I, True)
    elif s == T.TIMESTAMP.oid:
        if d == T.TIMESTAMPTZ.oid:
            return Cast(_timestamp_to_timestamptz, I, True)
        if d == T.DATE.oid:
            return Cast(_timestamp_to_date, A)
        if d == T.TIME.oid:
            return Cast(_timestamp_to_time, A)
    elif s == T.TIMESTAMPTZ.oid:
        if d == T.TIMESTAMP.oid:
            return Cast(_timestamptz_to_timestamp, A, True)
        if d == T.DATE.oid:
            return Cast(_timestamptz_to_date, A, True)
        if d == T.TIME.oid:
            return Cast(_timestamptz_to_time, A, True)
    elif s == T.TIME.oid and d == T.INTERVAL.oid:
        return Cast(_time_to_interval, I)
    elif s == T.INTERVAL.oid and d == T.TIME.oid:
        return Cast(_interval_to_time, A)
    elif s == T.JSON.oid and d == T.JSONB.oid:
        return Cast(_json_to_jsonb, A)
    elif s == T.JSONB.oid:
        if d == T.JSON.oid:
            return Cast(_jsonb_to_json, A)
        if d == T.BOOL.oid or d in _INTS or d in _FLOATS or d == T.NUMERIC.oid:
            return Cast(_jsonb_to_scalar(dst), E)
    if d in _STRINGS:
        # Every type converts to a string type through its output function.
        if s == T.BOOL.oid:
            return Cast(_bool_to_text, A)
        fn, zoned = _output_of(src)
        return Cast(fn, A, zoned)
    return None


def _array_cast(src: SqlType, dst: SqlType) -> Cast | None:
    assert src.element is not None and dst.element is not None
    inner = find_cast(src.element, dst.element, E)
    if inner is None:
        return None
    if inner.fn is None:
        return Cast(None, inner.context)
    convert = inner.fn
    if inner.zoned:

        def each_zoned(value: Any, zone: DT.Zone) -> object:
            return tuple(
                None
                if v is None
                else (each_zoned(v, zone) if isinstance(v, tuple) else convert(v, zone))
                for v in value
            )

        return Cast(each_zoned, inner.context, True)

    def each(value: Any) -> object:
        return tuple(
            None if v is None else (each(v) if isinstance(v, tuple) else convert(v)) for v in value
        )

    return Cast(each, inner.context)


def _typmod_fn(dst: SqlType, context: CastContext) -> Convert | None:
    if dst.typmod < 0:
        return None
    oid = dst.oid
    if oid == T.NUMERIC.oid:

        def apply_numeric(value: Any) -> object:
            return T.round_numeric(value, dst)

        return apply_numeric
    if oid in (T.TIMESTAMP.oid, T.TIMESTAMPTZ.oid, T.TIME.oid):
        precision = dst.typmod

        def round_fraction(value: Any) -> object:
            return DT.round_timestamp(value, precision)

        return round_fraction
    if oid == T.INTERVAL.oid:
        typmod = dst.typmod

        def apply_interval(value: Any) -> object:
            return DT.apply_interval_typmod(value, typmod)

        return apply_interval
    limit = dst.typmod - 4
    pad = oid == T.BPCHAR.oid
    if context is CastContext.EXPLICIT:

        def truncate(value: Any) -> object:
            cut = value[:limit]
            return cut.ljust(limit) if pad else cut

        return truncate

    def check(value: Any) -> object:
        checked = T.check_varchar(value, dst)
        return checked.ljust(limit) if pad else checked

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
    if base.zoned:

        def zoned_then_modify(value: Any, zone: DT.Zone) -> object:
            return modifier(first(value, zone))

        return Cast(zoned_then_modify, base.context, True)

    def convert_then_modify(value: Any) -> object:
        return modifier(first(value))

    return Cast(convert_then_modify, base.context)


def cast_value(
    value: object,
    src: SqlType,
    dst: SqlType,
    context: CastContext,
    zone: DT.Zone | None = None,
) -> object:
    """Convert one value (None stays None); raises CannotCoerce if no such cast."""
    cast = find_cast(src, dst, context)
    if cast is None:
        raise CannotCoerce(f"cannot cast type {src} to {dst}")
    if value is None or cast.fn is None:
        return value
    if cast.zoned:
        return cast.fn(value, zone or DT.UTC)
    return cast.fn(value)
