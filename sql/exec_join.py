"""Join execution: nested loops (plain and parameterized) and hash joins.

Joined rows are the left row followed by the right row; a row of an outer
join that found no partner gets NULLs for the other side. Hash joins build
their table on the right input (rows whose key has a NULL never match) and
probe with the left one, streaming; RIGHT and FULL joins then emit the
build rows nobody matched. A nested loop without parameters reads its right
input once per execution and loops over the buffered rows; with parameters
(LATERAL, index nested loop) it sets the slots from each left row and runs
the right input again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import types as T
from .bound import BoundExpr
from .expr import ExecContext, compile_expr, compile_predicate
from .plan import HashJoin, NestedLoop

__all__ = ["nested_loop", "hash_join"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]


def _width(rows: list[Row], fallback: int) -> int:
    return len(rows[0]) if rows else fallback


def nested_loop(node: NestedLoop, left: RowSource, right: RowSource) -> RowSource:
    kind = node.kind
    condition = compile_predicate(node.condition) if node.condition is not None else None
    params = [(slot, compile_expr(e)) for slot, e in node.params]
    null_right: Row = (None,) * node.right_width

    if params:

        def parameterized(ctx: ExecContext) -> Iterator[Row]:
            slots = ctx.slots
            for lrow in left(ctx):
                for slot, f in params:
                    slots[slot] = f(lrow, ctx)
                matched = False
                for r in right(ctx):
                    row = lrow + r
                    if condition is None or condition(row, ctx):
                        matched = True
                        yield row
                if not matched and kind == "left":
                    yield lrow + null_right

        return parameterized

    def buffered(ctx: ExecContext) -> Iterator[Row]:
        inner = list(right(ctx))
        matched_right = [False] * len(inner) if kind in ("right", "full") else None
        left_width = -1
        for lrow in left(ctx):
            left_width = len(lrow)
            matched = False
            for i, r in enumerate(inner):
                row = lrow + r
                if condition is None or condition(row, ctx):
                    matched = True
                    if matched_right is not None:
                        matched_right[i] = True
                    yield row
            if not matched and kind in ("left", "full"):
                yield lrow + null_right
        if matched_right is not None:
            null_left: Row = (None,) * max(left_width, _left_width(node))
            for i, r in enumerate(inner):
                if not matched_right[i]:
                    yield null_left + r

    return buffered


def _left_width(node: NestedLoop | HashJoin) -> int:
    return getattr(node, "left_width", 0)


def _key_fn(exprs: tuple[BoundExpr, ...]) -> Callable[[Row, ExecContext], tuple[Any, ...] | None]:
    """The join key of a row (None when a part is NULL: it can match nothing)."""
    fns = [compile_expr(e) for e in exprs]
    normalize = [(lambda v: v.rstrip(" ")) if e.type.oid == T.BPCHAR.oid else None for e in exprs]
    if len(fns) == 1 and normalize[0] is None:
        (f,) = fns

        def single(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
            v = f(row, ctx)
            return None if v is None else (v,)

        return single

    def key(row: Row, ctx: ExecContext) -> tuple[Any, ...] | None:
        values = []
        for f, n in zip(fns, normalize, strict=True):
            v = f(row, ctx)
            if v is None:
                return None
            values.append(v if n is None else n(v))
        return tuple(values)

    return key


def hash_join(node: HashJoin, left: RowSource, right: RowSource) -> RowSource:
    kind = node.kind
    left_key, right_key = _key_fn(node.left_keys), _key_fn(node.right_keys)
    condition = compile_predicate(node.condition) if node.condition is not None else None
    null_right: Row = (None,) * node.right_width
    null_left: Row = (None,) * node.left_width
    keep_unmatched = kind in ("right", "full")

    def rows(ctx: ExecContext) -> Iterator[Row]:
        build: list[Row] = []
        table: dict[tuple[Any, ...], list[int]] = {}
        for r in right(ctx):
            k = right_key(r, ctx)
            if k is not None:
                table.setdefault(k, []).append(len(build))
                build.append(r)
            elif keep_unmatched:
                build.append(r)
        matched_right = [False] * len(build) if keep_unmatched else None
        for lrow in left(ctx):
            k = left_key(lrow, ctx)
            matched = False
            if k is not None:
                for i in table.get(k, ()):
                    row = lrow + build[i]
                    if condition is None or condition(row, ctx):
                        matched = True
                        if matched_right is not None:
                            matched_right[i] = True
                        yield row
            if not matched and kind in ("left", "full"):
                yield lrow + null_right
        if matched_right is not None:
            for i, r in enumerate(build):
                if not matched_right[i]:
                    yield null_left + r

    return rows
