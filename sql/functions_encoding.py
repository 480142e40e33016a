"""convert_to / convert_from / convert: text <-> bytes in a named character set.

The database encoding is UTF8 (text values are Python str, stored as UTF-8).
Encoding names are matched as PostgreSQL's pg_char_to_encoding does: case and
non-alphanumeric characters are ignored (``utf-8`` is UTF8) and the aliases
it knows (``latin1`` ... ``win1252``) are accepted. SQL_ASCII means "no
conversion": convert_to gives the UTF-8 bytes, convert_from checks that the
bytes are valid in the database encoding. An encoding PostgreSQL has but this
table does not map to a Python codec is refused with 0A000.

Errors are PostgreSQL's: an unknown name is 22023 ("invalid source/destination
encoding name"), bytes not valid in the source encoding 22021 ("invalid byte
sequence for encoding ..."), a character the destination lacks 22P05
("character with byte sequence ... has no equivalent in encoding ...").
"""

from __future__ import annotations

import re

from quorumdb.storage.errors import FeatureNotSupported, QuorumError

from . import types as T
from .functions import register_function as fn

__all__: list[str] = []

# PostgreSQL's encoding name -> Python codec (None: SQL_ASCII, no conversion).
_CODECS: dict[str, str | None] = {
    "UTF8": "utf-8",
    "SQL_ASCII": None,
    "LATIN1": "latin-1",
    "LATIN2": "iso8859-2",
    "LATIN3": "iso8859-3",
    "LATIN4": "iso8859-4",
    "LATIN5": "iso8859-9",
    "LATIN6": "iso8859-10",
    "LATIN7": "iso8859-13",
    "LATIN8": "iso8859-14",
    "LATIN9": "iso8859-15",
    "LATIN10": "iso8859-16",
    "ISO_8859_5": "iso8859-5",
    "ISO_8859_6": "iso8859-6",
    "ISO_8859_7": "iso8859-7",
    "ISO_8859_8": "iso8859-8",
    "WIN1250": "cp1250",
    "WIN1251": "cp1251",
    "WIN1252": "cp1252",
    "WIN1253": "cp1253",
    "WIN1254": "cp1254",
    "WIN1255": "cp1255",
    "WIN1256": "cp1256",
    "WIN1257": "cp1257",
    "WIN1258": "cp1258",
    "WIN866": "cp866",
    "WIN874": "cp874",
    "KOI8R": "koi8-r",
    "KOI8U": "koi8-u",
}
# The other names PostgreSQL 15 accepts (normalised), with their canonical names.
_ALIASES = {
    "unicode": "UTF8", "utf8": "UTF8", "sqlascii": "SQL_ASCII",
    "iso88591": "LATIN1", "iso88592": "LATIN2", "iso88593": "LATIN3", "iso88594": "LATIN4",
    "iso88599": "LATIN5", "iso885910": "LATIN6", "iso885913": "LATIN7", "iso885914": "LATIN8",
    "iso885915": "LATIN9", "iso885916": "LATIN10", "iso88595": "ISO_8859_5",
    "iso88596": "ISO_8859_6", "iso88597": "ISO_8859_7", "iso88598": "ISO_8859_8",
    "win": "WIN1251", "alt": "WIN866", "koi8": "KOI8R", "tcvn": "WIN1258", "tcvn5712": "WIN1258",
    "vscii": "WIN1258", "abc": "WIN1258", "shiftjis2004": "SHIFT_JIS_2004",
    "eucjp": "EUC_JP", "euccn": "EUC_CN", "euckr": "EUC_KR", "euctw": "EUC_TW",
    "eucjis2004": "EUC_JIS_2004", "mulecinternal": "MULE_INTERNAL", "sjis": "SJIS",
    "big5": "BIG5", "gbk": "GBK", "uhc": "UHC", "gb18030": "GB18030", "johab": "JOHAB",
}  # fmt: skip
for _name in _CODECS:
    _ALIASES.setdefault(re.sub(r"[^a-z0-9]", "", _name.lower()), _name)
_ALIASES.update({f"windows{n}": f"WIN{n}" for n in (866, 874, 1250, 1251, 1252, 1253, 1254,
                                                   1255, 1256, 1257, 1258)})  # fmt: skip


def _encoding(name: str, role: str) -> tuple[str, str | None]:
    canonical = _ALIASES.get(re.sub(r"[^a-z0-9]", "", name.lower()))
    if canonical is None:
        raise QuorumError(f'invalid {role} encoding name "{name}"', sqlstate="22023")
    if canonical not in _CODECS:
        raise FeatureNotSupported(f'conversion with encoding "{canonical}" is not supported')
    return canonical, _CODECS[canonical]


def _hex(raw: bytes) -> str:
    return " ".join(f"0x{b:02x}" for b in raw)


def _utf8_length(first: int) -> int:
    if first < 0x80:
        return 1
    if first >= 0xF0:
        return 4 if first < 0xF8 else 1
    return 3 if first >= 0xE0 else (2 if first >= 0xC0 else 1)


def _decode(raw: bytes, name: str, codec: str) -> str:
    """`raw` in `codec` as text, or PostgreSQL's invalid-byte-sequence error."""
    try:
        text = raw.decode(codec)
    except UnicodeDecodeError as exc:
        at = exc.start
        length = _utf8_length(raw[at]) if codec == "utf-8" else 1
        nul = raw.find(b"\x00")
        if 0 <= nul < at:
            at, length = nul, 1
        raise QuorumError(
            f'invalid byte sequence for encoding "{name}": {_hex(raw[at : at + length])}',
            sqlstate="22021",
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise QuorumError(f'invalid byte sequence for encoding "{name}": 0x00', sqlstate="22021")
    return text


def _convert_from(raw: bytes, source: str) -> str:
    name, codec = _encoding(source, "source")
    return _decode(raw, "UTF8" if codec is None else name, codec or "utf-8")


def _convert_to(text: str, destination: str) -> bytes:
    name, codec = _encoding(destination, "destination")
    if codec is None or codec == "utf-8":
        return text.encode()
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        bad = text[exc.start].encode()
        raise QuorumError(
            f'character with byte sequence {_hex(bad)} in encoding "UTF8" has no equivalent '
            f'in encoding "{name}"',
            sqlstate="22P05",
        ) from None


def _convert(raw: bytes, source: str, destination: str) -> bytes:
    source_name, source_codec = _encoding(source, "source")
    name, codec = _encoding(destination, "destination")
    if source_codec is None:  # SQL_ASCII: no conversion, the bytes must suit the destination
        _decode(raw, "UTF8" if codec is None else name, codec or "utf-8")
        return raw
    return _convert_to(_decode(raw, source_name, source_codec), destination)


fn("convert_from", (T.BYTEA, T.TEXT), T.TEXT, _convert_from)
fn("convert_to", (T.TEXT, T.TEXT), T.BYTEA, _convert_to)
fn("convert", (T.BYTEA, T.TEXT, T.TEXT), T.BYTEA, _convert)
