"""Order-preserving key encoding (`keycode`).

`encode(values)` turns a tuple of SQL scalars into bytes whose bytewise order
equals the SQL order of the tuples, compared element by element:

* ``encode(a) < encode(b)``  iff  ``a < b`` (NULL sorts after every value,
  like PostgreSQL's default ``NULLS LAST`` for ascending indexes);
* the encoding of a tuple is a prefix of the encoding of every longer tuple
  that starts with it, so ``prefix_range(encode(p))`` scans "all keys starting
  with ``p``";
* every element is self-delimiting, so ``decode`` recovers the tuple.

Numbers of equal value encode equally whatever their representation: the
decimal ``1.50`` and ``1.5`` give the same bytes (a unique index must treat
them as equal, as PostgreSQL does). Integers are limited to the int64 range.

Text compares bytewise on UTF-8, i.e. PostgreSQL's "C" collation.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from decimal import Decimal

from .errors import InternalError, NumericValueOutOfRange

__all__ = [
    "encode", "encode_ordered", "decode", "encode_one", "prefix_end", "prefix_range", "Key",
    "DESC", "NULLS_FIRST",
]  # fmt: skip

Key = bytes

_FALSE = 0x02
_TRUE = 0x03
_INT = 0x10
_FLOAT = 0x18
_DECIMAL = 0x20
_STR = 0x30
_BYTES = 0x38
_NULL = 0xFF

_DEC_NEG = 0x01
_DEC_ZERO = 0x02
_DEC_POS = 0x03
_DEC_NAN = 0x04

_INT_BIAS = 1 << 63
_INT_MAX = (1 << 63) - 1
_INT_MIN = -(1 << 63)
_EXP_BIAS = 1 << 15

_pack_q = struct.Struct(">Q").pack
_unpack_q = struct.Struct(">Q").unpack_from
_pack_d = struct.Struct(">d").pack
_unpack_d = struct.Struct(">d").unpack
_INVERT = bytes(255 - i for i in range(256))


def _escape(raw: bytes) -> bytes:
    # 0x00 inside the value becomes 0x00 0xFF; the value ends with 0x00 0x01,
    # which sorts below every continuation, so shorter strings sort first.
    return raw.replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def _encode_float(value: float) -> bytes:
    if math.isnan(value):
        bits = 0xFFFFFFFFFFFFFFFF  # NaN sorts above every number, as in PostgreSQL
    else:
        if value == 0.0:
            value = 0.0  # -0.0 == 0.0
        (bits,) = _unpack_q(_pack_d(value))
        bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | (1 << 63)
    return _pack_q(bits)


def _decode_float(raw: bytes) -> float:
    (bits,) = _unpack_q(raw)
    if bits == 0xFFFFFFFFFFFFFFFF:
        return math.nan
    bits = bits & ~(1 << 63) if bits >> 63 else bits ^ 0xFFFFFFFFFFFFFFFF
    return _unpack_d(_pack_q(bits))[0]


def _encode_decimal(value: Decimal) -> bytes:
    if value.is_nan():
        return bytes((_DEC_NAN,))
    if value.is_infinite():
        raise NumericValueOutOfRange("cannot index an infinite numeric")
    if value.is_zero():
        return bytes((_DEC_ZERO,))
    sign, digits, exponent = value.as_tuple()
    digit_str = "".join(map(str, digits)).rstrip("0")
    lead_zeros = len(digit_str) - len(digit_str.lstrip("0"))
    digit_str = digit_str.lstrip("0")
    # scientific exponent of the first significant digit
    sci = int(exponent) + len(digits) - 1 - lead_zeros
    body = struct.pack(">H", sci + _EXP_BIAS) + digit_str.encode() + b"\x00"
    if sign:
        return bytes((_DEC_NEG,)) + body.translate(_INVERT)
    return bytes((_DEC_POS,)) + body


def _decode_decimal(buf: bytes, pos: int) -> tuple[Decimal, int]:
    cls = buf[pos]
    pos += 1
    if cls == _DEC_NAN:
        return Decimal("NaN"), pos
    if cls == _DEC_ZERO:
        return Decimal(0), pos
    negative = cls == _DEC_NEG
    end = buf.index(b"\xff" if negative else b"\x00", pos + 2)
    body = buf[pos:end]
    if negative:
        body = body.translate(_INVERT)
    sci = struct.unpack(">H", body[:2])[0] - _EXP_BIAS
    digits = body[2:].decode()
    value = Decimal(f"{'-' if negative else ''}0.{digits}E{sci + 1}")
    return value, end + 1


def encode_one(value: object) -> bytes:
    """Encode one scalar (a one-element key)."""
    if value is None:
        return b"\xff"
    if value is True:
        return b"\x03"
    if value is False:
        return b"\x02"
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise NumericValueOutOfRange("integer out of range for a key")
        return b"\x10" + _pack_q(value + _INT_BIAS)
    if isinstance(value, str):
        return b"\x30" + _escape(value.encode())
    if isinstance(value, float):
        return b"\x18" + _encode_float(value)
    if isinstance(value, Decimal):
        return b"\x20" + _encode_decimal(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"\x38" + _escape(bytes(value))
    # SQL values of other types (intervals, jsonb) say which scalar orders them;
    # arrays (tuples) encode element by element, nested as one bytes element.
    keycode = getattr(value, "__keycode__", None)
    if keycode is not None:
        return encode_one(keycode())
    if isinstance(value, tuple):
        return b"\x38" + _escape(encode(value))
    raise InternalError(f"keycode cannot encode {type(value).__name__}")


def encode(values: Iterable[object]) -> bytes:
    """Encode a tuple of scalars; see the module docstring for the guarantees."""
    return b"".join([encode_one(v) for v in values])


DESC = 1  # per-element order flags, as PostgreSQL's pg_index.indoption
NULLS_FIRST = 2


def encode_ordered(values: Iterable[object], options: Iterable[int]) -> bytes:
    """`encode` with an order per element (flags `DESC`, `NULLS_FIRST`; 0 is `encode`'s).

    A descending element is its encoding with every byte inverted: encodings of
    single values are prefix-free, so inversion reverses their order and the tuple
    still compares element by element. No inverted or plain value starts with 0x00
    or 0xFF, so a NULL is 0x00 (first) or 0xFF (last) whatever the direction;
    `decode` reads these encodings too."""
    out = []
    for value, option in zip(values, options, strict=False):
        if value is None:
            out.append(b"\x00" if option & NULLS_FIRST else b"\xff")
        elif option & DESC:
            out.append(encode_one(value).translate(_INVERT))
        else:
            out.append(encode_one(value))
    return b"".join(out)


def _decode_escaped(buf: bytes, pos: int) -> tuple[bytes, int]:
    out = bytearray()
    while True:
        nul = buf.index(b"\x00", pos)
        out += buf[pos:nul]
        marker = buf[nul + 1]
        if marker == 0x01:
            return bytes(out), nul + 2
        out.append(0)
        pos = nul + 2


def decode(buf: bytes) -> tuple[object, ...]:
    """Inverse of `encode` (decimals come back normalised: 1.50 -> 1.5)."""
    out: list[object] = []
    pos = 0
    n = len(buf)
    while pos < n:
        tag = buf[pos]
        pos += 1
        if tag == _INT:
            out.append(_unpack_q(buf, pos)[0] - _INT_BIAS)
            pos += 8
        elif tag == _STR:
            raw, pos = _decode_escaped(buf, pos)
            out.append(raw.decode())
        elif tag == _NULL:
            out.append(None)
        elif tag == _TRUE:
            out.append(True)
        elif tag == _FALSE:
            out.append(False)
        elif tag == _FLOAT:
            out.append(_decode_float(buf[pos : pos + 8]))
            pos += 8
        elif tag == _DECIMAL:
            value, pos = _decode_decimal(buf, pos)
            out.append(value)
        elif tag == _BYTES:
            raw, pos = _decode_escaped(buf, pos)
            out.append(raw)
        elif tag == 0x00:  # a NULL placed first (encode_ordered)
            out.append(None)
        elif 255 - tag in _TAGS:  # a descending element (encode_ordered): its bytes inverted
            element, used = _decode_one(buf[pos - 1 :].translate(_INVERT))
            out.append(element)
            pos += used - 1
        else:
            raise InternalError(f"keycode: unknown tag 0x{tag:02x} at {pos - 1}")
    return tuple(out)


_TAGS = frozenset((_FALSE, _TRUE, _INT, _FLOAT, _DECIMAL, _STR, _BYTES))


def _decode_one(buf: bytes) -> tuple[object, int]:
    """The first element of `buf` (an `encode_one` encoding) and its length."""
    tag = buf[0]
    if tag == _INT:
        return _unpack_q(buf, 1)[0] - _INT_BIAS, 9
    if tag == _FLOAT:
        return _decode_float(buf[1:9]), 9
    if tag == _DECIMAL:
        return _decode_decimal(buf, 1)
    if tag in (_STR, _BYTES):
        raw, end = _decode_escaped(buf, 1)
        return (raw.decode() if tag == _STR else raw), end
    return tag == _TRUE, 1


def prefix_end(prefix: bytes) -> bytes | None:
    """Smallest byte string greater than every string that starts with `prefix`.

    None means "no upper bound" (the prefix is empty or all 0xFF).
    """
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes((stripped[-1] + 1,))


def prefix_range(prefix: bytes) -> tuple[bytes, bytes | None]:
    """The half-open range [start, end) of all keys starting with `prefix`."""
    return prefix, prefix_end(prefix)
