"""Writes: INSERT, UPDATE, DELETE and the DDL statements, as compiled closures.

Constraints are checked in PostgreSQL's order and wording: NOT NULL first
(23502, "Failing row contains (...)"), then the primary key (23505,
"Key (id)=(1) already exists."), looked up including the statement's own
earlier writes (`Transaction.get_latest`). Every row key is locked
(`Transaction.lock`) before it is written. Rows of a table without a
primary key get the key (read_ts, n): n from the session's row-id counter,
unique on this leader; a clash elsewhere fails the commit's version check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from operator import itemgetter
from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import NotNullViolation, UndefinedTable, UniqueViolation

from . import keys
from . import types as T
from .bound import ColumnRef
from .catalog import ColumnInfo, TableDef, create_table, drop_table
from .expr import ExecContext, compile_expr
from .plan import CreateTable, Delete, DropTable, Insert, Update
from .result import Notice
from .rowcodec import encode_row

__all__ = ["insert", "update", "delete", "create", "drop"]

Row = tuple[Any, ...]
RowSource = Callable[[ExecContext], Iterator[Row]]
KeyedSource = Callable[[ExecContext], Iterator[tuple[bytes, Row]]]


def _text(column: ColumnInfo, value: object) -> str:
    return "null" if value is None else T.format_text(column.type, value)


class _RowChecks:
    """NOT NULL and primary-key handling for one table, precomputed."""

    def __init__(self, table: TableDef, check_columns: list[int] | None = None) -> None:
        self.table = table
        candidates = range(len(table.columns)) if check_columns is None else check_columns
        self.not_null = [i for i in candidates if table.columns[i].not_null]
        self.pk = list(table.primary_key)
        self.pk_getter = itemgetter(*self.pk) if len(self.pk) > 1 else None
        self.prefix = table.prefix

    def check_not_null(self, row: Row) -> None:
        for i in self.not_null:
            if row[i] is None:
                table = self.table
                failing = ", ".join(_text(c, v) for c, v in zip(table.columns, row, strict=False))
                raise NotNullViolation(
                    f'null value in column "{table.columns[i].name}" of relation "{table.name}" violates not-null constraint',
                    detail=f"Failing row contains ({failing}).",
                )

    def key_of(self, row: Row) -> bytes:
        if self.pk_getter is not None:
            return self.prefix + keycode.encode(self.pk_getter(row))
        return self.prefix + keycode.encode_one(row[self.pk[0]])

    def duplicate(self, row: Row) -> UniqueViolation:
        columns = [self.table.columns[i] for i in self.pk]
        names = ", ".join(c.name for c in columns)
        values = ", ".join(_text(c, row[i]) for c, i in zip(columns, self.pk, strict=False))
        return UniqueViolation(
            f'duplicate key value violates unique constraint "{self.table.pkey_name}"',
            detail=f"Key ({names})=({values}) already exists.",
        )


def insert(node: Insert, source: RowSource) -> Callable[[ExecContext], int]:
    table = node.table
    checks = _RowChecks(table)
    fns = [compile_expr(v) if v is not None else None for v in node.values]
    identity = [v.index if isinstance(v, ColumnRef) else None for v in node.values]
    width = len(fns)
    has_pk = bool(checks.pk)
    prefix = table.prefix

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
        txn = ctx.txn
        count = 0
        for src in source(ctx):
            row = build(src, ctx)
            checks.check_not_null(row)
            if has_pk:
                key = checks.key_of(row)
                if txn.get_latest(key) is not None:
                    raise checks.duplicate(row)
            else:
                key = prefix + keycode.encode((txn.read_ts, next(ctx.session.row_ids)))  # type: ignore[union-attr]
            txn.lock(key)
            txn.put(key, encode_row(row))
            count += 1
        return count

    return run


def update(node: Update, source: KeyedSource) -> Callable[[ExecContext], int]:
    assigned = [i for i, _ in node.assignments]
    checks = _RowChecks(node.table, assigned)
    fns = [(i, compile_expr(e)) for i, e in node.assignments]
    moves_key = bool(set(assigned) & set(checks.pk))

    def run(ctx: ExecContext) -> int:
        txn = ctx.txn
        count = 0
        for key, old in source(ctx):
            new = list(old)
            for i, f in fns:
                new[i] = f(old, ctx)
            row = tuple(new)
            checks.check_not_null(row)
            if moves_key:
                new_key = checks.key_of(row)
                if new_key != key:
                    if txn.get_latest(new_key) is not None:
                        raise checks.duplicate(row)
                    txn.lock(key)
                    txn.delete(key)
                    key = new_key
            txn.lock(key)
            txn.put(key, encode_row(row))
            count += 1
        return count

    return run


def delete(node: Delete, source: KeyedSource) -> Callable[[ExecContext], int]:

    def run(ctx: ExecContext) -> int:
        txn = ctx.txn
        count = 0
        for key, _ in source(ctx):
            txn.lock(key)
            txn.delete(key)
            count += 1
        return count

    return run


def _existing_table(ctx: ExecContext, name: str) -> TableDef | None:
    raw = ctx.txn.get_latest(keys.table_def_key(name))
    return TableDef.decode(raw) if raw is not None else None


def create(node: CreateTable) -> Callable[[ExecContext], list[Notice]]:
    def run(ctx: ExecContext) -> list[Notice]:
        if node.if_not_exists and _existing_table(ctx, node.name) is not None:
            return [Notice(f'relation "{node.name}" already exists, skipping', "42P07")]
        create_table(ctx.txn, node.name, node.columns, node.primary_key, node.pkey_name)
        return []

    return run


def drop(node: DropTable) -> Callable[[ExecContext], list[Notice]]:
    def run(ctx: ExecContext) -> list[Notice]:
        notices = []
        for name in node.names:
            table = _existing_table(ctx, name)
            if table is None:
                if not node.if_exists:
                    raise UndefinedTable(f'table "{name}" does not exist')
                notices.append(Notice(f'table "{name}" does not exist, skipping'))
                continue
            drop_table(ctx.txn, table)
        return notices

    return run
