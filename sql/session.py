"""`Database` and `Session`: the SQL layer's API for the wire server (`node/`).

A `Database` is shared by all sessions of a node: the engine, the catalog
cache, the plan cache (and later the row-lock manager). A `Session` is one
client connection: its settings and its transaction state.

`Session.execute(sql)` has simple-query semantics, as PostgreSQL:

* one `StatementResult` per statement; on error the `QuorumError` is raised
  after the earlier statements' results, and later statements do not run;
* outside an explicit transaction block the statements of one query string
  form one implicit transaction: it commits after the last statement (before
  that statement's result is handed out) and a failure rolls back the
  earlier statements of the string too;
* inside a block, an error aborts the block: every statement but
  COMMIT/ROLLBACK then fails with 25P02, and COMMIT answers ROLLBACK.

Rows of a SELECT stream: `result.rows` is an iterator that runs the query as
it is consumed; `result.tag` ("SELECT n") is final once it is exhausted. If
consuming the rows raises, the session has already handled the error
(statement or transaction rolled back, block aborted) and the `execute`
iterator ends without running later statements. Rows not consumed by the
caller are consumed (and discarded) before the next statement runs.

Execution is synchronous on the caller's thread (the asyncio loop); only
`engine.commit` is awaited.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

from quorumdb.storage.errors import (
    ActiveSqlTransaction,
    InFailedTransaction,
    InternalError,
    QuorumError,
    ReadOnlyTransaction,
)

from . import ast
from . import types as T
from .catalog import CatalogCache
from .engine import Engine, Isolation, ReadConsistency, ReadNotReady
from .executor import Executable
from .expr import ExecContext
from .plancache import CachedQuery, PlanCache
from .result import Column, Notice, StatementResult
from .settings import SessionSettings
from .txn import RowLocks, Transaction, TxnState, WouldBlock

__all__ = ["Database", "Session"]

log = logging.getLogger(__name__)

_TEXT_ENCODER = T.text_encoder(T.TEXT)


class Database:
    """Everything the sessions of one node share."""

    def __init__(
        self, engine: Engine, *, plan_cache_size: int = 1024, locks: RowLocks | None = None
    ) -> None:
        self.engine = engine
        self.catalogs = CatalogCache()
        self.plans = PlanCache(plan_cache_size)
        self.locks = locks
        # Hidden row ids of tables without a primary key: (read_ts, n), unique on this leader.
        self.row_ids: Iterator[int] = itertools.count(1)
        self._txn_ids = itertools.count(1)

    def session(
        self,
        *,
        user: str = "postgres",
        database: str = "postgres",
        application_name: str = "",
        options: dict[str, str] | None = None,
    ) -> Session:
        return Session(
            self, user=user, database=database, application_name=application_name, options=options
        )

    def next_txn_id(self) -> int:
        return next(self._txn_ids)


class Session:
    """One client connection's SQL state."""

    def __init__(
        self,
        db: Database,
        *,
        user: str,
        database: str,
        application_name: str = "",
        options: dict[str, str] | None = None,
    ) -> None:
        self.db = db
        self.user = user
        self.database = database
        initial = dict(options or {})
        initial["application_name"] = application_name
        self.settings = SessionSettings(initial, fixed={"session_authorization": user})
        self._txn: Transaction | None = None
        self._in_block = False  # inside BEGIN ... COMMIT/ROLLBACK
        self._failed = False  # the block hit an error (status "E")
        self._pending: _RowStream | None = None
        self._closed = False
        self._generation = 0  # which execute() call owns the implicit transaction

    # ---- state ---------------------------------------------------------------------

    @property
    def transaction_status(self) -> str:
        """ReadyForQuery status: I (idle), T (in a block), E (failed block)."""
        if not self._in_block:
            return "I"
        return "E" if self._failed else "T"

    def parameter_status(self) -> dict[str, str]:
        """The ParameterStatus values to announce (compare after each query to send changes)."""
        return self.settings.reported()

    @property
    def row_ids(self) -> Iterator[int]:
        return self.db.row_ids

    def session_value(self, name: str, args: tuple[object, ...]) -> object:
        if name in ("current_user", "session_user"):
            return self.user
        if name == "current_database":
            return self.database
        if name == "current_schema":
            return "public"
        if name == "current_setting":
            if args[0] is None:
                return None
            try:
                return self.settings.get(args[0])  # type: ignore[arg-type]
            except QuorumError:
                if len(args) > 1 and args[1]:
                    return None
                raise
        raise InternalError(f"unknown session value {name}")

    def close(self) -> None:
        """End the session: an open transaction is rolled back."""
        if self._txn is not None:
            self._txn.rollback()
            self._txn = None
        self._in_block = self._failed = False
        self._closed = True

    # ---- execution -------------------------------------------------------------------

    async def execute(self, sql: str) -> AsyncIterator[StatementResult]:
        """Run a query string (simple-query protocol); see the module docstring."""
        if self._closed:
            raise InternalError("session is closed")
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.drain()
        try:
            query = self.db.plans.query(sql)
        except BaseException as exc:
            raise self._fail(exc) from None
        if not query.statements:
            yield StatementResult("", empty=True)
            return
        self._generation += 1
        generation = self._generation
        last = len(query.statements) - 1
        try:
            for index, stmt in enumerate(query.statements):
                try:
                    result, stream = await self._statement(query, index, stmt, index == last)
                except BaseException as exc:
                    raise self._fail(exc) from None
                self._pending = stream
                yield result
                if stream is not None:
                    self._pending = None
                    if stream.error is not None:
                        return  # the caller saw the error while reading rows
                    stream.drain()
            try:
                await self._end_implicit()
            except BaseException as exc:
                raise self._fail(exc) from None
        finally:
            if self._generation == generation:
                self._pending = None
                if self._txn is not None and not self._in_block:
                    # The caller abandoned the query string half-way.
                    self._txn.rollback()
                    self._txn = None

    async def _statement(
        self, query: CachedQuery, index: int, stmt: ast.Statement, is_last: bool
    ) -> tuple[StatementResult, _RowStream | None]:
        if self._failed and not isinstance(stmt, (ast.Commit, ast.Rollback)):
            raise InFailedTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )
        handler = _UTILITY.get(type(stmt))
        if handler is not None:
            result = await handler(self, stmt)
            if is_last:
                await self._end_implicit()
            return result, None
        return await self._planned(query, index, is_last)

    def _new_txn(self, isolation: str | None = None, read_only: bool | None = None) -> Transaction:
        level = Isolation(isolation or self.settings.get("default_transaction_isolation"))
        if read_only is None:
            read_only = self.settings.get("default_transaction_read_only") == "on"
        txn = Transaction(
            self.db.engine,
            self.db.next_txn_id(),
            isolation=level,
            read_only=read_only,
            locks=self.db.locks,
        )
        if self.settings.get("quorumdb.read_consistency") == "stale":
            txn.consistency = ReadConsistency.STALE
        return txn

    async def _planned(
        self, query: CachedQuery, index: int, is_last: bool
    ) -> tuple[StatementResult, _RowStream | None]:
        txn = self._txn
        if txn is None:
            txn = self._txn = self._new_txn()
        ends_implicit = is_last and not self._in_block
        while True:
            try:
                txn.begin_statement()
            except ReadNotReady as not_ready:
                await not_ready.ready
                continue
            try:
                catalog = self.db.catalogs.current(txn)
                exe = self.db.plans.executable(query, index, catalog)
                plan = exe.plan
                if plan.writes and txn.read_only:
                    raise ReadOnlyTransaction(
                        f"cannot execute {plan.tag} in a read-only transaction"
                    )
                ctx = ExecContext(txn, (), self)
                if exe.query is not None:
                    columns = self._columns(exe)
                    rows = exe.query(ctx)
                    if ends_implicit and txn.has_writes:
                        # The commit must come before the result: run the query now.
                        materialized = list(rows)
                        txn.release_statement()
                        await self._end_implicit()
                        return StatementResult(
                            _row_tag(plan.tag, len(materialized)), columns, materialized
                        ), None
                    result = StatementResult(plan.tag, columns)
                    stream = _RowStream(
                        self, txn, rows, result, plan.tag, ends_implicit and not txn.has_writes
                    )
                    result.rows = stream
                    return result, stream
                notices: tuple[Notice, ...] = ()
                if exe.modify is not None:
                    count = exe.modify(ctx)
                    tag = f"INSERT 0 {count}" if plan.tag == "INSERT" else f"{plan.tag} {count}"
                else:
                    assert exe.ddl is not None
                    notices = tuple(exe.ddl(ctx))
                    tag = plan.tag
                txn.release_statement()
            except WouldBlock as blocked:
                # Wait for the row lock's holder, then run the statement again on a fresh snapshot.
                txn.rollback_statement()
                await blocked.released
                continue
            except BaseException:
                if txn.state is TxnState.ACTIVE:
                    txn.rollback_statement()
                raise
            if ends_implicit:
                await self._end_implicit()
            return StatementResult(tag, None, (), notices), None

    def _columns(self, exe: Executable) -> tuple[Column, ...]:
        digits = int(self.settings.get("extra_float_digits"))
        cached = exe.columns.get(digits)
        if cached is None:
            assert exe.plan.columns is not None
            cached = tuple(
                Column(
                    c.name,
                    c.type.oid,
                    c.type.typlen,
                    T.text_encoder(c.type, digits),
                    c.type.typmod,
                    c.table_oid,
                    c.column_number,
                )
                for c in exe.plan.columns
            )
            exe.columns[digits] = cached
        return cached

    async def _end_implicit(self) -> None:
        """Commit the implicit transaction of a query string, if one is open."""
        txn = self._txn
        if txn is None or self._in_block:
            return
        self._txn = None
        await txn.commit()

    def _fail(self, exc: BaseException) -> BaseException:
        """Roll back after an error and return the error to raise (a QuorumError unless cancelled)."""
        if self._txn is not None:
            self._txn.rollback()
            self._txn = None
        if self._in_block:
            self._failed = True
        if isinstance(exc, QuorumError) or not isinstance(exc, Exception):
            return exc
        if isinstance(exc, RecursionError):
            return QuorumError("stack depth limit exceeded", sqlstate="54001")
        log.error("internal error in a statement", exc_info=exc)
        error = InternalError(f"internal error: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return error

    def _stream_failed(self, exc: BaseException) -> BaseException:
        return self._fail(exc)

    def _stream_finished(self, txn: Transaction, ends_implicit: bool) -> None:
        txn.release_statement()
        if ends_implicit and self._txn is txn and not self._in_block:
            self._txn = None
            txn.rollback()  # read-only: there is nothing to commit

    # ---- utility statements -------------------------------------------------------------

    async def _begin(self, stmt: ast.Begin) -> StatementResult:
        if self._in_block:
            return StatementResult(
                stmt.tag,
                notices=(Notice("there is already a transaction in progress", "25001", "WARNING"),),
            )
        if self._txn is None:
            self._txn = self._new_txn(stmt.isolation, stmt.read_only)
        self._in_block = True
        return StatementResult(stmt.tag)

    def _end_block(self, committed: bool) -> Transaction | None:
        txn, self._txn = self._txn, None
        self._in_block = self._failed = False
        self.settings.end_transaction(committed)
        return txn

    async def _commit(self, stmt: ast.Commit) -> StatementResult:
        if not self._in_block:
            await self._end_implicit()
            return StatementResult("COMMIT", notices=(_no_transaction(),))
        if self._failed:
            self._end_block(False)
            return StatementResult("ROLLBACK")
        txn = self._end_block(True)
        if txn is not None:
            await txn.commit()
        return StatementResult("COMMIT")

    async def _rollback(self, stmt: ast.Rollback) -> StatementResult:
        if not self._in_block:
            if self._txn is not None:
                self._txn.rollback()
                self._txn = None
            return StatementResult("ROLLBACK", notices=(_no_transaction(),))
        txn = self._end_block(False)
        if txn is not None:
            txn.rollback()
        return StatementResult("ROLLBACK")

    async def _set(self, stmt: ast.SetVariable) -> StatementResult:
        if stmt.name in ("transaction_isolation", "transaction_read_only"):
            values = stmt.values or ()
            if stmt.name == "transaction_isolation":
                return await self._set_transaction(
                    ast.SetTransaction(" ".join(values).lower() or None, None)
                )
            return await self._set_transaction(
                ast.SetTransaction(None, values[0].lower() in ("on", "true", "1"))
            )
        notices: tuple[Notice, ...] = ()
        if stmt.local and not self._in_block:
            notices = (
                Notice("SET LOCAL can only be used in transaction blocks", "25P01", "WARNING"),
            )
        self.settings.set(stmt.name, stmt.values, local=stmt.local, in_block=self._in_block)
        return StatementResult("SET", notices=notices)

    async def _set_transaction(self, stmt: ast.SetTransaction) -> StatementResult:
        if stmt.session:
            if stmt.isolation is not None:
                self.settings.set(
                    "default_transaction_isolation", (stmt.isolation,), in_block=self._in_block
                )
            if stmt.read_only is not None:
                value = "on" if stmt.read_only else "off"
                self.settings.set(
                    "default_transaction_read_only", (value,), in_block=self._in_block
                )
            return StatementResult("SET")
        txn = self._txn
        if not self._in_block or txn is None:
            return StatementResult(
                "SET",
                notices=(
                    Notice(
                        "SET TRANSACTION can only be used in transaction blocks", "25P01", "WARNING"
                    ),
                ),
            )
        if stmt.isolation is not None:
            level = Isolation(
                stmt.isolation if stmt.isolation != "read uncommitted" else "read committed"
            )
            if level is not txn.isolation:
                if txn.read_ts >= 0:
                    raise ActiveSqlTransaction(
                        "SET TRANSACTION ISOLATION LEVEL must be called before any query"
                    )
                txn.set_isolation(level)
        if stmt.read_only is not None:
            if not stmt.read_only and txn.read_only and txn.read_ts >= 0:
                raise ActiveSqlTransaction(
                    "transaction read-write mode must be set before any query"
                )
            txn.read_only = stmt.read_only
        return StatementResult("SET")

    async def _reset(self, stmt: ast.ResetVariable) -> StatementResult:
        self.settings.reset(stmt.name, in_block=self._in_block)
        return StatementResult("RESET")

    async def _show(self, stmt: ast.ShowVariable) -> StatementResult:
        name = stmt.name
        if name == "all":
            columns = tuple(
                Column(n, T.TEXT.oid, -1, _TEXT_ENCODER) for n in ("name", "setting", "description")
            )
            return StatementResult("SHOW", columns, self.settings.all())
        txn = self._txn if self._in_block else None
        if name == "transaction_isolation":
            value = (
                txn.isolation.value
                if txn is not None
                else self.settings.get("default_transaction_isolation")
            )
        elif name == "transaction_read_only":
            read_only = (
                txn.read_only
                if txn is not None
                else self.settings.get("default_transaction_read_only") == "on"
            )
            value = "on" if read_only else "off"
        elif name.startswith("quorumdb.") and name[9:] in (node := self.db.engine.describe()):
            value = node[name[9:]]
        else:
            value = self.settings.get(name)
        column = Column(self.settings.canonical(name), T.TEXT.oid, -1, _TEXT_ENCODER)
        return StatementResult("SHOW", (column,), [(value,)])


def _no_transaction() -> Notice:
    return Notice("there is no transaction in progress", "25P01", "WARNING")


def _row_tag(verb: str, count: int) -> str:
    return f"SELECT {count}" if verb == "SELECT" else verb


_UTILITY: dict[type, Any] = {
    ast.Begin: Session._begin,
    ast.Commit: Session._commit,
    ast.Rollback: Session._rollback,
    ast.SetVariable: Session._set,
    ast.SetTransaction: Session._set_transaction,
    ast.ResetVariable: Session._reset,
    ast.ShowVariable: Session._show,
}


class _RowStream:
    """The rows of one SELECT, produced as the caller iterates (see module docstring)."""

    __slots__ = (
        "_session",
        "_txn",
        "_rows",
        "_result",
        "_verb",
        "_ends_implicit",
        "_count",
        "done",
        "error",
    )

    def __init__(
        self,
        session: Session,
        txn: Transaction,
        rows: Iterator[tuple[object, ...]],
        result: StatementResult,
        verb: str,
        ends_implicit: bool,
    ) -> None:
        self._session = session
        self._txn = txn
        self._rows = rows
        self._result = result
        self._verb = verb
        self._ends_implicit = ends_implicit
        self._count = 0
        self.done = False
        self.error: BaseException | None = None

    def __iter__(self) -> _RowStream:
        return self

    def __next__(self) -> tuple[object, ...]:
        if self.done:
            raise StopIteration
        try:
            row = next(self._rows)
        except StopIteration:
            self.done = True
            self._result.tag = _row_tag(self._verb, self._count)
            self._session._stream_finished(self._txn, self._ends_implicit)
            raise
        except BaseException as exc:
            self.done = True
            if self._txn.state is TxnState.ACTIVE:
                self._txn.rollback_statement()
            error = self._session._stream_failed(exc)
            self.error = error
            raise error from None
        self._count += 1
        return row

    def drain(self) -> None:
        for _ in self:
            pass
