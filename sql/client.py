"""`ClientSession`: a `Session` with everything a wire-protocol client does besides
simple queries: the extended query protocol, cursors, SQL-level prepared
statements, COPY and roles.

The extended query protocol (node/pgextended.py drives it):

    parse(name, sql, param_oids)          Parse   -> PreparedStatement
    describe_statement(name)              Describe S
    bind(portal, statement, formats, values, result_formats)   Bind -> Portal
    describe_portal(name)                 Describe P
    execute_portal(name, max_rows)        Execute -> PortalStep (rows, then tag or suspended)
    close_statement(name) / close_portal(name)
    sync()                                Sync: ends the implicit transaction

Semantics follow PostgreSQL:

* Outside a transaction block, everything between two Syncs is one implicit
  transaction: it commits at `sync()`, and any error rolls it back (the
  server then skips messages until Sync). Inside a block an error aborts the
  block (25P02 until ROLLBACK), exactly as with simple queries.
* A portal lives until its transaction ends (lazily detected: a portal
  whose owner is not the current transaction is gone, 34000), the unnamed
  one also until the next unnamed Bind. Cursors (DECLARE) are portals in
  the same namespace; WITH HOLD cursors are materialized at DECLARE and
  survive the transaction.
* Bind never re-parses: it decodes the values with the statement's fixed
  parameter types; Execute runs the plan compiled at Parse (re-planned only
  if the catalog changed), through the session's ordinary statement path
  (`Session._statement`, with `_executable`/`_parameters` overridden while
  a bound statement runs), so locking, restarts, timeouts and errors behave
  as for simple queries.

Simple queries whose numeric literals differ from one call to the next run
as *templates* (sql/literals.py has the rules): the numbers become declared
parameters, the template is analysed once per session like a Parse (its
plan shared with every session through `ParameterizedPlans`), and each query
runs it bound to its own numbers, with no parse or plan of its own. A
template that does not parse or analyse is remembered as such, and its
queries run as they are; one that DDL leaves unplannable, or returning other
types, is dropped and the query run as it is (with the query's own errors).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from quorumdb.storage.errors import (
    InFailedTransaction,
    QuorumError,
    SyntaxErrorSQL,
)

from . import ast, clientsyntax, literals
from . import session as _session
from . import types as T
from .catalog import Catalog
from .engine import ReadNotReady
from .executor import Executable
from .plan import PlanNode
from .plancache import CachedQuery
from .prepared import ParameterizedPlans, Portal, PreparedStatement, decode_params, param_type
from .result import Column, StatementResult
from .session import Database, Session
from .txn import Transaction, TxnState

__all__ = ["ClientSession", "PortalStep", "Description", "OffloadedRows", "is_long"]

R = TypeVar("R")
Row = tuple[object, ...]

_SHARED_PLANS: weakref.WeakKeyDictionary[Database, ParameterizedPlans] = (
    weakref.WeakKeyDictionary()
)
_TEXT = T.text_encoder(T.TEXT)


def _shared_plans(db: Database) -> ParameterizedPlans:
    plans = _SHARED_PLANS.get(db)
    if plans is None:
        plans = _SHARED_PLANS[db] = ParameterizedPlans()
    return plans


@dataclass(frozen=True, slots=True)
class Description:
    """What Describe answers: parameter type OIDs (statements only) and result columns
    (None: NoData)."""

    param_oids: tuple[int, ...]
    columns: tuple[Column, ...] | None


class OffloadedRows:
    """The rows of a query whose cost its plan does not bound: the wire server pulls
    them on a worker thread, so the event loop and CancelRequests are never stuck
    behind it (node/pgcancel.py). Iterating it is iterating the rows."""

    __slots__ = ("rows",)
    offload = True

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows = rows

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


# Plan nodes whose cost is bounded by the statement itself (a key lookup, literal rows);
# anything else (scans, sorts, aggregates, joins, set-returning functions) may run long.
_BOUNDED_NODES = frozenset({"KeyLookup", "Result", "ValuesScan", "Project", "Filter", "Limit"})
_LONG_FUNCTIONS = frozenset({"pg_sleep", "generate_series"})


# Plan parts with nothing below them that runs: no plan node, no call.
_INERT = frozenset(
    ("TableDef", "SqlType", "ColumnInfo", "OutputColumn")  # descriptions
    + ("ColumnRef", "Const", "ParamRef", "OuterRef")  # expressions without operands
)


def is_long(node: object) -> bool:
    """Whether a plan (or plan node) may run for long (see `_BOUNDED_NODES`).

    A walk over the plan's dataclasses with a stack rather than nested generators:
    every simple-protocol query is planned afresh (its literals differ), and the
    recursive walk was ~8% of such a point SELECT's time on the leader."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        value = stack.pop()
        if isinstance(value, tuple | list):
            stack.extend(value)
            continue
        fields = getattr(value, "__dataclass_fields__", None)
        if fields is None or id(value) in seen:
            continue
        seen.add(id(value))
        name = type(value).__name__
        if name in _INERT:
            continue
        if isinstance(value, PlanNode) and name not in _BOUNDED_NODES:
            return True
        if name == "Call" and getattr(getattr(value, "op", None), "name", None) in _LONG_FUNCTIONS:
            return True
        stack.extend(getattr(value, f, None) for f in fields)
    return False


