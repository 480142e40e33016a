"""COPY FROM STDIN and COPY TO STDOUT: bulk loads in bounded chunks, and bulk reads.

`copy_statement` runs when a COPY statement executes and returns a
`CopyResult`: the wire server (node/pgcopy.py) then drives `CopyIn` with the
client's CopyData messages, or streams `CopyOut`'s lines. Rows are parsed by
`sql/copyformat.py` and inserted through the planner's own INSERT (an
``INSERT INTO t (columns) VALUES ($1, ...)`` plan whose row expressions are
evaluated per record), so defaults, NOT NULL, CHECK, unique keys, indexes,
foreign keys and type modifiers behave exactly as for INSERT.

Memory and Raft entries stay bounded whatever the input size: rows are
inserted as they are parsed and written out every `CHUNK_ROWS` rows or
`CHUNK_BYTES` of input, in one of three ways (`CopyIn.mode`):

* ``autocommit`` (no transaction block): each chunk is its own transaction.
  **Deliberate difference from PostgreSQL**: COPY is one statement there, so
  a failure leaves nothing; here the chunks committed before the failing one
  stay (the error message's detail says how many rows were committed). A
  client that needs all or nothing runs COPY inside a transaction block.
* ``fresh`` (in a READ COMMITTED block, into a table created or truncated in
  that same block, which has storage no other transaction can see yet; what
  pgbench -i and ``BEGIN; TRUNCATE; COPY ... FREEZE; COMMIT`` do): chunks are
  committed under the table's new storage as they fill, yet the rows become
  visible to others only when the block commits its catalog change, and are
  never seen if it rolls back (their storage is then unreferenced garbage,
  like a dropped table's). Atomic, and no giant Raft entry.
* ``transactional`` (any other block): rows are buffered in the block's own
  transaction like any INSERT, bounded by quorumdb.max_transaction_bytes
  (54000 beyond it).

COPY TO streams the rows of ``SELECT columns FROM table`` (or of the query)
as they are produced.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quorumdb.storage.errors import FeatureNotSupported, QuorumError, ReadOnlyTransaction

from . import ast
from . import types as T
from .bound import ParamRef
from .clientsyntax import Copy, register
from .copyformat import CopyReader, CopyWriter
from .engine import Isolation, ReadNotReady
from .executor import compile_plan
from .expr import ExecContext, compile_expr
from .modify import insert as compile_insert
from .plan import Insert, ValuesScan
from .planner import plan_statement
from .result import StatementResult
from .txn import Transaction, TxnState

if TYPE_CHECKING:
    from .client import ClientSession

__all__ = ["CopyResult", "CopyIn", "CopyOut", "CHUNK_ROWS", "CHUNK_BYTES"]

# One chunk is one Raft entry, applied on every replica's Raft thread, which reads no
# acknowledgement or heartbeat meanwhile: pysyncobj's leader checks quorum before it reads
# the acks that arrived during a long apply, so an entry that takes about an election
# timeout (1 s) to apply on a busy machine deposes the leader mid-COPY. 2,000 rows
# (~250 KB for pgbench's accounts) apply in tens of milliseconds.
CHUNK_ROWS = 2_000
CHUNK_BYTES = 1 << 20

Row = tuple[object, ...]


@dataclass(slots=True)
class CopyResult(StatementResult):
    """A COPY's result: the wire server runs `copy` (a CopyIn or CopyOut) to completion."""

    copy: Any = None


def _copy_error(
    exc: QuorumError, table: str, line: int, column: str | None, value: str | None
) -> QuorumError:
    """Attach PostgreSQL's CONTEXT line (sent as the ErrorResponse's W field)."""
    context = f"COPY {table}, line {line}"
    if column is not None:
        context += f', column {column}: "{value}"' if value is not None else f", column {column}"
    exc.context = context  # type: ignore[attr-defined]
    return exc


