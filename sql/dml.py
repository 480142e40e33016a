"""Execution of INSERT / UPDATE / DELETE with RETURNING, ON CONFLICT, FROM and USING.

Plain writes run in `sql/modify.py`; these forms run here, on the same
per-row protocol (`constraints.TableWriter` checks and maintains
everything; UPDATE and DELETE lock each row before computing its new
version; deferred foreign-key checks run when the source is exhausted).
Every form is a generator of one row per written row: the RETURNING values,
or an empty tuple the caller only counts.

ON CONFLICT looks for an existing row with the proposed row's arbiter
values among the newest committed rows and the statement's own writes,
after locking the key (so a concurrent inserter is waited for, as in
PostgreSQL); DO UPDATE may touch each row once per statement (21000).
UPDATE ... FROM and DELETE ... USING write each target row once, however
many joined rows match it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import QuorumError

from .bound import ColumnRef
from .constraints import TableWriter, WriteRun
from .executor import RowCompiler, row_maker
from .expr import ExecContext, compile_expr, compile_predicate
from .plan import Delete, Insert, PlanNode, Update
from .rowcodec import decode_row

__all__ = ["is_extended", "compile_write"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]
_NOTHING: Row = ()


def is_extended(node: PlanNode) -> bool:
    if isinstance(node, Insert):
        return node.returning is not None or node.conflict is not None
    if isinstance(node, (Update, Delete)):
        return node.returning is not None or node.keyed_rows
    return False


def compile_write(node: Insert | Update | Delete, compiler: RowCompiler) -> RowSource:
    if isinstance(node, Insert):
        return _insert(node, compiler)
    if isinstance(node, Update):
        return _update(node, compiler)
    return _delete(node, compiler)


def _returning(node: Insert | Update | Delete) -> Callable[[Row, ExecContext], Row]:
    if node.returning is None:
        return lambda row, ctx: _NOTHING
    return row_maker(node.returning)


def _insert(node: Insert, compiler: RowCompiler) -> RowSource:
    table = node.table
    writer = TableWriter(table)
    source = compiler.rows(node.source)
    fns = [compile_expr(v) if v is not None else None for v in node.values]
    identity = [v.index if isinstance(v, ColumnRef) else None for v in node.values]
    width = len(fns)
    returning = _returning(node)
    conflict = node.conflict
    arbiters: list[tuple[tuple[int, ...], Any]] = []
    if conflict is not None:
        if conflict.arbiter:
            arbiters.append((conflict.arbiter, conflict.index))
        else:
            arbiters.extend((columns, index) for _, columns, index in table.unique_keys())
    assignments = [(i, compile_expr(e)) for i, e in conflict.assignments] if conflict else []
    where = compile_predicate(conflict.where) if conflict and conflict.where is not None else None

    def build(src: Row, ctx: ExecContext) -> Row:
        out: list[Any] = [None] * width
        for i in range(width):
            j = identity[i]
            if j is not None:
                out[i] = src[j]
            else:
                f = fns[i]
                if f is not None:
                    out[i] = f(src, ctx)
        return tuple(out)

    def existing(txn: Any, row: Row) -> tuple[bytes, Row] | None:
        for columns, index in arbiters:
            values = tuple(row[i] for i in columns)
            if None in values:
                continue
            if index is None:
                key = writer.key_of(row)
                txn.lock_current(key)
                raw = txn.get_current(key)
                if raw is not None:
                    return key, decode_row(raw)
                continue
            prefix = index.value_prefix(values)
            txn.lock_current(prefix)
            for _, suffix in txn.scan_current(prefix, keycode.prefix_end(prefix)):
                key = table.prefix + suffix
                raw = txn.get_current(key)
                if raw is not None:
                    txn.lock_current(key)
                    return key, decode_row(raw)
        return None

    def run(ctx: ExecContext) -> Iterator[Row]:
        txn = ctx.txn
        writer.begin(txn)
        state = WriteRun(ctx)
        touched: set[bytes] = set()
        for src in source(ctx):
            row = build(src, ctx)
            if conflict is not None:
                found = existing(txn, row)
                if found is not None:
                    key, old = found
                    if not conflict.update:
                        continue
                    if key in touched:
                        raise QuorumError(
                            "ON CONFLICT DO UPDATE command cannot affect row a second time",
                            sqlstate="21000",
                            hint="Ensure that no rows proposed for insertion within the same command have duplicate constrained values.",
                        )
                    combined = old + row
                    if where is not None and not where(combined, ctx):
                        continue
                    new = list(old)
                    for i, f in assignments:
                        new[i] = f(combined, ctx)
                    touched.add(writer.update(state, key, old, tuple(new)))
                    yield returning(tuple(new), ctx)
                    continue
            touched.add(writer.insert(state, row))
            yield returning(row, ctx)
        state.finish()

    return run


def _joined_targets(source: RowSource, n: int, ctx: ExecContext) -> Iterator[tuple[bytes, Row]]:
    """UPDATE ... FROM / DELETE ... USING: (row key, joined row) of each target row once,
    locked (the target's `n` columns are followed by its key, then the other items'), as
    PostgreSQL changes a row the join matches several times only once."""
    seen: set[bytes] = set()
    for joined in source(ctx):
        key = joined[n]
        if key in seen:
            continue
        seen.add(key)
        ctx.txn.lock(key)
        yield key, joined


def _update(node: Update, compiler: RowCompiler) -> RowSource:
    writer = TableWriter(node.table)
    fns = [(i, compile_expr(e)) for i, e in node.assignments]
    returning = _returning(node)
    n = len(node.table.columns)

    if not node.keyed_rows:
        keyed = compiler.keyed(node.source)

        def run_keyed(ctx: ExecContext) -> Iterator[Row]:
            txn = ctx.txn
            writer.begin(txn)
            state = WriteRun(ctx)
            for key, old in keyed(ctx):
                txn.lock(key)
                new = list(old)
                for i, f in fns:
                    new[i] = f(old, ctx)
                row = tuple(new)
                writer.update(state, key, old, row)
                yield returning(row, ctx)
            state.finish()

        return run_keyed
    source = compiler.rows(node.source)

    def run_joined(ctx: ExecContext) -> Iterator[Row]:
        writer.begin(ctx.txn)
        state = WriteRun(ctx)
        for key, joined in _joined_targets(source, n, ctx):
            old = joined[:n]
            new = list(old)
            for i, f in fns:
                new[i] = f(joined, ctx)
            row = tuple(new)
            writer.update(state, key, old, row)
            yield returning(row + joined[n:], ctx)
        state.finish()

    return run_joined


def _delete(node: Delete, compiler: RowCompiler) -> RowSource:
    writer = TableWriter(node.table)
    returning = _returning(node)
    n = len(node.table.columns)

    if not node.keyed_rows:
        keyed = compiler.keyed(node.source)

        def run_keyed(ctx: ExecContext) -> Iterator[Row]:
            txn = ctx.txn
            writer.begin(txn)
            state = WriteRun(ctx)
            for key, old in keyed(ctx):
                txn.lock(key)
                writer.delete(state, key, old)
                yield returning(old, ctx)
            state.finish()

        return run_keyed
    source = compiler.rows(node.source)

    def run_joined(ctx: ExecContext) -> Iterator[Row]:
        writer.begin(ctx.txn)
        state = WriteRun(ctx)
        for key, joined in _joined_targets(source, n, ctx):
            writer.delete(state, key, joined[:n])
            yield returning(joined, ctx)
        state.finish()

    return run_joined
