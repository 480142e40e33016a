"""json and jsonb operators and functions: field access, containment, building, expanding.

``->``/``->>``/``#>``/``#>>`` work on both types: on json they return the
exact source text of the selected part, on jsonb its normalised form.
Building functions (``jsonb_build_object``, ``to_jsonb``, ``json_agg`` ...)
convert SQL values as PostgreSQL does: numbers stay numbers, timestamps
become ISO 8601 strings, arrays become JSON arrays; the json variants
produce PostgreSQL's exact spacing (``{"a" : 1}`` for json_build_object).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from quorumdb.storage.errors import QuorumError

from . import types as T
from . import types_datetime as DT
from .functions import register_function as fn
from .functions import register_operator as op
from .types_json import (
    Jsonb,
    JsonNode,
    format_json_value,
    key_order,
    parse_json_nodes,
    parse_json_value,
    quote_json,
)

__all__ = ["to_json_value", "json_text_of"]

JSON, JSONB, TEXT, INT4, BOOL = T.JSON, T.JSONB, T.TEXT, T.INT4, T.BOOL
TEXT_ARRAY = T.array_of(TEXT)

# ---- access -----------------------------------------------------------------------------


def _jsonb_field(doc: Jsonb, key: str) -> Jsonb | None:
    v = doc.value
    if isinstance(v, dict) and key in v:
        return Jsonb(v[key], normalised=True)
    return None


def _jsonb_element(doc: Jsonb, index: int) -> Jsonb | None:
    v = doc.value
    if not isinstance(v, (list, dict)) and index in (0, -1):
        return doc  # a bare scalar acts as a one-element array, as in PostgreSQL
    if isinstance(v, list):
        if index < 0:
            index += len(v)
        if 0 <= index < len(v):
            return Jsonb(v[index], normalised=True)
    return None


def _as_text(doc: Jsonb | None) -> str | None:
    if doc is None or doc.value is None:
        return None
    if isinstance(doc.value, str):
        return doc.value
    return format_json_value(doc.value)


def _jsonb_path(doc: Jsonb, path: tuple[str | None, ...]) -> Jsonb | None:
    current: Jsonb | None = doc
    for step in path:
        if current is None or step is None:
            return None
        v = current.value
        if isinstance(v, dict):
            current = _jsonb_field(current, step)
        elif isinstance(v, list):
            try:
                current = _jsonb_element(current, int(step))
            except ValueError:
                return None
        else:
            return None
    return current


def _node_child(node: JsonNode, step: str | int) -> JsonNode | None:
    if node.kind == "object" and isinstance(step, str):
        return node.value.get(step)  # type: ignore[no-any-return]
    if node.kind == "array" and isinstance(step, int):
        items = node.value
        index = step + len(items) if step < 0 else step
        return items[index] if 0 <= index < len(items) else None
    return None


def _json_get(text: str, steps: tuple[str | int | None, ...], as_text: bool) -> str | None:
    node: JsonNode | None = parse_json_nodes(text)
    for step in steps:
        if node is None or step is None:
            return None
        if isinstance(step, str) and node.kind == "array":
            try:
                step = int(step)
            except ValueError:
                return None
        node = _node_child(node, step)
    if node is None:
        return None
    if as_text:
        if node.kind == "null":
            return None
        if node.kind == "string":
            return node.value  # type: ignore[no-any-return]
    return node.text(text)


op("->", JSONB, TEXT, JSONB, _jsonb_field)
op("->", JSONB, INT4, JSONB, _jsonb_element)
op("->>", JSONB, TEXT, TEXT, lambda d, k: _as_text(_jsonb_field(d, k)))
op("->>", JSONB, INT4, TEXT, lambda d, i: _as_text(_jsonb_element(d, i)))
op("#>", JSONB, TEXT_ARRAY, JSONB, _jsonb_path)
op("#>>", JSONB, TEXT_ARRAY, TEXT, lambda d, p: _as_text(_jsonb_path(d, p)))
op("->", JSON, TEXT, JSON, lambda j, k: _json_get(j, (k,), False))
op("->", JSON, INT4, JSON, lambda j, i: _json_get(j, (i,), False))
op("->>", JSON, TEXT, TEXT, lambda j, k: _json_get(j, (k,), True))
op("->>", JSON, INT4, TEXT, lambda j, i: _json_get(j, (i,), True))
op("#>", JSON, TEXT_ARRAY, JSON, lambda j, p: _json_get(j, p, False))
op("#>>", JSON, TEXT_ARRAY, TEXT, lambda j, p: _json_get(j, p, True))
fn("jsonb_extract_path", (JSONB, TEXT_ARRAY), JSONB, _jsonb_path)
fn("jsonb_extract_path_text", (JSONB, TEXT_ARRAY), TEXT, lambda d, p: _as_text(_jsonb_path(d, p)))

# ---- comparison and containment ----------------------------------------------------------

for _name, _impl in {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}.items():
    op(_name, JSONB, JSONB, BOOL, _impl)


def _contains(a: Any, b: Any, top: bool = True) -> bool:
    """PostgreSQL's jsonb @>: structure and values of b appear in a."""
    if isinstance(a, dict):
        if not isinstance(b, dict):
            return False
        return all(k in a and _contains(a[k], v, False) for k, v in b.items())
    if isinstance(a, list):
        if isinstance(b, list):
            return all(any(_contains(x, y, False) for x in a) for y in b)
        # a top-level array contains a bare scalar
        return top and not isinstance(b, dict) and any(_same_scalar(x, b) for x in a)
    if isinstance(b, (dict, list)):
        return False
    return _same_scalar(a, b)


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return a == b
    return type(a) is type(b) and a == b


