"""SQL types: PostgreSQL identity (OID, typlen, typmod), text input and output.

A `SqlType` is a frozen value naming one PostgreSQL type, optionally with a
type modifier (``varchar(10)``, ``numeric(8,2)``, ``timestamp(3)``) or an
element type (arrays). Values of every type are plain Python objects, chosen
so that rows pack compactly with msgpack (`sql/rowcodec.py`) and, for the
types that can be keys, encode directly with `storage.keycode`:

=========================  ==========  ====================================
type                       Python      notes
=========================  ==========  ====================================
int2 / int4 / int8         int         range-checked on every arithmetic result
oid                        int         0 .. 2**32-1 (catalog object ids)
float4 / float8            float       float4 values are rounded to binary32
numeric                    Decimal     the exponent is the display scale (>= 0)
text / varchar / bpchar    str         bpchar(n) is stored padded to n
bool                       bool
date                       int         days since 2000-01-01 (PostgreSQL's epoch)
time                       int         microseconds since midnight
timestamp / timestamptz    int         microseconds since 2000-01-01 (UTC for tz)
interval                   Interval    (months, days, microseconds)
uuid                       bytes       the 16 bytes, so keys sort as PostgreSQL's
bytea                      bytes
json                       str         the text as written (validated)
jsonb                      Jsonb       a parsed, normalised document
arrays                     tuple       elements (None for NULL), nested for 2-D
unknown                    str         an untyped string literal
=========================  ==========  ====================================

NULL is ``None`` everywhere and never reaches the functions here. The
infinite dates and timestamps are the extreme ints, as in PostgreSQL.

`parse_text(type, text)` is PostgreSQL's input function (same accepted
syntax, same 22P02/22003/22007/22008 messages); `text_encoder(type)` is its
output function as bytes. Numbers, strings and booleans live here; the other
families register their functions from `types_datetime`, `types_json`,
`types_binary` and `types_array` (imported at the bottom). Casts between
types live in `sql/casts.py`; operators and functions in `sql/functions*.py`.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any

from quorumdb.storage.errors import (
    FeatureNotSupported,
    InvalidTextRepresentation,
    NumericValueOutOfRange,
    QuorumError,
    SyntaxErrorSQL,
    UndefinedObject,
)

__all__ = [
    "SqlType",
    "INT2",
    "INT4",
    "INT8",
    "FLOAT4",
    "FLOAT8",
    "NUMERIC",
    "TEXT",
    "VARCHAR",
    "BPCHAR",
    "BOOL",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "TIMESTAMPTZ",
    "INTERVAL",
    "UUID",
    "BYTEA",
    "JSON",
    "JSONB",
    "UNKNOWN",
    "REGTYPE",
    "OID",
    "INT_RANGES",
    "EXACT",
    "type_from_name",
    "type_from_oid",
    "array_of",
    "varchar",
    "bpchar",
    "numeric",
    "parse_text",
    "text_encoder",
    "format_text",
    "register_io",
    "to_float4",
    "round_numeric",
    "numeric_typmod",
]


@dataclass(frozen=True, slots=True)
class SqlType:
    """One PostgreSQL type. `typmod` is PostgreSQL's atttypmod (-1: none);
    `element` is set for array types."""

    name: str  # internal name, as in pg_type.typname: "int4", "_int4"
    oid: int
    typlen: int  # 2/4/8/16 fixed width, -1 varlena, -2 C string
    display: str  # format_type() name used in messages: "integer"
    category: str  # pg_type.typcategory: N numeric, S string, B boolean, D datetime, ...
    typmod: int = -1
    element: SqlType | None = None

    def __str__(self) -> str:
        if self.element is not None:
            return f"{self.element}[]"
        if self.typmod < 0:
            return self.display
        return _TYPMOD_DISPLAY[self.oid](self)

    @property
    def base(self) -> SqlType:
        """The type without its modifier."""
        if self.typmod < 0:
            return self
        return _BY_OID[self.oid]

    @property
    def is_numeric(self) -> bool:
        return self.category == "N"

    @property
    def is_string(self) -> bool:
        """text, varchar, char(n) and unknown literals: what `||` treats as strings."""
        return self.category in ("S", "X")

    @property
    def is_array(self) -> bool:
        return self.element is not None

    @property
    def preferred(self) -> bool:
        """pg_type.typispreferred: the type its category resolves to when ambiguous."""
        return self.oid in _PREFERRED


INT2 = SqlType("int2", 21, 2, "smallint", "N")
INT4 = SqlType("int4", 23, 4, "integer", "N")
INT8 = SqlType("int8", 20, 8, "bigint", "N")
FLOAT4 = SqlType("float4", 700, 4, "real", "N")
FLOAT8 = SqlType("float8", 701, 8, "double precision", "N")
NUMERIC = SqlType("numeric", 1700, -1, "numeric", "N")
TEXT = SqlType("text", 25, -1, "text", "S")
VARCHAR = SqlType("varchar", 1043, -1, "character varying", "S")
BPCHAR = SqlType("bpchar", 1042, -1, "character", "S")
BOOL = SqlType("bool", 16, 1, "boolean", "B")
DATE = SqlType("date", 1082, 4, "date", "D")
TIME = SqlType("time", 1083, 8, "time without time zone", "D")
TIMESTAMP = SqlType("timestamp", 1114, 8, "timestamp without time zone", "D")
TIMESTAMPTZ = SqlType("timestamptz", 1184, 8, "timestamp with time zone", "D")
INTERVAL = SqlType("interval", 1186, 16, "interval", "T")
UUID = SqlType("uuid", 2950, 16, "uuid", "U")
BYTEA = SqlType("bytea", 17, -1, "bytea", "U")
JSON = SqlType("json", 114, -1, "json", "U")
JSONB = SqlType("jsonb", 3802, -1, "jsonb", "U")
UNKNOWN = SqlType("unknown", 705, -2, "unknown", "X")
REGTYPE = SqlType("regtype", 2206, 4, "regtype", "N")  # a type's name; produced by pg_typeof()
OID = SqlType("oid", 26, 4, "oid", "N")  # an object id: 4-byte unsigned, an int 0 .. 2**32-1

_SCALARS = (
    INT2,
    INT4,
    INT8,
    FLOAT4,
    FLOAT8,
    NUMERIC,
    TEXT,
    VARCHAR,
    BPCHAR,
    BOOL,
    DATE,
    TIME,
    TIMESTAMP,
    TIMESTAMPTZ,
    INTERVAL,
    UUID,
    BYTEA,
    JSON,
    JSONB,
    OID,
)
_BY_OID: dict[int, SqlType] = {t.oid: t for t in _SCALARS}
_BY_OID[REGTYPE.oid] = REGTYPE
_BY_OID[UNKNOWN.oid] = UNKNOWN
_PREFERRED = {FLOAT8.oid, TEXT.oid, BOOL.oid, TIMESTAMPTZ.oid, INTERVAL.oid}

# pg_type.typarray of each element type.
_ARRAY_OIDS = {
    INT2.oid: 1005,
    INT4.oid: 1007,
    INT8.oid: 1016,
    FLOAT4.oid: 1021,
    FLOAT8.oid: 1022,
    NUMERIC.oid: 1231,
    TEXT.oid: 1009,
    VARCHAR.oid: 1015,
    BPCHAR.oid: 1014,
    BOOL.oid: 1000,
    DATE.oid: 1182,
    TIME.oid: 1183,
    TIMESTAMP.oid: 1115,
    TIMESTAMPTZ.oid: 1185,
    INTERVAL.oid: 1187,
    UUID.oid: 2951,
    BYTEA.oid: 1001,
    JSON.oid: 199,
    JSONB.oid: 3807,
    OID.oid: 1028,
}
_ARRAYS: dict[int, SqlType] = {}
for _element in _SCALARS:
    _array = SqlType(
        "_" + _element.name, _ARRAY_OIDS[_element.oid], -1, f"{_element.display}[]", "A",
        element=_element,
    )  # fmt: skip
    _ARRAYS[_element.oid] = _array
    _BY_OID[_array.oid] = _array


def array_of(element: SqlType) -> SqlType:
    """The array type whose elements are `element` (modifiers are dropped, as PostgreSQL does)."""
    array = _ARRAYS.get(element.base.oid)
    if array is None:
        raise FeatureNotSupported(f"arrays of type {element.base} are not supported")
    return array


INT_RANGES: dict[int, tuple[int, int, str]] = {
    INT2.oid: (-(1 << 15), (1 << 15) - 1, "smallint out of range"),
    INT4.oid: (-(1 << 31), (1 << 31) - 1, "integer out of range"),
    INT8.oid: (-(1 << 63), (1 << 63) - 1, "bigint out of range"),
}

# Exact decimal arithmetic for + - * (PostgreSQL's numeric never rounds those).
EXACT = Context(prec=100_000, rounding=ROUND_HALF_UP, Emax=10**9, Emin=-(10**9))
_NUMERIC_MAX_PRECISION = 1000

_TYPE_NAMES: dict[str, SqlType] = {
    "int2": INT2,
    "smallint": INT2,
    "int": INT4,
    "int4": INT4,
    "integer": INT4,
    "int8": INT8,
    "bigint": INT8,
    "float4": FLOAT4,
    "real": FLOAT4,
    "float8": FLOAT8,
    "double precision": FLOAT8,
    "float": FLOAT8,
    "numeric": NUMERIC,
    "decimal": NUMERIC,
    "text": TEXT,
    "varchar": VARCHAR,
    "character varying": VARCHAR,
    "bpchar": BPCHAR,
    "char": BPCHAR,
    "character": BPCHAR,
    "bool": BOOL,
    "boolean": BOOL,
    "date": DATE,
    "time": TIME,
    "time without time zone": TIME,
    "timestamp": TIMESTAMP,
    "timestamp without time zone": TIMESTAMP,
    "timestamptz": TIMESTAMPTZ,
    "timestamp with time zone": TIMESTAMPTZ,
    "interval": INTERVAL,
    "uuid": UUID,
    "bytea": BYTEA,
    "json": JSON,
    "jsonb": JSONB,
    "regtype": REGTYPE,
    "oid": OID,
}


def _with_typmod(base: SqlType, typmod: int) -> SqlType:
    return SqlType(base.name, base.oid, base.typlen, base.display, base.category, typmod)


def varchar(length: int) -> SqlType:
    return _char_type(VARCHAR, length)


def bpchar(length: int) -> SqlType:
    return _char_type(BPCHAR, length)


def _char_type(base: SqlType, length: int) -> SqlType:
    if length < 1:
        raise QuorumError(f"length for type {base.name} must be at least 1", sqlstate="22023")
    if length > 10_485_760:
        raise QuorumError(f"length for type {base.name} cannot exceed 10485760", sqlstate="22023")
    return _with_typmod(base, length + 4)


def numeric(precision: int, scale: int = 0) -> SqlType:
    """numeric(p,s); as in PostgreSQL 15 the scale may be negative or exceed the precision."""
    if not 1 <= precision <= _NUMERIC_MAX_PRECISION:
        raise QuorumError(
            f"NUMERIC precision {precision} must be between 1 and {_NUMERIC_MAX_PRECISION}",
            sqlstate="22023",
        )
    if not -_NUMERIC_MAX_PRECISION <= scale <= _NUMERIC_MAX_PRECISION:
        raise QuorumError(
            f"NUMERIC scale {scale} must be between {-_NUMERIC_MAX_PRECISION} and {_NUMERIC_MAX_PRECISION}",
            sqlstate="22023",
        )
    return _with_typmod(NUMERIC, ((precision << 16) | (scale & 0x7FF)) + 4)


def _precision_type(base: SqlType, precision: int) -> SqlType:
    """timestamp(p) / time(p): 0..6 fractional digits (more is clamped with a warning in PG)."""
    if precision < 0:
        raise QuorumError(
            f"{base.display.split(' ')[0].upper()}({precision}) precision must not be negative",
            sqlstate="22023",
        )
    return _with_typmod(base, min(precision, 6))


def type_from_oid(oid: int, typmod: int = -1) -> SqlType:
    """The type stored in the catalog as (oid, typmod)."""
    base = _BY_OID[oid]
    if typmod < 0:
        return base
    return _with_typmod(base, typmod)


def numeric_typmod(t: SqlType) -> tuple[int, int]:
    """(precision, scale) of a numeric typmod (the scale is an 11-bit signed field)."""
    raw = t.typmod - 4
    scale = raw & 0x7FF
    return raw >> 16, scale - 0x800 if scale & 0x400 else scale


def _display_char(t: SqlType) -> str:
    return f"{t.display}({t.typmod - 4})"


def _display_numeric(t: SqlType) -> str:
    precision, scale = numeric_typmod(t)
    return f"numeric({precision},{scale})"


def _display_precision(t: SqlType) -> str:
    word, _, rest = t.display.partition(" ")
    return f"{word}({t.typmod}) {rest}".rstrip()


def _display_interval(t: SqlType) -> str:
    from .types_datetime import interval_typmod_text

    return "interval" + interval_typmod_text(t.typmod)


_TYPMOD_DISPLAY: dict[int, Callable[[SqlType], str]] = {
    VARCHAR.oid: _display_char,
    BPCHAR.oid: _display_char,
    NUMERIC.oid: _display_numeric,
    TIME.oid: _display_precision,
    TIMESTAMP.oid: _display_precision,
    TIMESTAMPTZ.oid: _display_precision,
    INTERVAL.oid: _display_interval,
}


def type_from_name(
    names: tuple[str, ...],
    typmods: tuple[int, ...] = (),
    position: int | None = None,
    array: bool = False,
) -> SqlType:
    """Resolve a parsed type name (``pg_catalog.int4``, ``varchar`` with modifiers, ``int[]``)."""
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    name = names[-1] if len(names) == 1 else ".".join(names)
    base = _TYPE_NAMES.get(name)
    if base is None:
        if name in _UNSUPPORTED_TYPES:
            raise FeatureNotSupported(f"type {name} is not supported", position=position)
        raise UndefinedObject(f'type "{name}" does not exist', position=position)
    result = _apply_typmods(base, name, typmods, position)
    return array_of(result) if array else result


# PostgreSQL's built-in types that QuorumDB lacks: 0A000 rather than "does not exist".
_UNSUPPORTED_TYPES = frozenset(
    "timetz money inet cidr macaddr macaddr8 xml bit varbit point line lseg box path polygon"
    " circle tsvector tsquery int4range int8range numrange tsrange tstzrange daterange"
    " int4multirange regclass regproc pg_lsn txid_snapshot pg_snapshot jsonpath".split()
)


def _apply_typmods(
    base: SqlType, name: str, typmods: tuple[int, ...], position: int | None
) -> SqlType:
    if not typmods:
        # char without a length is char(1); "bpchar" itself means unlimited
        return bpchar(1) if base is BPCHAR and name in ("char", "character") else base
    try:
        if base in (VARCHAR, BPCHAR) and len(typmods) == 1:
            return _char_type(base, typmods[0])
        if base is NUMERIC and len(typmods) <= 2:
            return numeric(*typmods)
        if base in (TIMESTAMP, TIMESTAMPTZ, TIME) and len(typmods) == 1:
            return _precision_type(base, typmods[0])
        if base is INTERVAL and len(typmods) <= 2:
            from .types_datetime import interval_typmod

            return _with_typmod(INTERVAL, interval_typmod(typmods))
    except QuorumError as exc:
        exc.position = position
        raise
    raise SyntaxErrorSQL(f'type modifier is not allowed for type "{base.name}"', position=position)


# ---- text input -------------------------------------------------------------

_INT_RE = re.compile(r"\s*([+-]?[0-9]+)\s*", re.ASCII)
_FLOAT_RE = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*", re.ASCII)
_SPECIAL_FLOATS = {
    "nan": math.nan,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
}
_SPECIAL_NUMERICS = {
    "nan": Decimal("NaN"),
    "infinity": Decimal("Infinity"),
    "+infinity": Decimal("Infinity"),
    "-infinity": Decimal("-Infinity"),
    "inf": Decimal("Infinity"),
    "+inf": Decimal("Infinity"),
    "-inf": Decimal("-Infinity"),
}


def invalid_input(t: SqlType, text: str) -> InvalidTextRepresentation:
    return InvalidTextRepresentation(f'invalid input syntax for type {t.display}: "{text}"')


def _parse_int(t: SqlType, text: str) -> int:
    m = _INT_RE.fullmatch(text)
    if m is None:
        raise invalid_input(t, text)
    value = int(m.group(1))
    lo, hi, _ = INT_RANGES[t.oid]
    if not lo <= value <= hi:
        raise NumericValueOutOfRange(f'value "{text}" is out of range for type {t.display}')
    return value


def _parse_oid(t: SqlType, text: str) -> int:
    """oidin: an unsigned 32-bit number; negative input down to -2**31 wraps, as in C."""
    m = _INT_RE.fullmatch(text)
    if m is None:
        raise invalid_input(t, text)
    value = int(m.group(1))
    if not -(1 << 31) <= value <= 0xFFFFFFFF:
        raise NumericValueOutOfRange(f'value "{text}" is out of range for type oid')
    return value & 0xFFFFFFFF


def _parse_float(t: SqlType, text: str) -> float:
    m = _FLOAT_RE.fullmatch(text)
    if m is None:
        special = _SPECIAL_FLOATS.get(text.strip().lower())
        if special is None:
            raise invalid_input(t, text)
        return special
    value = float(text)
    out_of_range = math.isinf(value) or (value == 0.0 and any(c in "123456789" for c in m.group(1)))
    if t.oid == FLOAT4.oid and not out_of_range:
        try:
            narrowed = to_float4(value)
        except OverflowError:
            narrowed = math.inf
        out_of_range = math.isinf(narrowed) or (narrowed == 0.0 and value != 0.0)
        value = narrowed
    if out_of_range:
        raise NumericValueOutOfRange(f'"{text}" is out of range for type {t.display}')
    return value


def _parse_numeric(t: SqlType, text: str) -> Decimal:
    if _FLOAT_RE.fullmatch(text) is None:
        special = _SPECIAL_NUMERICS.get(text.strip().lower())
        if special is None:
            raise invalid_input(NUMERIC, text)
        value = special
    else:
        value = Decimal(text.strip())
        if value.as_tuple().exponent > 0:  # type: ignore[operator]
            value = value.quantize(Decimal(1), context=EXACT)
    if t.typmod >= 0:
        value = round_numeric(value, t)
    return value


_TRUE_WORDS = ("true", "yes", "on")
_FALSE_WORDS = ("false", "no", "off")


def _parse_bool(t: SqlType, text: str) -> bool:
    word = text.strip().lower()
    if word == "1":
        return True
    if word == "0":
        return False
    if word:
        # PostgreSQL accepts unique prefixes; "o" alone is ambiguous between on/off.
        if (len(word) >= 2 or word[0] != "o") and len(word) <= 5:
            for candidate in _TRUE_WORDS:
                if candidate.startswith(word):
                    return True
            for candidate in _FALSE_WORDS:
                if candidate.startswith(word):
                    return False
    raise invalid_input(t, text)


def _parse_text(t: SqlType, text: str) -> str:
    if t.typmod >= 0 and len(text) > t.typmod - 4:
        return check_varchar(text, t)
    return text


def _parse_bpchar(t: SqlType, text: str) -> str:
    if t.typmod < 0:
        return text
    return check_varchar(text, t).ljust(t.typmod - 4)


def check_varchar(text: str, t: SqlType) -> str:
    """Assignment to varchar(n)/char(n): too long is an error unless only spaces are cut."""
    limit = t.typmod - 4
    if len(text) <= limit:
        return text
    if text[limit:].strip(" "):
        raise QuorumError(f"value too long for type {t}", sqlstate="22001")
    return text[:limit]


def _parse_regtype(t: SqlType, text: str) -> str:
    text = text.strip()
    array = text.endswith("[]")
    text = text[:-2] if array else text
    names = tuple(part.strip().strip('"') for part in text.lower().split("."))
    return str(type_from_name(names, array=array))


def parse_text(t: SqlType, text: str) -> object:
    """PostgreSQL's input function for `t` (typmod applied as an assignment would)."""
    if t.element is not None:
        from .types_array import parse_array

        return parse_array(t, text)
    parser = _PARSERS.get(t.oid)
    if parser is None:
        raise FeatureNotSupported(f"input of type {t.display} is not supported")
    return parser(t, text)