class CopyIn:
    """One running COPY FROM STDIN (see the module docstring for the modes)."""

    def __init__(
        self,
        session: ClientSession,
        stmt: Copy,
        insert: Insert,
        param_types: tuple[T.SqlType, ...],
        column_names: tuple[str, ...],
        mode: str,
    ) -> None:
        self.session = session
        self.table = insert.table.name
        self.column_names = column_names
        self.column_count = len(column_names)
        self.mode = mode
        self.rows = 0  # rows inserted so far
        self.committed = 0  # rows in committed chunks
        self._reader = CopyReader(stmt.options, len(column_names))
        if stmt.options.header_match:
            self._reader.header_names = column_names  # type: ignore[attr-defined]
        self._parse = [self._parser(t) for t in param_types]
        self._force_null = {column_names.index(c) for c in stmt.options.force_null if c in column_names}
        self._force_not_null = {
            column_names.index(c) for c in stmt.options.force_not_null if c in column_names
        }
        assert isinstance(insert.source, ValuesScan)
        exprs = insert.source.rows[0]
        # Positions whose value is the parameter itself need no evaluation (the usual case).
        self._identity = all(
            isinstance(e, ParamRef) and e.index == i for i, e in enumerate(exprs)
        )
        self._row_fns = [
            None if isinstance(e, ParamRef) and e.index == i else compile_expr(e)
            for i, e in enumerate(exprs)
        ]
        self._pending: list[Row] = []
        self._pending_bytes = 0
        self._run = compile_insert(insert, self._source)
        self._failed = False

    @staticmethod
    def _parser(t: T.SqlType) -> Callable[[str], object]:
        """The type's input function, with a fast path for plain integers (the bulk of
        most loads); anything unusual goes through `T.parse_text` for PostgreSQL's errors."""
        if t.oid in T.INT_RANGES:
            lo, hi, _ = T.INT_RANGES[t.oid]

            def parse_int(text: str) -> object:
                if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
                    value = int(text)
                    if lo <= value <= hi:
                        return value
                return T.parse_text(t, text)

            return parse_int
        if t.oid in (T.TEXT.oid, T.VARCHAR.oid, T.BPCHAR.oid) and t.typmod < 0:
            return str

        def parse(text: str) -> object:
            return T.parse_text(t, text)

        return parse

    # ---- records -> parameter rows --------------------------------------------------------

    def _convert(self, record: list[str | None]) -> Row:
        line = self._reader.line
        if len(record) != self.column_count:
            if len(record) > self.column_count:
                raise _copy_error(
                    QuorumError("extra data after last expected column", sqlstate="22P04"),
                    self.table, line, None, None,
                )  # fmt: skip
            missing = self.column_names[len(record)]
            raise _copy_error(
                QuorumError(f'missing data for column "{missing}"', sqlstate="22P04"),
                self.table, line, None, None,
            )  # fmt: skip
        values: list[object] = []
        for i, (field, parse) in enumerate(zip(record, self._parse, strict=True)):
            if field is None:
                if i in self._force_not_null:
                    field = ""
                else:
                    values.append(None)
                    continue
            elif i in self._force_null and field == self._reader.options.null:
                values.append(None)
                continue
            try:
                values.append(parse(field))
            except QuorumError as exc:
                raise _copy_error(exc, self.table, line, self.column_names[i], field) from None
        return tuple(values)

    def _source(self, ctx: ExecContext) -> Iterator[Row]:
        if self._identity:
            yield from self._pending
            return
        fns = self._row_fns
        for params in self._pending:
            ctx.params = params
            yield tuple(p if f is None else f((), ctx) for p, f in zip(params, fns, strict=True))

    # ---- the protocol side ----------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        """One CopyData message."""
        await self._guard(self._feed(data))

    async def _feed(self, data: bytes) -> None:
        for record in self._reader.feed(data):
            self._pending.append(self._convert(record))
            if len(self._pending) >= CHUNK_ROWS:
                await self._write_chunk()
        self._pending_bytes += len(data)
        if self._pending_bytes >= CHUNK_BYTES:
            await self._write_chunk()

    async def finish(self) -> str:
        """CopyDone: write what is left; returns the command tag."""
        await self._guard(self._finish())
        return f"COPY {self.rows}"

    async def _finish(self) -> None:
        for record in self._reader.finish():
            self._pending.append(self._convert(record))
        await self._write_chunk()

    def fail(self, error: QuorumError) -> QuorumError:
        """CopyFail or a protocol error: the statement fails with `error`."""
        self._failed = True
        self._pending.clear()
        return self._report(error)

    async def _guard(self, work: Any) -> None:
        if self._failed:
            return
        try:
            await work
        except BaseException as exc:
            self._failed = True
            self._pending.clear()
            if isinstance(exc, QuorumError):
                raise self._report(exc) from None
            raise self.session._fail(exc) from None

    def _report(self, error: QuorumError) -> QuorumError:
        if self.mode == "autocommit" and self.committed:
            note = f"{self.committed} rows of this COPY were committed before the error."
            error.detail = f"{error.detail}\n{note}" if error.detail else note
        failed = self.session._fail(error)
        assert isinstance(failed, QuorumError)
        return failed

    async def _write_chunk(self) -> None:
        if not self._pending:
            return
        session = self.session
        if self.mode == "transactional":
            count = await session.in_statement(self._insert_into)
        else:
            txn = self._chunk_transaction()
            await _begin(txn)
            try:
                count = self._insert_into(txn)
                txn.release_statement()
                await txn.commit()
            except BaseException:
                if txn.state is TxnState.ACTIVE:
                    txn.rollback()
                raise
            self.committed += count
        self.rows += count
        self._pending.clear()
        self._pending_bytes = 0

    def _insert_into(self, txn: Transaction) -> int:
        ctx = ExecContext(txn, (), self.session)
        count: int = self._run(ctx)
        return count

    def _chunk_transaction(self) -> Transaction:
        session = self.session
        if self.mode == "autocommit":
            return session._new_txn()
        # "fresh": the block's transaction holds the table's locks and its new definition;
        # the chunk writes only keys nobody else can see, so it needs no locks of its own
        # (taking them would wait for the block, that is, for itself).
        block = session._txn
        assert block is not None
        return Transaction(
            session.db.engine,
            session.db.next_txn_id(),
            isolation=Isolation.READ_COMMITTED,
            locks=None,
            max_write_bytes=block.max_write_bytes,
            max_memory_bytes=block.max_memory_bytes,
        )


