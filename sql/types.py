"""SQL types: PostgreSQL identity (OID, typlen, typmod), text input and output.

A `SqlType` is a frozen value naming one PostgreSQL type, optionally with a
type modifier (``varchar(10)``, ``numeric(8,2)``). Values of every type are
plain Python objects, chosen so that rows pack with msgpack and keys encode
with `storage.keycode`:

====================  ==========  =========================================
type                  Python      notes
====================  ==========  =========================================
int2 / int4 / int8    int         range-checked on every arithmetic result
float4 / float8       float       float4 values are rounded to binary32
numeric               Decimal     the exponent is the display scale (>= 0)
text / varchar        str
bool                  bool
unknown               str         an untyped string literal
====================  ==========  =========================================

NULL is ``None`` everywhere and never reaches the functions here.

`parse_text(type, text)` is PostgreSQL's input function (same accepted
syntax, same 22P02/22003 messages); `text_encoder(type)` is its output
function as bytes (PostgreSQL 15 formats: ``t``/``f``, shortest-exact floats
such as ``1e+20``, numerics with their scale). Casts between types live in
`sql/casts.py`; operators in `sql/functions.py`.
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
    "BOOL",
    "UNKNOWN",
    "REGTYPE",
    "INT_RANGES",
    "EXACT",
    "type_from_name",
    "type_from_oid",
    "varchar",
    "numeric",
    "parse_text",
    "text_encoder",
    "format_text",
    "to_float4",
    "round_numeric",
    "numeric_typmod",
]


@dataclass(frozen=True, slots=True)
class SqlType:
    """One PostgreSQL type. `typmod` is PostgreSQL's atttypmod (-1: none)."""

    name: str  # internal name, as in pg_type.typname: "int4"
    oid: int
    typlen: int  # 2/4/8 fixed width, -1 varlena, -2 C string
    display: str  # format_type() name used in messages: "integer"
    category: str  # pg_type.typcategory: N numeric, S string, B boolean, U unknown
    typmod: int = -1

    def __str__(self) -> str:
        if self.typmod < 0:
            return self.display
        if self.oid == VARCHAR.oid:
            return f"{self.display}({self.typmod - 4})"
        precision, scale = numeric_typmod(self)
        return f"{self.display}({precision},{scale})"

    @property
    def base(self) -> SqlType:
        """The type without its modifier."""
        return _BY_OID[self.oid] if self.typmod >= 0 else self

    @property
    def is_numeric(self) -> bool:
        return self.category == "N"

    @property
    def is_string(self) -> bool:
        """text, varchar and unknown literals: what `||` and casts-to-text treat as strings."""
        return self.category in ("S", "U")


INT2 = SqlType("int2", 21, 2, "smallint", "N")
INT4 = SqlType("int4", 23, 4, "integer", "N")
INT8 = SqlType("int8", 20, 8, "bigint", "N")
FLOAT4 = SqlType("float4", 700, 4, "real", "N")
FLOAT8 = SqlType("float8", 701, 8, "double precision", "N")
NUMERIC = SqlType("numeric", 1700, -1, "numeric", "N")
TEXT = SqlType("text", 25, -1, "text", "S")
VARCHAR = SqlType("varchar", 1043, -1, "character varying", "S")
BOOL = SqlType("bool", 16, 1, "boolean", "B")
UNKNOWN = SqlType("unknown", 705, -2, "unknown", "U")
REGTYPE = SqlType("regtype", 2206, 4, "regtype", "R")  # a type's name; produced by pg_typeof()

_BY_OID = {t.oid: t for t in (INT2, INT4, INT8, FLOAT4, FLOAT8, NUMERIC, TEXT, VARCHAR, BOOL)}

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
    "bool": BOOL,
    "boolean": BOOL,
}


def varchar(length: int) -> SqlType:
    if length < 1:
        raise QuorumError("length for type varchar must be at least 1", sqlstate="22023")
    if length > 10_485_760:
        raise QuorumError("length for type varchar cannot exceed 10485760", sqlstate="22023")
    return SqlType("varchar", VARCHAR.oid, -1, VARCHAR.display, "S", length + 4)


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
    return SqlType(
        "numeric", NUMERIC.oid, -1, NUMERIC.display, "N", ((precision << 16) | (scale & 0x7FF)) + 4
    )


def type_from_oid(oid: int, typmod: int = -1) -> SqlType:
    """The type stored in the catalog as (oid, typmod)."""
    base = _BY_OID[oid]
    if typmod < 0:
        return base
    return SqlType(base.name, base.oid, base.typlen, base.display, base.category, typmod)


