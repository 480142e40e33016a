"""Row integrity: what every write to a table checks and maintains, in PostgreSQL's terms.

A `TableWriter` is compiled once per plan for one table definition and
performs the row writes of INSERT, UPDATE and DELETE (and of the foreign
key actions they trigger) with everything around them:

* NOT NULL (23502) and CHECK constraints (23514, a NULL result passes), with
  PostgreSQL's messages and "Failing row contains (...)" details;
* the primary key and unique indexes (23505, "Key (a)=(1) already exists."),
  checked against the newest committed state plus the transaction's own
  writes, under a lock on the key (or the unique value), so a second
  inserter waits for the first and then sees its row, as in PostgreSQL;
* secondary index entries, written in the same write set as the row;
* foreign keys (23503): a child row needs its parent (whose row is locked in
  SHARE mode so it cannot vanish before we commit), a parent row being
  deleted or re-keyed applies its children's ON DELETE/ON UPDATE action.
  Checks PostgreSQL runs at the end of the statement (NO ACTION, and the
  child side) are queued in the `WriteRun` and run by `finish`.

Expressions stored in the catalog (DEFAULT, CHECK) are SQL text; they are
parsed once (`parse_expression`) and bound against the table.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, partial
from itertools import count
from typing import Any

from quorumdb.storage import keycode
from quorumdb.storage.errors import (
    CheckViolation,
    DatatypeMismatch,
    ForeignKeyViolation,
    NotNullViolation,
    QuorumError,
    UniqueViolation,
)

from . import ast
from . import types as T
from .binder import BindContext, Binder, coerce
from .bound import BoundExpr, Const
from .casts import CastContext
from .catalog import (
    CASCADE,
    NO_ACTION,
    RESTRICT,
    SET_DEFAULT,
    SET_NULL,
    Catalog,
    ColumnInfo,
    ForeignKeyDef,
    IndexDef,
    TableDef,
    regclass_text,
)
from .expr import ExecContext, compile_expr
from .locks import LockMode
from .parser import parse
from .rowcodec import decode_row, encode_row
from .scope import Scope
from .txn import Transaction

__all__ = [
    "parse_expression",
    "bind_default",
    "bind_check",
    "default_value",
    "check_identity_insert",
    "check_identity_update",
    "failing_row",
    "TableWriter",
    "WriteRun",
    "key_detail",
    "parent_exists",
    "find_rows",
]

Row = tuple[Any, ...]
_no_ids = count()


@lru_cache(maxsize=512)
def parse_expression(text: str) -> ast.Expr:
    """An expression stored as text in the catalog, parsed (cached)."""
    (stmt,) = parse("SELECT " + text)
    assert isinstance(stmt, ast.Select)
    return stmt.items[0].expr


def _without_position(exc: QuorumError) -> QuorumError:
    exc.position = None  # a position would point into the stored text, not the query
    return exc


def bind_default(
    column: ColumnInfo, catalog: Catalog | None = None, context: BindContext | None = None
) -> BoundExpr | None:
    """The column's DEFAULT, bound and converted to the column's type (None: NULL).

    A SERIAL or identity column draws from its sequence by id, under the name
    the sequence has in `catalog` now."""
    text = column.default
    if column.sequence and catalog is not None:
        seq = catalog.sequences_by_id.get(column.sequence)
        if seq is not None:
            text = f"nextval('{regclass_text(seq)}')"
    if text is None:
        return None
    context = context or BindContext(None)
    binder = Binder(Scope.EMPTY, context, aggregates_allowed="DEFAULT expressions")
    try:
        e = binder.bind(parse_expression(text))

        def mismatch() -> QuorumError:
            return DatatypeMismatch(
                f'column "{column.name}" is of type {column.type.base} '
                f"but default expression is of type {e.type.base}",
                hint="You will need to rewrite or cast the expression.",
            )

        if e.type.oid == T.UNKNOWN.oid and not isinstance(e, Const):
            return binder.coerce_literal(e, column.type, -1, mismatch)
        return coerce(e, column.type, CastContext.ASSIGNMENT, mismatch, -1, context.fold_errors)
    except QuorumError as exc:
        raise _without_position(exc) from None


def default_value(column: ColumnInfo, catalog: Catalog, context: BindContext) -> BoundExpr:
    """What DEFAULT means for the column: its default expression, or NULL."""
    return bind_default(column, catalog, context) or Const(column.type, None)


def check_identity_insert(column: ColumnInfo) -> None:
    """An explicit value for a GENERATED ALWAYS identity column is an error (428C9)."""
    if column.identity == "always":
        raise QuorumError(
            f'cannot insert a non-DEFAULT value into column "{column.name}"',
            sqlstate="428C9",
            detail=f'Column "{column.name}" is an identity column defined as GENERATED ALWAYS.',
            hint="Use OVERRIDING SYSTEM VALUE to override.",
        )


def check_identity_update(column: ColumnInfo) -> None:
    if column.identity == "always":
        raise QuorumError(
            f'column "{column.name}" can only be updated to DEFAULT',
            sqlstate="428C9",
            detail=f'Column "{column.name}" is an identity column defined as GENERATED ALWAYS.',
        )


def bind_check(table: TableDef, text: str) -> BoundExpr:
    """A CHECK expression over the table's columns (must be boolean)."""
    from .planner import table_scope

    binder = Binder(
        table_scope(table, ast.TableName(table.name)),
        BindContext(None),
        aggregates_allowed="check constraints",
    )
    try:
        return binder.bind_condition(parse_expression(text), "CHECK")
    except QuorumError as exc:
        raise _without_position(exc) from None