async def _begin(txn: Transaction) -> None:
    while True:
        try:
            txn.begin_statement()
            return
        except ReadNotReady as not_ready:
            await not_ready.ready


class CopyOut:
    """One running COPY TO STDOUT: `lines()` yields the CopyData payloads."""

    def __init__(self, stmt: Copy, result: StatementResult) -> None:
        assert result.columns is not None
        self.columns = result.columns
        self.column_count = len(result.columns)
        self._result = result
        self._options = stmt.options
        self._writer = CopyWriter(stmt.options, [c.name for c in result.columns])
        self.rows = 0

    def lines(self) -> Iterator[bytes]:
        if self._options.header:
            yield self._writer.header([c.name for c in self.columns])
        encoders = [c.encode_text for c in self.columns]
        row_text = self._writer.row
        for row in self._result.rows:
            self.rows += 1
            yield row_text(
                [None if v is None else enc(v).decode() for enc, v in zip(encoders, row, strict=True)]
            )

    def tag(self) -> str:
        return f"COPY {self.rows}"


async def copy_statement(session: ClientSession, stmt: Copy) -> StatementResult:
    if stmt.where is not None:
        raise FeatureNotSupported("COPY FROM ... WHERE is not supported")
    if stmt.is_from:
        return await _copy_from(session, stmt)
    return await _copy_to(session, stmt)


async def _copy_to(session: ClientSession, stmt: Copy) -> StatementResult:
    if stmt.query is not None:
        query = stmt.query
    else:
        assert stmt.table is not None
        items: tuple[ast.SelectItem, ...]
        if stmt.columns:
            items = tuple(ast.SelectItem(ast.ColumnName((c,))) for c in stmt.columns)
        else:
            items = (ast.SelectItem(ast.Star()),)
        query = ast.Select(items=items, from_=(stmt.table,))
    result = await session.run_query(query)
    if result.columns is None:
        raise QuorumError("COPY query must have a RETURNING clause", sqlstate="0A000")
    out = CopyOut(stmt, result)
    return CopyResult("COPY", copy=out)


async def _copy_from(session: ClientSession, stmt: Copy) -> StatementResult:
    assert stmt.table is not None
    catalog = await session._catalog()
    table = catalog.table(stmt.table.name, None, stmt.table.schema)
    names = stmt.columns or tuple(c.name for c in table.columns)
    insert_stmt = ast.Insert(
        stmt.table,
        tuple((name, -1) for name in names),
        ast.Values((tuple(ast.Param(i + 1) for i in range(len(names))),)),
    )
    plan = plan_statement(insert_stmt, catalog, [None] * len(names))
    if not isinstance(plan.root, Insert) or not isinstance(plan.root.source, ValuesScan):
        raise FeatureNotSupported(f"COPY into {table.name} is not supported")
    compile_plan(plan)  # the same checks as planning an INSERT
    mode = "autocommit"
    if session._in_block:
        txn = session._transaction()
        fresh = txn.isolation is Isolation.READ_COMMITTED and await _fresh_storage(
            session, table
        )
        mode = "fresh" if fresh else "transactional"
        if txn.read_only:
            raise ReadOnlyTransaction("cannot execute COPY FROM in a read-only transaction")
    copy_in = CopyIn(session, stmt, plan.root, tuple(plan.param_types), tuple(names), mode)
    return CopyResult("COPY", copy=copy_in)


async def _fresh_storage(session: ClientSession, table: Any) -> bool:
    """True if `table`'s rows live in storage created by the current transaction (CREATE
    TABLE or TRUNCATE in this block), which no other transaction can see."""
    probe = session._new_txn()
    await _begin(probe)
    try:
        committed = session.catalog(probe)
        before = committed.get(table.name, table.schema)
    finally:
        probe.rollback()
    return before is None or before.data_id != table.data_id


register(Copy, copy_statement)
