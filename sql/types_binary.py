"""bytea and uuid: text input and output.

Both are Python `bytes`: a uuid is its 16 bytes, so uuids compare, hash and
key-encode in PostgreSQL's order (memcmp) with no conversion. bytea output
is PostgreSQL's default hex format (``\\x0a1b``); input takes the hex format
and the traditional escape format (``\\123`` octal, ``\\\\``).
"""

from __future__ import annotations

import re

from quorumdb.storage.errors import InvalidTextRepresentation, QuorumError

from . import types as T

__all__ = ["parse_bytea", "format_bytea", "parse_uuid", "format_uuid"]

_HEX = "0123456789abcdefABCDEF"


def parse_bytea(t: T.SqlType, text: str) -> bytes:
    if text.startswith("\\x"):
        out = bytearray()
        i, n = 2, len(text)
        while i < n:
            c = text[i]
            if c in " \t\n\r":
                i += 1
                continue
            if c not in _HEX:
                raise QuorumError(f'invalid hexadecimal digit: "{c}"', sqlstate="22023")
            if i + 1 >= n:
                raise QuorumError(
                    "invalid hexadecimal data: odd number of digits", sqlstate="22023"
                )
            d = text[i + 1]
            if d not in _HEX:
                raise QuorumError(f'invalid hexadecimal digit: "{d}"', sqlstate="22023")
            out.append(int(c + d, 16))
            i += 2
        return bytes(out)
    out = bytearray()
    raw = text.encode()
    i, n = 0, len(raw)
    while i < n:
        b = raw[i]
        if b != 0x5C:  # backslash
            out.append(b)
            i += 1
            continue
        if i + 1 < n and raw[i + 1] == 0x5C:
            out.append(0x5C)
            i += 2
            continue
        octal = raw[i + 1 : i + 4]
        if len(octal) == 3 and re.fullmatch(rb"[0-3][0-7][0-7]", octal):
            out.append(int(octal, 8))
            i += 4
            continue
        raise InvalidTextRepresentation("invalid input syntax for type bytea")
    return bytes(out)


def format_bytea(value: bytes) -> str:
    return "\\x" + value.hex()


_UUID_RE = re.compile(r"\{?([0-9a-fA-F]{4}-?){7}[0-9a-fA-F]{4}\}?")


def parse_uuid(t: T.SqlType, text: str) -> bytes:
    s = text.strip()
    if _UUID_RE.fullmatch(s) is None or (s.startswith("{") != s.endswith("}")):
        raise InvalidTextRepresentation(f'invalid input syntax for type uuid: "{text}"')
    digits = s.strip("{}").replace("-", "")
    if len(digits) != 32 or s[:1] == "-":
        raise InvalidTextRepresentation(f'invalid input syntax for type uuid: "{text}"')
    return bytes.fromhex(digits)


def format_uuid(value: bytes) -> str:
    h = value.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
