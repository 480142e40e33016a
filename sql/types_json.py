"""json and jsonb: parsing (with PostgreSQL's error details), values and text output.

* json is kept as the text the client wrote (validated on input), as in
  PostgreSQL; operators that take it apart re-parse it and return the exact
  source text of the part (`JsonNode` spans), whitespace included.
* jsonb is a `Jsonb`: a parsed document of dicts, lists, str, Decimal
  numbers, bools and None (JSON null; SQL NULL is never inside a Jsonb).
  Duplicate keys keep the last value; output lists keys in jsonb's storage
  order (shorter keys first, then bytewise) and numbers with their scale.
  Equality and hashing follow PostgreSQL (``1.0 = 1``); ordering follows the
  btree rules: null < string < number < boolean < array < object, arrays
  and objects by size first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from quorumdb.storage.errors import InvalidTextRepresentation, QuorumError

from . import types as T

__all__ = [
    "Jsonb",
    "JsonNode",
    "parse_json_value",
    "parse_json_nodes",
    "format_jsonb",
    "jsonb_from_text",
    "key_order",
]


class _Invalid(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


_DELIMITERS = set(' \t\n\r,:[]{}"')
_WHITESPACE = " \t\n\r"


class _Lexer:
    """PostgreSQL's JSON lexer: tokens and the texts its error details quote."""

    __slots__ = ("text", "pos", "n")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.n = len(text)

    def skip(self) -> None:
        while self.pos < self.n and self.text[self.pos] in _WHITESPACE:
            self.pos += 1

    def peek(self) -> str:
        self.skip()
        return self.text[self.pos] if self.pos < self.n else ""

    def token_text(self) -> str:
        """The text of the token at the current position (for 'but found "x"')."""
        self.skip()
        if self.pos >= self.n:
            return ""
        c = self.text[self.pos]
        if c in ",:[]{}":
            return c
        if c == '"':
            end = self._string_end(self.pos)
            return self.text[self.pos : end]
        end = self.pos
        while end < self.n and self.text[end] not in _DELIMITERS:
            end += 1
        return self.text[self.pos : max(end, self.pos + 1)]

    def _string_end(self, start: int) -> int:
        i = start + 1
        while i < self.n:
            c = self.text[i]
            if c == "\\":
                i += 2
                continue
            if c == '"':
                return i + 1
            i += 1
        raise _Invalid("The input string ended unexpectedly.")

    def expected(self, what: str) -> _Invalid:
        if self.peek() == "":
            return _Invalid("The input string ended unexpectedly.")
        return _Invalid(f'Expected {what}, but found "{self.token_text()}".')


def _read_string(lx: _Lexer) -> str:
    text, i, n = lx.text, lx.pos + 1, lx.n
    out: list[str] = []
    while True:
        if i >= n:
            raise _Invalid("The input string ended unexpectedly.")
        c = text[i]
        if c == '"':
            lx.pos = i + 1
            return "".join(out)
        if c == "\\":
            if i + 1 >= n:
                raise _Invalid("The input string ended unexpectedly.")
            e = text[i + 1]
            if e == "u":
                hexdigits = text[i + 2 : i + 6]
                if len(hexdigits) < 4 or any(h not in "0123456789abcdefABCDEF" for h in hexdigits):
                    raise _Invalid('"\\u" must be followed by four hexadecimal digits.')
                code = int(hexdigits, 16)
                i += 6
                if 0xD800 <= code < 0xDC00:
                    low = text[i : i + 6]
                    if len(low) == 6 and low[:2] == "\\u":
                        low_code = int(low[2:], 16)
                        if 0xDC00 <= low_code < 0xE000:
                            code = 0x10000 + ((code - 0xD800) << 10) + (low_code - 0xDC00)
                            i += 6
                        else:
                            raise _Invalid(
                                "Unicode high surrogate must not follow a high surrogate."
                            )
                    else:
                        raise _Invalid("Unicode low surrogate must follow a high surrogate.")
                elif 0xDC00 <= code < 0xE000:
                    raise _Invalid("Unicode low surrogate must follow a high surrogate.")
                if code == 0:
                    raise QuorumError(
                        "unsupported Unicode escape sequence",
                        sqlstate="22P05",
                        detail="\\u0000 cannot be converted to text.",
                    )
                out.append(chr(code))
                continue
            simple = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}  # fmt: skip
            if e not in simple:
                raise _Invalid(f'Escape sequence "\\{e}" is invalid.')
            out.append(simple[e])
            i += 2
            continue
        if ord(c) < 0x20:
            raise _Invalid(f"Character with value 0x{ord(c):02x} must be escaped.")
        out.append(c)
        i += 1


