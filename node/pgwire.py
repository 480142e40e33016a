"""PostgreSQL v3 wire protocol: message framing and codecs, without I/O.

The server side of the protocol in two halves:

* `FrontendParser` turns the bytes a client sends into `FrontendMessage`
  values. It is fed whatever the socket produced (`feed`) and hands out
  complete messages (`next_message`); it never reads or writes a socket, so
  it can be tested with plain byte strings. It starts in the *startup phase*
  (untyped packets: StartupMessage, SSLRequest, GSSENCRequest,
  CancelRequest) and switches to the *regular phase* (a type byte, then a
  length) after the StartupMessage.
* The backend messages, built as `bytes`, live in node/pgbackend.py and are
  re-exported here, so `pgwire` is the one import for both directions.

Invariants:

* Every length on the wire counts itself (4 bytes) but not the type byte.
* The parser only ever returns whole messages. A frame whose declared length
  is impossible (< 4, or a startup packet outside 8..10,000 bytes), a length
  above the limit for its type, or an unknown type byte raises
  `ProtocolViolation` (SQLSTATE 08P01, FATAL) *before* its body is buffered,
  so a hostile length cannot make the server allocate memory. After a
  `ProtocolViolation` the stream is out of sync and the connection must be
  closed.
* A message that is framed correctly but whose text is not valid UTF-8
  raises a non-fatal `QuorumError` (22021) after the frame was consumed, so
  the connection stays usable.
* Frontend decoders are a table keyed by type byte (`_DECODERS`), each with
  its own length limit: the simple and extended query protocol, COPY's
  CopyData/CopyDone/CopyFail and the authentication exchange's 'p' messages
  (kept raw: their meaning depends on the exchange in progress).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

from quorumdb.storage.errors import ProtocolViolation, QuorumError

__all__ = [
    "PROTOCOL_3_0",
    "SSL_REQUEST_CODE",
    "GSSENC_REQUEST_CODE",
    "CANCEL_REQUEST_CODE",
    "MAX_STARTUP_PACKET",
    "MAX_MESSAGE_BYTES",
    "SSL_REFUSED",
    "FrontendMessage",
    "ExtendedMessage",
    "StartupMessage",
    "SSLRequest",
    "GSSENCRequest",
    "CancelRequest",
    "Query",
    "Terminate",
    "Parse",
    "Bind",
    "Describe",
    "Execute",
    "Sync",
    "Flush",
    "Close",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "PasswordMessage",
    "FrontendParser",
    "authentication_ok",
    "parameter_status",
    "backend_key_data",
    "ready_for_query",
    "negotiate_protocol_version",
    "row_description",
    "RowEncoder",
    "column_formats",
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
    "SSL_ACCEPTED",
    "data_row",
    "command_complete",
    "empty_query_response",
    "error_response",
    "notice_response",
    "error_response_for",
]

PROTOCOL_3_0: Final = 3 << 16  # 196608
SSL_REQUEST_CODE: Final = 80877103  # 1234 << 16 | 5679
GSSENC_REQUEST_CODE: Final = 80877104  # 1234 << 16 | 5680
CANCEL_REQUEST_CODE: Final = 80877102  # 1234 << 16 | 5678

# PostgreSQL's MAX_STARTUP_PACKET_LENGTH.
MAX_STARTUP_PACKET: Final = 10_000
# Messages that carry SQL or data may be large; PostgreSQL allows 1 GB. A node
# must stay well inside its memory budget, so we allow less.
MAX_MESSAGE_BYTES: Final = 64 << 20
# Messages with a tiny fixed body get PostgreSQL's small limit, so that a
# bogus length on them is caught at once (PQ_SMALL_MESSAGE_LIMIT).
_SMALL_MESSAGE_BYTES: Final = 10_000

SSL_REFUSED: Final = b"N"  # the one-byte answer to SSLRequest / GSSENCRequest
SSL_ACCEPTED: Final = b"S"  # ... when the server will now do the TLS handshake
# PG_MAX_AUTH_TOKEN_LENGTH: the largest SASL message PostgreSQL accepts.
_AUTH_MESSAGE_BYTES: Final = 65_535

_i16 = struct.Struct("!h")
_i32 = struct.Struct("!i")
_pack_i32 = _i32.pack
_unpack_i32 = _i32.unpack_from
_unpack_i16 = _i16.unpack_from
_unpack_head = struct.Struct("!Bi").unpack_from  # type byte (as an int), length


# ---- frontend messages ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupMessage:
    """The first packet of a session: protocol version and connection parameters."""

    protocol: int
    parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def major(self) -> int:
        return self.protocol >> 16

    @property
    def minor(self) -> int:
        return self.protocol & 0xFFFF


@dataclass(frozen=True, slots=True)
class SSLRequest:
    pass


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    pass


@dataclass(frozen=True, slots=True)
class CancelRequest:
    backend_pid: int
    secret: int


@dataclass(frozen=True, slots=True)
class Query:
    """Simple query: one string that may hold several statements."""

    sql: str


@dataclass(frozen=True, slots=True)
class Terminate:
    pass


@dataclass(frozen=True, slots=True)
class Parse:
    statement: str  # "" is the unnamed statement
    query: str
    param_types: tuple[int, ...]  # 0 = let the server infer


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...]  # 0 text, 1 binary; empty = all text, one = applies to all
    params: tuple[bytes | None, ...]
    result_formats: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Describe:
    kind: str  # "S" statement, "P" portal
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    portal: str
    max_rows: int  # 0 = no limit


@dataclass(frozen=True, slots=True)
class Sync:
    pass


@dataclass(frozen=True, slots=True)
class Flush:
    pass


@dataclass(frozen=True, slots=True)
class Close:
    kind: str  # "S" statement, "P" portal
    name: str


@dataclass(frozen=True, slots=True)
class CopyData:
    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone:
    pass


@dataclass(frozen=True, slots=True)
class CopyFail:
    message: str


@dataclass(frozen=True, slots=True)
class PasswordMessage:
    """A 'p' message: PasswordMessage, SASLInitialResponse or SASLResponse. Which one
    depends on the authentication exchange in progress, so the body stays raw."""

    data: bytes


FrontendMessage = (
    StartupMessage
    | SSLRequest
    | GSSENCRequest
    | CancelRequest
    | Query
    | Terminate
    | Parse
    | Bind
    | Describe
    | Execute
    | Sync
    | Flush
    | Close
    | CopyData
    | CopyDone
    | CopyFail
    | PasswordMessage
)

ExtendedMessage = Parse | Bind | Describe | Execute | Close | Flush
"""The messages of the extended query protocol other than Sync."""

_TERMINATE = Terminate()
_SYNC = Sync()
_FLUSH = Flush()
_COPY_DONE = CopyDone()


# ---- frontend decoding -----------------------------------------------------------


def _text(raw: bytes | bytearray | memoryview) -> str:
    try:
        return str(raw, "utf-8")
    except UnicodeDecodeError as exc:
        bad = bytes(raw[exc.start : exc.start + 1]).hex()
        raise QuorumError(
            f'invalid byte sequence for encoding "UTF8": 0x{bad}', sqlstate="22021"
        ) from None


class _Cursor:
    """Reads the fields of one message body; every overrun is a protocol violation."""

    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data = data
        self.pos = 0
        self.what = what

    def _short(self) -> ProtocolViolation:
        return ProtocolViolation(f"invalid {self.what} message format")

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise ProtocolViolation(f"invalid string in {self.what} message")
        start, self.pos = self.pos, end + 1
        return _text(self.data[start:end])

    def int16(self) -> int:
        if self.pos + 2 > len(self.data):
            raise self._short()
        (value,) = _unpack_i16(self.data, self.pos)
        self.pos += 2
        return int(value)

    def int16s(self) -> tuple[int, ...]:
        """A count (int16), then that many int16 values; a negative count means none."""
        n = self.int16()
        if n <= 0:
            return ()
        start, end = self.pos, self.pos + 2 * n
        if end > len(self.data):
            raise self._short()
        self.pos = end
        return struct.unpack_from(f"!{n}h", self.data, start)

    def int32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise self._short()
        (value,) = _unpack_i32(self.data, self.pos)
        self.pos += 4
        return int(value)

    def byte(self) -> str:
        if self.pos + 1 > len(self.data):
            raise self._short()
        value = chr(self.data[self.pos])
        self.pos += 1
        return value

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise self._short()
        start, self.pos = self.pos, self.pos + n
        return self.data[start : self.pos]

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolViolation(f"invalid {self.what} message format")


def _only_cstring(body: bytes, what: str) -> str:
    if not body or body[-1] != 0 or body.find(b"\0") != len(body) - 1:
        raise ProtocolViolation(f"invalid string in {what} message")
    return _text(body[:-1])


def _decode_query(body: bytes) -> Query:
    return Query(_only_cstring(body, "Query"))


def _decode_terminate(body: bytes) -> Terminate:
    return _TERMINATE


def _decode_parse(body: bytes) -> Parse:
    cur = _Cursor(body, "Parse")
    statement = cur.cstring()
    query = cur.cstring()
    n = cur.int16()
    param_types = tuple(cur.int32() & 0xFFFFFFFF for _ in range(max(n, 0)))
    cur.end()
    return Parse(statement, query, param_types)


def _decode_bind(body: bytes) -> Bind:
    cur = _Cursor(body, "Bind")
    portal = cur.cstring()
    statement = cur.cstring()
    param_formats = cur.int16s()
    params: list[bytes | None] = []
    for _ in range(cur.int16()):
        size = cur.int32()
        params.append(None if size == -1 else cur.take(size))
    result_formats = cur.int16s()
    cur.end()
    return Bind(portal, statement, param_formats, tuple(params), result_formats)


def _decode_describe(body: bytes) -> Describe:
    # A well-formed body (subtype, then one string) is read in one step; anything
    # else goes through the cursor, which reports what is wrong with it.
    if len(body) >= 2 and body.find(b"\0", 1) == len(body) - 1:
        kind, name = chr(body[0]), _text(body[1:-1])
    else:
        cur = _Cursor(body, "Describe")
        kind = cur.byte()
        name = cur.cstring()
        cur.end()
    if kind not in ("S", "P"):
        raise ProtocolViolation(f"invalid DESCRIBE message subtype {ord(kind)}")
    return Describe(kind, name)


def _decode_execute(body: bytes) -> Execute:
    end = body.find(b"\0")
    if end >= 0 and end == len(body) - 5:  # well-formed: the portal name, then the limit
        return Execute(_text(body[:end]), _unpack_i32(body, end + 1)[0])
    cur = _Cursor(body, "Execute")
    portal = cur.cstring()
    max_rows = cur.int32()
    cur.end()
    return Execute(portal, max_rows)


def _decode_sync(body: bytes) -> Sync:
    return _SYNC


def _decode_flush(body: bytes) -> Flush:
    return _FLUSH


def _decode_close(body: bytes) -> Close:
    cur = _Cursor(body, "Close")
    kind = cur.byte()
    name = cur.cstring()
    cur.end()
    if kind not in ("S", "P"):
        raise ProtocolViolation(f"invalid CLOSE message subtype {ord(kind)}")
    return Close(kind, name)


def _decode_copy_data(body: bytes) -> CopyData:
    return CopyData(body)


def _decode_copy_done(body: bytes) -> CopyDone:
    return _COPY_DONE


def _decode_copy_fail(body: bytes) -> CopyFail:
    return CopyFail(_only_cstring(body, "CopyFail"))


def _decode_password(body: bytes) -> PasswordMessage:
    return PasswordMessage(body)


# type byte -> (decoder, largest allowed frame length including the length word)
_DECODERS: dict[int, tuple[Callable[[bytes], FrontendMessage], int]] = {
    ord("Q"): (_decode_query, MAX_MESSAGE_BYTES),
    ord("X"): (_decode_terminate, _SMALL_MESSAGE_BYTES),
    ord("P"): (_decode_parse, MAX_MESSAGE_BYTES),
    ord("B"): (_decode_bind, MAX_MESSAGE_BYTES),
    ord("D"): (_decode_describe, _SMALL_MESSAGE_BYTES),
    ord("E"): (_decode_execute, _SMALL_MESSAGE_BYTES),
    ord("S"): (_decode_sync, _SMALL_MESSAGE_BYTES),
    ord("H"): (_decode_flush, _SMALL_MESSAGE_BYTES),
    ord("C"): (_decode_close, _SMALL_MESSAGE_BYTES),
    ord("d"): (_decode_copy_data, MAX_MESSAGE_BYTES),
    ord("c"): (_decode_copy_done, _SMALL_MESSAGE_BYTES),
    ord("f"): (_decode_copy_fail, _SMALL_MESSAGE_BYTES),
    ord("p"): (_decode_password, _AUTH_MESSAGE_BYTES),
}


def _decode_startup(packet: bytes) -> FrontendMessage:
    """`packet` is a startup-phase packet without its length word."""
    (code,) = _unpack_i32(packet, 0)
    if code == SSL_REQUEST_CODE and len(packet) == 4:
        return SSLRequest()
    if code == GSSENC_REQUEST_CODE and len(packet) == 4:
        return GSSENCRequest()
    if code == CANCEL_REQUEST_CODE:
        if len(packet) != 12:
            raise ProtocolViolation("invalid length of cancel request packet")
        pid, secret = struct.unpack_from("!ii", packet, 4)
        return CancelRequest(pid, secret)
    if code >> 16 != 3:
        raise QuorumError(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
            "server supports 3.0 to 3.0",
            sqlstate="0A000",
        )
    cur = _Cursor(packet, "startup packet")
    cur.pos = 4
    parameters: dict[str, str] = {}
    while True:
        name = cur.cstring()
        if not name:
            break
        parameters[name] = cur.cstring()
    cur.end()
    return StartupMessage(code, parameters)


class FrontendParser:
    """Splits a client's byte stream into frontend messages (no I/O).

    `feed` appends bytes; `next_message` returns the next complete message or
    None when more bytes are needed. Raises `ProtocolViolation` on a framing
    error (the connection must then be closed) and `QuorumError` 22021 on text
    that is not UTF-8 (the message is consumed; the connection may go on).

    The buffer is the `bytes` just fed while nothing else is pending (the
    usual case: whole messages per read, sliced without copying the rest),
    and a `bytearray` that grows in place while a message arrives in pieces.
    """

    __slots__ = ("_buf", "_pos", "startup_phase", "max_message_bytes")

    def __init__(self, *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buf: bytes | bytearray = b""
        self._pos = 0
        self.startup_phase = True
        self.max_message_bytes = max_message_bytes

    def feed(self, data: bytes) -> None:
        buf, pos = self._buf, self._pos
        if pos == len(buf):
            self._buf = data
        elif isinstance(buf, bytearray):
            del buf[:pos]
            buf += data
        else:
            self._buf = bytearray(buf[pos:]) + data
        self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as messages."""
        return len(self._buf) - self._pos

    def take_buffered(self) -> bytes:
        """Remove and return the bytes received but not parsed yet (handing the stream on)."""
        data = bytes(self._buf[self._pos :])
        self._buf = b""
        self._pos = 0
        return data

    def next_message(self) -> FrontendMessage | None:
        if self.startup_phase:
            return self._next_startup()
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 5:
            return None
        type_code, length = _unpack_head(buf, pos)
        entry = _DECODERS.get(type_code)
        if entry is None:
            raise ProtocolViolation(f"invalid frontend message type {type_code}")
        decode, limit = entry
        if length < 4 or length > limit or length > self.max_message_bytes:
            raise ProtocolViolation(
                f"invalid message length {length} for message type {chr(type_code)!r}"
            )
        end = pos + 1 + length
        if len(buf) < end:
            return None
        body = bytes(buf[pos + 5 : end])  # one copy: bytes() of a bytes slice is the slice
        self._consume(end)
        return decode(body)

    def _next_startup(self) -> FrontendMessage | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        (length,) = _unpack_i32(buf, pos)
        if length < 8 or length > MAX_STARTUP_PACKET:
            raise ProtocolViolation(f"invalid length of startup packet: {length}")
        end = pos + length
        if len(buf) < end:
            return None
        packet = bytes(buf[pos + 4 : end])
        self._consume(end)
        message = _decode_startup(packet)
        if isinstance(message, StartupMessage):
            self.startup_phase = False
        return message

    def _consume(self, end: int) -> None:
        if end == len(self._buf):
            self._buf = b""
            self._pos = 0
        else:
            self._pos = end


# The backend messages live in node/pgbackend.py; `pgwire` is the one import for both.
from .pgbackend import (  # noqa: E402
    RowEncoder,
    authentication_ok,
    authentication_sasl,
    authentication_sasl_continue,
    authentication_sasl_final,
    backend_key_data,
    bind_complete,
    close_complete,
    column_formats,
    command_complete,
    copy_data,
    copy_done,
    copy_in_response,
    copy_out_response,
    data_row,
    empty_query_response,
    error_response,
    error_response_for,
    negotiate_protocol_version,
    no_data,
    notice_response,
    parameter_description,
    parameter_status,
    parse_complete,
    portal_suspended,
    ready_for_query,
    row_description,
)