@dataclass(slots=True)
class PortalStep:
    """One Execute: `rows` (at most the row limit) to stream, then `tag()` or suspension.

    `result` is the statement's result (its `empty` flag, notices, and for COPY
    the copy state); read `suspended`, `count` and `tag()` only after `rows` is
    consumed."""

    result: StatementResult
    rows: Iterator[Row]
    portal: Portal
    counted: bool  # the tag is "VERB n" with n this step's rows (SELECT, FETCH)
    fetched_before: int  # the portal's position when this step began
    offload: bool = False  # pull the rows on a worker thread (OffloadedRows)

    @property
    def count(self) -> int:
        """The rows this step handed out."""
        return self.portal.fetched - self.fetched_before

    @property
    def suspended(self) -> bool:
        return self.portal.suspended

    def tag(self) -> str:
        tag = self.result.tag
        if self.counted:
            return f"{tag.split(' ', 1)[0]} {self.count}"
        return tag


_LONG_PLANS: OrderedDict[int, tuple[object, bool]] = OrderedDict()


def _long_plan(exe: Executable) -> bool:
    """`is_long(exe.plan)`, remembered per plan (plans are cached and reused)."""
    plan = exe.plan
    entry = _LONG_PLANS.get(id(plan))
    if entry is not None and entry[0] is plan:
        return entry[1]
    long = is_long(plan)
    _LONG_PLANS[id(plan)] = (plan, long)  # the strong reference keeps the id unique
    if len(_LONG_PLANS) > 2048:
        _LONG_PLANS.popitem(last=False)
    return long


_TEMPLATE_STATEMENTS = (ast.Select, ast.Insert, ast.Update, ast.Delete)
_TEMPLATES_PER_SESSION = 256


class _StaleTemplate(Exception):
    """A template could not be planned again under the current catalog (not an error
    any client sees: the query then runs as written)."""


class _TemplateQuery(CachedQuery):
    """A simple query run as a template: the template's statement, bound to its numbers."""

    __slots__ = ("prepared", "params", "key")

    def __init__(
        self,
        sql: str,
        prepared: PreparedStatement,
        params: tuple[object, ...],
        key: tuple[str, tuple[int, ...]],
    ) -> None:
        assert prepared.statement is not None
        super().__init__(sql, (prepared.statement,))
        self.prepared = prepared
        self.params = params
        self.key = key


def _is_utility(stmt: ast.Statement) -> bool:
    """Statements the session runs without a plan (no parameters, no analysis at Parse)."""
    return (
        type(stmt) in _session._UTILITY
        or type(stmt) in _CLIENT_UTILITY
        or isinstance(stmt, _session._DDL_TYPES)
    )


