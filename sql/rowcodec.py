"""Row values in storage: a row is a tuple of column values, packed with msgpack.

Column values are ints (also dates, times and timestamps), floats, strs,
bytes (bytea, uuid), bools, None, tuples (arrays), Decimals, Intervals and
Jsonb documents; msgpack holds the first kinds natively. A Decimal travels
as ext type 1 holding its exact string form (``str(d)``, which keeps the
scale: 1.50 stays 1.50), an Interval as ext type 2 (its three fields), a
Jsonb as ext type 3 (its canonical text), so encoding is deterministic and
round-trips exactly. Rows decode to tuples.

Rows written by an older schema may be shorter than the table's column list
(a later ADD COLUMN); readers pad them with the new columns' defaults. That is
the only schema-evolution rule the format needs.
"""

from __future__ import annotations

from decimal import Decimal

import msgpack

__all__ = ["encode_row", "decode_row"]

_DECIMAL_EXT = 1


_INTERVAL_EXT = 2
_JSONB_EXT = 3


def _default(value: object) -> msgpack.ExtType:
    if isinstance(value, Decimal):
        return msgpack.ExtType(_DECIMAL_EXT, str(value).encode())
    from .types_datetime import Interval
    from .types_json import Jsonb, format_jsonb

    if isinstance(value, Interval):
        return msgpack.ExtType(_INTERVAL_EXT, msgpack.packb([value.months, value.days, value.micros]))
    if isinstance(value, Jsonb):
        return msgpack.ExtType(_JSONB_EXT, format_jsonb(value).encode())
    raise TypeError(f"cannot store a {type(value).__name__} in a row")


def _ext_hook(code: int, data: bytes) -> object:
    if code == _DECIMAL_EXT:
        return Decimal(data.decode())
    if code == _INTERVAL_EXT:
        from .types_datetime import Interval

        return Interval(*msgpack.unpackb(data))
    if code == _JSONB_EXT:
        from .types_json import jsonb_from_text

        return jsonb_from_text(data.decode())
    return msgpack.ExtType(code, data)


def encode_row(row: tuple[object, ...]) -> bytes:
    # packb rather than a shared Packer: a Packer's buffer is not thread-safe.
    return msgpack.packb(row, default=_default, use_bin_type=True)  # type: ignore[no-any-return]


def decode_row(data: bytes) -> tuple[object, ...]:
    return msgpack.unpackb(data, use_list=False, ext_hook=_ext_hook, raw=False)  # type: ignore[no-any-return]