_PARSERS: dict[int, Callable[[SqlType, str], object]] = {
    INT2.oid: _parse_int,
    INT4.oid: _parse_int,
    INT8.oid: _parse_int,
    FLOAT4.oid: _parse_float,
    FLOAT8.oid: _parse_float,
    NUMERIC.oid: _parse_numeric,
    TEXT.oid: _parse_text,
    VARCHAR.oid: _parse_text,
    BPCHAR.oid: _parse_bpchar,
    UNKNOWN.oid: _parse_text,
    BOOL.oid: _parse_bool,
    REGTYPE.oid: _parse_regtype,
    OID.oid: _parse_oid,
}


# ---- numeric helpers ------------------------------------------------------


def round_numeric(value: Decimal, t: SqlType) -> Decimal:
    """Apply numeric(p,s): round half away from zero to s digits, then check the precision."""
    if not value.is_finite():
        if value.is_nan():
            return value
        precision, scale = numeric_typmod(t)
        raise NumericValueOutOfRange(
            "numeric field overflow",
            detail=f"A field with precision {precision}, scale {scale} cannot hold an infinite value.",
        )
    precision, scale = numeric_typmod(t)
    rounded = value.quantize(Decimal(1).scaleb(-scale), context=EXACT)
    if scale < 0:
        rounded = rounded.quantize(Decimal(1), context=EXACT)  # displayed without a scale
    max_int_digits = precision - scale
    if not rounded.is_zero() and rounded.adjusted() >= max_int_digits:
        bound = f"10^{max_int_digits}" if max_int_digits else "1"
        raise NumericValueOutOfRange(
            "numeric field overflow",
            detail=f"A field with precision {precision}, scale {scale} must round to an absolute value less than {bound}.",
        )
    return rounded


