"""A minimal blocking PostgreSQL client for protocol tests, written independently of
`quorumdb.node.pgwire` (hand-packed structs), so the server's codecs are checked
against a second implementation rather than against themselves.

`RawClient` sends frontend messages and reads backend messages as
`(type, body)` pairs; helpers decode the bodies the tests look at.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

__all__ = [
    "RawClient",
    "startup_packet",
    "query_message",
    "error_fields",
    "parse_row_description",
    "parse_data_row",
    "FieldDescription",
]


def startup_packet(params: dict[str, str], protocol: int = 196608) -> bytes:
    body = struct.pack("!i", protocol)
    for name, value in params.items():
        body += name.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def ssl_request() -> bytes:
    return struct.pack("!ii", 8, 80877103)


def gssenc_request() -> bytes:
    return struct.pack("!ii", 8, 80877104)


def cancel_request(pid: int, secret: int) -> bytes:
    return struct.pack("!iiii", 16, 80877102, pid, secret)


def message(type_byte: bytes, body: bytes) -> bytes:
    return type_byte + struct.pack("!i", len(body) + 4) + body


def query_message(sql: str | bytes) -> bytes:
    raw = sql.encode() if isinstance(sql, str) else sql
    return message(b"Q", raw + b"\0")


def terminate_message() -> bytes:
    return message(b"X", b"")


def error_fields(body: bytes) -> dict[str, str]:
    """Fields of an ErrorResponse / NoticeResponse body, keyed by their one-letter code."""
    out: dict[str, str] = {}
    pos = 0
    while body[pos] != 0:
        code = chr(body[pos])
        end = body.index(b"\0", pos + 1)
        out[code] = body[pos + 1 : end].decode()
        pos = end + 1
    return out


@dataclass(frozen=True)
class FieldDescription:
    name: str
    table_oid: int
    column_number: int
    type_oid: int
    type_size: int
    type_modifier: int
    format: int


def parse_row_description(body: bytes) -> list[FieldDescription]:
    (count,) = struct.unpack_from("!h", body, 0)
    pos = 2
    fields = []
    for _ in range(count):
        end = body.index(b"\0", pos)
        name = body[pos:end].decode()
        pos = end + 1
        values = struct.unpack_from("!IhIhih", body, pos)
        pos += 18
        fields.append(FieldDescription(name, *values))
    assert pos == len(body)
    return fields


def parse_data_row(body: bytes) -> list[bytes | None]:
    (count,) = struct.unpack_from("!h", body, 0)
    pos = 2
    cells: list[bytes | None] = []
    for _ in range(count):
        (size,) = struct.unpack_from("!i", body, pos)
        pos += 4
        if size == -1:
            cells.append(None)
        else:
            cells.append(body[pos : pos + size])
            pos += size
    assert pos == len(body)
    return cells


class RawClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self._buf = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, n: int) -> bool:
        while len(self._buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self._buf += chunk
        return True

    def read_byte(self) -> bytes:
        if not self._fill(1):
            raise EOFError("connection closed")
        b, self._buf = self._buf[:1], self._buf[1:]
        return b

    def read_message(self) -> tuple[str, bytes]:
        if not self._fill(5):
            raise EOFError("connection closed")
        type_byte = chr(self._buf[0])
        (length,) = struct.unpack_from("!i", self._buf, 1)
        if not self._fill(1 + length):
            raise EOFError("connection closed mid-message")
        body = self._buf[5 : 1 + length]
        self._buf = self._buf[1 + length :]
        return type_byte, body

    def read_until_ready(self) -> list[tuple[str, bytes]]:
        """Messages up to and including ReadyForQuery."""
        out = []
        while True:
            msg = self.read_message()
            out.append(msg)
            if msg[0] == "Z":
                return out

    def at_eof(self) -> bool:
        """True if the server closed the connection (after any buffered bytes)."""
        if self._buf:
            return False
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def startup(self, user: str = "tester", database: str = "db", **params: str):
        self.send(startup_packet({"user": user, "database": database, **params}))
        return self.read_until_ready()

    def query(self, sql: str | bytes) -> list[tuple[str, bytes]]:
        self.send(query_message(sql))
        return self.read_until_ready()
