"""Arrays: the text form ``{1,2,NULL}`` / ``{{1,2},{3,4}}`` in and out.

An array value is a tuple of its elements (None for NULL); a
multidimensional array is a tuple of equally long tuples. Arrays are 1-based
and their lower bounds are always 1 (the ``[2:3]={...}`` decoration is not
supported). Elements are parsed and printed with the element type's own
input and output functions; printing quotes an element exactly when
PostgreSQL's array_out does.
"""

from __future__ import annotations

from typing import Any

from quorumdb.storage.errors import FeatureNotSupported, InvalidTextRepresentation

from . import types as T

__all__ = ["parse_array", "format_array", "dimensions", "flatten"]


class _Malformed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def parse_array(t: T.SqlType, text: str) -> tuple[Any, ...]:
    element = t.element
    assert element is not None
    s = text.strip()
    if s.startswith("["):
        raise FeatureNotSupported("array bounds other than 1 are not supported")
    if not s.startswith("{"):
        raise InvalidTextRepresentation(
            f'malformed array literal: "{text}"',
            detail='Array value must start with "{" or dimension information.',
        )
    try:
        value, end = _parse_level(s, 1, element)
        if s[end:].strip():
            raise _Malformed("Junk after closing right brace.")
        dimensions(value)
    except _Malformed as exc:
        raise InvalidTextRepresentation(
            f'malformed array literal: "{text}"', detail=exc.detail
        ) from None
    return value


def _parse_level(s: str, i: int, element: T.SqlType) -> tuple[tuple[Any, ...], int]:
    """Parse the elements after the "{" at s[i-1]; returns (elements, index after "}")."""
    items: list[Any] = []
    n = len(s)
    expect_item = True
    while True:
        while i < n and s[i].isspace():
            i += 1
        if i >= n:
            raise _Malformed("Unexpected end of input.")
        c = s[i]
        if c == "}":
            if expect_item and items:
                raise _Malformed('Unexpected "}" character.')
            return tuple(items), i + 1
        if not expect_item:
            if c != ",":
                raise _Malformed(f'Unexpected "{c}" character.')
            i += 1
            expect_item = True
            continue
        if c == "{":
            sub, i = _parse_level(s, i + 1, element)
            items.append(sub)
        elif c == '"':
            out: list[str] = []
            i += 1
            while True:
                if i >= n:
                    raise _Malformed("Unexpected end of input.")
                ch = s[i]
                if ch == "\\":
                    if i + 1 >= n:
                        raise _Malformed("Unexpected end of input.")
                    out.append(s[i + 1])
                    i += 2
                    continue
                if ch == '"':
                    i += 1
                    break
                out.append(ch)
                i += 1
            items.append(T.parse_text(element, "".join(out)))
        elif c == ",":
            raise _Malformed('Unexpected "," character.')
        else:
            out = []
            while i < n and s[i] not in ",}":
                if s[i] in '{"':
                    raise _Malformed(f'Unexpected "{s[i]}" character.')
                if s[i] == "\\" and i + 1 < n:
                    out.append(s[i + 1])
                    i += 2
                    continue
                out.append(s[i])
                i += 1
            word = "".join(out).strip()
            items.append(None if word.upper() == "NULL" else T.parse_text(element, word))
        expect_item = False


def dimensions(value: tuple[Any, ...]) -> list[int]:
    """The length of each dimension; raises when sub-arrays differ in shape."""
    if not value:
        return []
    nested = [isinstance(v, tuple) for v in value]
    if any(nested) and not all(nested):
        raise _Malformed("Multidimensional arrays must have sub-arrays with matching dimensions.")
    if not nested[0]:
        return [len(value)]
    inner = [dimensions(v) for v in value]
    if any(d != inner[0] for d in inner):
        raise _Malformed("Multidimensional arrays must have sub-arrays with matching dimensions.")
    return [len(value), *inner[0]]


def flatten(value: tuple[Any, ...]) -> list[Any]:
    out: list[Any] = []
    for v in value:
        if isinstance(v, tuple):
            out.extend(flatten(v))
        else:
            out.append(v)
    return out


_SPECIAL = set('{},"\\ \t\n\r\x0b\x0c')


def _quote(text: str) -> str:
    if text == "" or text.upper() == "NULL" or any(c in _SPECIAL for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def format_array(t: T.SqlType, value: tuple[Any, ...], zone: str | None = None) -> str:
    element = t.element
    assert element is not None

    def level(items: tuple[Any, ...]) -> str:
        parts = []
        for v in items:
            if v is None:
                parts.append("NULL")
            elif isinstance(v, tuple) and element.element is None:
                parts.append(level(v))
            else:
                parts.append(_quote(T.format_text(element, v, zone)))
        return "{" + ",".join(parts) + "}"

    return level(value)