def numeric_typmod(t: SqlType) -> tuple[int, int]:
    """(precision, scale) of a numeric typmod (the scale is an 11-bit signed field)."""
    raw = t.typmod - 4
    scale = raw & 0x7FF
    return raw >> 16, scale - 0x800 if scale & 0x400 else scale


def type_from_name(
    names: tuple[str, ...], typmods: tuple[int, ...] = (), position: int | None = None
) -> SqlType:
    """Resolve a parsed type name (``pg_catalog.int4``, ``varchar`` with modifiers)."""
    if len(names) == 2 and names[0] == "pg_catalog":
        names = names[1:]
    name = names[-1] if len(names) == 1 else ".".join(names)
    base = _TYPE_NAMES.get(name)
    if base is None:
        raise UndefinedObject(f'type "{name}" does not exist', position=position)
    if not typmods:
        return base
    try:
        if base is VARCHAR and len(typmods) == 1:
            return varchar(typmods[0])
        if base is NUMERIC and len(typmods) <= 2:
            return numeric(*typmods)
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


def _invalid(t: SqlType, text: str) -> InvalidTextRepresentation:
    return InvalidTextRepresentation(f'invalid input syntax for type {t.display}: "{text}"')


def _parse_int(t: SqlType, text: str) -> int:
    m = _INT_RE.fullmatch(text)
    if m is None:
        raise _invalid(t, text)
    value = int(m.group(1))
    lo, hi, _ = INT_RANGES[t.oid]
    if not lo <= value <= hi:
        raise NumericValueOutOfRange(f'value "{text}" is out of range for type {t.display}')
    return value


def _parse_float(t: SqlType, text: str) -> float:
    m = _FLOAT_RE.fullmatch(text)
    if m is None:
        special = _SPECIAL_FLOATS.get(text.strip().lower())
        if special is None:
            raise _invalid(t, text)
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
            raise _invalid(NUMERIC, text)
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
    raise _invalid(t, text)


def _parse_text(t: SqlType, text: str) -> str:
    if t.typmod >= 0 and len(text) > t.typmod - 4:
        return check_varchar(text, t)
    return text


def check_varchar(text: str, t: SqlType) -> str:
    """Assignment to varchar(n): too long is an error unless only spaces are cut."""
    limit = t.typmod - 4
    if len(text) <= limit:
        return text
    if text[limit:].strip(" "):
        raise QuorumError(f"value too long for type {t}", sqlstate="22001")
    return text[:limit]


def _parse_regtype(t: SqlType, text: str) -> str:
    names = tuple(part.strip().strip('"') for part in text.strip().lower().split("."))
    return type_from_name(names).display


def parse_text(t: SqlType, text: str) -> object:
    """PostgreSQL's input function for `t` (typmod applied as an assignment would)."""
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
    UNKNOWN.oid: _parse_text,
    BOOL.oid: _parse_bool,
    REGTYPE.oid: _parse_regtype,
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


_FORMATTERS: dict[int, Callable[[Any], str]] = {
    INT2.oid: str,
    INT4.oid: str,
    INT8.oid: str,
    FLOAT4.oid: format_float4,
    FLOAT8.oid: format_float8,
    NUMERIC.oid: format_numeric,
    TEXT.oid: str,
    VARCHAR.oid: str,
    UNKNOWN.oid: str,
    BOOL.oid: _format_bool,
    REGTYPE.oid: str,
}


def format_text(t: SqlType, value: object) -> str:
    """PostgreSQL's output function for `t` (value is not None)."""
    return _FORMATTERS[t.oid](value)


def _encode_str(value: object) -> bytes:
    return value.encode()  # type: ignore[attr-defined]


def _encode_int(value: object) -> bytes:
    return str(value).encode()


def _encode_bool(value: object) -> bytes:
    return b"t" if value else b"f"


def text_encoder(t: SqlType, extra_float_digits: int = 1) -> Callable[[object], bytes]:
    """The `Column.encode_text` for values of `t` (never called with None)."""
    oid = t.oid
    if oid in (TEXT.oid, VARCHAR.oid, UNKNOWN.oid, REGTYPE.oid):
        return _encode_str
    if oid in INT_RANGES:
        return _encode_int
    if oid == BOOL.oid:
        return _encode_bool
    fmt: Callable[[Any], str]
    if oid in (FLOAT4.oid, FLOAT8.oid) and extra_float_digits <= 0:
        fmt = _format_float_digits((6 if oid == FLOAT4.oid else 15) + extra_float_digits)
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