def _text(column: ColumnInfo, value: object) -> str:
    return "null" if value is None else T.format_text(column.type, value)


def failing_row(table: TableDef, row: Row) -> str:
    values = ", ".join(_text(c, v) for c, v in zip(table.columns, row, strict=False))
    return f"Failing row contains ({values})."


def key_detail(table: TableDef, columns: tuple[int, ...], values: tuple[object, ...]) -> str:
    names = ", ".join(table.columns[i].name for i in columns)
    shown = ", ".join(_text(table.columns[i], v) for i, v in zip(columns, values, strict=True))
    return f"Key ({names})=({shown})"


class WriteRun:
    """One statement's writes to tables: the checks deferred to its end."""

    __slots__ = ("ctx", "deferred")

    def __init__(self, ctx: ExecContext) -> None:
        self.ctx = ctx
        self.deferred: list[Callable[[], None]] = []

    def finish(self) -> None:
        """End of statement: run the foreign-key checks PostgreSQL runs then."""
        while self.deferred:
            pending, self.deferred = self.deferred, []
            for check in pending:
                check()


class TableWriter:
    """Inserts, updates and deletes rows of one table (see the module docstring)."""

    def __init__(self, table: TableDef) -> None:
        self.table = table
        self.prefix = table.prefix
        self.pk = table.primary_key
        self.not_null = [i for i, c in enumerate(table.columns) if c.not_null]
        self.checks = sorted(
            ((c.name, compile_expr(bind_check(table, c.expr))) for c in table.checks),
            key=lambda pair: pair[0],
        )
        self.unique = [i for i in table.indexes if i.unique]
        self.indexes = table.indexes
        self.references = table.references
        self.referenced_by = table.referenced_by
        self.plain = not (self.checks or self.indexes or self.references or self.referenced_by)
        self._def_key = b""
        self._writers: dict[int, TableWriter] = {}

    def writer_for(self, table: TableDef) -> TableWriter:
        if table.id == self.table.id:
            return self
        found = self._writers.get(table.id)
        if found is None:
            found = self._writers[table.id] = TableWriter(table)
        return found

    def begin(self, txn: Transaction) -> None:
        """Before the statement's first row: SHARE-lock the table (DDL waits for us)."""
        from . import keys

        if not self._def_key:
            self._def_key = keys.rel_key(self.table.schema, self.table.name)
        txn.lock_table(self.table.id, self._def_key)

    # ---- checks ---------------------------------------------------------------------

    def check_row(self, row: Row, ctx: ExecContext) -> None:
        table = self.table
        for i in self.not_null:
            if row[i] is None:
                raise NotNullViolation(
                    f'null value in column "{table.columns[i].name}" of relation "{table.name}" '
                    "violates not-null constraint",
                    detail=failing_row(table, row),
                )
        for name, check in self.checks:
            if check(row, ctx) is False:
                raise CheckViolation(
                    f'new row for relation "{table.name}" violates check constraint "{name}"',
                    detail=failing_row(table, row),
                )

    def key_of(self, row: Row) -> bytes:
        pk = self.pk
        if len(pk) == 1:
            return self.prefix + keycode.encode_one(row[pk[0]])
        return self.prefix + keycode.encode([row[i] for i in pk])

    def _duplicate(self, name: str, columns: tuple[int, ...], row: Row) -> UniqueViolation:
        values = tuple(row[i] for i in columns)
        return UniqueViolation(
            f'duplicate key value violates unique constraint "{name}"',
            detail=key_detail(self.table, columns, values) + " already exists.",
        )

    def _check_unique(self, txn: Transaction, index: IndexDef, row: Row, suffix: bytes) -> None:
        values = index.values(row)
        if None in values:
            return  # NULLs never conflict
        prefix = index.value_prefix(values)
        txn.lock_current(prefix)
        for _, other in txn.scan_current(prefix, keycode.prefix_end(prefix)):
            if other != suffix:
                raise self._duplicate(index.name, index.columns, row)

    # ---- writes -------------------------------------------------------------------------

    def insert(self, run: WriteRun, row: Row) -> bytes:
        ctx = run.ctx
        txn: Transaction = ctx.txn
        self.check_row(row, ctx)
        if self.pk:
            key = self.key_of(row)
            txn.lock_current(key)
            if txn.get_current(key) is not None:
                raise self._duplicate(self.table.pkey_name, self.pk, row)
        else:
            # A hidden row id: unique on this leader, so nobody else can write it.
            row_ids = ctx.session.row_ids if ctx.session is not None else _no_ids
            key = self.prefix + keycode.encode((txn.read_ts, next(row_ids)))
        # A new hidden row id needs no check at apply: nobody else can have written it
        # (a new leader reads above every entry of older terms), and the check is a
        # RocksDB seek per row on every replica (most of a bulk COPY's apply time).
        # It has no older version either, so GC need not look at it.
        txn.put(key, encode_row(row), fresh=not self.pk)
        if not self.plain:
            suffix = key[len(self.prefix) :]
            for index in self.unique:
                self._check_unique(txn, index, row, suffix)
            for index in self.indexes:
                txn.write_current(index.entry_key(row, suffix), suffix)
            self._queue_parent_checks(run, row, None)
        return key

    def update(self, run: WriteRun, key: bytes, old: Row, new: Row) -> bytes:
        """Replace row `old` (at `key`, locked by the caller) by `new`; returns the new key."""
        ctx = run.ctx
        txn: Transaction = ctx.txn
        self.check_row(new, ctx)
        new_key = key
        if self.pk and any(old[i] != new[i] for i in self.pk):
            new_key = self.key_of(new)
            if new_key != key:
                txn.lock_current(new_key)
                if txn.get_current(new_key) is not None:
                    raise self._duplicate(self.table.pkey_name, self.pk, new)
                txn.delete(key)
        txn.put(new_key, encode_row(new))
        if self.plain:
            return new_key
        old_suffix = key[len(self.prefix) :]
        suffix = new_key[len(self.prefix) :]
        for index in self.indexes:
            old_entry = index.entry_key(old, old_suffix)
            new_entry = index.entry_key(new, suffix)
            if old_entry != new_entry:
                txn.write_current(old_entry, None)
        for index in self.unique:
            if index.values(old) != index.values(new) or suffix != old_suffix:
                self._check_unique(txn, index, new, suffix)
        for index in self.indexes:
            new_entry = index.entry_key(new, suffix)
            if new_entry != index.entry_key(old, old_suffix):
                txn.write_current(new_entry, suffix)
        self._queue_parent_checks(run, new, old)
        for child, fk in self.referenced_by:
            ref = tuple(old[i] for i in fk.ref_columns)
            if ref != tuple(new[i] for i in fk.ref_columns) and None not in ref:
                self._act_on_children(run, child, fk, old, new)
        return new_key

    def delete(self, run: WriteRun, key: bytes, old: Row) -> None:
        """Delete row `old` at `key` (locked by the caller)."""
        txn: Transaction = run.ctx.txn
        txn.delete(key)
        if self.plain:
            return
        suffix = key[len(self.prefix) :]
        for index in self.indexes:
            txn.write_current(index.entry_key(old, suffix), None)
        for child, fk in self.referenced_by:
            if None not in (old[i] for i in fk.ref_columns):
                self._act_on_children(run, child, fk, old, None)

    # ---- foreign keys: the child side -----------------------------------------------------

    def _queue_parent_checks(self, run: WriteRun, row: Row, old: Row | None) -> None:
        for fk, parent in self.references:
            values = tuple(row[i] for i in fk.columns)
            if None in values:
                continue  # MATCH SIMPLE: a NULL in the key means no reference
            if old is not None and values == tuple(old[i] for i in fk.columns):
                continue
            run.deferred.append(partial(self._check_parent, run, fk, parent, values))

    def _check_parent(
        self, run: WriteRun, fk: ForeignKeyDef, parent: TableDef, values: tuple[object, ...]
    ) -> None:
        txn: Transaction = run.ctx.txn
        if not parent_exists(txn, parent, fk, values):
            raise ForeignKeyViolation(
                f'insert or update on table "{self.table.name}" violates foreign key '
                f'constraint "{fk.name}"',
                detail=key_detail(self.table, fk.columns, values)
                + f' is not present in table "{parent.name}".',
            )

    # ---- foreign keys: the parent side ----------------------------------------------------

    def _act_on_children(
        self, run: WriteRun, child: TableDef, fk: ForeignKeyDef, old: Row, new: Row | None
    ) -> None:
        values = tuple(old[i] for i in fk.ref_columns)
        action = fk.on_delete if new is None else fk.on_update
        if action in (RESTRICT, NO_ACTION):
            check = lambda: self._no_children(run, child, fk, values)  # noqa: E731
            if action == RESTRICT:
                check()
            else:
                run.deferred.append(check)
            return
        writer = self.writer_for(child)
        txn: Transaction = run.ctx.txn
        for key, row in _children(txn, child, fk, values):
            txn.lock_current(key)
            if action == CASCADE and new is None:
                writer.delete(run, key, row)
                continue
            changed = list(row)
            for column, ref in zip(fk.columns, fk.ref_columns, strict=True):
                if action == CASCADE:
                    changed[column] = new[ref]  # type: ignore[index]
                elif action == SET_NULL:
                    changed[column] = None
                elif action == SET_DEFAULT:
                    default = bind_default(child.columns[column])
                    changed[column] = (
                        compile_expr(default)((), run.ctx) if default is not None else None
                    )
            writer.update(run, key, row, tuple(changed))

    def _no_children(
        self, run: WriteRun, child: TableDef, fk: ForeignKeyDef, values: tuple[object, ...]
    ) -> None:
        for _ in _children(run.ctx.txn, child, fk, values):
            raise ForeignKeyViolation(
                f'update or delete on table "{self.table.name}" violates foreign key '
                f'constraint "{fk.name}" on table "{child.name}"',
                detail=key_detail(self.table, fk.ref_columns, values)
                + f' is still referenced from table "{child.name}".',
            )


