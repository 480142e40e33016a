"""Array operators and functions (one-dimensional arrays; 2-D ones print and compare).

Arrays compare element by element with the element type's comparison (a
NULL element sorts after everything, as in PostgreSQL), then by length.
``= ANY (array)`` / ``<> ALL (array)`` are not operators here: the binder
turns them into `bound.ArrayCompare` (see `sql/expr.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

from quorumdb.storage.errors import QuorumError

from . import types as T
from .functions import register_function as fn
from .functions import register_operator as op
from .types_array import dimensions, flatten

__all__ = ["array_comparator"]

INT4, TEXT, BOOL = T.INT4, T.TEXT, T.BOOL


def array_comparator(element: T.SqlType) -> Callable[[tuple[Any, ...], tuple[Any, ...]], int]:
    """cmp(a, b) -> -1/0/1 for arrays of `element` (btree order)."""
    from .functions import comparison_impl

    lt = comparison_impl(element, "<")
    eq = comparison_impl(element, "=")

    def cmp(a: tuple[Any, ...], b: tuple[Any, ...]) -> int:
        fa, fb = flatten(a), flatten(b)
        for x, y in zip(fa, fb, strict=False):
            if x is None or y is None:
                if x is None and y is None:
                    continue
                return 1 if x is None else -1
            if eq(x, y):
                continue
            return -1 if lt(x, y) else 1
        if len(fa) != len(fb):
            return -1 if len(fa) < len(fb) else 1
        da, db = dimensions(a) if a else [], dimensions(b) if b else []
        return 0 if da == db else (-1 if da < db else 1)

    return cmp


def _compare(name: str) -> Callable[[tuple[T.SqlType, ...], T.SqlType], Callable[..., bool]]:
    tests: dict[str, Callable[[int], bool]] = {
        "=": lambda c: c == 0,
        "<>": lambda c: c != 0,
        "<": lambda c: c < 0,
        "<=": lambda c: c <= 0,
        ">": lambda c: c > 0,
        ">=": lambda c: c >= 0,
    }
    test = tests[name]

    def make(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., bool]:
        assert args[0].element is not None
        cmp = array_comparator(args[0].element)
        return lambda a, b: test(cmp(a, b))

    return make


for _name in ("=", "<>", "<", "<=", ">", ">="):
    op(_name, "anyarray", "anyarray", BOOL, make=_compare(_name))


def _element_eq(args: tuple[T.SqlType, ...]) -> Callable[[Any, Any], bool]:
    from .functions import comparison_impl

    element = args[0].element if args[0].element is not None else args[0]
    eq = comparison_impl(element, "=")

    def same(x: Any, y: Any) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return bool(eq(x, y))

    return same


def _one_dimensional(a: tuple[Any, ...], what: str) -> None:
    if a and isinstance(a[0], tuple):
        raise QuorumError(f"{what} is not supported for multidimensional arrays", sqlstate="0A000")


def _cat(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    def cat(a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        return a + b

    return cat


def _append(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    return lambda a, x: (a or ()) + (x,)


def _prepend(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    return lambda x, a: (x,) + (a or ())


def _contains(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., bool]:
    same = _element_eq(args)

    def contains(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
        fa = [x for x in flatten(a) if x is not None]
        return all(y is not None and any(same(x, y) for x in fa) for y in flatten(b))

    return contains


def _contained(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., bool]:
    contains = _contains(args, result)
    return lambda a, b: contains(b, a)


def _overlaps(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., bool]:
    same = _element_eq(args)
    return lambda a, b: any(
        x is not None and y is not None and same(x, y) for x in flatten(a) for y in flatten(b)
    )


op("||", "anycompatiblearray", "anycompatiblearray", "anycompatiblearray", make=_cat, strict=False)
op("||", "anycompatiblearray", "anycompatible", "anycompatiblearray", make=_append, strict=False)
op("||", "anycompatible", "anycompatiblearray", "anycompatiblearray", make=_prepend, strict=False)
op("@>", "anyarray", "anyarray", BOOL, make=_contains)
op("<@", "anyarray", "anyarray", BOOL, make=_contained)
op("&&", "anyarray", "anyarray", BOOL, make=_overlaps)


def _length(a: tuple[Any, ...], dim: int) -> int | None:
    dims = dimensions(a) if a else []
    return dims[dim - 1] if 1 <= dim <= len(dims) else None


def _position(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    same = _element_eq(args)

    def position(a: tuple[Any, ...] | None, x: Any, start: int | None = 1) -> int | None:
        if a is None:
            return None
        _one_dimensional(a, "searching for elements")
        for i in range(max(start or 1, 1) - 1, len(a)):
            if same(a[i], x):
                return i + 1
        return None

    return position


def _positions(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    same = _element_eq(args)

    def positions(a: tuple[Any, ...] | None, x: Any) -> tuple[int, ...] | None:
        if a is None:
            return None
        _one_dimensional(a, "searching for elements")
        return tuple(i + 1 for i, v in enumerate(a) if same(v, x))

    return positions


def _remove(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    same = _element_eq(args)

    def remove(a: tuple[Any, ...] | None, x: Any) -> tuple[Any, ...] | None:
        if a is None:
            return None
        _one_dimensional(a, "removing elements")
        return tuple(v for v in a if not same(v, x))

    return remove


def _replace(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    same = _element_eq(args)

    def replace(a: tuple[Any, ...] | None, x: Any, y: Any) -> tuple[Any, ...] | None:
        if a is None:
            return None
        return tuple(y if same(v, x) else v for v in a)

    return replace


def _to_string(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    from .functions_string import output_text

    element = args[0].element
    assert element is not None
    text = output_text(element)

    def to_string(zone: Any, a: tuple[Any, ...], sep: str, null: str | None = None) -> str | None:
        if a is None or sep is None:
            return None
        parts = [text(v, zone) if v is not None else null for v in flatten(a)]
        return sep.join(p for p in parts if p is not None)

    return to_string


def _string_to_array(
    s: str | None, sep: str | None, null: str | None = None
) -> tuple[Any, ...] | None:
    if s is None:
        return None
    if s == "":
        return ()
    parts = list(s) if sep is None else ([s] if sep == "" else s.split(sep))
    return tuple(None if null is not None and p == null else p for p in parts)


def _unnest(args: tuple[T.SqlType, ...], result: T.SqlType) -> Callable[..., Any]:
    return lambda a: [(v,) for v in flatten(a)]


fn("array_length", ("anyarray", INT4), INT4, _length)
fn("array_upper", ("anyarray", INT4), INT4, _length)
fn("array_lower", ("anyarray", INT4), INT4, lambda a, d: 1 if _length(a, d) is not None else None)
fn("array_ndims", ("anyarray",), INT4, lambda a: len(dimensions(a)) if a else None)
fn("array_dims", ("anyarray",), TEXT, lambda a: "".join(f"[1:{n}]" for n in dimensions(a)) if a else None)  # fmt: skip
fn("cardinality", ("anyarray",), INT4, lambda a: len(flatten(a)))
fn("array_append", ("anycompatiblearray", "anycompatible"), "anycompatiblearray", make=_append, strict=False)  # fmt: skip
fn("array_prepend", ("anycompatible", "anycompatiblearray"), "anycompatiblearray", make=_prepend, strict=False)  # fmt: skip
fn("array_cat", ("anycompatiblearray", "anycompatiblearray"), "anycompatiblearray", make=_cat, strict=False)  # fmt: skip
fn("array_position", ("anycompatiblearray", "anycompatible"), INT4, make=_position, strict=False)
fn("array_position", ("anycompatiblearray", "anycompatible", INT4), INT4, make=_position, strict=False)  # fmt: skip
fn("array_positions", ("anycompatiblearray", "anycompatible"), T.array_of(INT4), make=_positions, strict=False)  # fmt: skip
fn("array_remove", ("anycompatiblearray", "anycompatible"), "anycompatiblearray", make=_remove, strict=False)  # fmt: skip
fn("array_replace", ("anycompatiblearray", "anycompatible", "anycompatible"), "anycompatiblearray", make=_replace, strict=False)  # fmt: skip
fn("array_to_string", ("anyarray", TEXT), TEXT, make=_to_string, volatility="s", context="zone")
fn("array_to_string", ("anyarray", TEXT, TEXT), TEXT, make=_to_string, strict=False, volatility="s", context="zone")  # fmt: skip
fn("string_to_array", (TEXT, TEXT), T.array_of(TEXT), _string_to_array, strict=False)
fn("string_to_array", (TEXT, TEXT, TEXT), T.array_of(TEXT), _string_to_array, strict=False)
fn("unnest", ("anyarray",), "anyelement", make=_unnest, returns_set=True)
del cmp_to_key