def _read_scalar(lx: _Lexer) -> tuple[str, Any]:
    """('number'|'true'|'false'|'null', value) of the bare token at the current position."""
    word = lx.token_text()
    lx.pos += len(word)
    if word == "true":
        return "bool", True
    if word == "false":
        return "bool", False
    if word == "null":
        return "null", None
    if _is_json_number(word):
        return "number", _number(word)
    raise _Invalid(f'Token "{word}" is invalid.')


def _is_json_number(word: str) -> bool:
    i, n = 0, len(word)
    if i < n and word[i] == "-":
        i += 1
    if i >= n or not word[i].isdigit():
        return False
    if word[i] == "0":
        i += 1
    else:
        while i < n and word[i].isdigit():
            i += 1
    if i < n and word[i] == ".":
        i += 1
        if i >= n or not word[i].isdigit():
            return False
        while i < n and word[i].isdigit():
            i += 1
    if i < n and word[i] in "eE":
        i += 1
        if i < n and word[i] in "+-":
            i += 1
        if i >= n or not word[i].isdigit():
            return False
        while i < n and word[i].isdigit():
            i += 1
    return i == n and word.isascii()


def _number(word: str) -> Decimal:
    return T.parse_text(T.NUMERIC, word)  # type: ignore[return-value]


@dataclass(slots=True)
class JsonNode:
    """A json value as a span of its source text, with its parts (for json operators)."""

    kind: str  # "object", "array", "string", "number", "bool", "null"
    start: int
    end: int
    value: Any = None  # str for strings; dict[str, JsonNode] / list[JsonNode] for containers

    def text(self, source: str) -> str:
        return source[self.start : self.end]


def _parse(lx: _Lexer, nodes: bool) -> Any:
    c = lx.peek()
    start = lx.pos
    if c == "{":
        lx.pos += 1
        obj: dict[str, Any] = {}
        if lx.peek() == "}":
            lx.pos += 1
        else:
            while True:
                if lx.peek() != '"':
                    raise lx.expected('string or "}"' if not obj else "string")
                key = _read_string(lx)
                if lx.peek() != ":":
                    raise lx.expected('":"')
                lx.pos += 1
                obj.pop(key, None)  # the last duplicate wins, in its own position
                obj[key] = _parse(lx, nodes)
                sep = lx.peek()
                lx.pos += 1
                if sep == "}":
                    break
                if sep != ",":
                    lx.pos -= 1
                    raise lx.expected('"," or "}"')
        return JsonNode("object", start, lx.pos, obj) if nodes else obj
    if c == "[":
        lx.pos += 1
        items: list[Any] = []
        if lx.peek() == "]":
            lx.pos += 1
        else:
            while True:
                items.append(_parse(lx, nodes))
                sep = lx.peek()
                lx.pos += 1
                if sep == "]":
                    break
                if sep != ",":
                    lx.pos -= 1
                    raise lx.expected('"," or "]"')
        return JsonNode("array", start, lx.pos, items) if nodes else items
    if c == '"':
        s = _read_string(lx)
        return JsonNode("string", start, lx.pos, s) if nodes else s
    if c in ("", ",", ":", "]", "}"):
        raise lx.expected("JSON value")
    kind, value = _read_scalar(lx)
    return JsonNode(kind, start, lx.pos, value) if nodes else value


