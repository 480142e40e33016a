"""Row values in storage: a row is a tuple of column values, packed with msgpack.

Column values are ints, floats, strs, bools, None and Decimals; msgpack holds
all but Decimal natively. A Decimal travels as ext type 1 holding its exact
string form (``str(d)``, which keeps the scale: 1.50 stays 1.50), so encoding
is deterministic and round-trips exactly. Rows decode to tuples.

Rows written by an older schema may be shorter than the table's column list
(a later ADD COLUMN); readers pad them with the new columns' defaults. That is
the only schema-evolution rule the format needs.
"""

from __future__ import annotations

from decimal import Decimal

import msgpack

__all__ = ["encode_row", "decode_row"]

_DECIMAL_EXT = 1


def _default(value: object) -> msgpack.ExtType:
    if isinstance(value, Decimal):
        return msgpack.ExtType(_DECIMAL_EXT, str(value).encode())
    raise TypeError(f"cannot store a {type(value).__name__} in a row")


def _ext_hook(code: int, data: bytes) -> object:
    if code == _DECIMAL_EXT:
        return Decimal(data.decode())
    return msgpack.ExtType(code, data)


def encode_row(row: tuple[object, ...]) -> bytes:
    # packb rather than a shared Packer: a Packer's buffer is not thread-safe.
    return msgpack.packb(row, default=_default, use_bin_type=True)  # type: ignore[no-any-return]


def decode_row(data: bytes) -> tuple[object, ...]:
    return msgpack.unpackb(data, use_list=False, ext_hook=_ext_hook, raw=False)  # type: ignore[no-any-return]
