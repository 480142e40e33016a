"""DDL that touches a table's rows: index builds, validation, rewrites, new storage.

All of it runs under the table's EXCLUSIVE lock (taken by the caller) and
reads the newest committed rows plus the transaction's own writes
(`Transaction.scan_current`), in bounded batches, so no row can be missed or
change meanwhile and memory stays bounded.

What it builds goes to *fresh storage*: data ids no committed catalog state
references yet, so nobody else can see them. `FreshStorage` writes there in
chunks that are committed on their own through the engine (blind writes,
`Engine.commit_now`), so a rewrite of any size never makes one huge Raft
entry or exceeds max_transaction_bytes. Its first chunk also writes reclaim
markers for the fresh ranges and the DDL's transaction deletes them: if the
transaction commits, the new definition points at the ranges and the markers
are gone; if it rolls back (or its node dies), GC finds the markers and
deletes the ranges. The transaction's snapshot stays pinned until it ends,
so GC cannot reclaim them before that.

* `build_index`: entries for every row (CREATE INDEX, ADD UNIQUE), with
  PostgreSQL's 23505 "could not create unique index" on duplicates.
* `validate_*`: SET NOT NULL, ADD CHECK and ADD FOREIGN KEY on existing rows.
* `rewrite`: every row through a function into a new definition (ADD/DROP
  COLUMN, ADD/DROP PRIMARY KEY); the old range is left to GC, as PostgreSQL
  swaps relfilenodes. Indexes are rebuilt only when row keys change.
* `new_storage`: TRUNCATE: fresh data ids for the table and its indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgpack

from quorumdb.storage import keycode
from quorumdb.storage.errors import (
    CheckViolation,
    ForeignKeyViolation,
    NotNullViolation,
    UniqueViolation,
)
from quorumdb.storage.mvcc import Write, WriteSet

from . import keys
from .catalog import ForeignKeyDef, IndexDef, TableDef, schedule_reclaim
from .constraints import TableWriter, bind_check, key_detail, parent_exists
from .engine.commands import TxnCommand
from .expr import ExecContext, compile_expr
from .rowcodec import decode_row, encode_row

if TYPE_CHECKING:
    from .ddl import DdlContext

__all__ = [
    "rows_of",
    "build_index",
    "validate_not_null",
    "validate_check",
    "validate_foreign_key",
    "rewrite",
    "new_storage",
]

Row = tuple[Any, ...]


_BATCH_ROWS = 1000
# Per Raft entry: applying it must stay far below the election timeout also on a loaded
# machine (see sql/copy.py's CHUNK_ROWS); 256 KB applies in a few milliseconds when idle.
CHUNK_BYTES = 256 << 10


def rows_of(ctx: DdlContext, table: TableDef) -> Iterator[tuple[bytes, Row]]:
    """(key, row) of every row: the newest committed state plus own writes, read in
    batches (each batch from a fresh iterator, so commits in between are harmless)."""
    start, end = table.key_range
    while True:
        batch = list(islice(ctx.txn.scan_current(start, end), _BATCH_ROWS))
        for key, raw in batch:
            yield key, decode_row(raw)
        if len(batch) < _BATCH_ROWS:
            return
        start = batch[-1][0] + b"\x00"


class FreshStorage:
    """Writes into ranges nobody references yet, in chunks committed on their own
    (see the module docstring)."""

    def __init__(self, ctx: DdlContext, prefixes: list[bytes]) -> None:
        self._ctx = ctx
        self._markers = [(reclaim_key_of(p), p) for p in prefixes]
        self._pending: dict[bytes, bytes] = {}
        self._bytes = 0
        self._started = False

    def put(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value
        self._bytes += len(key) + len(value)
        if self._bytes >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        txn = self._ctx.txn
        # Keys in fresh storage have no versions yet: GC need not look at them.
        writes = [Write(k, v, None, fresh=True) for k, v in self._pending.items()]
        if not self._started:
            markers = self._markers
            writes += [Write(key, msgpack.packb(prefix), None, fresh=True) for key, prefix in markers]
        if not writes:
            return
        result = self._ctx.db.engine.commit_now(TxnCommand(WriteSet(tuple(writes))))
        result.raise_error()
        if not self._started:
            self._started = True
            txn.pin_snapshot()  # GC must not reclaim the ranges before we end
            for key, _ in self._markers:
                txn.write_current(key, None)  # our commit cancels the reclaim
        self._pending = {}
        self._bytes = 0


def reclaim_key_of(prefix: bytes) -> bytes:
    return keys.reclaim_key(keycode.decode(prefix)[1])  # type: ignore[arg-type]


def build_index(ctx: DdlContext, table: TableDef, index: IndexDef) -> None:
    """Write the entries of `index` (which has a fresh data id) for every row; for a
    unique index, then check the entries in order: equal neighbours are duplicates
    (named, like PostgreSQL in simple cases, as the first repeat in row order)."""
    prefix_len = len(table.prefix)
    out = FreshStorage(ctx, [index.prefix])
    for key, row in rows_of(ctx, table):
        suffix = key[prefix_len:]
        out.put(index.entry_key(row, suffix), suffix)
    out.flush()
    if not index.unique:
        return
    mvcc = ctx.txn.mvcc
    previous: bytes | None = None
    start, end = index.key_range
    for entry, suffix in mvcc.scan(start, end, mvcc.applied_index):
        # an entry is prefix + values + row suffix, and its value is the row suffix;
        # equal values encode equally (NULLs too: the rows below tell them apart)
        values = entry[len(index.prefix) : len(entry) - len(suffix)]
        if values == previous:
            break
        previous = values
    else:
        return
    seen: set[tuple[object, ...]] = set()
    for _, row in rows_of(ctx, table):
        values = index.values(row)
        if values in seen and None not in values:
            raise UniqueViolation(
                f'could not create unique index "{index.name}"',
                detail=key_detail(table, index.columns, values) + " is duplicated.",
            )
        seen.add(values)


def validate_not_null(ctx: DdlContext, table: TableDef, columns: tuple[int, ...]) -> None:
    for _, row in rows_of(ctx, table):
        for i in columns:
            if row[i] is None:
                raise NotNullViolation(
                    f'column "{table.columns[i].name}" of relation "{table.name}" contains null values'
                )


def validate_check(ctx: DdlContext, table: TableDef, name: str, text: str) -> None:
    check = compile_expr(bind_check(table, text))
    exec_ctx = ExecContext(ctx.txn, (), ctx.session)
    for _, row in rows_of(ctx, table):
        if check(row, exec_ctx) is False:
            raise CheckViolation(
                f'check constraint "{name}" of relation "{table.name}" is violated by some row'
            )


def validate_foreign_key(
    ctx: DdlContext, table: TableDef, fk: ForeignKeyDef, parent: TableDef
) -> None:
    for _, row in rows_of(ctx, table):
        values = tuple(row[i] for i in fk.columns)
        if None not in values and not parent_exists(ctx.txn, parent, fk, values):
            raise ForeignKeyViolation(
                f'insert or update on table "{table.name}" violates foreign key '
                f'constraint "{fk.name}"',
                detail=key_detail(table, fk.columns, values)
                + f' is not present in table "{parent.name}".',
            )


def rewrite(
    ctx: DdlContext,
    old: TableDef,
    new: TableDef,
    transform: Callable[[Row], Row] | None = None,
) -> TableDef:
    """Rewrite every row of `old` as a row of `new` (through `transform`) into fresh
    storage; returns `new` with its new data id (and new index data ids when the
    row keys change, which is when indexes are rebuilt). Uniqueness and NOT NULL
    of a new primary key are checked on the way."""
    rekey = [old.columns[i].name for i in old.primary_key] != [
        new.columns[i].name for i in new.primary_key
    ]
    if rekey:
        new = _fresh_storage(ctx, new)
        out = FreshStorage(ctx, [new.prefix] + [i.prefix for i in new.indexes])
    else:
        new = replace(new, data_id=ctx.next_id())
        out = FreshStorage(ctx, [new.prefix])
    writer = TableWriter(replace(new, indexes=(), checks=(), foreign_keys=()))
    read_ts = ctx.txn.read_ts
    written = 0
    for old_key, row in rows_of(ctx, old):
        row = transform(row) if transform else row
        written += 1
        if not rekey:
            out.put(new.prefix + old_key[len(old.prefix) :], encode_row(row))
            continue
        if new.primary_key:
            for i in new.primary_key:
                if row[i] is None:
                    raise NotNullViolation(
                        f'column "{new.columns[i].name}" of relation "{new.name}" contains null values'
                    )
            key = writer.key_of(row)
        else:
            key = new.prefix + keycode.encode((read_ts, next(ctx.db.row_ids)))
        out.put(key, encode_row(row))
        suffix = key[len(new.prefix) :]
        for index in new.indexes:
            out.put(index.entry_key(row, suffix), suffix)
    out.flush()
    if rekey and new.primary_key:
        # Rows with the same key overwrote each other: fewer keys than rows means a
        # duplicate (found again, slowly, only then, to name it).
        start, end = new.key_range
        if ctx.txn.mvcc.count_versions(start, end) != written:
            _raise_duplicate(ctx, old, new, writer, transform)
    schedule_reclaim(ctx.txn, old.prefix)
    if rekey:
        for index in old.indexes:
            schedule_reclaim(ctx.txn, index.prefix)
    return new


def _raise_duplicate(
    ctx: DdlContext,
    old: TableDef,
    new: TableDef,
    writer: TableWriter,
    transform: Callable[[Row], Row] | None,
) -> None:
    seen: set[bytes] = set()
    for _, row in rows_of(ctx, old):
        row = transform(row) if transform else row
        key = writer.key_of(row)
        if key in seen:
            values = tuple(row[i] for i in new.primary_key)
            raise UniqueViolation(
                f'could not create unique index "{new.pkey_name}"',
                detail=key_detail(new, new.primary_key, values) + " is duplicated.",
            )
        seen.add(key)


def _fresh_storage(ctx: DdlContext, table: TableDef) -> TableDef:
    indexes = tuple(replace(i, data_id=ctx.next_id()) for i in table.indexes)
    return replace(table, data_id=ctx.next_id(), indexes=indexes)


def _reclaim(ctx: DdlContext, table: TableDef) -> None:
    schedule_reclaim(ctx.txn, table.prefix)
    for index in table.indexes:
        schedule_reclaim(ctx.txn, index.prefix)


def new_storage(ctx: DdlContext, table: TableDef) -> TableDef:
    """TRUNCATE: the table and its indexes start empty under fresh data ids."""
    _reclaim(ctx, table)
    return _fresh_storage(ctx, table)