def _exists(doc: Jsonb, key: str) -> bool:
    v = doc.value
    if isinstance(v, dict):
        return key in v
    if isinstance(v, list):
        return any(isinstance(x, str) and x == key for x in v)
    return isinstance(v, str) and v == key


op("@>", JSONB, JSONB, BOOL, lambda a, b: _contains(a.value, b.value))
op("<@", JSONB, JSONB, BOOL, lambda a, b: _contains(b.value, a.value))
op("?", JSONB, TEXT, BOOL, _exists)
op(
    "?|",
    JSONB,
    TEXT_ARRAY,
    BOOL,
    lambda d, keys: any(k is not None and _exists(d, k) for k in keys),
)
op(
    "?&",
    JSONB,
    TEXT_ARRAY,
    BOOL,
    lambda d, keys: all(k is not None and _exists(d, k) for k in keys),
)


def _concat(a: Jsonb, b: Jsonb) -> Jsonb:
    x, y = a.value, b.value
    if isinstance(x, dict) and isinstance(y, dict):
        merged = dict(x)
        merged.update(y)
        return Jsonb(merged)
    left = x if isinstance(x, list) else [x]
    right = y if isinstance(y, list) else [y]
    return Jsonb(left + right)


def _delete_key(doc: Jsonb, key: str) -> Jsonb:
    v = doc.value
    if isinstance(v, dict):
        return Jsonb({k: x for k, x in v.items() if k != key}, normalised=True)
    if isinstance(v, list):
        return Jsonb([x for x in v if not (isinstance(x, str) and x == key)], normalised=True)
    raise QuorumError("cannot delete from scalar", sqlstate="22023")


def _delete_index(doc: Jsonb, index: int) -> Jsonb:
    v = doc.value
    if isinstance(v, dict):
        raise QuorumError("cannot delete from object using integer index", sqlstate="22023")
    if not isinstance(v, list):
        raise QuorumError("cannot delete from scalar", sqlstate="22023")
    if index < 0:
        index += len(v)
    return Jsonb([x for i, x in enumerate(v) if i != index], normalised=True)


op("||", JSONB, JSONB, JSONB, _concat)
op("-", JSONB, TEXT, JSONB, _delete_key)
op("-", JSONB, INT4, JSONB, _delete_index)
op("-", JSONB, TEXT_ARRAY, JSONB, lambda d, keys: _delete_keys(d, keys))


def _delete_keys(doc: Jsonb, keys: tuple[str | None, ...]) -> Jsonb:
    for k in keys:
        if k is not None:
            doc = _delete_key(doc, k)
    return doc


# ---- SQL values to JSON ----------------------------------------------------------------