def _parse_document(text: str, nodes: bool) -> Any:
    lx = _Lexer(text)
    try:
        value = _parse(lx, nodes)
        if lx.peek() != "":
            raise lx.expected("end of input")
    except _Invalid as exc:
        raise InvalidTextRepresentation(
            "invalid input syntax for type json", detail=exc.detail
        ) from None
    return value


def parse_json_value(text: str) -> Any:
    """Parse JSON text into Python values (JSON null is None)."""
    return _parse_document(text, nodes=False)


def parse_json_nodes(text: str) -> JsonNode:
    """Parse json text keeping every value's source span."""
    return _parse_document(text, nodes=True)  # type: ignore[no-any-return]


# ---- jsonb --------------------------------------------------------------------


def key_order(key: str) -> tuple[int, bytes]:
    """jsonb's storage order of object keys: shorter first, then bytewise."""
    raw = key.encode()
    return len(raw), raw


def _normalise(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _normalise(value[k]) for k in sorted(value, key=key_order)}
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    return value


def _canonical(value: Any) -> Any:
    if value is None:
        return (0,)
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, (Decimal, int, float)):
        d = Decimal(value) if not isinstance(value, Decimal) else value
        return (2, d.normalize() if d.is_finite() else d)
    if isinstance(value, list):
        return (4, len(value), tuple(_canonical(v) for v in value))
    return (
        5,
        len(value),
        tuple((key_order(k), _canonical(value[k])) for k in sorted(value, key=key_order)),
    )


class Jsonb:
    """A jsonb value (see the module docstring)."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any, normalised: bool = False) -> None:
        self.value = value if normalised else _normalise(value)
        self._key: Any = None

    def sort_key(self) -> Any:
        if self._key is None:
            self._key = _canonical(self.value)
        return self._key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Jsonb) and self.sort_key() == other.sort_key()

    def __hash__(self) -> int:
        return hash(self.sort_key())

    def __lt__(self, other: Jsonb) -> bool:
        return self.sort_key() < other.sort_key()  # type: ignore[no-any-return]

    def __le__(self, other: Jsonb) -> bool:
        return self.sort_key() <= other.sort_key()  # type: ignore[no-any-return]

    def __gt__(self, other: Jsonb) -> bool:
        return self.sort_key() > other.sort_key()  # type: ignore[no-any-return]

    def __ge__(self, other: Jsonb) -> bool:
        return self.sort_key() >= other.sort_key()  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"Jsonb({format_jsonb(self)})"

    def __keycode__(self) -> str:
        """Keys (unique indexes) compare jsonb by equality: the text with numbers normalised."""
        return format_json_value(_normalised_numbers(self.value))


def _normalised_numbers(value: Any) -> Any:
    if isinstance(value, Decimal):
        return value.normalize() if value.is_finite() else value
    if isinstance(value, list):
        return [_normalised_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: _normalised_numbers(v) for k, v in value.items()}
    return value


def jsonb_from_text(text: str) -> Jsonb:
    return Jsonb(parse_json_value(text))


def parse_jsonb(t: T.SqlType, text: str) -> Jsonb:
    return jsonb_from_text(text)


def parse_json(t: T.SqlType, text: str) -> str:
    parse_json_value(text)
    return text


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}  # fmt: skip


def quote_json(s: str) -> str:
    """A JSON string literal, escaped as PostgreSQL's escape_json does."""
    out = ['"']
    for c in s:
        e = _ESCAPES.get(c)
        if e is not None:
            out.append(e)
        elif c < " ":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def format_json_value(value: Any) -> str:
    """jsonb's canonical text of a Python JSON value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return quote_json(value)
    if isinstance(value, Decimal):
        return T.format_numeric(value)
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(format_json_value(v) for v in value) + "]"
    return (
        "{" + ", ".join(f"{quote_json(k)}: {format_json_value(v)}" for k, v in value.items()) + "}"
    )


def format_jsonb(value: Jsonb) -> str:
    return format_json_value(value.value)