class ClientSession(Session):
    """A session as a PostgreSQL client sees it (see the module docstring)."""

    def __init__(self, db: Database, **kwargs: Any) -> None:
        super().__init__(db, **kwargs)
        self.statements: dict[str, PreparedStatement] = {}
        self.portals: dict[str, Portal] = {}
        self.backend_pid = 0  # set by the server once the connection is registered
        # The server's sessions as pg_stat_activity rows (set by the server).
        self.activity_source: Callable[[], list[dict[str, object]]] = list
        self.superuser = "quorumdb"  # the built-in superuser's name (set by the server)
        self._binding: tuple[PreparedStatement, tuple[object, ...]] | None = None
        self._last_executable: Executable | None = None
        # simple-query templates: (text, parameter OIDs) -> statement, or None: run as is
        self._templates: OrderedDict[tuple[str, tuple[int, ...]], PreparedStatement | None] = (
            OrderedDict()
        )

    # ---- the hooks of Session ---------------------------------------------------------

    def _executable(self, query: CachedQuery, index: int, catalog: Catalog) -> Executable:
        if self._binding is not None:
            try:
                exe = self._binding[0].executable(catalog)
            except QuorumError:
                if type(query) is _TemplateQuery:
                    # a re-plan after DDL failed: the error (its position, even whether
                    # there is one) is the query's to give, not the template's
                    raise _StaleTemplate from None
                raise
        else:
            exe = super()._executable(query, index, catalog)
        self._last_executable = exe
        return exe

    def _parameters(self) -> tuple[object, ...]:
        return self._binding[1] if self._binding is not None else ()

    async def _simple_query(self, sql: str) -> CachedQuery:
        found = literals.parameterize(sql) if not self._failed else None
        if found is None:
            return self.db.plans.query(sql)
        template, params, types = found
        key = (template, tuple(t.oid for t in types))
        templates = self._templates
        if key in templates:
            prepared = templates[key]
            templates.move_to_end(key)
        else:
            prepared = await self._template(template, types)
            templates[key] = prepared
            if len(templates) > _TEMPLATES_PER_SESSION:
                templates.popitem(last=False)
        if prepared is None:
            return self.db.plans.query(sql)
        return _TemplateQuery(sql, prepared, params, key)

    async def _template(
        self, template: str, types: tuple[T.SqlType, ...]
    ) -> PreparedStatement | None:
        """The template analysed as a statement with these parameter types, or None if it
        cannot stand for its queries (it does not parse or analyse, or is not DML)."""
        catalog = await self._catalog()
        try:
            query = self.db.plans.query(template)
            if len(query.statements) != 1:
                return None
            stmt = query.statements[0]
            if type(stmt) not in _TEMPLATE_STATEMENTS:
                return None
            prepared = PreparedStatement(
                "", template, query, stmt, types, utility=False, shared=_shared_plans(self.db)
            )
            prepared.analyse(catalog)
        except QuorumError:
            return None
        return prepared

    async def _statement(
        self, query: CachedQuery, index: int, stmt: ast.Statement, is_last: bool
    ) -> tuple[StatementResult, Any]:
        if type(query) is _TemplateQuery and self._binding is None:
            return await self._template_statement(query, is_last)
        handler = _CLIENT_UTILITY.get(type(stmt))
        if handler is None:
            self._last_executable = None
            result, stream = await super()._statement(query, index, stmt, is_last)
            exe = self._last_executable
            if stream is not None and exe is not None and _long_plan(exe):
                result.rows = OffloadedRows(result.rows)
            return result, stream
        if self._failed:
            raise InFailedTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )
        result = await handler(self, stmt)
        if is_last and getattr(result, "copy", None) is None:
            # A COPY's work happens after this returns; the end of the query string
            # (Session.execute) or Sync commits what it leaves open.
            await self._end_implicit()
        return result, None

    async def _template_statement(
        self, query: _TemplateQuery, is_last: bool
    ) -> tuple[StatementResult, Any]:
        self._binding = (query.prepared, query.params)
        try:
            return await self._statement(query, 0, query.statements[0], is_last)
        except _StaleTemplate:
            pass
        finally:
            self._binding = None
        # DDL left the template unplannable, or returning other types: forget it and run
        # the query as it is
        self._templates.pop(query.key, None)
        plain = self.db.plans.query(query.sql)
        return await self._statement(plain, 0, plain.statements[0], is_last)

    def close(self) -> None:
        self.portals.clear()
        self.statements.clear()
        self._templates.clear()
        super().close()

    # ---- helpers ------------------------------------------------------------------------

    async def _guarded(self, work: Awaitable[R]) -> R:
        """Await `work`; on error apply the session's error handling (abort the
        transaction or block) and raise the error for the client."""
        try:
            return await work
        except BaseException as exc:
            raise self._fail(exc) from None

    def _transaction(self) -> Transaction:
        """The current transaction, opening the implicit one if there is none."""
        if self._txn is None:
            self._txn = self._new_txn()
        return self._txn

    async def _catalog(self) -> Catalog:
        """The catalog as the next statement would see it (for Parse's analysis)."""
        txn = self._txn
        temporary = txn is None
        if txn is None:
            txn = self._new_txn()
        while True:
            try:
                txn.begin_statement()
                break
            except ReadNotReady as not_ready:
                await not_ready.ready
        try:
            return self.catalog(txn)
        finally:
            if temporary:
                txn.rollback()
            else:
                txn.release_statement()

    def _check_not_failed(self, stmt: ast.Statement | None) -> None:
        if self._failed and not isinstance(
            stmt, (ast.Commit, ast.Rollback, getattr(ast, "RollbackToSavepoint", ast.Rollback))
        ):
            raise InFailedTransaction(
                "current transaction is aborted, commands ignored until end of transaction block"
            )

    def _live_portal(self, name: str) -> Portal:
        portal = self.portals.get(name)
        if portal is not None and not self._owns(portal):
            del self.portals[name]
            portal = None
        if portal is None:
            raise QuorumError(f'portal "{name}" does not exist', sqlstate="34000")
        return portal

    def _owns(self, portal: Portal) -> bool:
        owner = portal.owner
        return owner is None or (
            owner is self._txn and isinstance(owner, Transaction) and owner.state is TxnState.ACTIVE
        )

    def _result_columns(self, prepared: PreparedStatement) -> tuple[Column, ...] | None:
        stmt = prepared.statement
        if stmt is None:
            return None
        if not prepared.utility:
            exe = prepared.current_executable
            if exe is None or exe.plan.columns is None:
                return None
            return self._columns(exe)
        if isinstance(stmt, ast.ShowVariable):
            if stmt.name == "all":
                return tuple(Column(n, T.TEXT.oid, -1, _TEXT) for n in ("name", "setting", "description"))
            return (Column(self.settings.canonical(stmt.name), T.TEXT.oid, -1, _TEXT),)
        if isinstance(stmt, clientsyntax.Fetch) and not stmt.move:
            portal = self.portals.get(stmt.name)
            if portal is not None and portal.result is not None:
                return portal.result.columns
        if isinstance(stmt, clientsyntax.ExecutePrepared):
            inner = self.statements.get(stmt.name)
            if inner is not None:
                return self._result_columns(inner)
        return None

    # ---- the extended query protocol -------------------------------------------------------

    async def parse(self, name: str, sql: str, param_oids: Sequence[int]) -> PreparedStatement:
        return await self._guarded(self._parse(name, sql, param_oids))

    async def _parse(self, name: str, sql: str, param_oids: Sequence[int]) -> PreparedStatement:
        if name and name in self.statements:
            raise QuorumError(f'prepared statement "{name}" already exists', sqlstate="42P05")
        declared = tuple(param_type(oid) for oid in param_oids)
        query = self.db.plans.query(sql)
        if len(query.statements) > 1:
            raise SyntaxErrorSQL("cannot insert multiple commands into a prepared statement")
        stmt = query.statements[0] if query.statements else None
        self._check_not_failed(stmt)
        utility = stmt is not None and _is_utility(stmt)
        prepared = PreparedStatement(
            name, sql, query, stmt, declared, utility=utility, shared=_shared_plans(self.db)
        )
        if stmt is not None and not utility:
            prepared.analyse(await self._catalog())
        self.statements[name] = prepared
        return prepared

    def describe_statement(self, name: str) -> Description:
        try:
            prepared = self._statement_named(name)
            return Description(prepared.param_oids, self._result_columns(prepared))
        except BaseException as exc:
            raise self._fail(exc) from None

    def _statement_named(self, name: str) -> PreparedStatement:
        prepared = self.statements.get(name)
        if prepared is None:
            raise QuorumError(f'prepared statement "{name}" does not exist', sqlstate="26000")
        return prepared

    def bind(
        self,
        portal_name: str,
        statement_name: str,
        param_formats: Sequence[int],
        values: Sequence[bytes | None],
        result_formats: Sequence[int],
    ) -> tuple[tuple[Column, ...] | None, tuple[int, ...]]:
        """Bind: create the portal; returns its description (as `describe_portal`)."""
        try:
            prepared = self._statement_named(statement_name)
            self._check_not_failed(prepared.statement)
            if portal_name and portal_name in self.portals:
                existing = self.portals[portal_name]
                if self._owns(existing):
                    raise QuorumError(f'portal "{portal_name}" already exists', sqlstate="42P03")
            params = decode_params(
                prepared.param_types, param_formats, values, statement_name, self._parse_param
            )
            portal = Portal(
                portal_name, prepared, params, tuple(result_formats), self._transaction()
            )
            self.portals[portal_name] = portal
            return self._result_columns(prepared), portal.result_formats
        except BaseException as exc:
            raise self._fail(exc) from None

    def _parse_param(self, t: T.SqlType, text: str) -> object:
        return T.parse_text(t, text)

    def describe_portal(self, name: str) -> tuple[tuple[Column, ...] | None, tuple[int, ...]]:
        """(columns or None for NoData, the result formats asked for at Bind)."""
        try:
            portal = self._live_portal(name)
            if portal.result is not None:
                columns = portal.result.columns
            else:
                columns = self._result_columns(portal.statement)
            return columns, portal.result_formats
        except BaseException as exc:
            raise self._fail(exc) from None

    async def execute_portal(self, name: str, max_rows: int) -> PortalStep:
        """Run (or continue) a portal; the caller streams `step.rows` then reads the tag."""
        try:
            portal = self._live_portal(name)
            prepared = portal.statement
            if portal.result is None:
                self._check_not_failed(prepared.statement)
                if prepared.statement is None:
                    portal.result = StatementResult("", empty=True)
                    portal.rows = iter(())
                else:
                    result = await self._run_bound(prepared, portal.params)
                    portal.result = result
                    portal.offload = isinstance(result.rows, OffloadedRows)
                    portal.rows = iter(result.rows)
        except BaseException as exc:
            raise self._fail(exc) from None
        result = portal.result
        counted = result.columns is not None and result.tag.split(" ", 1)[0] in ("SELECT", "FETCH")
        return PortalStep(
            result,
            portal.take(max_rows if max_rows > 0 else 0),
            portal,
            counted,
            portal.fetched,
            offload=portal.offload,
        )

    async def _run_bound(
        self, prepared: PreparedStatement, params: tuple[object, ...]
    ) -> StatementResult:
        """Run a prepared statement with `params` through the ordinary statement path."""
        assert prepared.statement is not None and prepared.query is not None
        self._binding = (prepared, params) if not prepared.utility else None
        try:
            result, _stream = await self._statement(prepared.query, 0, prepared.statement, False)
        finally:
            self._binding = None
        return result

    def close_statement(self, name: str) -> None:
        self.statements.pop(name, None)

    def close_portal(self, name: str) -> None:
        self.portals.pop(name, None)

    async def sync(self) -> None:
        """Sync: commit the implicit transaction (if any) and drop the portals it owned."""
        try:
            await self._end_implicit()
        except BaseException as exc:
            raise self._fail(exc) from None
        finally:
            for name in [n for n, p in self.portals.items() if not self._owns(p)]:
                del self.portals[name]

    # ---- statements run inside the session's machinery -----------------------------------------

    async def in_statement(self, work: Callable[[Transaction], R]) -> R:
        """Run `work(txn)` as one statement of the current transaction (snapshot, savepoint)."""
        txn = self._transaction()
        while True:
            try:
                txn.begin_statement()
                break
            except ReadNotReady as not_ready:
                await not_ready.ready
        try:
            out = work(txn)
        except BaseException:
            if txn.state is TxnState.ACTIVE:
                txn.rollback_statement()
            raise
        txn.release_statement()
        return out

    async def run_query(
        self, stmt: ast.Statement, params: tuple[object, ...] = (), types: Sequence[Any] = ()
    ) -> StatementResult:
        """Plan and run a statement given as syntax (DECLARE's query, COPY (query), EXECUTE)."""
        prepared = PreparedStatement("", "", None, stmt, tuple(types), utility=False)
        prepared.analyse(await self._catalog())
        return await self.run_prepared(prepared, params)

    async def run_prepared(
        self, prepared: PreparedStatement, params: tuple[object, ...]
    ) -> StatementResult:
        assert prepared.statement is not None
        query = prepared.query or CachedQuery("", (prepared.statement,))
        self._binding = (prepared, params) if not prepared.utility else None
        try:
            result, _stream = await self._statement(query, 0, prepared.statement, False)
        finally:
            self._binding = None
        return result


_CLIENT_UTILITY = clientsyntax.HANDLERS

# These modules register their statement handlers when imported.
from . import copy, cursors, pgcatalog, roles  # noqa: E402,F401