def to_float4(value: float) -> float:
    """Round a double to the nearest binary32 value (raises OverflowError when too big)."""
    return _unpack_f(_pack_f(value))[0]


_pack_f = struct.Struct("<f").pack
_unpack_f = struct.Struct("<f").unpack


# ---- text output ------------------------------------------------------------


def _shortest_format(sign: str, digits: str, exp10: int, fixed_below: int) -> str:
    """Lay out significant `digits` (first digit at 10**exp10) like PostgreSQL's Ryu output."""
    if -4 <= exp10 < fixed_below:
        n = len(digits)
        if exp10 >= n - 1:
            body = digits + "0" * (exp10 - n + 1)
        elif exp10 >= 0:
            body = digits[: exp10 + 1] + "." + digits[exp10 + 1 :]
        else:
            body = "0." + "0" * (-exp10 - 1) + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        body = f"{mantissa}e{'+' if exp10 >= 0 else '-'}{abs(exp10):02d}"
    return sign + body


def _split_repr(text: str) -> tuple[str, str, int]:
    """('-' or '', significant digits, decimal exponent of the first digit) of a float literal."""
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_part = text.partition("e")
    exp = int(exp_part) if exp_part else 0
    int_part, _, frac = mantissa.partition(".")
    all_digits = int_part + frac
    stripped = all_digits.lstrip("0")
    leading = len(all_digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    return sign, digits, exp + len(int_part) - 1 - leading


def _special_float(value: float) -> str | None:
    if value != value:
        return "NaN"
    if value == math.inf:
        return "Infinity"
    if value == -math.inf:
        return "-Infinity"
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    return None


def format_float8(value: float) -> str:
    special = _special_float(value)
    if special is not None:
        return special
    sign, digits, exp10 = _split_repr(repr(value))
    return _shortest_format(sign, digits, exp10, 15)


def format_float4(value: float) -> str:
    special = _special_float(value)
    if special is not None:
        return special
    # Fewest significant digits that read back as the same binary32 value.
    for precision in range(1, 10):
        text = f"{value:.{precision - 1}e}"
        try:
            if to_float4(float(text)) == value:
                break
        except OverflowError:  # rounded up past the largest binary32
            continue
    sign, digits, exp10 = _split_repr(text)
    return _shortest_format(sign, digits, exp10, 6)


def _format_float_digits(digits: int) -> Callable[[Any], str]:
    """Output with extra_float_digits <= 0: printf %g with fewer digits."""

    def fmt(value: float) -> str:
        special = _special_float(value)
        if special is not None:
            return special
        return f"{value:.{digits}g}"

    return fmt


def format_numeric(value: Decimal) -> str:
    if not value.is_finite():
        if value.is_nan():
            return "NaN"
        return "-Infinity" if value.is_signed() else "Infinity"
    if value.is_zero() and value.is_signed():
        value = value.copy_abs()
    return format(value, "f")


def _format_bool(value: bool) -> str:
    return "t" if value else "f"


# Output functions. Those of timestamptz (and of arrays of it) also take the
# session's TimeZone: `_ZONED` lists them, `format_text` passes `zone` on.
_FORMATTERS: dict[int, Callable[[Any], str]] = {
    INT2.oid: str,
    INT4.oid: str,
    INT8.oid: str,
    FLOAT4.oid: format_float4,
    FLOAT8.oid: format_float8,
    NUMERIC.oid: format_numeric,
    TEXT.oid: str,
    VARCHAR.oid: str,
    BPCHAR.oid: str,
    UNKNOWN.oid: str,
    BOOL.oid: _format_bool,
    REGTYPE.oid: str,
    OID.oid: str,
}
_ZONED: dict[int, Callable[[Any, str | None], str]] = {}


def register_io(
    t: SqlType,
    parse: Callable[[SqlType, str], object],
    fmt: Callable[[Any], str] | None = None,
    zoned_fmt: Callable[[Any, str | None], str] | None = None,
) -> None:
    """Install the input and output functions of a type family module."""
    _PARSERS[t.oid] = parse
    if fmt is not None:
        _FORMATTERS[t.oid] = fmt
    if zoned_fmt is not None:
        _ZONED[t.oid] = zoned_fmt


def format_text(t: SqlType, value: object, zone: str | None = None) -> str:
    """PostgreSQL's output function for `t` (value is not None); `zone` is the session's
    TimeZone (None: UTC), which only timestamptz output depends on."""
    if t.element is not None:
        from .types_array import format_array

        return format_array(t, value, zone)  # type: ignore[arg-type]
    zoned = _ZONED.get(t.oid)
    if zoned is not None:
        return zoned(value, zone)
    return _FORMATTERS[t.oid](value)


def depends_on_zone(t: SqlType) -> bool:
    """Whether the text form of `t`'s values depends on the session TimeZone."""
    while t.element is not None:
        t = t.element
    return t.oid in _ZONED


def _encode_str(value: object) -> bytes:
    return value.encode()  # type: ignore[attr-defined]


def _encode_int(value: object) -> bytes:
    return str(value).encode()


def _encode_bool(value: object) -> bytes:
    return b"t" if value else b"f"


def text_encoder(
    t: SqlType, extra_float_digits: int = 1, zone: str | None = None
) -> Callable[[object], bytes]:
    """The `Column.encode_text` for values of `t` (never called with None); `zone` is the
    session's TimeZone setting (it matters only for timestamptz)."""
    oid = t.oid
    if oid in (TEXT.oid, VARCHAR.oid, BPCHAR.oid, UNKNOWN.oid, REGTYPE.oid, JSON.oid):
        return _encode_str
    if oid in INT_RANGES or oid == OID.oid:
        return _encode_int
    if oid == BOOL.oid:
        return _encode_bool
    fmt: Callable[[Any], str]
    if oid in (FLOAT4.oid, FLOAT8.oid) and extra_float_digits <= 0:
        fmt = _format_float_digits((6 if oid == FLOAT4.oid else 15) + extra_float_digits)
    elif t.element is not None or oid in _ZONED:

        def fmt(value: Any) -> str:
            return format_text(t, value, zone)

    else:
        fmt = _FORMATTERS[oid]

    def encode(value: Any) -> bytes:
        return fmt(value).encode()

    return encode


def is_nan(value: object) -> bool:
    """NaN of float or numeric (PostgreSQL treats NaN as equal to itself and above all numbers)."""
    if isinstance(value, float):
        return value != value
    return isinstance(value, Decimal) and value.is_nan()


# The other type families' input and output functions.
from . import types_binary as _binary  # noqa: E402
from . import types_datetime as _datetime  # noqa: E402
from . import types_json as _json  # noqa: E402

register_io(DATE, _datetime.parse_date, _datetime.format_date)
register_io(TIME, _datetime.parse_time, _datetime.format_time)
register_io(TIMESTAMP, _datetime.parse_timestamp, _datetime.format_timestamp)
register_io(TIMESTAMPTZ, _datetime.parse_timestamp, zoned_fmt=_datetime.format_timestamptz)
register_io(INTERVAL, _datetime.parse_interval, _datetime.format_interval)
register_io(BYTEA, _binary.parse_bytea, _binary.format_bytea)
register_io(UUID, _binary.parse_uuid, _binary.format_uuid)
register_io(JSONB, _json.parse_jsonb, _json.format_jsonb)
register_io(JSON, _json.parse_json, str)
