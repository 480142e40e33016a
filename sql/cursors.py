"""The SQL face of portals and prepared statements: DECLARE/FETCH/MOVE/CLOSE,
PREPARE/EXECUTE/DEALLOCATE and DISCARD.

Drivers use these instead of protocol messages for server-side cursors
(psycopg's ServerCursor and psycopg2's named cursors send ``DECLARE ...
CURSOR FOR``, then ``FETCH FORWARD n FROM``) and for pooled connections
(``DEALLOCATE ALL``, ``DISCARD ALL``). A cursor is a `Portal` of the session,
in the same namespace as protocol portals, so ``Describe P`` of a cursor
works as in PostgreSQL.

Invariants (PostgreSQL's): a cursor without HOLD needs a transaction block
(25P01) and is gone when it ends; a WITH HOLD cursor is materialized at
DECLARE (QuorumDB's simplification: PostgreSQL materializes at COMMIT) and
lives until CLOSE or the end of the session; cursors only move forward
(55000 otherwise, as for a NO SCROLL cursor).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from quorumdb.storage.errors import ActiveSqlTransaction, FeatureNotSupported, QuorumError

from . import ast, clientsyntax
from . import types as T
from .client import _is_utility
from .clientsyntax import register
from .prepared import Portal, PreparedStatement
from .result import StatementResult

if TYPE_CHECKING:
    from .client import ClientSession

__all__: list[str] = []

Row = tuple[object, ...]


def _no_cursor(name: str) -> QuorumError:
    return QuorumError(f'cursor "{name}" does not exist', sqlstate="34000")


async def declare(session: ClientSession, stmt: clientsyntax.DeclareCursor) -> StatementResult:
    if stmt.binary:
        raise FeatureNotSupported("binary cursors are not supported")
    existing = session.portals.get(stmt.name)
    if existing is not None and session._owns(existing):
        raise QuorumError(f'cursor "{stmt.name}" already exists', sqlstate="42P03")
    if not stmt.hold and not session._in_block:
        raise QuorumError(
            "DECLARE CURSOR can only be used in transaction blocks", sqlstate="25P01"
        )
    if not isinstance(stmt.query, (ast.Select, ast.Values, getattr(ast, "SetOperation", ast.Select))):
        raise QuorumError(
            f"cannot open {type(stmt.query).__name__.upper()} query as cursor", sqlstate="42P11"
        )
    result = await session.run_query(stmt.query)
    rows: Iterator[Row] = iter(result.rows)
    owner: object | None = session._transaction()
    if stmt.hold:
        rows = iter(list(rows))
        owner = None
    prepared = PreparedStatement(stmt.name, "", None, stmt.query, (), utility=False)
    portal = Portal(stmt.name, prepared, (), (), owner, result, rows)
    session.portals[stmt.name] = portal
    return StatementResult("DECLARE CURSOR")


async def fetch(session: ClientSession, stmt: clientsyntax.Fetch) -> StatementResult:
    portal = session.portals.get(stmt.name)
    if portal is None or not session._owns(portal) or portal.result is None:
        raise _no_cursor(stmt.name)
    if stmt.direction not in ("forward", "relative") or (
        stmt.direction == "relative" and stmt.count < 0
    ):
        raise QuorumError(
            "cursor can only scan forward",
            sqlstate="55000",
            hint="Declare it with SCROLL option to enable backward scan.",
        )
    count = stmt.count
    verb = "MOVE" if stmt.move else "FETCH"
    if count == 0:
        return StatementResult(f"{verb} 0", None if stmt.move else portal.result.columns, [])
    limit = 0 if count >= clientsyntax.FETCH_ALL else count
    if stmt.move:
        moved = sum(1 for _ in portal.take(limit))
        return StatementResult(f"MOVE {moved}")
    result = StatementResult("FETCH", portal.result.columns)
    result.rows = _counted(portal.take(limit), result)
    return result


def _counted(rows: Iterator[Row], result: StatementResult) -> Iterator[Row]:
    count = 0
    for row in rows:
        count += 1
        yield row
    result.tag = f"FETCH {count}"


async def close(session: ClientSession, stmt: clientsyntax.ClosePortal) -> StatementResult:
    if stmt.name is None:
        session.portals.clear()
        return StatementResult("CLOSE CURSOR ALL")
    portal = session.portals.pop(stmt.name, None)
    if portal is None or not session._owns(portal):
        raise _no_cursor(stmt.name)
    return StatementResult("CLOSE CURSOR")


async def prepare(session: ClientSession, stmt: clientsyntax.Prepare) -> StatementResult:
    if stmt.name in session.statements:
        raise QuorumError(f'prepared statement "{stmt.name}" already exists', sqlstate="42P05")
    declared = tuple(
        T.type_from_name(t.names, t.modifiers, t.location + 1 if t.location >= 0 else None, t.array)
        for t in stmt.param_types
    )
    prepared = PreparedStatement(
        stmt.name, "", None, stmt.statement, declared, utility=_is_utility(stmt.statement)
    )
    if not prepared.utility:
        prepared.analyse(await session._catalog())
    session.statements[stmt.name] = prepared
    return StatementResult("PREPARE")


async def execute(session: ClientSession, stmt: clientsyntax.ExecutePrepared) -> StatementResult:
    prepared = session.statements.get(stmt.name)
    if prepared is None:
        raise QuorumError(f'prepared statement "{stmt.name}" does not exist', sqlstate="26000")
    types = prepared.param_types
    if len(stmt.params) != len(types):
        raise QuorumError(
            f'wrong number of parameters for prepared statement "{stmt.name}"',
            sqlstate="42601",
            detail=f"Expected {len(types)} parameters but got {len(stmt.params)}.",
        )
    params: tuple[object, ...] = ()
    if types:
        # Evaluate the arguments as one SELECT of casts to the parameter types.
        items = tuple(
            ast.SelectItem(ast.Cast(expr, _type_name(t))) for expr, t in zip(stmt.params, types, strict=True)
        )
        values = await session.run_query(ast.Select(items=items))
        params = list(values.rows)[0]
    return await session.run_prepared(prepared, params)


def _type_name(t: T.SqlType) -> ast.TypeName:
    if t.element is not None:
        return ast.TypeName((t.element.name,), array=True)
    return ast.TypeName((t.name,))


async def deallocate(session: ClientSession, stmt: clientsyntax.Deallocate) -> StatementResult:
    if stmt.name is None:
        unnamed = session.statements.get("")
        session.statements = {"": unnamed} if unnamed is not None else {}
        return StatementResult("DEALLOCATE ALL")
    if session.statements.pop(stmt.name, None) is None:
        raise QuorumError(f'prepared statement "{stmt.name}" does not exist', sqlstate="26000")
    return StatementResult("DEALLOCATE")


async def discard(session: ClientSession, stmt: clientsyntax.Discard) -> StatementResult:
    if stmt.target == "all":
        if session._in_block:
            raise ActiveSqlTransaction("DISCARD ALL cannot run inside a transaction block")
        session.portals.clear()
        session.statements.clear()
        session.settings.reset(None)
    return StatementResult(f"DISCARD {stmt.target.upper()}")


register(clientsyntax.DeclareCursor, declare)
register(clientsyntax.Fetch, fetch)
register(clientsyntax.ClosePortal, close)
register(clientsyntax.Prepare, prepare)
register(clientsyntax.ExecutePrepared, execute)
register(clientsyntax.Deallocate, deallocate)
register(clientsyntax.Discard, discard)
