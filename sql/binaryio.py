"""PostgreSQL's binary send/receive formats for our types (result columns and Bind parameters).

A client may ask for any result column in binary (format code 1) and may send
any parameter in binary; drivers do both for the common types (asyncpg
always, psycopg with ``binary=True``). `encoder(oid)` is the type's *send*
function, `decoder(oid)` its *receive* function, both keyed by type OID so
that the wire layer needs no knowledge of `SqlType`. Text is handled by the
types' own input/output functions (`sql/types.py`); this module is only the
binary half.

Values are the Python objects `sql/types.py` documents: int, float,
Decimal, bool, str, bytes, and PostgreSQL's own integers for date (days since
2000-01-01), time and timestamp(tz) (microseconds), so those formats are
plain packing. Formats (big-endian, as PostgreSQL's pq_send*):

==========================  ===============================================
int2 / int4 / int8 / oid    2/4/8-byte signed integers (oid: unsigned 4)
float4 / float8             IEEE 754
numeric                     ndigits, weight, sign, dscale, base-10000 digits
bool / "char"               one byte
text, varchar, bpchar, name, json, unknown   UTF-8 bytes
jsonb                       version byte 1, then the text
bytea, uuid                 the bytes themselves (uuid: 16)
date                        int32 days since 2000-01-01
time / timestamp(tz)        int64 microseconds (since midnight / 2000-01-01 UTC)
interval                    int64 microseconds, int32 days, int32 months
arrays                      ndim, has-nulls, element OID, (size, lower bound)
                            per dimension, then each element length-prefixed
==========================  ===============================================

Invariants: an encoder never receives None (NULL is framed by the caller);
a decoder raises `QuorumError` 22P03 on malformed input, never anything
else, so a hostile Bind message cannot crash the server.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from quorumdb.storage.errors import QuorumError

from .types import EXACT

__all__ = ["encoder", "decoder", "BinaryFormatError", "OIDS"]

Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]

# Type OIDs (pg_type.oid) this module knows.
OIDS = {
    "bool": 16,
    "bytea": 17,
    "char": 18,
    "name": 19,
    "int8": 20,
    "int2": 21,
    "int4": 23,
    "regproc": 24,
    "text": 25,
    "oid": 26,
    "json": 114,
    "xid": 28,
    "float4": 700,
    "float8": 701,
    "unknown": 705,
    "bpchar": 1042,
    "varchar": 1043,
    "date": 1082,
    "time": 1083,
    "timestamp": 1114,
    "timestamptz": 1184,
    "numeric": 1700,
    "regclass": 2205,
    "regtype": 2206,
    "interval": 1186,
    "uuid": 2950,
    "jsonb": 3802,
}


class BinaryFormatError(QuorumError):
    sqlstate = "22P03"


_i2 = struct.Struct("!h")
_i4 = struct.Struct("!i")
_u4 = struct.Struct("!I")
_i8 = struct.Struct("!q")
_f4 = struct.Struct("!f")
_f8 = struct.Struct("!d")


def _fixed(st: struct.Struct, what: str) -> tuple[Encoder, Decoder]:
    pack, unpack, size = st.pack, st.unpack, st.size

    def decode(data: bytes) -> Any:
        if len(data) != size:
            raise BinaryFormatError(f"incorrect binary data format: {what} needs {size} bytes")
        return unpack(data)[0]

    return pack, decode


# ---- text-like ------------------------------------------------------------------------


def _encode_text(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else str(value).encode()


def _decode_text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise QuorumError(
            'invalid byte sequence for encoding "UTF8"', sqlstate="22021"
        ) from None


def _encode_bytea(value: Any) -> bytes:
    return bytes(value)


def _decode_bytea(data: bytes) -> bytes:
    return bytes(data)


def _encode_bool(value: Any) -> bytes:
    return b"\x01" if value else b"\x00"


def _decode_bool(data: bytes) -> bool:
    if len(data) != 1:
        raise BinaryFormatError("incorrect binary data format: bool needs 1 byte")
    return data != b"\x00"


def _encode_char(value: Any) -> bytes:
    raw = value.encode() if isinstance(value, str) else bytes(value)
    return raw[:1]


def _decode_char(data: bytes) -> str:
    return _decode_text(data[:1])


# ---- floats ----------------------------------------------------------------------------

_encode_f4, _decode_f4 = _fixed(_f4, "float4")
_encode_f8, _decode_f8 = _fixed(_f8, "float8")


def _encode_float4(value: Any) -> bytes:
    return _encode_f4(float(value))


def _encode_float8(value: Any) -> bytes:
    return _encode_f8(float(value))


# ---- numeric ---------------------------------------------------------------------------

_NUMERIC_POS = 0x0000
_NUMERIC_NEG = 0x4000
_NUMERIC_NAN = 0xC000
_NUMERIC_PINF = 0xD000
_NUMERIC_NINF = 0xF000
_numeric_head = struct.Struct("!hhHh")


def _encode_numeric(value: Any) -> bytes:
    if not isinstance(value, Decimal):
        value = Decimal(value)
    if value.is_nan():
        return _numeric_head.pack(0, 0, _NUMERIC_NAN, 0)
    if value.is_infinite():
        return _numeric_head.pack(0, 0, _NUMERIC_NINF if value < 0 else _NUMERIC_PINF, 0)
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    dscale = max(-exponent, 0)
    int_text, _, frac_text = format(value.copy_abs(), "f").partition(".")
    int_text = int_text.lstrip("0")
    int_text = int_text.rjust((len(int_text) + 3) // 4 * 4, "0")
    frac_text = frac_text.ljust((len(frac_text) + 3) // 4 * 4, "0")
    digits = int_text + frac_text
    groups = [int(digits[i : i + 4]) for i in range(0, len(digits), 4)]
    weight = len(int_text) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    sign = _NUMERIC_NEG if value.is_signed() and groups else _NUMERIC_POS
    head = _numeric_head.pack(len(groups), weight, sign, dscale)
    return head + struct.pack(f"!{len(groups)}h", *groups)


def _decode_numeric(data: bytes) -> Decimal:
    if len(data) < 8:
        raise BinaryFormatError("incorrect binary data format: numeric header")
    ndigits, weight, sign, dscale = _numeric_head.unpack_from(data, 0)
    if ndigits < 0 or len(data) != 8 + 2 * ndigits or dscale < 0 or dscale > 0x3FFF:
        raise BinaryFormatError("invalid length in external \"numeric\" value")
    if sign == _NUMERIC_NAN:
        return Decimal("NaN")
    if sign == _NUMERIC_PINF:
        return Decimal("Infinity")
    if sign == _NUMERIC_NINF:
        return Decimal("-Infinity")
    if sign not in (_NUMERIC_POS, _NUMERIC_NEG):
        raise BinaryFormatError('invalid sign in external "numeric" value')
    groups = struct.unpack_from(f"!{ndigits}h", data, 8)
    if any(not 0 <= g < 10000 for g in groups):
        raise BinaryFormatError('invalid digit in external "numeric" value')
    digits = tuple(int(c) for c in "".join(f"{g:04d}" for g in groups)) or (0,)
    number = Decimal((1 if sign == _NUMERIC_NEG else 0, digits, 4 * (weight - ndigits + 1)))
    return number.quantize(Decimal(1).scaleb(-dscale), context=EXACT)


# ---- date and time: PostgreSQL's own integers (sql/types_datetime.py) --------------------


def _int_codec(st: struct.Struct, what: str) -> tuple[Encoder, Decoder]:
    pack, decode = _fixed(st, what)

    def encode(value: Any) -> bytes:
        return pack(int(value))

    return encode, decode


_encode_date, _decode_date = _int_codec(_i4, "date")
_encode_timestamp, _decode_timestamp = _int_codec(_i8, "timestamp")
_encode_time, _decode_time_raw = _int_codec(_i8, "time")


def _decode_time(data: bytes) -> int:
    micros = _decode_time_raw(data)
    if not 0 <= micros <= 86_400_000_000:
        raise QuorumError("time out of range", sqlstate="22008")
    return int(micros)


_interval = struct.Struct("!qii")


def _encode_interval(value: Any) -> bytes:
    return _interval.pack(value.micros, value.days, value.months)


def _decode_interval(data: bytes) -> Any:
    from .types_datetime import Interval

    if len(data) != 16:
        raise BinaryFormatError("incorrect binary data format: interval needs 16 bytes")
    micros, days, months = _interval.unpack(data)
    return Interval(months, days, micros)


# ---- uuid, json -------------------------------------------------------------------------


def _encode_uuid(value: Any) -> bytes:
    return bytes(value)


def _decode_uuid(data: bytes) -> bytes:
    if len(data) != 16:
        raise BinaryFormatError("incorrect binary data format: uuid needs 16 bytes")
    return bytes(data)


def _encode_json(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else str(value).encode()


def _decode_json(data: bytes) -> str:
    from .types_json import parse_json_value

    text = _decode_text(data)
    parse_json_value(text)  # json keeps the text as written, once validated
    return text


def _encode_jsonb(value: Any) -> bytes:
    from .types_json import format_jsonb

    return b"\x01" + format_jsonb(value).encode()


def _decode_jsonb(data: bytes) -> Any:
    from .types_json import jsonb_from_text

    if not data or data[0] != 1:
        raise BinaryFormatError("unsupported jsonb version number")
    return jsonb_from_text(_decode_text(data[1:]))


# ---- oid -----------------------------------------------------------------------------------


_encode_i2, _decode_i2 = _fixed(_i2, "int2")
_encode_i4, _decode_i4 = _fixed(_i4, "int4")
_encode_i8, _decode_i8 = _fixed(_i8, "int8")
_encode_u4, _decode_u4 = _fixed(_u4, "oid")


def _encode_oid(value: Any) -> bytes:
    return _encode_u4(int(value) & 0xFFFFFFFF)


_CODECS: dict[int, tuple[Encoder, Decoder]] = {
    OIDS["bool"]: (_encode_bool, _decode_bool),
    OIDS["bytea"]: (_encode_bytea, _decode_bytea),
    OIDS["char"]: (_encode_char, _decode_char),
    OIDS["name"]: (_encode_text, _decode_text),
    OIDS["int8"]: (_encode_i8, _decode_i8),
    OIDS["int2"]: (_encode_i2, _decode_i2),
    OIDS["int4"]: (_encode_i4, _decode_i4),
    OIDS["text"]: (_encode_text, _decode_text),
    OIDS["oid"]: (_encode_oid, _decode_u4),
    OIDS["regproc"]: (_encode_oid, _decode_u4),
    OIDS["xid"]: (_encode_oid, _decode_u4),
    OIDS["json"]: (_encode_json, _decode_json),
    OIDS["float4"]: (_encode_float4, _decode_f4),
    OIDS["float8"]: (_encode_float8, _decode_f8),
    OIDS["unknown"]: (_encode_text, _decode_text),
    OIDS["bpchar"]: (_encode_text, _decode_text),
    OIDS["varchar"]: (_encode_text, _decode_text),
    OIDS["date"]: (_encode_date, _decode_date),
    OIDS["time"]: (_encode_time, _decode_time),
    OIDS["timestamp"]: (_encode_timestamp, _decode_timestamp),
    OIDS["timestamptz"]: (_encode_timestamp, _decode_timestamp),
    OIDS["numeric"]: (_encode_numeric, _decode_numeric),
    OIDS["uuid"]: (_encode_uuid, _decode_uuid),
    OIDS["interval"]: (_encode_interval, _decode_interval),
    OIDS["jsonb"]: (_encode_jsonb, _decode_jsonb),
}


_array_head = struct.Struct("!iiI")
_dim = struct.Struct("!ii")


def _element_type(oid: int) -> Any:
    from . import types as T

    try:
        return T.type_from_oid(oid).element
    except KeyError:
        return None


def _array_codec(element_oid: int) -> tuple[Encoder, Decoder] | None:
    element = _CODECS.get(element_oid)
    if element is None:
        return None
    encode_element, decode_element = element

    def encode(value: Any) -> bytes:
        dims: list[int] = []
        level: Any = value
        while isinstance(level, tuple | list):
            dims.append(len(level))
            if not level:
                break
            level = level[0]
        if not dims or dims[0] == 0:
            return _array_head.pack(0, 0, element_oid)
        flat: list[Any] = list(value)
        for _ in dims[1:]:
            flat = [item for sub in flat for item in sub]
        parts = [_array_head.pack(len(dims), any(v is None for v in flat), element_oid)]
        parts.extend(_dim.pack(n, 1) for n in dims)
        for item in flat:
            if item is None:
                parts.append(_i4.pack(-1))
            else:
                cell = encode_element(item)
                parts.append(_i4.pack(len(cell)))
                parts.append(cell)
        return b"".join(parts)

    def decode(data: bytes) -> Any:
        if len(data) < 12:
            raise BinaryFormatError("incorrect binary data format: array header")
        ndim, _flags, oid = _array_head.unpack_from(data, 0)
        if ndim == 0:
            return ()
        if not 0 < ndim <= 6 or oid != element_oid:
            raise BinaryFormatError("invalid array dimensions or element type")
        pos = 12
        dims = []
        for _ in range(ndim):
            if pos + 8 > len(data):
                raise BinaryFormatError("incorrect binary data format: array dimensions")
            size, _lower = _dim.unpack_from(data, pos)
            if size < 0 or size > len(data):
                raise BinaryFormatError("invalid array dimension")
            dims.append(size)
            pos += 8
        flat: list[Any] = []
        total = 1
        for size in dims:
            total *= size
        for _ in range(total):
            if pos + 4 > len(data):
                raise BinaryFormatError("incorrect binary data format: array element")
            (size,) = _i4.unpack_from(data, pos)
            pos += 4
            if size == -1:
                flat.append(None)
                continue
            if size < 0 or pos + size > len(data):
                raise BinaryFormatError("incorrect binary data format: array element")
            flat.append(decode_element(data[pos : pos + size]))
            pos += size
        if pos != len(data):
            raise BinaryFormatError("incorrect binary data format: trailing array bytes")
        for size in reversed(dims[1:]):
            flat = [tuple(flat[i : i + size]) for i in range(0, len(flat), size)]
        return tuple(flat)

    return encode, decode


def _codec(oid: int) -> tuple[Encoder, Decoder] | None:
    codec = _CODECS.get(oid)
    if codec is None:
        element = _element_type(oid)
        if element is not None:
            codec = _array_codec(element.oid)
            if codec is not None:
                _CODECS[oid] = codec
    return codec


def encoder(oid: int) -> Encoder | None:
    """The binary send function of type `oid`, or None if it has none here."""
    codec = _codec(oid)
    return codec[0] if codec is not None else None


def decoder(oid: int) -> Decoder | None:
    """The binary receive function of type `oid`, or None if it has none here."""
    codec = _codec(oid)
    if codec is None:
        return None
    decode = codec[1]

    def safe(data: bytes) -> Any:
        try:
            return decode(data)
        except QuorumError:
            raise
        except (ValueError, struct.error, OverflowError, ArithmeticError, TypeError) as exc:
            raise BinaryFormatError(f"incorrect binary data format: {exc}") from None

    return safe
