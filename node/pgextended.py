"""The extended query protocol on a connection: Parse, Bind, Describe, Execute, Close,
Flush and Sync (a mixin of pgserver's `_Connection`).

Message by message (PostgreSQL's protocol-flow chapter):

* Parse -> ParseComplete; Bind -> BindComplete; Close -> CloseComplete;
* Describe S -> ParameterDescription, then RowDescription (text formats) or
  NoData; Describe P -> RowDescription in the formats chosen at Bind, or NoData;
* Execute -> DataRow... then CommandComplete, or PortalSuspended when the row
  limit stopped it with rows left, EmptyQueryResponse for an empty query,
  or the COPY sub-protocol (node/pgcopy.py); no RowDescription (the client
  asked for one with Describe if it wanted it);
* Sync -> ends the implicit transaction, then ReadyForQuery; Flush sends
  what is buffered.

Invariants:

* After an error, every message up to the next Sync is discarded, and the
  ErrorResponse is flushed at once (as PostgreSQL does) so a client that
  waits for a reply before sending Sync sees it.
* Nothing is flushed between messages otherwise: a pipelining client gets
  one write per Sync (or per `_FLUSH_BYTES` of rows, or at Flush). A Sync's
  reply goes out at the event loop's next iteration (`_Replies` in
  node/pgserver.py), so the Syncs of one read share a write.
* The SQL semantics (transactions, portals, parameter decoding) belong to
  the session (`quorumdb.sql.client.ClientSession`); this module only maps
  messages to its calls and its answers to messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from quorumdb.sql.result import Column
from quorumdb.storage.errors import InternalError, ProtocolViolation, QuorumError

from . import pgwire
from .pgcancel import StatementCanceled

if TYPE_CHECKING:
    from .pgserver import PgServer

__all__ = ["ExtendedSession", "ExtendedQueries"]

_ENCODER_CACHE_SIZE = 64  # per connection; a client with more shapes rebuilds some


class ExtendedSession(Protocol):
    """What the extended protocol needs from a session (sql/client.py)."""

    async def parse(self, name: str, sql: str, param_oids: Sequence[int]) -> Any: ...

    def describe_statement(self, name: str) -> Any: ...

    def bind(
        self,
        portal_name: str,
        statement_name: str,
        param_formats: Sequence[int],
        values: Sequence[bytes | None],
        result_formats: Sequence[int],
    ) -> tuple[tuple[Column, ...] | None, tuple[int, ...]]:
        """Create the portal; returns what `describe_portal` would say of it."""
        ...

    def describe_portal(self, name: str) -> tuple[tuple[Column, ...] | None, tuple[int, ...]]: ...

    async def execute_portal(self, name: str, max_rows: int) -> Any: ...

    def close_statement(self, name: str) -> None: ...

    def close_portal(self, name: str) -> None: ...

    async def sync(self) -> None: ...


def supports_extended(session: object) -> bool:
    return callable(getattr(session, "execute_portal", None))


class ExtendedQueries:
    """Handlers for the extended-protocol messages (mixed into `_Connection`)."""

    # Provided by pgserver._Connection.
    _server: PgServer
    _session: Any
    _skip_until_sync: bool
    _send: Any
    _flush: Any
    _reply: Any
    _ready: Any
    _fields: Any
    _stream_rows: Any
    _copy_statement: Any
    _statement_starts: Any
    _statement_ends: Any
    _cancelled_by_request: Any
    _encoder_cache: dict[tuple[int, tuple[int, ...]], Any]
    query: str

    async def _extended(self, message: pgwire.ExtendedMessage) -> None:
        """Handle one extended-protocol message (not Sync: see `_sync`)."""
        session = self._session
        kind = type(message)
        try:
            if kind is pgwire.Execute:
                self._statement_starts(None)
                try:
                    await self._execute_steps(message)  # type: ignore[arg-type]
                finally:
                    self._statement_ends()
            elif kind is pgwire.Bind:
                self._bind(message)  # type: ignore[arg-type]
            elif kind is pgwire.Describe:
                self._describe(message)  # type: ignore[arg-type]
            elif kind is pgwire.Parse:
                assert isinstance(message, pgwire.Parse)
                await session.parse(message.statement, message.query, message.param_types)
                self._send(pgwire.parse_complete())
            elif kind is pgwire.Close:
                assert isinstance(message, pgwire.Close)
                if message.kind == "S":
                    session.close_statement(message.name)
                else:
                    session.close_portal(message.name)
                self._send(pgwire.close_complete())
            elif kind is pgwire.Flush:
                await self._flush()
            else:  # pragma: no cover - the dispatcher only routes the types above
                raise ProtocolViolation(f"unexpected message {kind.__name__}")
        except ProtocolViolation:
            raise
        except QuorumError as exc:
            await self._extended_failed(exc)
        except asyncio.CancelledError:
            if not self._cancelled_by_request():
                raise
            await self._extended_failed(StatementCanceled())

    def _bind(self, message: pgwire.Bind) -> None:
        columns, formats = self._session.bind(
            message.portal,
            message.statement,
            message.param_formats,
            message.params,
            message.result_formats,
        )
        if columns is not None:
            # Validate the formats now: a bad count or a type without a binary
            # format is Bind's error, as in PostgreSQL.
            self._row_encoder(columns, formats)
        self._send(pgwire.bind_complete())

    def _row_encoder(self, columns: tuple[Column, ...], chosen: tuple[int, ...]) -> Any:
        return self._encoded(columns, chosen)[1]

    def _encoded(
        self, columns: tuple[Column, ...], chosen: tuple[int, ...]
    ) -> tuple[tuple[Column, ...], pgwire.RowEncoder, bytes]:
        """(columns, RowEncoder, RowDescription) for a result's columns in the formats
        chosen at Bind, built once per connection: a prepared statement's columns
        are the same tuple execution after execution (sql/session.py caches them
        per plan and settings), so the key is that tuple's identity. Raises Bind's
        errors for bad formats."""
        cache = self._encoder_cache
        key = (id(columns), chosen)
        hit = cache.get(key)
        if hit is not None and hit[0] is columns:
            return hit
        formats = pgwire.column_formats(chosen, len(columns))
        built = (columns, pgwire.RowEncoder(columns, formats), pgwire.row_description(columns, formats))
        if len(cache) >= _ENCODER_CACHE_SIZE:
            cache.clear()
        cache[key] = built
        return built

    def _describe(self, message: pgwire.Describe) -> None:
        session = self._session
        if message.kind == "S":
            description = session.describe_statement(message.name)
            self._send(pgwire.parameter_description(description.param_oids))
            columns, chosen = description.columns, ()  # a statement's columns are text
        else:
            columns, chosen = session.describe_portal(message.name)
        if columns is None:
            self._send(pgwire.no_data())
        else:
            self._send(self._encoded(columns, chosen)[2])

    async def _execute_steps(self, message: pgwire.Execute) -> None:
        session = self._session
        step = await session.execute_portal(message.portal, message.max_rows)
        self.query = step.portal.statement.sql or self.query
        result = step.result
        for notice in result.notices:
            self._send(pgwire.notice_response(notice.severity, notice.sqlstate, notice.message))
        if result.empty:
            self._send(pgwire.empty_query_response())
            return
        copy = getattr(result, "copy", None)
        if copy is not None:
            await self._copy_statement(result)
            return
        columns = result.columns
        if columns is not None:
            encoder = self._row_encoder(columns, step.portal.result_formats)
            await self._stream_rows(step.rows, encoder.encode, step.offload)
        else:
            for _ in step.rows:  # the statement may do its work while rows are consumed
                pass
        if step.suspended:
            self._send(pgwire.portal_suspended())
            return
        tag = step.tag()
        self._send(pgwire.command_complete(tag))
        if self._server.stats is not None:
            self._server.stats.statement(tag)

    async def _extended_failed(self, error: QuorumError) -> None:
        if self._server.stats is not None:
            self._server.stats.error(error.sqlstate)
        self._send(pgwire.error_response_for(error))
        self._skip_until_sync = True
        await self._flush()

    async def _sync(self) -> None:
        self._skip_until_sync = False
        sync = getattr(self._session, "sync", None)
        if sync is not None:
            try:
                await sync()
            except QuorumError as exc:
                if self._server.stats is not None:
                    self._server.stats.error(exc.sqlstate)
                self._send(pgwire.error_response_for(exc))
            except Exception:
                self._send(pgwire.error_response_for(InternalError("internal error at Sync")))
                raise
        self._ready()
        await self._reply()

