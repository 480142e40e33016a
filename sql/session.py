"""`Database` and `Session`: the SQL layer's API for the wire server (`node/`).

A `Database` is shared by all sessions of a node: the engine, the catalog
cache, the plan cache, the lock manager, the snapshots in use (for GC) and
the sequence caches. A `Session` is one client connection: its settings and
its transaction state.

`Session.execute(sql)` has simple-query semantics, as PostgreSQL:

* one `StatementResult` per statement; on error the `QuorumError` is raised
  after the earlier statements' results, and later statements do not run;
* outside an explicit transaction block the statements of one query string
  form one implicit transaction: it commits after the last statement (before
  that statement's result is handed out) and a failure rolls back the
  earlier statements of the string too;
* inside a block, an error undoes the failing statement and aborts the block:
  every statement but COMMIT/ROLLBACK/ROLLBACK TO then fails with 25P02,
  COMMIT answers ROLLBACK, and ROLLBACK TO a savepoint makes it usable again.

A statement that meets a lock held by another transaction (`WouldBlock`)
is rolled back, waits for the holder (bounded by statement_timeout and
lock_timeout) and runs again on a fresh snapshot: PostgreSQL's READ
COMMITTED re-read (sql/txn.py, sql/locks.py).

Rows of a SELECT stream: `result.rows` is an iterator that runs the query as
it is consumed; `result.tag` ("SELECT n") is final once it is exhausted. If
consuming the rows raises, the session has already handled the error
(statement or transaction rolled back, block aborted) and the `execute`
iterator ends without running later statements. Rows not consumed by the
caller are consumed (and discarded) before the next statement runs.

Execution is synchronous on the caller's thread (the asyncio loop); only
commits and lock waits are awaited.

BEGIN/COMMIT/ROLLBACK, savepoints, SET and SHOW are handled by the mixin in
sql/session_control.py; DDL by sql/ddl.py; everything else is planned.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator

from quorumdb.storage.errors import (
    InFailedTransaction,
    InternalError,
    QueryCanceled,
    QuorumError,
    ReadOnlyTransaction,
    SerializationFailure,
)

from . import ast, ddl_ast
from . import types as T
from .catalog import Catalog, CatalogCache
from .ddl import DdlContext, run_ddl
from .engine import Engine, Isolation, ReadConsistency, ReadNotReady
from .executor import Executable
from .expr import ExecContext
from .locks import LockManager, WouldBlock
from .plancache import CachedQuery, PlanCache
from .result import Column, Notice, StatementResult
from .row_locking import locking_verb
from .sequence_functions import SequenceFunctions
from .sequences import Counters
from .session_control import _UTILITY, ControlStatements
from .settings import SessionSettings, duration_ms, search_path
from .txn import Snapshots, Transaction, TxnState

__all__ = ["Database", "Session"]

log = logging.getLogger(__name__)

_TEXT_ENCODER = T.text_encoder(T.TEXT)
_DDL_TYPES = tuple(
    getattr(ddl_ast, name)
    for name in ddl_ast.__all__
    if isinstance(getattr(ddl_ast, name), type) and issubclass(getattr(ddl_ast, name), ast.Statement)
)


class Database:
    """Everything the sessions of one node share."""

    def __init__(
        self, engine: Engine, *, plan_cache_size: int = 1024, locks: LockManager | None = None
    ) -> None:
        self.engine = engine
        self.catalogs = CatalogCache()
        self.plans = PlanCache(plan_cache_size)
        self.locks = locks if locks is not None else LockManager()
        self.snapshots = Snapshots()
        self.counters = Counters(engine)
        # Hidden row ids of tables without a primary key: (read_ts, n), unique on this leader.
        self.row_ids: Iterator[int] = itertools.count(1)
        self._txn_ids = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None
        subscribe = getattr(engine, "on_leadership_lost", None)
        if subscribe is not None:
            try:
                self._unsubscribe = subscribe(self.leadership_lost)
            except RuntimeError:  # no running loop: nobody can lose leadership here
                pass

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

    def leadership_lost(self) -> None:
        """This node stopped leading: waiting statements fail, locks and sequence blocks go."""
        self.locks.drop_all(
            SerializationFailure(
                "could not serialize access: this node is no longer the leader",
                hint="The transaction might succeed if retried.",
            )
        )
        self.counters.clear()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


class Session(ControlStatements):
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
        self._awaiting = False  # a statement awaits a lock or a pending commit's outcome
        self._savepoint_settings: list[tuple[str, object]] = []
        self.sequences = SequenceFunctions(self)

    # ---- state ---------------------------------------------------------------------

    @property
    def transaction_status(self) -> str:
        """ReadyForQuery status: I (idle), T (in a block), E (failed block)."""
        if not self._in_block:
            return "I"
        return "E" if self._failed else "T"

    @property
    def waiting(self) -> bool:
        """True while the current statement waits for a lock, or for the outcome of a
        commit that handed its rows over (tests, pg_stat_activity)."""
        txn = self._txn
        return txn is not None and (self._awaiting or self.db.locks.is_waiting(txn.txn_id))

    def idle_timeout(self) -> float | None:
        """Seconds the client may stay idle now (idle_in_transaction_session_timeout),
        or None; past it the server ends the connection with 25P03."""
        if not self._in_block:
            return None
        ms = duration_ms(self.settings.get("idle_in_transaction_session_timeout"))
        return ms / 1000 if ms > 0 else None

    def parameter_status(self) -> dict[str, str]:
        """The ParameterStatus values to announce (compare after each query to send changes)."""
        return self.settings.reported()

    @property
    def row_ids(self) -> Iterator[int]:
        return self.db.row_ids

    def search_path(self) -> tuple[str, ...]:
        settings = self.settings
        return settings.memo(
            ("search_path", self.user), lambda: search_path(settings.get("search_path"), self.user)
        )

    def catalog(self, txn: Transaction) -> Catalog:
        return self.db.catalogs.current(txn, self.search_path())

    def session_value(self, name: str, args: tuple[object, ...]) -> object:
        if name.startswith("::"):  # x::regclass and the other catalog casts
            from .pgfunctions import reg_cast

            return reg_cast(self, name[2:], args[0])
        if name in ("current_user", "session_user"):
            return self.user
        if name == "current_database":
            return self.database
        if name == "current_schema":
            path = self.search_path()
            txn = self._txn
            if txn is not None and txn.read_ts >= 0:
                existing = self.catalog(txn).search_path
                return existing[0] if existing else None
            return path[0] if path else None
        if name == "current_setting":
            if args[0] is None:
                return None
            try:
                return self.settings.get(args[0])  # type: ignore[arg-type]
            except QuorumError:
                if len(args) > 1 and args[1]:
                    return None
                raise
        if name in ("nextval", "currval", "setval", "lastval"):
            return self.sequences.call(name, args)
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
            query = await self._simple_query(sql)
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

    async def _simple_query(self, sql: str) -> CachedQuery:
        """The statements of a query string (sql/client.py may run it as a template)."""
        return self.db.plans.query(sql)

    async def _statement(
        self, query: CachedQuery, index: int, stmt: ast.Statement, is_last: bool
    ) -> tuple[StatementResult, _RowStream | None]:
        if self._failed and not isinstance(
            stmt, (ast.Commit, ast.Rollback, ast.RollbackToSavepoint)
        ):
            raise InFailedTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )
        handler = _UTILITY.get(type(stmt))
        if handler is not None:
            result = await handler(self, stmt)
            if is_last:
                await self._end_implicit()
            return result, None
        return await self._run(query, index, stmt, is_last)

    def _new_txn(self, isolation: str | None = None, read_only: bool | None = None) -> Transaction:
        settings = self.settings
        default_level, default_read_only, max_write, max_memory, stale = settings.memo(
            "new_txn",
            lambda: (
                Isolation(settings.get("default_transaction_isolation")),
                settings.get("default_transaction_read_only") == "on",
                int(settings.get("quorumdb.max_transaction_bytes")),
                int(settings.get("quorumdb.max_session_bytes")),
                settings.get("quorumdb.read_consistency") == "stale",
            ),
        )
        txn = Transaction(
            self.db.engine,
            self.db.next_txn_id(),
            isolation=Isolation(isolation) if isolation else default_level,
            read_only=default_read_only if read_only is None else read_only,
            locks=self.db.locks,
            snapshots=self.db.snapshots,
            max_write_bytes=max_write,
            max_memory_bytes=max_memory,
        )
        if stale:
            txn.consistency = ReadConsistency.STALE
        self._txn_started = time.time()  # now() / current_timestamp for the transaction
        return txn

    def transaction_timestamp(self) -> float:
        """When the current transaction started (seconds since the Unix epoch)."""
        return getattr(self, "_txn_started", None) or time.time()

    def _deadline(self) -> tuple[float | None, float | None]:
        """(statement deadline, lock wait limit) in loop time, from the settings."""
        settings = self.settings
        statement_ms, lock_ms = settings.memo(
            "timeouts",
            lambda: (
                duration_ms(settings.get("statement_timeout")),
                duration_ms(settings.get("lock_timeout")),
            ),
        )
        now = time.monotonic()
        return (
            now + statement_ms / 1000 if statement_ms > 0 else None,
            lock_ms / 1000 if lock_ms > 0 else None,
        )

    async def _run(
        self, query: CachedQuery, index: int, stmt: ast.Statement, is_last: bool
    ) -> tuple[StatementResult, _RowStream | None]:
        """Run a planned statement or DDL under its savepoint, restarting it after lock waits."""
        txn = self._txn
        if txn is None:
            txn = self._txn = self._new_txn()
        ends_implicit = is_last and not self._in_block
        deadline, lock_limit = self._deadline()
        txn.interrupt = _interrupter(deadline) if deadline is not None else None
        streaming = False
        try:
            while True:
                try:
                    txn.begin_statement()
                except ReadNotReady as not_ready:
                    await not_ready.ready
                    continue
                try:
                    if isinstance(stmt, _DDL_TYPES):
                        result = self._ddl(txn, stmt)
                    else:
                        outcome = self._planned(query, index, txn, ends_implicit)
                        if isinstance(outcome, tuple):
                            streaming = True
                            return outcome
                        result = outcome
                    txn.release_statement()
                    break
                except WouldBlock as blocked:
                    txn.rollback_statement()
                    if blocked.released is not None:
                        await self._wait(txn, blocked.released, deadline, lock_limit)
                except BaseException:
                    if txn.state is TxnState.ACTIVE:
                        txn.rollback_statement()
                    raise
        finally:
            if not streaming:
                txn.interrupt = None  # a stream keeps it until its rows are consumed
        if ends_implicit:
            await self._end_implicit()
        return result, None

    async def _wait(
        self,
        txn: Transaction,
        released: asyncio.Future[None],
        deadline: float | None,
        lock_limit: float | None,
    ) -> None:
        timeout = lock_limit
        statement_first = False
        if deadline is not None:
            remaining = max(deadline - time.monotonic(), 0.0)
            if timeout is None or remaining <= timeout:
                timeout, statement_first = remaining, True
        self._awaiting = True
        try:
            if timeout is None:
                await released
            else:
                await asyncio.wait_for(released, timeout)
        except TimeoutError:
            self.db.locks.cancel_wait(txn.txn_id)
            if statement_first:
                raise QueryCanceled("canceling statement due to statement timeout") from None
            raise QuorumError(
                "canceling statement due to lock timeout", sqlstate="55P03"
            ) from None
        except BaseException:
            self.db.locks.cancel_wait(txn.txn_id)
            raise
        finally:
            self._awaiting = False

    def _ddl(self, txn: Transaction, stmt: ast.Statement) -> StatementResult:
        if txn.read_only:
            raise ReadOnlyTransaction(
                f"cannot execute {_ddl_tag(stmt)} in a read-only transaction"
            )
        ctx = DdlContext(txn, self.catalog(txn), self.db, self)
        tag = run_ddl(stmt, ctx)
        return StatementResult(tag, None, (), tuple(ctx.notices))

    def _planned(
        self, query: CachedQuery, index: int, txn: Transaction, ends_implicit: bool
    ) -> StatementResult | tuple[StatementResult, _RowStream | None]:
        """Run one planned statement; a tuple means a streaming SELECT (already final)."""
        catalog = self.catalog(txn)
        exe = self._executable(query, index, catalog)
        plan = exe.plan
        if plan.writes and txn.read_only:
            verb = locking_verb(plan.root) if plan.tag == "SELECT" else None
            raise ReadOnlyTransaction(
                f"cannot execute {verb or plan.tag} in a read-only transaction"
            )
        ctx = ExecContext(txn, self._parameters(), self)
        if exe.query is not None:
            columns = self._columns(exe)
            rows = exe.query(ctx)
            if plan.writes or (ends_implicit and txn.must_commit):
                # Rows that lock or write must be produced inside the restart loop, and
                # an implicit transaction commits before its result: run the query now.
                materialized = _bounded(rows, txn.max_memory_bytes)
                return StatementResult(_row_tag(plan.tag, len(materialized)), columns, materialized)
            result = StatementResult(plan.tag, columns)
            stream = _RowStream(
                self, txn, rows, result, plan.tag, ends_implicit and not txn.must_commit
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
        return StatementResult(tag, None, (), notices)

    def _executable(self, query: CachedQuery, index: int, catalog: Catalog) -> Executable:
        """The compiled plan of statement `index`; sql/client.py supplies the plans of
        prepared statements (extended query protocol) by overriding this."""
        return self.db.plans.executable(query, index, catalog)

    def _parameters(self) -> tuple[object, ...]:
        """The values of $1, $2, ... for the statement being run (none in a simple query)."""
        return ()

    def _columns(self, exe: Executable) -> tuple[Column, ...]:
        settings = self.settings
        digits, session_zone = settings.memo(
            "output",
            lambda: (int(settings.get("extra_float_digits")), settings.get("TimeZone")),
        )
        zoned = exe.columns.get("zoned")  # does the text of a column depend on TimeZone?
        if zoned is None:
            zoned = exe.columns["zoned"] = any(
                T.depends_on_zone(c.type) for c in exe.plan.columns or ()
            )
        zone = session_zone if zoned else None
        cached = exe.columns.get((digits, zone))
        if cached is None:
            assert exe.plan.columns is not None
            cached = tuple(
                Column(
                    c.name,
                    c.type.oid,
                    c.type.typlen,
                    T.text_encoder(c.type, digits, zone),
                    c.type.typmod,
                    c.table_oid,
                    c.column_number,
                )
                for c in exe.plan.columns
            )
            exe.columns[(digits, zone)] = cached
        return cached

    async def _end_implicit(self) -> None:
        """Commit the implicit transaction of a query string, if one is open."""
        txn = self._txn
        if txn is None or self._in_block:
            return
        self._txn = None
        if txn.must_commit:
            await txn.commit()
        else:
            txn.commit_read_only()

    def _fail(self, exc: BaseException) -> BaseException:
        """Handle an error (the failed statement is already undone) and return it to raise.

        Outside a block the transaction is rolled back. Inside one the block is
        aborted: without savepoints the transaction is rolled back at once (its locks
        go, as in PostgreSQL, though the block lasts until ROLLBACK); with savepoints
        it stays open so that ROLLBACK TO can revive it."""
        txn = self._txn
        if txn is not None and (
            not self._in_block or txn.state is not TxnState.ACTIVE or not txn.has_savepoints
        ):
            txn.rollback()
            self._txn = None
        if self._in_block:
            self._failed = True
            # PostgreSQL undoes the SETs of the failed (sub)transaction at the error.
            if self._savepoint_settings:
                self.settings.restore(self._savepoint_settings[-1][1])
            else:
                self.settings.abort_transaction()
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
        txn.interrupt = None
        if ends_implicit and self._txn is txn and not self._in_block:
            self._txn = None
            txn.rollback()  # read-only: there is nothing to commit


def _row_tag(verb: str, count: int) -> str:
    if verb == "SELECT":
        return f"SELECT {count}"
    if verb == "INSERT":  # INSERT ... RETURNING
        return f"INSERT 0 {count}"
    if verb in ("UPDATE", "DELETE"):
        return f"{verb} {count}"
    return verb


def _ddl_tag(stmt: ast.Statement) -> str:
    return getattr(stmt, "tag", None) or type(stmt).__name__.upper()


def _interrupter(deadline: float) -> Callable[[], None]:
    def check() -> None:
        if time.monotonic() >= deadline:
            raise QueryCanceled("canceling statement due to statement timeout")

    return check


def _bounded(rows: Iterator[tuple[object, ...]], limit: int) -> list[tuple[object, ...]]:
    """Materialize `rows`, failing with 54000 past `limit` bytes (roughly estimated)."""
    out: list[tuple[object, ...]] = []
    used = 0
    for row in rows:
        out.append(row)
        used += 56 + 16 * len(row) + sum(len(v) for v in row if isinstance(v, (str, bytes)))
        if used > limit:
            raise QuorumError(
                f"result buffered before commit exceeds quorumdb.max_session_bytes ({limit} bytes)",
                sqlstate="54000",
            )
    return out


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
            self._txn.interrupt = None
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