def to_json_value(t: T.SqlType) -> Callable[[Any], Any]:
    """SQL value of type `t` -> Python JSON value (as to_jsonb converts it)."""
    if t.element is not None:
        inner = to_json_value(t.element)

        def array(v: tuple[Any, ...]) -> Any:
            return [
                None if x is None else (array(x) if isinstance(x, tuple) else inner(x)) for x in v
            ]

        return array
    oid = t.oid
    if oid in T.INT_RANGES:
        return Decimal
    if oid in (T.FLOAT4.oid, T.FLOAT8.oid):
        fmt = T.format_float4 if oid == T.FLOAT4.oid else T.format_float8
        return lambda v: Decimal(fmt(v)) if math.isfinite(v) else fmt(v)
    if oid == T.NUMERIC.oid:
        return lambda v: v if v.is_finite() else T.format_numeric(v)
    if oid == T.BOOL.oid:
        return bool
    if oid == JSONB.oid:
        return lambda v: v.value
    if oid == JSON.oid:
        return parse_json_value
    if oid == T.DATE.oid:
        return DT.format_date
    if oid == T.TIMESTAMP.oid:
        return lambda v: DT.format_timestamp(v).replace(" ", "T", 1)
    if oid == T.TIMESTAMPTZ.oid:
        return _iso_timestamptz
    return lambda v: T.format_text(t, v)


def _iso_timestamptz(v: int) -> str:
    text = DT.format_timestamptz(v, None)
    if v in (DT.TS_NEG_INF, DT.TS_POS_INF):
        return text
    text = text.replace(" ", "T", 1)
    return text + ":00" if text[-3] in "+-" else text


def json_text_of(value: Any, compact: bool) -> str:
    """json (not jsonb) text: to_json's compact form, or json_agg's ', ' separated one."""
    if isinstance(value, list):
        sep = "," if compact else ", "
        return "[" + sep.join(json_text_of(v, compact) for v in value) + "]"
    if isinstance(value, dict):
        sep = "," if compact else ", "
        return "{" + sep.join(f"{quote_json(k)}:{json_text_of(v, compact)}" for k, v in value.items()) + "}"  # fmt: skip
    return format_json_value(value)


