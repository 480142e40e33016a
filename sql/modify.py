"""Writes: INSERT, UPDATE and DELETE plan nodes as compiled closures.

Each closure pulls rows from its source and hands them to the table's
`TableWriter` (sql/constraints.py), which checks constraints in
PostgreSQL's order and wording and maintains indexes and foreign keys; the
foreign-key checks PostgreSQL runs at the end of a statement run when the
source is exhausted (`WriteRun.finish`).

UPDATE and DELETE lock every row they change (`Transaction.lock`) before
computing its new version: a row held by another transaction makes the
statement wait and restart; a row changed after the statement's snapshot
restarts it (READ COMMITTED) or fails it with 40001. Rows of a table without
a primary key get the key (read_ts, n): n from the node's row-id counter,
unique on this leader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .bound import ColumnRef
from .constraints import TableWriter, WriteRun
from .expr import ExecContext, compile_expr
from .plan import Delete, Insert, Update

__all__ = ["insert", "update", "delete", "Row", "RowSource", "KeyedSource"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]
KeyedSource = Callable[[ExecContext], Iterator[tuple[bytes, Row]]]


def insert(node: Insert, source: RowSource) -> Callable[[ExecContext], int]:
    writer = TableWriter(node.table)
    fns = [compile_expr(v) if v is not None else None for v in node.values]
    identity = [v.index if isinstance(v, ColumnRef) else None for v in node.values]
    width = len(fns)

    def build(src: Row, ctx: ExecContext) -> Row:
        out = [None] * width
        for i in range(width):
            j = identity[i]
            if j is not None:
                out[i] = src[j]
            else:
                f = fns[i]
                if f is not None:
                    out[i] = f(src, ctx)
        return tuple(out)

    def run(ctx: ExecContext) -> int:
        writer.begin(ctx.txn)
        state = WriteRun(ctx)
        count = 0
        for src in source(ctx):
            writer.insert(state, build(src, ctx))
            count += 1
        state.finish()
        return count

    return run


def update(node: Update, source: KeyedSource) -> Callable[[ExecContext], int]:
    writer = TableWriter(node.table)
    fns = [(i, compile_expr(e)) for i, e in node.assignments]

    def run(ctx: ExecContext) -> int:
        txn = ctx.txn
        writer.begin(txn)
        state = WriteRun(ctx)
        count = 0
        for key, old in source(ctx):
            txn.lock(key)
            new = list(old)
            for i, f in fns:
                new[i] = f(old, ctx)
            writer.update(state, key, old, tuple(new))
            count += 1
        state.finish()
        return count

    return run


def delete(node: Delete, source: KeyedSource) -> Callable[[ExecContext], int]:
    writer = TableWriter(node.table)

    def run(ctx: ExecContext) -> int:
        txn = ctx.txn
        writer.begin(txn)
        state = WriteRun(ctx)
        count = 0
        for key, old in source(ctx):
            txn.lock(key)
            writer.delete(state, key, old)
            count += 1
        state.finish()
        return count

    return run
