"""Strings, bytea and uuid: comparisons, concatenation, pattern matching, string functions.

Text compares by code point (PostgreSQL's "C" collation, which is what
UTF-8 byte order gives). char(n) compares and measures without its trailing
spaces. LIKE/ILIKE take PostgreSQL's patterns (``%``, ``_``, backslash or
an ESCAPE character, via ``like_escape`` as in PostgreSQL's own plans);
SIMILAR TO becomes a regular expression (``similar_to_escape``); ``~`` and
friends use Python's ``re`` with POSIX bracket classes translated, which
covers the common subset of PostgreSQL's ARE syntax.
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid as _uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from quorumdb.storage.errors import InvalidTextRepresentation, QuorumError

from . import types as T
from .functions import register_function as fn
from .functions import register_operator as op
from .functions_numeric import GENERIC_CMP, register_comparisons

__all__ = ["like_regex", "regex", "to_text"]

Impl = Callable[..., Any]
TEXT, BPCHAR, BYTEA, INT4, BOOL = T.TEXT, T.BPCHAR, T.BYTEA, T.INT4, T.BOOL


def to_text(t: T.SqlType) -> Callable[[Any], str]:
    """A value of `t` as text, the way casting it to text does (bool -> 'true')."""
    from .casts import CastContext, find_cast

    cast = find_cast(t, TEXT, CastContext.EXPLICIT)
    if cast is None or cast.fn is None:
        return str
    if cast.zoned:
        from .types_datetime import UTC

        convert = cast.fn
        return lambda v: str(convert(v, UTC))
    fn = cast.fn
    return lambda v: str(fn(v))


def output_text(t: T.SqlType) -> Callable[[Any, Any], str]:
    """fn(value, zone): a value of `t` through its output function (concat, format: true -> 't')."""
    if T.depends_on_zone(t):
        return lambda v, zone: T.format_text(t, v, zone.name)
    return lambda v, zone: T.format_text(t, v)


# ---- comparisons ---------------------------------------------------------------------

register_comparisons(TEXT, TEXT, GENERIC_CMP)
register_comparisons(BYTEA, BYTEA, GENERIC_CMP)
register_comparisons(T.UUID, T.UUID, GENERIC_CMP)
op("=", T.REGTYPE, T.REGTYPE, BOOL, lambda a, b: a == b)
op("<>", T.REGTYPE, T.REGTYPE, BOOL, lambda a, b: a != b)


def _bpchar_cmp(cmp: Impl) -> Impl:
    def compare(a: str, b: str) -> bool:
        return cmp(a.rstrip(" "), b.rstrip(" "))  # type: ignore[no-any-return]

    return compare


register_comparisons(BPCHAR, BPCHAR, {k: _bpchar_cmp(v) for k, v in GENERIC_CMP.items()})

# ---- concatenation ---------------------------------------------------------------------


def _textanycat(args: tuple[T.SqlType, ...], result: T.SqlType) -> Impl:
    convert = to_text(args[1])
    return lambda a, b: a + convert(b)


def _anytextcat(args: tuple[T.SqlType, ...], result: T.SqlType) -> Impl:
    convert = to_text(args[0])
    return lambda a, b: convert(a) + b


op("||", TEXT, TEXT, TEXT, lambda a, b: a + b)
op("||", TEXT, "anynonarray", TEXT, make=_textanycat, volatility="s")
op("||", "anynonarray", TEXT, TEXT, make=_anytextcat, volatility="s")
op("||", BYTEA, BYTEA, BYTEA, lambda a, b: a + b)

# ---- LIKE, SIMILAR TO, regular expressions ---------------------------------------------


@lru_cache(maxsize=256)
def like_regex(pattern: str, case_insensitive: bool) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 >= len(pattern):
                raise QuorumError(
                    "LIKE pattern must not end with escape character", sqlstate="22025"
                )
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile(
        "".join(out), re.DOTALL | (re.IGNORECASE | re.ASCII if case_insensitive else 0)
    )


def _like(a: str, pattern: str) -> bool:
    return like_regex(pattern, False).fullmatch(a) is not None


def _ilike(a: str, pattern: str) -> bool:
    return like_regex(pattern, True).fullmatch(a) is not None


def _like_escape(pattern: str, escape: str) -> str:
    """A pattern with ESCAPE `escape` rewritten to use backslash (PostgreSQL's like_escape)."""
    if len(escape) > 1:
        raise QuorumError(
            "invalid escape string",
            sqlstate="22025",
            hint="Escape string must be empty or one character.",
        )
    if escape == "\\":
        return pattern
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape:
            i += 1
            if i >= len(pattern):
                raise QuorumError(
                    "LIKE pattern must not end with escape character", sqlstate="22025"
                )
            out.append("\\" + pattern[i])
        elif c == "\\":
            out.append("\\\\")
        else:
            out.append(c)
        i += 1
    return "".join(out)


def _bytes_like(negate: bool) -> Impl:
    def like(a: bytes, p: bytes) -> bool:
        matched = like_regex(p.decode("latin-1"), False).fullmatch(a.decode("latin-1")) is not None
        return matched != negate

    return like


for _t in (TEXT, BPCHAR):
    op("~~", _t, TEXT, BOOL, _like)
    op("!~~", _t, TEXT, BOOL, lambda a, p: not _like(a, p))
    op("~~*", _t, TEXT, BOOL, _ilike)
    op("!~~*", _t, TEXT, BOOL, lambda a, p: not _ilike(a, p))
op("~~", BYTEA, BYTEA, BOOL, _bytes_like(False))
op("!~~", BYTEA, BYTEA, BOOL, _bytes_like(True))
fn("like_escape", (TEXT, TEXT), TEXT, _like_escape)

_POSIX_CLASSES = {
    "alpha": "a-zA-Z",
    "digit": "0-9",
    "alnum": "a-zA-Z0-9",
    "upper": "A-Z",
    "lower": "a-z",
    "space": r"\s",
    "punct": r"!-/:-@\[-`{-~",
    "xdigit": "0-9A-Fa-f",
    "word": r"\w",
    "blank": r" \t",
    "cntrl": r"\x00-\x1f\x7f",
    "print": r"\x20-\x7e",
    "graph": r"\x21-\x7e",
}


@lru_cache(maxsize=256)
def regex(pattern: str, flags: str = "") -> re.Pattern[str]:
    """A PostgreSQL (ARE) regular expression as a Python one."""
    translated = re.sub(
        r"\[:(\w+):\]", lambda m: _POSIX_CLASSES.get(m.group(1), m.group(0)), pattern
    )
    translated = translated.replace(r"\m", r"\b").replace(r"\M", r"\b").replace(r"\y", r"\b")
    options = re.ASCII  # PostgreSQL's C locale: classes and case folding are ASCII-only
    for f in flags:
        if f == "i":
            options |= re.IGNORECASE
        elif f in ("n", "m"):
            options |= re.MULTILINE
        elif f == "s":
            options |= re.DOTALL
        elif f == "x":
            options |= re.VERBOSE
        elif f not in ("g", "c", "p", "w", "t"):
            raise QuorumError(f'invalid regular expression option: "{f}"', sqlstate="22023")
    if "n" not in flags and "p" not in flags and "w" not in flags:
        options |= re.DOTALL
    try:
        return re.compile(translated, options)
    except re.error as exc:
        message = _REGEX_ERRORS.get(exc.msg.split(" at ")[0], exc.msg)
        raise QuorumError(f"invalid regular expression: {message}", sqlstate="2201B") from None


# Python's messages for common mistakes, in PostgreSQL's words.
_REGEX_ERRORS = {
    "missing ), unterminated subpattern": "parentheses () not balanced",
    "unbalanced parenthesis": "parentheses () not balanced",
    "unterminated character set": "brackets [] not balanced",
    "nothing to repeat": "quantifier operand invalid",
    "multiple repeat": "quantifier operand invalid",
}


def _match(flags: str, negate: bool) -> Impl:
    def test(a: str, p: str) -> bool:
        return (regex(p, flags).search(a) is not None) != negate

    return test


for _t in (TEXT, BPCHAR):
    op("~", _t, TEXT, BOOL, _match("", False))
    op("!~", _t, TEXT, BOOL, _match("", True))
    op("~*", _t, TEXT, BOOL, _match("i", False))
    op("!~*", _t, TEXT, BOOL, _match("i", True))
op("^@", TEXT, TEXT, BOOL, lambda a, b: a.startswith(b))


def _similar_to_escape(pattern: str, escape: str | None = "\\") -> str:
    """SIMILAR TO pattern -> an anchored regular expression (PostgreSQL's similar_escape)."""
    if escape is not None and len(escape) > 1:
        raise QuorumError(
            "invalid escape string",
            sqlstate="22025",
            hint="Escape string must be empty or one character.",
        )
    out = ["^(?:"]
    i = 0
    in_bracket = False
    while i < len(pattern):
        c = pattern[i]
        if escape and c == escape:
            i += 1
            if i < len(pattern):
                out.append(re.escape(pattern[i]))
        elif in_bracket:
            out.append(c)
            if c == "]":
                in_bracket = False
        elif c == "[":
            in_bracket = True
            out.append(c)
        elif c == "%":
            out.append(".*")
        elif c == "_":
            out.append(".")
        elif c in "|*+?{}()":
            out.append(c)
        elif c == ".":
            out.append("\\.")
        else:
            out.append(re.escape(c))
        i += 1
    out.append(")$")
    return "".join(out)


fn("similar_to_escape", (TEXT,), TEXT, _similar_to_escape)
fn("similar_to_escape", (TEXT, TEXT), TEXT, _similar_to_escape, strict=False)
fn("similar_escape", (TEXT, TEXT), TEXT, _similar_to_escape, strict=False)


def _regexp_replace(source: str, pattern: str, replacement: str, flags: str = "") -> str:
    compiled = regex(pattern, flags)
    repl = re.sub(r"\\(\d|&)", lambda m: "\\g<0>" if m.group(1) == "&" else f"\\g<{m.group(1)}>", replacement.replace("\\\\", "\x00"))  # fmt: skip
    repl = repl.replace("\x00", "\\\\")
    try:
        return compiled.sub(repl, source, count=0 if "g" in flags else 1)
    except (re.error, IndexError):
        return compiled.sub(lambda m: m.group(0), source)


def _groups(m: re.Match[str]) -> tuple[str | None, ...]:
    return m.groups() if m.re.groups else (m.group(0),)


def _regexp_match(source: str, pattern: str, flags: str = "") -> tuple[str | None, ...] | None:
    if "g" in flags:
        raise QuorumError(
            'regexp_match() does not support the "global" option',
            sqlstate="22023",
            hint="Use the regexp_matches function instead.",
        )
    m = regex(pattern, flags).search(source)
    return _groups(m) if m else None


def _regexp_matches(source: str, pattern: str, flags: str = "") -> list[tuple[Any, ...]]:
    compiled = regex(pattern, flags)
    if "g" in flags:
        return [(_groups(m),) for m in compiled.finditer(source)]
    m = compiled.search(source)
    return [(_groups(m),)] if m else []


def _regexp_split(source: str, pattern: str, flags: str = "") -> tuple[str, ...]:
    compiled = regex(pattern, flags)
    parts = []
    last = 0
    for m in compiled.finditer(source):
        if m.end() == m.start() and (m.start() == 0 or m.start() >= len(source)):
            continue
        if m.end() == m.start():
            parts.append(source[last : m.start()])
            last = m.start()
            continue
        parts.append(source[last : m.start()])
        last = m.end()
    parts.append(source[last:])
    return tuple(parts)


def _substring_regex(source: str, pattern: str) -> str | None:
    m = regex(pattern).search(source)
    if m is None:
        return None
    return m.group(1) if m.re.groups else m.group(0)


def _substring_similar(source: str, pattern: str, escape: str) -> str | None:
    m = regex(_similar_to_escape(pattern, escape)).search(source)
    return m.group(0) if m else None


TEXT_ARRAY = T.array_of(TEXT)
for _args in ((TEXT, TEXT, TEXT), (TEXT, TEXT, TEXT, TEXT)):
    fn("regexp_replace", _args, TEXT, _regexp_replace)
fn("regexp_match", (TEXT, TEXT), TEXT_ARRAY, _regexp_match)
fn("regexp_match", (TEXT, TEXT, TEXT), TEXT_ARRAY, _regexp_match)
fn("regexp_matches", (TEXT, TEXT), TEXT_ARRAY, _regexp_matches, returns_set=True)
fn("regexp_matches", (TEXT, TEXT, TEXT), TEXT_ARRAY, _regexp_matches, returns_set=True)
fn("regexp_split_to_array", (TEXT, TEXT), TEXT_ARRAY, _regexp_split)
fn("regexp_split_to_array", (TEXT, TEXT, TEXT), TEXT_ARRAY, _regexp_split)
fn("regexp_split_to_table", (TEXT, TEXT), TEXT, lambda *a: [(p,) for p in _regexp_split(*a)], returns_set=True)  # fmt: skip
fn("regexp_split_to_table", (TEXT, TEXT, TEXT), TEXT, lambda *a: [(p,) for p in _regexp_split(*a)], returns_set=True)  # fmt: skip

# ---- string functions -----------------------------------------------------------------


def _substring(s: Any, start: int, count: int | None = None) -> Any:
    if count is not None and count < 0:
        raise QuorumError("negative substring length not allowed", sqlstate="22011")
    begin = max(start, 1) - 1
    if count is None:
        return s[begin:]
    end = start + count - 1
    return s[begin : max(end, begin)] if end > 0 else s[:0]


def _trim(chars: str | None, side: str) -> Impl:
    def trim(s: str, characters: str = " ") -> str:
        if side == "both":
            return s.strip(characters)
        return s.lstrip(characters) if side == "left" else s.rstrip(characters)

    return trim


def _split_part(s: str, delimiter: str, n: int) -> str:
    if n == 0:
        raise QuorumError("field position must not be zero", sqlstate="22023")
    parts = s.split(delimiter) if delimiter else [s]
    if s == "":
        return ""
    index = n - 1 if n > 0 else len(parts) + n
    return parts[index] if 0 <= index < len(parts) else ""


def _left(s: str, n: int) -> str:
    return s[:n] if n >= 0 else s[: max(len(s) + n, 0)]


def _right(s: str, n: int) -> str:
    if n >= 0:
        return s[len(s) - n :] if n else ""
    return s[-n:]


def _pad(s: str, length: int, fill: str = " ", left: bool = True) -> str:
    if length <= 0:
        return ""
    if len(s) >= length:
        return s[:length]
    if not fill:
        return s
    need = length - len(s)
    padding = (fill * (need // len(fill) + 1))[:need]
    return padding + s if left else s + padding


def _concat(args: tuple[T.SqlType, ...], result: T.SqlType) -> Impl:
    converters = [output_text(t) for t in args]

    def concat(zone: Any, *values: Any) -> str:
        return "".join(c(v, zone) for c, v in zip(converters, values, strict=True) if v is not None)

    return concat


def _concat_ws(args: tuple[T.SqlType, ...], result: T.SqlType) -> Impl:
    converters = [output_text(t) for t in args[1:]]

    def concat_ws(zone: Any, separator: str | None, *values: Any) -> str | None:
        if separator is None:
            return None
        return separator.join(
            c(v, zone) for c, v in zip(converters, values, strict=True) if v is not None
        )

    return concat_ws


def quote_ident(name: str) -> str:
    if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) and name not in _RESERVED:
        return name
    return '"' + name.replace('"', '""') + '"'


_RESERVED = frozenset(
    "all analyse analyze and any array as asc asymmetric both case cast check collate column "
    "constraint create current_catalog current_date current_role current_time current_timestamp "
    "current_user default deferrable desc distinct do else end except false fetch for foreign "
    "from grant group having in initially intersect into lateral leading limit localtime "
    "localtimestamp not null offset on only or order placing primary references returning "
    "select session_user some symmetric table then to trailing true union unique user using "
    "variadic when where window with".split()
)


def quote_literal(s: str) -> str:
    quoted = "'" + s.replace("'", "''").replace("\\", "\\\\") + "'"
    return ("E" + quoted) if "\\" in s else quoted


def _format(args: tuple[T.SqlType, ...], result: T.SqlType) -> Impl:
    converters = [output_text(t) for t in args[1:]]

    def format_(zone: Any, fmt: str | None, *values: Any) -> str | None:
        if fmt is None:
            return None
        out: list[str] = []
        i, n, next_arg = 0, len(fmt), 0
        while i < n:
            c = fmt[i]
            if c != "%":
                out.append(c)
                i += 1
                continue
            i += 1
            if i >= n:
                raise QuorumError("unterminated format() type specifier", sqlstate="22023", hint='For a single "%" use "%%".')  # fmt: skip
            if fmt[i] == "%":
                out.append("%")
                i += 1
                continue
            m = re.compile(r"(?:(\d+)\$)?(-)?(\d+)?([sIL])").match(fmt, i)
            if m is None:
                raise QuorumError(f'unrecognized format() type specifier "{fmt[i]}"', sqlstate="22023", hint='For a single "%" use "%%".')  # fmt: skip
            i = m.end()
            index = int(m.group(1)) - 1 if m.group(1) else next_arg
            next_arg = index + 1
            if index >= len(values):
                raise QuorumError("too few arguments for format()", sqlstate="22023")
            v = values[index]
            kind = m.group(4)
            if kind == "s":
                text = "" if v is None else converters[index](v, zone)
            elif kind == "I":
                if v is None:
                    raise QuorumError("null values cannot be formatted as an SQL identifier", sqlstate="22004")  # fmt: skip
                text = quote_ident(converters[index](v, zone))
            else:
                text = "NULL" if v is None else quote_literal(converters[index](v, zone))
            width = int(m.group(3) or 0)
            out.append(text.ljust(width) if m.group(2) else text.rjust(width))
        return "".join(out)

    return format_


def _to_hex(width: int) -> Impl:
    return lambda v: format(v & ((1 << width) - 1), "x")


def _translate(s: str, source: str, target: str) -> str:
    table: dict[int, int | None] = {}
    for i, c in enumerate(source):
        if ord(c) not in table:
            table[ord(c)] = ord(target[i]) if i < len(target) else None
    return s.translate(table)


# The "C" locale's case mapping (as the collation): only ASCII letters change case.
_TO_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(s: str) -> str:
    return s.translate(_TO_LOWER)


def _initcap(s: str) -> str:
    out = []
    previous_alnum = False
    for c in s:
        out.append(c.translate(_TO_LOWER) if previous_alnum else c.translate(_TO_UPPER))
        previous_alnum = c.isascii() and c.isalnum()
    return "".join(out)


def _chr(code: int) -> str:
    if code == 0:
        raise QuorumError("null character not permitted", sqlstate="54000")
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise QuorumError(f"requested character not valid for encoding: {code}", sqlstate="54000")
    return chr(code)


def _overlay(s: Any, replacement: Any, start: int, count: int | None = None) -> Any:
    if count is None:
        count = len(replacement)
    if start < 1:
        raise QuorumError("negative substring length not allowed", sqlstate="22011")
    return s[: start - 1] + replacement + s[start - 1 + count :]


def _encode(data: bytes, fmt: str) -> str:
    kind = fmt.lower()
    if kind == "hex":
        return data.hex()
    if kind == "base64":
        text = base64.b64encode(data).decode()
        return "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    if kind == "escape":
        return "".join(
            "\\\\" if b == 0x5C else (chr(b) if 0x20 <= b < 0x7F else f"\\{b:03o}") for b in data
        )
    raise QuorumError(f'unrecognized encoding: "{fmt}"', sqlstate="22023")


def _decode(text: str, fmt: str) -> bytes:
    kind = fmt.lower()
    try:
        if kind == "hex":
            return bytes.fromhex(text)
        if kind == "base64":
            return base64.b64decode("".join(text.split()), validate=True)
        if kind == "escape":
            return T.parse_text(BYTEA, text)  # type: ignore[return-value]
    except ValueError:
        raise InvalidTextRepresentation(f"invalid {kind} data") from None
    raise QuorumError(f'unrecognized encoding: "{fmt}"', sqlstate="22023")


for _name in ("length", "char_length", "character_length"):
    fn(_name, (TEXT,), INT4, len)
    fn(_name, (BPCHAR,), INT4, lambda s: len(s.rstrip(" ")))
fn("length", (BYTEA,), INT4, len)
fn("octet_length", (TEXT,), INT4, lambda s: len(s.encode()))
fn("octet_length", (BPCHAR,), INT4, lambda s: len(s.encode()))
fn("octet_length", (BYTEA,), INT4, len)
fn("bit_length", (TEXT,), INT4, lambda s: 8 * len(s.encode()))
fn("bit_length", (BYTEA,), INT4, lambda b: 8 * len(b))
fn("lower", (TEXT,), TEXT, ascii_lower)
fn("upper", (TEXT,), TEXT, lambda s: s.translate(_TO_UPPER))
fn("initcap", (TEXT,), TEXT, _initcap)
for _name in ("substring", "substr"):
    fn(_name, (TEXT, INT4), TEXT, _substring)
    fn(_name, (TEXT, INT4, INT4), TEXT, _substring)
    fn(_name, (BYTEA, INT4), BYTEA, _substring)
    fn(_name, (BYTEA, INT4, INT4), BYTEA, _substring)
fn("substring", (TEXT, TEXT), TEXT, _substring_regex)
fn("substring", (TEXT, TEXT, TEXT), TEXT, _substring_similar)
fn("position", (TEXT, TEXT), INT4, lambda s, sub: s.find(sub) + 1)
fn("position", (BYTEA, BYTEA), INT4, lambda s, sub: s.find(sub) + 1)
fn("strpos", (TEXT, TEXT), INT4, lambda s, sub: s.find(sub) + 1)
for _name, _side in (("btrim", "both"), ("ltrim", "left"), ("rtrim", "right")):
    fn(_name, (TEXT,), TEXT, _trim(None, _side))
    fn(_name, (TEXT, TEXT), TEXT, _trim(None, _side))
    fn(_name, (BYTEA, BYTEA), BYTEA, _trim(None, _side))
fn("replace", (TEXT, TEXT, TEXT), TEXT, lambda s, a, b: s.replace(a, b) if a else s)
fn("split_part", (TEXT, TEXT, INT4), TEXT, _split_part)
fn("concat", ("any",), TEXT, make=_concat, variadic=True, strict=False, volatility="s", context="zone")  # fmt: skip
fn("concat_ws", (TEXT, "any"), TEXT, make=_concat_ws, variadic=True, strict=False, volatility="s", context="zone")  # fmt: skip
fn("left", (TEXT, INT4), TEXT, _left)
fn("right", (TEXT, INT4), TEXT, _right)
fn("lpad", (TEXT, INT4), TEXT, _pad)
fn("lpad", (TEXT, INT4, TEXT), TEXT, _pad)
fn("rpad", (TEXT, INT4), TEXT, lambda s, n, f=" ": _pad(s, n, f, left=False))
fn("rpad", (TEXT, INT4, TEXT), TEXT, lambda s, n, f: _pad(s, n, f, left=False))
fn("repeat", (TEXT, INT4), TEXT, lambda s, n: s * max(n, 0))
fn("reverse", (TEXT,), TEXT, lambda s: s[::-1])
fn("format", (TEXT,), TEXT, make=_format, strict=False, volatility="s", context="zone")
fn("format", (TEXT, "any"), TEXT, make=_format, variadic=True, strict=False, volatility="s", context="zone")  # fmt: skip
fn("md5", (TEXT,), TEXT, lambda s: hashlib.md5(s.encode()).hexdigest())
fn("md5", (BYTEA,), TEXT, lambda b: hashlib.md5(b).hexdigest())
fn("sha256", (BYTEA,), BYTEA, lambda b: hashlib.sha256(b).digest())
fn("ascii", (TEXT,), INT4, lambda s: ord(s[0]) if s else 0)
fn("chr", (INT4,), TEXT, _chr)
fn("to_hex", (INT4,), TEXT, _to_hex(32))
fn("to_hex", (T.INT8,), TEXT, _to_hex(64))
fn("quote_ident", (TEXT,), TEXT, quote_ident)
fn("quote_literal", (TEXT,), TEXT, quote_literal)
fn("quote_nullable", (TEXT,), TEXT, lambda s: "NULL" if s is None else quote_literal(s), strict=False)  # fmt: skip
fn("translate", (TEXT, TEXT, TEXT), TEXT, _translate)
fn("starts_with", (TEXT, TEXT), BOOL, lambda a, b: a.startswith(b))
fn("overlay", (TEXT, TEXT, INT4), TEXT, _overlay)
fn("overlay", (TEXT, TEXT, INT4, INT4), TEXT, _overlay)
fn("overlay", (BYTEA, BYTEA, INT4), BYTEA, _overlay)
fn("overlay", (BYTEA, BYTEA, INT4, INT4), BYTEA, _overlay)
fn("encode", (BYTEA, TEXT), TEXT, _encode)
fn("decode", (TEXT, TEXT), BYTEA, _decode)
fn("get_byte", (BYTEA, INT4), INT4, lambda b, n: b[n])
fn("gen_random_uuid", (), T.UUID, lambda: _uuid.uuid4().bytes, volatility="v")
fn("version", (), TEXT, lambda: VERSION, volatility="s")

VERSION = "PostgreSQL 15.0 (QuorumDB 0.1.0) on x86_64-pc-linux-gnu, compiled by CPython, 64-bit"
