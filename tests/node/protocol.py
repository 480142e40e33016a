"""Frontend messages of the extended query protocol and COPY, hand-packed for raw tests
(independent of quorumdb.node.pgwire, like tests/pgclient.py)."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from pgclient import message

__all__ = [
    "parse",
    "bind",
    "describe",
    "execute",
    "sync",
    "flush",
    "close",
    "copy_data",
    "copy_done",
    "copy_fail",
    "parameter_oids",
    "kinds",
]


def _cstr(text: str) -> bytes:
    return text.encode() + b"\0"


def parse(sql: str, name: str = "", oids: Sequence[int] = ()) -> bytes:
    body = _cstr(name) + _cstr(sql) + struct.pack("!h", len(oids))
    body += b"".join(struct.pack("!I", oid) for oid in oids)
    return message(b"P", body)


def bind(
    params: Sequence[bytes | None] = (),
    *,
    portal: str = "",
    statement: str = "",
    formats: Sequence[int] = (),
    result_formats: Sequence[int] = (),
) -> bytes:
    body = _cstr(portal) + _cstr(statement)
    body += struct.pack("!h", len(formats)) + b"".join(struct.pack("!h", f) for f in formats)
    body += struct.pack("!h", len(params))
    for p in params:
        body += struct.pack("!i", -1) if p is None else struct.pack("!i", len(p)) + p
    body += struct.pack("!h", len(result_formats))
    body += b"".join(struct.pack("!h", f) for f in result_formats)
    return message(b"B", body)


def describe(kind: str, name: str = "") -> bytes:
    return message(b"D", kind.encode() + _cstr(name))


def execute(portal: str = "", max_rows: int = 0) -> bytes:
    return message(b"E", _cstr(portal) + struct.pack("!i", max_rows))


def sync() -> bytes:
    return message(b"S", b"")


def flush() -> bytes:
    return message(b"H", b"")


def close(kind: str, name: str = "") -> bytes:
    return message(b"C", kind.encode() + _cstr(name))


def copy_data(data: bytes) -> bytes:
    return message(b"d", data)


def copy_done() -> bytes:
    return message(b"c", b"")


def copy_fail(reason: str) -> bytes:
    return message(b"f", _cstr(reason))


def parameter_oids(body: bytes) -> list[int]:
    (count,) = struct.unpack_from("!h", body, 0)
    return list(struct.unpack_from(f"!{count}I", body, 2))


def kinds(messages: list[tuple[str, bytes]]) -> str:
    return "".join(kind for kind, _ in messages)
