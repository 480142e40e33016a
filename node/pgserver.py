"""The PostgreSQL wire-protocol server: one asyncio task per client connection.

A connection goes through three phases:

1. *Startup* (node/pgstartup.py): SSL/GSSENC negotiation (TLS when the
   server has a certificate), CancelRequest routing, version negotiation,
   admission, then a relay to the leader or, locally, authentication
   (trust, or SCRAM-SHA-256: node/pgauth.py), the session, ParameterStatus,
   BackendKeyData and ReadyForQuery.
2. *Queries*: simple Query messages here; the extended query protocol
   (node/pgextended.py) and COPY (node/pgcopy.py) in mixins. Statements run
   inline on the event loop (no thread hop per statement); a long query's
   rows are pulled on a worker thread (node/pgcancel.py), so other sessions
   and CancelRequests are served meanwhile. Results stream as RowDescription,
   DataRow..., CommandComplete (or EmptyQueryResponse), with NoticeResponses
   in front of the result they belong to. A `QuorumError` becomes an
   ErrorResponse; the statements after it in the same string are not run.
   Every Query ends with ReadyForQuery carrying the session's transaction
   status, so the session stays usable after an error.
3. *End*: Terminate, the client vanishing, a protocol violation or server
   shutdown. Whatever the cause, the session is closed (which rolls back an
   open transaction) exactly once.

Invariants:

* Bytes a client sends before it has our answer to SSLRequest/GSSENCRequest
  are never executed (node/pgstartup.py).
* A framing error (`ProtocolViolation`) ends only its own connection, with a
  FATAL 08P01 ErrorResponse; the server keeps serving everyone else.
* Output is buffered and written once per batch of messages (at
  ReadyForQuery, or every `_FLUSH_BYTES` while streaming a large result),
  each write followed by `drain()` so a slow reader applies backpressure
  instead of growing our memory.
* A reply that ends with ReadyForQuery outside a transaction block is
  written at the start of the event loop's next iteration (`_Replies`),
  together with the replies of every other session that ran in this one, as
  Redis writes its replies just before it polls again: a client's threads are
  woken once per burst of replies instead of once per reply, and each wake-up
  of a thread on another CPU is costly. It is written at once instead inside
  a transaction block (locks may be held), when it is large or the client is
  not reading (backpressure), and before the connection closes.
* Backend pid/secret pairs are unique per live connection; `BackendRegistry`
  maps them back to the connection for CancelRequest, and `RelayedKeys`
  (node/pgproxy.py) maps the keys of relayed sessions to their leader.
* Shutdown interrupts a connection only while it waits for client bytes;
  a running statement and a connection's cleanup (`session.close()`) are
  never cancelled, except after the grace period of `PgServer.stop`.
* `PgServer.activity()` lists the sessions this node serves itself
  (pg_stat_activity); the registry and the admission count return to zero
  when every connection has ended, whatever ended it.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import itertools
import logging
import secrets
import socket
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from quorumdb.sql.result import StatementResult
from quorumdb.storage.errors import (
    AdminShutdown,
    FeatureNotSupported,
    InternalError,
    ProtocolViolation,
    QuorumError,
)

from . import pgproxy, pgwire
from .log import fields
from .pgauth import Authenticator, PasswordAuthentication
from .pgcancel import CancelState, QueryWorkers, StatementCanceled
from .pgcopy import CopyProtocol
from .pgextended import ExtendedQueries, supports_extended
from .pgstartup import StartupPhase

__all__ = [
    "server_tls_context",
    "SqlSession",
    "SessionFactory",
    "StatementStats",
    "BackendKey",
    "BackendRegistry",
    "PgServer",
]

log = logging.getLogger(__name__)

_READ_BYTES = 64 << 10
_FLUSH_BYTES = 64 << 10
_CLOSE_SECONDS = 5.0


class SqlSession(Protocol):
    """What the server needs from a SQL session (`quorumdb.sql.session.Session`).

    `execute` yields one result per statement of a simple-query string and
    raises `QuorumError` for the failing statement. `result.tag` is read only
    after `result.rows` was consumed. If iterating `rows` raises, the error
    reaches the server, which then closes the `execute` generator; the session
    must already have marked its transaction failed by then. `close` rolls
    back whatever is open and may be a coroutine function. `parameter_status`
    returns a new mapping when a value changes (the server compares identity
    first, after every query).
    """

    @property
    def transaction_status(self) -> str: ...

    def parameter_status(self) -> Mapping[str, str]: ...

    def execute(self, sql: str) -> AsyncIterator[StatementResult]: ...

    def close(self) -> object: ...


SessionFactory = Callable[[str, str], SqlSession]
"""(user, database) -> a new session; may raise QuorumError (e.g. unknown database)."""


class Router(Protocol):
    """Decides, per connection, whether this node serves it or relays it to the leader
    (node/pgproxy.py). Absent for a single node."""

    origin: str  # this node's id, sent along with relayed startup packets

    async def route(self, params: Mapping[str, str]) -> pgproxy.Upstream | None:
        """None: serve locally. Raises QuorumError to refuse the connection."""
        ...

    async def resolve_leader(self) -> pgproxy.Upstream: ...


class StatementStats(Protocol):
    """Counts what clients got (node/metrics.py); called once per statement, so it must be cheap."""

    def statement(self, tag: str) -> None: ...

    def error(self, sqlstate: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BackendKey:
    pid: int
    secret: int


class BackendRegistry:
    """Live connections by backend pid, for routing CancelRequest."""

    def __init__(self) -> None:
        self._pids = itertools.count(1)
        self._connections: dict[int, tuple[BackendKey, _Connection]] = {}

    def register(self, connection: _Connection) -> BackendKey:
        key = BackendKey(next(self._pids), secrets.randbits(32) - (1 << 31))
        self._connections[key.pid] = (key, connection)
        return key

    def unregister(self, key: BackendKey) -> None:
        entry = self._connections.get(key.pid)
        if entry is not None and entry[0] == key:
            del self._connections[key.pid]

    def find(self, pid: int, secret: int) -> _Connection | None:
        entry = self._connections.get(pid)
        if entry is None:
            return None
        key, connection = entry
        # Constant-time, so a client cannot guess the secret byte by byte.
        expected = key.secret.to_bytes(4, "big", signed=True)
        if not hmac.compare_digest(expected, secret.to_bytes(4, "big", signed=True)):
            return None
        return connection

    def __len__(self) -> int:
        return len(self._connections)


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The TLS context of the PostgreSQL port (TLS 1.2 or newer, the certificate chain
    from `cert`, its key from `key`)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def offloaded(rows: object) -> bool:
    """True for the rows of a long query, which are pulled on a worker thread."""
    return bool(getattr(rows, "offload", False))


_EXTENDED_MESSAGES = frozenset(
    {pgwire.Parse, pgwire.Bind, pgwire.Describe, pgwire.Execute, pgwire.Close, pgwire.Flush}
)
_COPY_MESSAGES = frozenset({pgwire.CopyData, pgwire.CopyDone, pgwire.CopyFail})


class _Replies:
    """The connections whose reply waits for the event loop's next iteration
    (`_Connection._reply`): one callback writes them all, in the order they
    became ready."""

    def __init__(self) -> None:
        self._due: list[_Connection] = []

    def add(self, connection: _Connection) -> None:
        if not self._due:
            asyncio.get_running_loop().call_soon(self._write)
        self._due.append(connection)

    def _write(self) -> None:
        due, self._due = self._due, []
        for connection in due:
            try:
                connection.write_reply()
            except Exception:  # one broken transport must not hold back the others
                log.exception("writing a reply failed", extra=connection._fields())


class _ClientGone(Exception):
    """The socket broke under us."""


class _ServerClosing(Exception):
    """The server is shutting down; the connection ends at a message boundary."""


class _Terminated(Exception):
    """The node ended this session (e.g. it is no longer the leader)."""

    def __init__(self, error: QuorumError) -> None:
        super().__init__(error.message)
        self.error = error


class _Connection(StartupPhase, ExtendedQueries, CopyProtocol, PasswordAuthentication):
    """One client connection, from accept to close. The startup phase, the extended
    query protocol, COPY and password authentication are mixins (node/pgstartup.py,
    node/pgextended.py, node/pgcopy.py, node/pgauth.py)."""

    def __init__(
        self, server: PgServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._parser = pgwire.FrontendParser()
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._session: SqlSession | None = None
        self._announced: dict[str, str] = {}
        self._reported: Mapping[str, str] | None = None  # the last `parameter_status()` seen
        self._skip_until_sync = False
        self._extended_supported = False  # set when the session exists (`_serve`)
        self._encoder_cache: dict[tuple[int, tuple[int, ...]], Any] = {}
        self.key: BackendKey | None = None
        self.admitted = False
        self.idle = False  # True only while waiting for the client's next bytes
        self.relaying = False  # bytes are being relayed to the leader (no local session)
        self.terminate_reason: QuorumError | None = None  # end after the current statement
        self.cancel_state = CancelState()
        self.task: asyncio.Task[None] | None = None
        self.tls = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.client_addr = peer[0] if isinstance(peer, tuple) else None
        self.client_port = peer[1] if isinstance(peer, tuple) else None
        # What pg_stat_activity shows about this connection.
        self.user = ""
        self.database = ""
        self.application_name = ""
        self.backend_start = time.time()
        self.query = ""
        self.query_start: float | None = None
        self.state_change = self.backend_start
        self.active = False

    # ---- output --------------------------------------------------------------

    def _send(self, message: bytes) -> None:
        self._out.append(message)
        self._out_bytes += len(message)

    def _take_output(self) -> bytes:
        out = self._out
        data = b"".join(out) if len(out) > 1 else out[0]
        out.clear()
        self._out_bytes = 0
        return data

    async def _flush(self) -> None:
        if not self._out:
            return
        data = self._take_output()
        writer = self._writer
        try:
            writer.write(data)
            transport = writer.transport
            # drain() only waits while the transport holds unsent bytes (or is closing):
            # skip its coroutine when the socket took everything at once.
            if transport.get_write_buffer_size() or transport.is_closing():
                await writer.drain()
        except (ConnectionError, OSError) as exc:
            raise _ClientGone(str(exc)) from exc

    async def _reply(self) -> None:
        """End of a request batch (ReadyForQuery): hand the output to `_Replies`, or
        write it now: inside a transaction block (the session may hold locks that
        others wait for, and its next statement waits for this reply), or, with
        backpressure, when it is large or the client has unread output already."""
        if not self._out:
            return
        session = self._session
        if (
            session is not None
            and session.transaction_status == "I"
            and self._out_bytes < _FLUSH_BYTES
            and not self._writer.transport.get_write_buffer_size()
        ):
            self._server.replies.add(self)  # a second entry finds nothing left to write
            return
        await self._flush()

    def write_reply(self) -> None:
        """Write the buffered output without waiting (called by `_Replies`, and before
        closing). A client that is gone loses it; its connection ends at its next
        read."""
        if not self._out:
            return
        data = self._take_output()
        transport = self._writer.transport
        if transport.is_closing():
            return
        try:
            transport.write(data)
        except (ConnectionError, OSError) as exc:
            log.debug("reply not written: %s", exc, extra=self._fields())

    async def _fatal(self, error: QuorumError) -> None:
        """Best effort: tell the client why we hang up. It may be gone already."""
        if self._server.stats is not None:
            self._server.stats.error(error.sqlstate)
        self._send(pgwire.error_response_for(error, severity="FATAL"))
        try:
            await asyncio.wait_for(self._flush(), timeout=1.0)
        except (_ClientGone, TimeoutError):
            pass

    # ---- input ---------------------------------------------------------------

    async def _read_message(self) -> pgwire.FrontendMessage | None:
        """The next message, or None at end of stream."""
        while True:
            message = self._parser.next_message()
            if message is not None:
                return message
            if self._server.closing:
                raise _ServerClosing
            if self.terminate_reason is not None and self._session is not None:
                raise _Terminated(self.terminate_reason)
            self.idle = True
            # idle_in_transaction_session_timeout: only between statements of a block.
            idle_timeout = getattr(self._session, "idle_timeout", None)
            timeout = idle_timeout() if idle_timeout and not self._parser.buffered else None
            try:
                if timeout is None:
                    data = await self._reader.read(_READ_BYTES)
                else:
                    data = await asyncio.wait_for(self._reader.read(_READ_BYTES), timeout)
            except TimeoutError:
                raise _Terminated(
                    QuorumError(
                        "terminating connection due to idle-in-transaction timeout",
                        sqlstate="25P03",
                    )
                ) from None
            except (ConnectionError, OSError) as exc:
                raise _ClientGone(str(exc)) from exc
            finally:
                self.idle = False
            if not data:
                if self._parser.buffered:
                    log.debug("client closed mid-message", extra=self._fields())
                return None
            self._parser.feed(data)

    def _fields(self, **more: object) -> dict[str, object]:
        pid = self.key.pid if self.key else None
        return fields(peer=self.peer, backend_pid=pid, **more)

    # ---- lifecycle -------------------------------------------------------------

    async def run(self) -> None:
        try:
            if await self._startup():
                await self._serve()
        except ProtocolViolation as exc:
            log.info("protocol violation: %s", exc.message, extra=self._fields())
            await self._fatal(exc)
        except QuorumError as exc:  # refused at startup: bad protocol, no user, unknown db
            log.info("connection refused: %s", exc.message, extra=self._fields())
            await self._fatal(exc)
        except _ClientGone:
            log.debug("client went away", extra=self._fields())
        except _Terminated as exc:
            log.info("session terminated: %s", exc.error.message, extra=self._fields())
            await self._fatal(exc.error)
        except (_ServerClosing, asyncio.CancelledError):
            # Only PgServer.stop cancels a connection, and only while it waits for
            # the client (`idle`), so cleanup below is never interrupted. Not
            # re-raised: the task is start_server's, and Python 3.11 logs a
            # cancelled one as an error. `terminate_sessions` cancels idle ones too.
            await self._fatal(
                self.terminate_reason
                or AdminShutdown("terminating connection due to administrator command")
            )
        except Exception:
            log.exception("connection failed", extra=self._fields())
            await self._fatal(InternalError("internal error; see the server log"))
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.key is not None:
            self._server.registry.unregister(self.key)
        if self.admitted:
            self._server.release(self)
        session, self._session = self._session, None
        if session is not None:
            try:
                closed = session.close()
                if inspect.isawaitable(closed):
                    await closed
            except Exception:
                log.exception("closing the session failed", extra=self._fields())
        self.write_reply()
        self._writer.close()
        try:
            # Closing waits for unsent output; a client that stopped reading loses it.
            await asyncio.wait_for(self._writer.wait_closed(), timeout=_CLOSE_SECONDS)
        except TimeoutError:
            self._writer.transport.abort()
        except (ConnectionError, OSError):
            pass
        log.debug("connection closed", extra=self._fields())

    # ---- query loop --------------------------------------------------------------

    async def _serve(self) -> None:
        parser = self._parser
        self._extended_supported = supports_extended(self._session)
        while True:
            if self._server.closing:
                raise _ServerClosing
            if self.terminate_reason is not None:
                raise _Terminated(self.terminate_reason)
            try:
                # A pipelining client's Bind/Describe/Execute/Sync arrive in one read:
                # the messages already buffered need no trip through `_read_message`.
                message = parser.next_message()
                if message is None:
                    message = await self._read_message()
            except ProtocolViolation:
                raise
            except QuorumError as exc:  # a well-framed message with bad text (22021)
                await self._message_failed(exc)
                continue
            kind = type(message)
            if kind in _EXTENDED_MESSAGES:
                if self._skip_until_sync:
                    pass  # after an error in an extended-protocol exchange, discard until Sync
                elif self._extended_supported:
                    await self._extended(message)  # type: ignore[arg-type]
                else:
                    await self._extended_unsupported(message)  # type: ignore[arg-type]
            elif kind is pgwire.Sync:
                await self._sync()
            elif message is None or kind is pgwire.Terminate:
                return
            elif self._skip_until_sync:
                pass  # after an error in an extended-protocol exchange, discard until Sync
            elif kind is pgwire.Query:
                await self._simple_query(message.sql)  # type: ignore[union-attr]
            elif kind in _COPY_MESSAGES:
                pass  # PostgreSQL ignores these outside COPY (a COPY that already failed)
            else:
                raise ProtocolViolation(f"unexpected message {kind.__name__}")

    async def _extended_unsupported(self, message: pgwire.ExtendedMessage) -> None:
        """An extended-protocol message for a session that only runs simple queries."""
        if isinstance(message, pgwire.Flush):
            await self._flush()
        else:
            await self._extended_failed(
                FeatureNotSupported("this session does not support the extended query protocol")
            )

    async def _message_failed(self, error: QuorumError) -> None:
        self._send(pgwire.error_response_for(error))
        self._ready()
        await self._reply()

    def _ready(self) -> None:
        session = self._session
        assert session is not None
        current = session.parameter_status()
        # The session hands out the same mapping while no setting changed.
        if current is not self._reported and current != self._announced:
            for name, value in current.items():
                if self._announced.get(name) != value:
                    self._send(pgwire.parameter_status(name, value))
            self._announced = dict(current)
        self._reported = current
        self._send(pgwire.ready_for_query(session.transaction_status))

    async def _simple_query(self, sql: str) -> None:
        session = self._session
        assert session is not None
        self._statement_starts(sql)
        results = session.execute(sql)
        try:
            async for result in results:
                await self._send_result(result)
        except asyncio.CancelledError:
            if not self._cancelled_by_request():
                raise
            self._statement_failed(StatementCanceled())
        except QuorumError as exc:
            self._statement_failed(exc)
        except _ClientGone:
            raise
        except Exception:
            log.exception("statement failed", extra=self._fields(sql=sql[:200]))
            self._statement_failed(InternalError("internal error; see the server log"))
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                await aclose()
            self._statement_ends()
        self._ready()
        await self._reply()

    def _statement_failed(self, error: QuorumError) -> None:
        self._send(pgwire.error_response_for(error))
        if self._server.stats is not None:
            self._server.stats.error(error.sqlstate)

    def _statement_starts(self, sql: str | None) -> None:
        """A Query or Execute begins: forget stale cancels, show it in pg_stat_activity."""
        self.cancel_state.begin()
        now = time.time()
        if sql is not None:
            self.query = sql
        self.query_start = self.state_change = now
        self.active = True

    def _statement_ends(self) -> None:
        self.active = False
        self.state_change = time.time()

    def _cancelled_by_request(self) -> bool:
        """A CancelledError reached a statement: was it our CancelRequest (a lock wait
        interrupted), rather than the server stopping? If so, absorb it."""
        task = self.task
        if (
            task is None
            or not self.cancel_state.requested
            or self._server.closing
            or self.terminate_reason is not None
        ):
            return False
        task.uncancel()
        return True

    async def _send_result(self, result: StatementResult) -> None:
        for notice in result.notices:
            self._send(pgwire.notice_response(notice.severity, notice.sqlstate, notice.message))
        if result.empty:
            self._send(pgwire.empty_query_response())
            return
        if getattr(result, "copy", None) is not None:
            await self._copy_statement(result)
            return
        columns = result.columns
        if columns is None:
            for _ in result.rows:  # the statement may do its work while rows are consumed
                pass
        else:
            self._send(pgwire.row_description(columns))
            await self._stream_rows(
                result.rows, pgwire.RowEncoder(columns).encode, offloaded(result.rows)
            )
        self._send(pgwire.command_complete(result.tag))
        if self._server.stats is not None:
            self._server.stats.statement(result.tag)

    async def _stream_rows(
        self,
        rows: Iterable[tuple[object, ...]],
        encode: Callable[[tuple[object, ...]], bytes],
        offload: bool = False,
    ) -> None:
        """Encode and send `rows`, flushing every `_FLUSH_BYTES` (backpressure) and letting
        other connections run in between; a long query's rows are pulled on a worker
        thread (node/pgcancel.py). A cancel request stops it with 57014."""
        cancel = self.cancel_state
        if offload:
            iterator = iter(rows)
            while True:
                cancel.check()
                batch, done = await self._server.workers.batch(
                    cancel, iterator, encode, _FLUSH_BYTES
                )
                self._out.extend(batch)
                self._out_bytes += sum(map(len, batch))
                if done:
                    return
                await self._flush()
        out = self._out
        for row in rows:
            data = encode(row)
            out.append(data)
            self._out_bytes += len(data)
            if self._out_bytes >= _FLUSH_BYTES:
                await self._flush()
                await asyncio.sleep(0)  # let other connections run during a long result
                cancel.check()

    @property
    def session(self) -> SqlSession | None:
        return self._session

    def cancel(self) -> None:
        """A CancelRequest named this connection: cancel its running statement, if any."""
        log.info("cancel request", extra=self._fields(active=self.active))
        if not self.active:
            return
        self.cancel_state.request()
        session = self._session
        if getattr(session, "waiting", False) and self.task is not None:
            self.task.cancel()  # a lock wait: reported as 57014 (`_cancelled_by_request`)

    def activity(self) -> dict[str, object]:
        """This connection as a row of pg_stat_activity."""
        session = self._session
        status = session.transaction_status if session is not None else "I"
        if self.active:
            state = "active"
        elif status == "T":
            state = "idle in transaction"
        elif status == "E":
            state = "idle in transaction (aborted)"
        else:
            state = "idle"
        return {
            "pid": self.key.pid if self.key else None,
            "usename": self.user,
            "datname": self.database,
            "application_name": getattr(
                getattr(session, "settings", None), "get", lambda _: self.application_name
            )("application_name"),
            "client_addr": self.client_addr,
            "client_port": self.client_port,
            "backend_start": self.backend_start,
            "query_start": self.query_start,
            "state_change": self.state_change,
            "state": state,
            "query": self.query,
            "wait_event_type": "Lock" if getattr(session, "waiting", False) else None,
            "backend_type": "client backend",
            "ssl": self.tls,
        }


class PgServer:
    """Listens on host:port and serves each connection with a session from `session_factory`.

    `start` binds (port 0 picks a free port, see `address`); `stop` stops
    accepting, ends idle connections with 57P01 at once, lets running
    statements finish for up to `shutdown_grace` seconds, then cancels the
    rest. When `stop` returns, every session has been closed.
    """

    def __init__(
        self,
        session_factory: SessionFactory,
        *,
        host: str = "127.0.0.1",
        port: int = 5432,
        max_connections: int = 100,
        shutdown_grace: float = 5.0,
        router: Router | None = None,
        stats: StatementStats | None = None,
        auth: Authenticator | None = None,
        ssl_context: ssl.SSLContext | None = None,
        query_threads: int = 4,
        superuser: str = "quorumdb",
    ) -> None:
        self.session_factory = session_factory
        self.router = router
        self.stats = stats
        self.auth = auth
        self.ssl_context = ssl_context
        self.superuser = superuser  # the owner name sessions show (pg_roles, \\d)
        self.workers = QueryWorkers(query_threads)
        self.relayed_keys = pgproxy.RelayedKeys()
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.shutdown_grace = shutdown_grace
        self.registry = BackendRegistry()
        self.replies = _Replies()
        self.closing = False
        self._listener: asyncio.Server | None = None
        self._tasks: dict[asyncio.Task[None], _Connection] = {}
        self._admitted = 0

    @property
    def address(self) -> tuple[str, int]:
        """The address actually bound (after `start`)."""
        assert self._listener is not None, "server not started"
        host, port = self._listener.sockets[0].getsockname()[:2]
        return str(host), int(port)

    @property
    def connection_count(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._listener = await asyncio.start_server(
            self._accept,
            self.host,
            self.port,
            backlog=max(128, self.max_connections),
            reuse_address=True,
        )
        host, port = self.address
        log.info("postgres protocol listening", extra=fields(address=f"{host}:{port}"))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.closing:
            writer.close()
            return
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        connection = _Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        connection.task = task
        self._tasks[task] = connection
        try:
            await connection.run()
        finally:
            del self._tasks[task]

    def admit(self, connection: _Connection) -> bool:
        if self._admitted >= self.max_connections:
            return False
        self._admitted += 1
        return True

    def release(self, connection: _Connection) -> None:
        self._admitted -= 1

    def terminate_sessions(
        self, error: QuorumError, keep: Callable[[SqlSession], bool] | None = None
    ) -> int:
        """End every local session (not relays) with FATAL `error`: idle ones now, busy
        ones when their current statement has answered. Sessions `keep` accepts stay."""
        count = 0
        for task, connection in list(self._tasks.items()):
            session = connection.session
            if session is None or connection.relaying or (keep is not None and keep(session)):
                continue
            connection.terminate_reason = error
            count += 1
            if connection.idle:
                task.cancel()
        return count

    def cancel(self, pid: int, secret: int) -> None:
        connection = self.registry.find(pid, secret)
        if connection is not None:
            connection.cancel()
            return
        upstream = self.relayed_keys.upstream(pid, secret)
        if upstream is not None:
            # A relayed session's key is the leader's: pass the request on to it.
            asyncio.ensure_future(pgproxy.forward_cancel(upstream, pid, secret))
            return
        log.info("cancel request for an unknown backend", extra=fields(backend_pid=pid))

    def activity(self) -> list[dict[str, object]]:
        """The sessions this node serves itself (pg_stat_activity); relays are not included."""
        return [c.activity() for c in self._tasks.values() if c.session is not None]

    async def stop(self) -> None:
        if self._listener is None:
            return
        self.closing = True
        self._listener.close()
        tasks = dict(self._tasks)
        for task, connection in tasks.items():
            if connection.idle:
                task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.shutdown_grace)
            if pending:
                log.warning(
                    "cancelling statements still running after the shutdown grace period",
                    extra=fields(connections=len(pending), grace_seconds=self.shutdown_grace),
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await self._listener.wait_closed()
        self._listener = None
        self.workers.shutdown()
        log.info("postgres protocol stopped", extra=fields(connections_closed=len(tasks)))