# ---- finding rows by column values ------------------------------------------------------------


def _lookup_path(
    table: TableDef, columns: tuple[int, ...], values: tuple[object, ...]
) -> tuple[str, bytes, IndexDef | None] | None:
    """How to find the rows whose `columns` hold `values`: ("pk", row prefix, None) when
    they lead the primary key, ("index", entry prefix, index) when they lead an index."""
    by_column = dict(zip(columns, values, strict=True))
    n = len(columns)
    if table.primary_key and set(table.primary_key[:n]) == set(columns):
        ordered = [by_column[i] for i in table.primary_key[:n]]
        return "pk", table.prefix + keycode.encode(ordered), None
    for index in table.indexes:
        if set(index.columns[:n]) == set(columns):
            ordered = [by_column[i] for i in index.columns[:n]]
            return "index", index.value_prefix(tuple(ordered)), index
    return None


def find_rows(
    txn: Transaction, table: TableDef, columns: tuple[int, ...], values: tuple[object, ...]
) -> list[tuple[bytes, Row]]:
    """(key, row) of every row (newest committed state plus own writes) with `values`."""
    path = _lookup_path(table, columns, values)
    out: list[tuple[bytes, Row]] = []
    if path is None:
        start, end = table.key_range
        for key, raw in txn.scan_current(start, end):
            row = decode_row(raw)
            if all(row[c] == v for c, v in zip(columns, values, strict=True)):
                out.append((key, row))
        return out
    kind, prefix, _ = path
    if kind == "pk":
        for key, raw in txn.scan_current(prefix, keycode.prefix_end(prefix)):
            out.append((key, decode_row(raw)))
        return out
    for _, suffix in txn.scan_current(prefix, keycode.prefix_end(prefix)):
        key = table.prefix + suffix
        found = txn.get_current(key)
        if found is not None:
            out.append((key, decode_row(found)))
    return out


def parent_exists(
    txn: Transaction, parent: TableDef, fk: ForeignKeyDef, values: tuple[object, ...]
) -> bool:
    by_ref = dict(zip(fk.ref_columns, values, strict=True))
    if parent.primary_key and set(parent.primary_key) == set(fk.ref_columns):
        key = parent.prefix + keycode.encode([by_ref[i] for i in parent.primary_key])
        txn.lock_current(key, LockMode.SHARE)
        return txn.get_current(key) is not None
    rows = find_rows(txn, parent, fk.ref_columns, values)
    for key, _ in rows:
        txn.lock_current(key, LockMode.SHARE)
    return bool(rows)


def _children(
    txn: Transaction, child: TableDef, fk: ForeignKeyDef, values: tuple[object, ...]
) -> list[tuple[bytes, Row]]:
    return find_rows(txn, child, fk.columns, values)