def _to_jsonb(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[[Any], Jsonb]:
    convert = to_json_value(args[0])
    return lambda v: Jsonb(convert(v))


def _to_json(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[[Any], str]:
    if args[0].oid == JSON.oid:
        return lambda v: v  # type: ignore[no-any-return]
    convert = to_json_value(args[0])
    return lambda v: json_text_of(convert(v), True)


def _build_object(jsonb: bool) -> Callable[[tuple[T.SqlType, ...], T.SqlType], Callable[..., Any]]:
    def make(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
        converters = [to_json_value(t) for t in args]
        key_text = [_key_converter(t) for t in args]

        def build(*values: Any) -> Any:
            if len(values) % 2:
                raise QuorumError(
                    "argument list must have even number of elements",
                    sqlstate="22023",
                    hint=f"The arguments of {'jsonb' if jsonb else 'json'}_build_object() must consist of alternating keys and values.",
                )
            pairs = []
            for i in range(0, len(values), 2):
                if values[i] is None:
                    raise QuorumError(f"argument {i + 1}: key must not be null", sqlstate="22004")
                key = key_text[i](values[i])
                v = values[i + 1]
                pairs.append((key, None if v is None else converters[i + 1](v)))
            if jsonb:
                return Jsonb(dict(pairs))
            body = ", ".join(f"{quote_json(k)} : {json_text_of(v, True)}" for k, v in pairs)
            return "{" + body + "}"

        return build

    return make


def _key_converter(t: T.SqlType) -> Callable[[Any], str]:
    from .functions_string import to_text

    return to_text(t)


def _build_array(jsonb: bool) -> Callable[[tuple[T.SqlType, ...], T.SqlType], Callable[..., Any]]:
    def make(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
        converters = [to_json_value(t) for t in args]

        def build(*values: Any) -> Any:
            items = [None if v is None else c(v) for c, v in zip(converters, values, strict=True)]
            if jsonb:
                return Jsonb(items)
            return "[" + ", ".join(json_text_of(v, True) for v in items) + "]"

        return build

    return make


fn("to_jsonb", ("anyelement",), JSONB, make=_to_jsonb, volatility="s")
fn("to_json", ("anyelement",), JSON, make=_to_json, volatility="s")
fn("jsonb_build_object", ("any",), JSONB, make=_build_object(True), variadic=True, strict=False, volatility="s")  # fmt: skip
fn("jsonb_build_object", (), JSONB, lambda: Jsonb({}), strict=False, volatility="s")
fn("json_build_object", ("any",), JSON, make=_build_object(False), variadic=True, strict=False, volatility="s")  # fmt: skip
fn("json_build_object", (), JSON, lambda: "{}", strict=False, volatility="s")
fn("jsonb_build_array", ("any",), JSONB, make=_build_array(True), variadic=True, strict=False, volatility="s")  # fmt: skip
fn("jsonb_build_array", (), JSONB, lambda: Jsonb([]), strict=False, volatility="s")
fn("json_build_array", ("any",), JSON, make=_build_array(False), variadic=True, strict=False, volatility="s")  # fmt: skip
fn("json_build_array", (), JSON, lambda: "[]", strict=False, volatility="s")

# ---- inspection ----------------------------------------------------------------------------


def _typeof(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "number"


def _array_length(v: Any, what: str) -> int:
    if isinstance(v, list):
        return len(v)
    kind = "a scalar" if not isinstance(v, dict) else "a non-array"
    raise QuorumError(f"cannot get array length of {kind}", sqlstate="22023")


def _pretty(value: Any, indent: int = 0) -> str:
    pad = "    " * (indent + 1)
    if isinstance(value, dict):
        if not value:
            return "{\n" + "    " * indent + "}"
        items = [f"{pad}{quote_json(k)}: {_pretty(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "    " * indent + "}"
    if isinstance(value, list):
        if not value:
            return "[\n" + "    " * indent + "]"
        items = [pad + _pretty(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "    " * indent + "]"
    return format_json_value(value)


def _strip_nulls(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _strip_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_nulls(x) for x in v]
    return v


def _set_path(v: Any, path: tuple[str | None, ...], new: Any, create: bool) -> Any:
    if not path:
        return new
    step = path[0]
    if step is None:
        raise QuorumError("path element at position 1 is null", sqlstate="22004")
    if isinstance(v, dict):
        if step in v:
            result = dict(v)
            result[step] = _set_path(v[step], path[1:], new, create)
            return result
        if create and len(path) == 1:
            result = dict(v)
            result[step] = new
            return result
        return v
    if isinstance(v, list):
        try:
            index = int(step)
        except ValueError:
            raise QuorumError(
                f'path element at position 1 is not an integer: "{step}"', sqlstate="22P02"
            ) from None
        items = list(v)
        position = index + len(items) if index < 0 else index
        if 0 <= position < len(items):
            items[position] = _set_path(items[position], path[1:], new, create)
        elif create and len(path) == 1:
            if position < 0:
                items.insert(0, new)
            else:
                items.append(new)
        return items
    raise QuorumError("cannot set path in scalar", sqlstate="22023")


fn("jsonb_typeof", (JSONB,), TEXT, lambda d: _typeof(d.value))
fn("json_typeof", (JSON,), TEXT, lambda j: _typeof(parse_json_value(j)))
fn("jsonb_array_length", (JSONB,), INT4, lambda d: _array_length(d.value, "jsonb"))
fn("json_array_length", (JSON,), INT4, lambda j: _array_length(parse_json_value(j), "json"))
fn("jsonb_pretty", (JSONB,), TEXT, lambda d: _pretty(d.value))
fn("jsonb_strip_nulls", (JSONB,), JSONB, lambda d: Jsonb(_strip_nulls(d.value), normalised=True))
fn("jsonb_set", (JSONB, TEXT_ARRAY, JSONB), JSONB, lambda d, p, n: Jsonb(_set_path(d.value, p, n.value, True)))  # fmt: skip
fn("jsonb_set", (JSONB, TEXT_ARRAY, JSONB, BOOL), JSONB, lambda d, p, n, c: Jsonb(_set_path(d.value, p, n.value, c)))  # fmt: skip

# ---- set-returning -------------------------------------------------------------------------


def _object_items(v: Any, name: str) -> Iterator[tuple[str, Any]]:
    if not isinstance(v, dict):
        kind = "a scalar" if not isinstance(v, list) else "an array"
        raise QuorumError(f"cannot call {name} on {kind}", sqlstate="22023")
    return iter(v.items())


def _array_items(v: Any, name: str) -> list[Any]:
    if not isinstance(v, list):
        kind = "a scalar" if not isinstance(v, dict) else "a non-array"
        raise QuorumError(f"cannot extract elements from {kind}", sqlstate="22023")
    return v


def _json_nodes(text: str) -> tuple[str, JsonNode]:
    return text, parse_json_nodes(text)


def _json_object_keys(text: str) -> list[tuple[str]]:
    node = parse_json_nodes(text)
    if node.kind != "object":
        kind = "a scalar" if node.kind not in ("array",) else "an array"
        raise QuorumError(f"cannot call json_object_keys on {kind}", sqlstate="22023")
    return [(k,) for k in node.value]


def _json_each(text: str, as_text: bool) -> list[tuple[str, Any]]:
    node = parse_json_nodes(text)
    if node.kind != "object":
        raise QuorumError("cannot deconstruct an array as an object" if node.kind == "array" else "cannot deconstruct a scalar", sqlstate="22023")  # fmt: skip
    rows = []
    for k, child in node.value.items():
        if as_text:
            value = (
                None
                if child.kind == "null"
                else (child.value if child.kind == "string" else child.text(text))
            )
        else:
            value = child.text(text)
        rows.append((k, value))
    return rows


def _json_elements(text: str, as_text: bool) -> list[tuple[Any]]:
    node = parse_json_nodes(text)
    if node.kind != "array":
        raise QuorumError("cannot extract elements from an object" if node.kind == "object" else "cannot extract elements from a scalar", sqlstate="22023")  # fmt: skip
    rows = []
    for child in node.value:
        if as_text:
            rows.append((None if child.kind == "null" else (child.value if child.kind == "string" else child.text(text)),))  # fmt: skip
        else:
            rows.append((child.text(text),))
    return rows


def _jsonb_text(v: Any) -> str | None:
    if v is None:
        return None
    return v if isinstance(v, str) else format_json_value(v)


fn("jsonb_object_keys", (JSONB,), TEXT, lambda d: [(k,) for k, _ in _object_items(d.value, "jsonb_object_keys")], returns_set=True)  # fmt: skip
fn("json_object_keys", (JSON,), TEXT, _json_object_keys, returns_set=True)
fn("jsonb_each", (JSONB,), "record", lambda d: [(k, Jsonb(v, normalised=True)) for k, v in _object_items(d.value, "jsonb_each")], returns_set=True, out_columns=(("key", TEXT), ("value", JSONB)))  # fmt: skip
fn("jsonb_each_text", (JSONB,), "record", lambda d: [(k, _jsonb_text(v)) for k, v in _object_items(d.value, "jsonb_each_text")], returns_set=True, out_columns=(("key", TEXT), ("value", TEXT)))  # fmt: skip
fn("json_each", (JSON,), "record", lambda j: _json_each(j, False), returns_set=True, out_columns=(("key", TEXT), ("value", JSON)))  # fmt: skip
fn("json_each_text", (JSON,), "record", lambda j: _json_each(j, True), returns_set=True, out_columns=(("key", TEXT), ("value", TEXT)))  # fmt: skip
fn("jsonb_array_elements", (JSONB,), JSONB, lambda d: [(Jsonb(v, normalised=True),) for v in _array_items(d.value, "")], returns_set=True, out_columns=(("value", JSONB),))  # fmt: skip
fn("jsonb_array_elements_text", (JSONB,), TEXT, lambda d: [(_jsonb_text(v),) for v in _array_items(d.value, "")], returns_set=True, out_columns=(("value", TEXT),))  # fmt: skip
fn("json_array_elements", (JSON,), JSON, lambda j: _json_elements(j, False), returns_set=True, out_columns=(("value", JSON),))  # fmt: skip
fn("json_array_elements_text", (JSON,), TEXT, lambda j: _json_elements(j, True), returns_set=True, out_columns=(("value", TEXT),))  # fmt: skip

del key_order
