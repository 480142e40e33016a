"""PostgreSQL v3 wire protocol: the backend messages, as bytes (no I/O).

One function per message the server sends: authentication (Ok, SASL
exchange), ParameterStatus, BackendKeyData, ReadyForQuery, RowDescription,
DataRow (`RowEncoder`, the hot path: one `bytes.join` per row, text or
binary per column), CommandComplete, EmptyQueryResponse, the extended
protocol's ParseComplete/BindComplete/CloseComplete/NoData/PortalSuspended/
ParameterDescription, COPY's CopyIn/OutResponse, CopyData and CopyDone, and
ErrorResponse/NoticeResponse (with PostgreSQL's S, V, C, M, D, H, P and W
fields). `node/pgwire.py` re-exports all of them.

Invariant: every length on the wire counts itself (4 bytes) but not the
type byte.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from typing import Final

from quorumdb.sql import binaryio
from quorumdb.sql.result import Column
from quorumdb.storage.errors import QuorumError

__all__ = [
    "authentication_ok",
    "parameter_status",
    "backend_key_data",
    "ready_for_query",
    "negotiate_protocol_version",
    "row_description",
    "RowEncoder",
    "column_formats",
    "data_row",
    "command_complete",
    "empty_query_response",
    "error_response",
    "notice_response",
    "error_response_for",
    "parse_complete",
    "bind_complete",
    "close_complete",
    "no_data",
    "portal_suspended",
    "parameter_description",
    "copy_in_response",
    "copy_out_response",
    "copy_data",
    "copy_done",
    "authentication_sasl",
    "authentication_sasl_continue",
    "authentication_sasl_final",
]

_i16 = struct.Struct("!h")
_i32 = struct.Struct("!i")
_pack_i32 = _i32.pack
_frame_head = struct.Struct("!ci")  # type byte, length
_pack_head = _frame_head.pack
_row_head = struct.Struct("!cih")  # 'D', length, column count
_pack_row_head = _row_head.pack
_field_desc = struct.Struct("!IhIhih")  # table oid, attnum, type oid, typlen, typmod, format
_pack_field_desc = _field_desc.pack
_NULL_CELL: Final = _pack_i32(-1)


def _message(type_byte: bytes, body: bytes) -> bytes:
    return _pack_head(type_byte, len(body) + 4) + body


def _cstr(text: str) -> bytes:
    return text.encode("utf-8") + b"\0"


_AUTHENTICATION_OK: Final = _message(b"R", _pack_i32(0))
_EMPTY_QUERY_RESPONSE: Final = _message(b"I", b"")
_READY: Final = {status: _message(b"Z", status.encode()) for status in ("I", "T", "E")}


def authentication_ok() -> bytes:
    return _AUTHENTICATION_OK


def parameter_status(name: str, value: str) -> bytes:
    return _message(b"S", _cstr(name) + _cstr(value))


def backend_key_data(pid: int, secret: int) -> bytes:
    return _message(b"K", struct.pack("!ii", pid, secret))


def ready_for_query(status: str) -> bytes:
    """`status`: "I" idle, "T" in a transaction block, "E" in a failed transaction block."""
    try:
        return _READY[status]
    except KeyError:
        raise ValueError(f"invalid transaction status {status!r}") from None


def negotiate_protocol_version(newest_minor: int, unrecognized: Sequence[str]) -> bytes:
    """The answer to a 3.x startup with x > newest_minor or with unknown `_pq_.` options."""
    body = struct.pack("!ii", newest_minor, len(unrecognized)) + b"".join(
        _cstr(name) for name in unrecognized
    )
    return _message(b"v", body)


def row_description(columns: Sequence[Column], formats: Sequence[int] = ()) -> bytes:
    """RowDescription announcing `columns`; `formats` per column (empty: all text)."""
    parts = [b""]
    for i, col in enumerate(columns):
        parts.append(_cstr(col.name))
        parts.append(
            _pack_field_desc(
                col.table_oid,
                col.column_number,
                col.type_oid,
                col.type_size,
                col.type_modifier,
                formats[i] if formats else 0,
            )
        )
    body = b"".join(parts)
    return _pack_head(b"T", len(body) + 6) + _i16.pack(len(columns)) + body


def _binary_encoder(col: Column) -> Callable[[object], bytes]:
    encode = binaryio.encoder(col.type_oid)
    if encode is None:
        raise QuorumError(
            f"no binary output function available for type with OID {col.type_oid}",
            sqlstate="42883",
        )
    return encode


class RowEncoder:
    """Frames result rows as DataRow messages.

    Built once per result (it captures each column's encoder: `encode_text`,
    or the type's binary send function where `formats` asks for format 1),
    then called per row; a value of None is SQL NULL (length -1). Raises
    42883 at construction if a column has no binary format.
    """

    __slots__ = ("_encoders", "_count")

    def __init__(self, columns: Sequence[Column], formats: Sequence[int] = ()) -> None:
        if formats and any(formats):
            self._encoders = tuple(
                _binary_encoder(col) if fmt else col.encode_text
                for col, fmt in zip(columns, formats, strict=True)
            )
        else:
            self._encoders = tuple(col.encode_text for col in columns)
        self._count = len(self._encoders)

    def encode(self, row: Sequence[object]) -> bytes:
        parts = [b""]
        size = 6
        append = parts.append
        for encode_text, value in zip(self._encoders, row, strict=True):
            if value is None:
                append(_NULL_CELL)
                size += 4
            else:
                cell = encode_text(value)
                n = len(cell)
                append(_pack_i32(n))
                append(cell)
                size += 4 + n
        parts[0] = _pack_row_head(b"D", size, self._count)
        return b"".join(parts)


def column_formats(formats: Sequence[int], count: int) -> tuple[int, ...]:
    """Bind's result-format codes expanded to one per column (PostgreSQL's rules:
    none = all text, one = all alike, else exactly one per column)."""
    if not formats:
        return (0,) * count
    if any(f not in (0, 1) for f in formats):
        bad = next(f for f in formats if f not in (0, 1))
        raise QuorumError(f"unsupported format code: {bad}", sqlstate="08P01")
    if len(formats) == 1:
        return (formats[0],) * count
    if len(formats) != count:
        raise QuorumError(
            f"bind message has {len(formats)} result formats but query has {count} columns",
            sqlstate="08P01",
        )
    return tuple(formats)


def data_row(cells: Iterable[bytes | None]) -> bytes:
    """A DataRow from already-encoded cells (None = NULL). Not the hot path; see RowEncoder."""
    parts = [b""]
    count = 0
    for cell in cells:
        count += 1
        parts.append(_NULL_CELL if cell is None else _pack_i32(len(cell)) + cell)
    body = b"".join(parts)
    return _pack_row_head(b"D", len(body) + 6, count) + body


_PARSE_COMPLETE: Final = _message(b"1", b"")
_BIND_COMPLETE: Final = _message(b"2", b"")
_CLOSE_COMPLETE: Final = _message(b"3", b"")
_NO_DATA: Final = _message(b"n", b"")
_PORTAL_SUSPENDED: Final = _message(b"s", b"")
_COPY_DONE_MESSAGE: Final = _message(b"c", b"")


def parse_complete() -> bytes:
    return _PARSE_COMPLETE


def bind_complete() -> bytes:
    return _BIND_COMPLETE


def close_complete() -> bytes:
    return _CLOSE_COMPLETE


def no_data() -> bytes:
    return _NO_DATA


def portal_suspended() -> bytes:
    return _PORTAL_SUSPENDED


def parameter_description(type_oids: Sequence[int]) -> bytes:
    body = _i16.pack(len(type_oids)) + b"".join(struct.pack("!I", oid) for oid in type_oids)
    return _message(b"t", body)


def _copy_response(kind: bytes, binary: bool, columns: int) -> bytes:
    fmt = 1 if binary else 0
    body = struct.pack("!bh", fmt, columns) + _i16.pack(fmt) * columns
    return _message(kind, body)


def copy_in_response(columns: int, *, binary: bool = False) -> bytes:
    return _copy_response(b"G", binary, columns)


def copy_out_response(columns: int, *, binary: bool = False) -> bytes:
    return _copy_response(b"H", binary, columns)


def copy_data(data: bytes) -> bytes:
    return _pack_head(b"d", len(data) + 4) + data


def copy_done() -> bytes:
    return _COPY_DONE_MESSAGE


def authentication_sasl(mechanisms: Sequence[str]) -> bytes:
    return _message(b"R", _pack_i32(10) + b"".join(_cstr(m) for m in mechanisms) + b"\0")


def authentication_sasl_continue(data: bytes) -> bytes:
    return _message(b"R", _pack_i32(11) + data)


def authentication_sasl_final(data: bytes) -> bytes:
    return _message(b"R", _pack_i32(12) + data)


def command_complete(tag: str) -> bytes:
    return _message(b"C", _cstr(tag))


def empty_query_response() -> bytes:
    return _EMPTY_QUERY_RESPONSE


def _fields(
    severity: str,
    sqlstate: str,
    message: str,
    detail: str | None,
    hint: str | None,
    position: int | None,
    context: str | None = None,
) -> bytes:
    parts = [
        b"S" + _cstr(severity),
        b"V" + _cstr(severity),
        b"C" + _cstr(sqlstate),
        b"M" + _cstr(message),
    ]
    if detail is not None:
        parts.append(b"D" + _cstr(detail))
    if hint is not None:
        parts.append(b"H" + _cstr(hint))
    if position is not None:
        parts.append(b"P" + _cstr(str(position)))
    if context is not None:
        parts.append(b"W" + _cstr(context))
    parts.append(b"\0")
    return b"".join(parts)


def error_response(
    severity: str,
    sqlstate: str,
    message: str,
    *,
    detail: str | None = None,
    hint: str | None = None,
    position: int | None = None,
    context: str | None = None,
) -> bytes:
    """ErrorResponse with fields S and V (severity), C (SQLSTATE), M, and D/H/P/W when given."""
    return _message(b"E", _fields(severity, sqlstate, message, detail, hint, position, context))


def notice_response(
    severity: str,
    sqlstate: str,
    message: str,
    *,
    detail: str | None = None,
    hint: str | None = None,
    position: int | None = None,
) -> bytes:
    """NoticeResponse: the same fields as ErrorResponse, message type 'N'."""
    return _message(b"N", _fields(severity, sqlstate, message, detail, hint, position))


def error_response_for(error: QuorumError, *, severity: str | None = None) -> bytes:
    """The ErrorResponse for `error`; `severity` overrides its own (FATAL at startup)."""
    return error_response(
        severity or error.severity,
        error.sqlstate,
        error.message,
        detail=error.detail,
        hint=error.hint,
        position=error.position,
        context=getattr(error, "context", None),  # CONTEXT (W), e.g. the line of a COPY
    )
