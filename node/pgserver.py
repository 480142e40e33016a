"""The PostgreSQL wire-protocol server: one asyncio task per client connection.

A connection goes through three phases:

1. *Startup*: SSLRequest and GSSENCRequest are refused with 'N' and the
   startup that follows is read; CancelRequest is routed through the
   `BackendRegistry` and the connection closed without an answer. Then
   AuthenticationOk (trust), a session from the `SessionFactory`, its
   ParameterStatus values, BackendKeyData and ReadyForQuery.
2. *Queries*: each simple Query is executed inline on the event loop (no
   thread hop per statement) and its results streamed as RowDescription,
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
  are never executed: if any are buffered when we answer, the connection is
  closed with 08P01 (what PostgreSQL does, against injected plaintext).
* A framing error (`ProtocolViolation`) ends only its own connection, with a
  FATAL 08P01 ErrorResponse; the server keeps serving everyone else.
* Output is buffered and written once per batch of messages (at
  ReadyForQuery, or every `_FLUSH_BYTES` while streaming a large result),
  each write followed by `drain()` so a slow reader applies backpressure
  instead of growing our memory.
* Backend pid/secret pairs are unique per live connection; `BackendRegistry`
  maps them back to the connection for CancelRequest.
* Shutdown interrupts a connection only while it waits for client bytes;
  a running statement and a connection's cleanup (`session.close()`) are
  never cancelled, except after the grace period of `PgServer.stop`.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import itertools
import logging
import secrets
import shlex
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from quorumdb.sql.result import StatementResult
from quorumdb.storage.errors import (
    AdminShutdown,
    FeatureNotSupported,
    InternalError,
    ProtocolViolation,
    QuorumError,
    TooManyConnections,
)

from . import pgproxy, pgwire
from .log import fields

__all__ = ["SqlSession", "SessionFactory", "BackendKey", "BackendRegistry", "PgServer"]

log = logging.getLogger(__name__)

_READ_BYTES = 64 << 10
_FLUSH_BYTES = 64 << 10
_SUPPORTED_MINOR = 0
_CLOSE_SECONDS = 5.0


class SqlSession(Protocol):
    """What the server needs from a SQL session (`quorumdb.sql.session.Session`).

    `execute` yields one result per statement of a simple-query string and
    raises `QuorumError` for the failing statement. `result.tag` is read only
    after `result.rows` was consumed. If iterating `rows` raises, the error
    reaches the server, which then closes the `execute` generator; the session
    must already have marked its transaction failed by then. `close` rolls
    back whatever is open and may be a coroutine function.
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


class _ClientGone(Exception):
    """The socket broke under us."""


class _ServerClosing(Exception):
    """The server is shutting down; the connection ends at a message boundary."""


class _Terminated(Exception):
    """The node ended this session (e.g. it is no longer the leader)."""

    def __init__(self, error: QuorumError) -> None:
        super().__init__(error.message)
        self.error = error


class _Connection:
    """One client connection, from accept to close."""

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
        self._skip_until_sync = False
        self.key: BackendKey | None = None
        self.admitted = False
        self.idle = False  # True only while waiting for the client's next bytes
        self.relaying = False  # bytes are being relayed to the leader (no local session)
        self.terminate_reason: QuorumError | None = None  # end after the current statement
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    # ---- output --------------------------------------------------------------

    def _send(self, message: bytes) -> None:
        self._out.append(message)
        self._out_bytes += len(message)

    async def _flush(self) -> None:
        if not self._out:
            return
        data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
        self._out.clear()
        self._out_bytes = 0
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            raise _ClientGone(str(exc)) from exc

    async def _fatal(self, error: QuorumError) -> None:
        """Best effort: tell the client why we hang up. It may be gone already."""
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
            try:
                data = await self._reader.read(_READ_BYTES)
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
        self._writer.close()
        try:
            # Closing waits for unsent output; a client that stopped reading loses it.
            await asyncio.wait_for(self._writer.wait_closed(), timeout=_CLOSE_SECONDS)
        except TimeoutError:
            self._writer.transport.abort()
        except (ConnectionError, OSError):
            pass
        log.debug("connection closed", extra=self._fields())

    # ---- startup ---------------------------------------------------------------

    async def _startup(self) -> bool:
        """Negotiate until a session is ready; False if the connection is done."""
        refused: set[type] = set()
        while True:
            message = await self._read_message()
            if message is None:
                return False
            if isinstance(message, pgwire.SSLRequest | pgwire.GSSENCRequest):
                kind = type(message)
                if kind in refused:
                    raise ProtocolViolation(f"duplicate {kind.__name__} in startup")
                refused.add(kind)
                self._send(pgwire.SSL_REFUSED)
                await self._flush()
                if self._parser.buffered:
                    raise ProtocolViolation(
                        "received unencrypted data after "
                        + (
                            "SSL request"
                            if kind is pgwire.SSLRequest
                            else "GSSAPI encryption request"
                        ),
                        detail="This could be either a client-software bug or evidence of an "
                        "attempted man-in-the-middle attack.",
                    )
                continue
            if isinstance(message, pgwire.CancelRequest):
                self._server.cancel(message.backend_pid, message.secret)
                return False
            if isinstance(message, pgwire.StartupMessage):
                return await self._begin_session(message)
            raise ProtocolViolation("unexpected message during startup")  # pragma: no cover

    async def _begin_session(self, startup: pgwire.StartupMessage) -> bool:
        """Start a local session, or relay the connection to the leader.

        Returns True if the connection goes on with a local session."""
        params = startup.parameters
        unknown_options = sorted(name for name in params if name.startswith("_pq_."))
        if startup.minor > _SUPPORTED_MINOR or unknown_options:
            self._send(pgwire.negotiate_protocol_version(_SUPPORTED_MINOR, unknown_options))
        user = params.get("user", "")
        if not user:
            raise QuorumError(
                "no PostgreSQL user name specified in startup packet", sqlstate="28000"
            )
        database = params.get("database") or user
        if not self._server.admit(self):
            raise TooManyConnections("sorry, too many clients already")
        self.admitted = True
        router = self._server.router
        if router is not None:
            upstream = await router.route(params)
            if upstream is not None:
                return await self._relay(router, params)
        self._send(pgwire.authentication_ok())
        session = self._server.session_factory(user, database)
        self._session = session
        await self._apply_options(params.get("options", ""))
        self._announced = dict(session.parameter_status())
        for name, value in self._announced.items():
            self._send(pgwire.parameter_status(name, value))
        self.key = self._server.registry.register(self)
        self._send(pgwire.backend_key_data(self.key.pid, self.key.secret))
        self._send(pgwire.ready_for_query(session.transaction_status))
        await self._flush()
        log.debug(
            "session started",
            extra=self._fields(
                user=user, database=database, application=params.get("application_name", "")
            ),
        )
        return True

    async def _apply_options(self, options: str) -> None:
        """Run the `-c name=value` settings of the startup `options` parameter (PGOPTIONS)."""
        words = shlex.split(options) if options else []
        settings = []
        for i, word in enumerate(words):
            if word == "-c" and i + 1 < len(words):
                settings.append(words[i + 1])
            elif word.startswith("-c") and len(word) > 2:
                settings.append(word[2:])
            elif word.startswith("--") and "=" in word:
                settings.append(word[2:].replace("-", "_", word.index("=") - 2))
        for setting in settings:
            name, _, value = setting.partition("=")
            quoted = "'" + value.replace("'", "''") + "'"
            await self._run_quietly(f"SET {name} = {quoted}")

    async def _run_quietly(self, sql: str) -> None:
        """Execute `sql` on the local session, discarding results (errors propagate)."""
        assert self._session is not None
        async for result in self._session.execute(sql):
            for _ in result.rows:
                pass

    async def _relay(self, router: Router, params: Mapping[str, str]) -> bool:
        """Relay this connection to the leader (node/pgproxy.py).

        Returns True if the client switched to stale reads and continues with a
        local session on this replica, False when the relayed conversation is over."""
        reader, writer, first = await pgproxy.connect_upstream(
            router.resolve_leader, params, router.origin
        )
        pending = self._parser.take_buffered()
        await self._flush()
        self.relaying = True
        try:
            outcome = await pgproxy.relay(self._reader, self._writer, pending, reader, writer, first)
        finally:
            self.relaying = False
        if outcome.lost is not None:
            log.info("relayed session lost its leader", extra=self._fields(error=outcome.lost.message))
            return False
        if outcome.stale is None:
            return False
        # The client asked for stale reads: go on with a session on this replica, carrying
        # over the settings it made upstream.
        self._session = self._server.session_factory(
            params.get("user", ""), params.get("database") or params.get("user", "")
        )
        await self._apply_options(params.get("options", ""))
        for sql in outcome.settings:
            try:
                await self._run_quietly(sql)
            except QuorumError:
                pass  # it succeeded upstream; a setting this node lacks is not fatal
        self._announced = dict(self._session.parameter_status())
        await self._simple_query(outcome.stale)
        return True

    # ---- query loop --------------------------------------------------------------

    async def _serve(self) -> None:
        while True:
            if self._server.closing:
                raise _ServerClosing
            if self.terminate_reason is not None:
                raise _Terminated(self.terminate_reason)
            try:
                message = await self._read_message()
            except ProtocolViolation:
                raise
            except QuorumError as exc:  # a well-framed message with bad text (22021)
                await self._message_failed(exc)
                continue
            if message is None or isinstance(message, pgwire.Terminate):
                return
            await self._dispatch(message)

    async def _dispatch(self, message: pgwire.FrontendMessage) -> None:
        if isinstance(message, pgwire.Sync):
            self._skip_until_sync = False
            self._ready()
            await self._flush()
        elif self._skip_until_sync:
            pass  # after an error in an extended-protocol exchange, discard until Sync
        elif isinstance(message, pgwire.Query):
            await self._simple_query(message.sql)
        elif isinstance(message, pgwire.Flush):
            await self._flush()
        elif isinstance(message, pgwire.CopyData | pgwire.CopyDone | pgwire.CopyFail):
            pass  # PostgreSQL ignores these outside COPY (a COPY that already failed)
        elif isinstance(
            message,
            pgwire.Parse | pgwire.Bind | pgwire.Describe | pgwire.Execute | pgwire.Close,
        ):
            self._send(
                pgwire.error_response_for(
                    FeatureNotSupported(
                        "the extended query protocol is not supported yet",
                        hint="Use the simple query protocol (psycopg: ClientCursor; "
                        "asyncpg is not supported yet).",
                    )
                )
            )
            self._skip_until_sync = True
            await self._flush()
        else:
            raise ProtocolViolation(f"unexpected message {type(message).__name__}")

    async def _message_failed(self, error: QuorumError) -> None:
        self._send(pgwire.error_response_for(error))
        self._ready()
        await self._flush()

    def _ready(self) -> None:
        session = self._session
        assert session is not None
        current = session.parameter_status()
        if current != self._announced:
            for name, value in current.items():
                if self._announced.get(name) != value:
                    self._send(pgwire.parameter_status(name, value))
            self._announced = dict(current)
        self._send(pgwire.ready_for_query(session.transaction_status))

    async def _simple_query(self, sql: str) -> None:
        session = self._session
        assert session is not None
        results = session.execute(sql)
        try:
            async for result in results:
                await self._send_result(result)
        except QuorumError as exc:
            self._send(pgwire.error_response_for(exc))
        except _ClientGone:
            raise
        except Exception:
            log.exception("statement failed", extra=self._fields(sql=sql[:200]))
            self._send(
                pgwire.error_response_for(InternalError("internal error; see the server log"))
            )
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                await aclose()
        self._ready()
        await self._flush()

    async def _send_result(self, result: StatementResult) -> None:
        for notice in result.notices:
            self._send(pgwire.notice_response(notice.severity, notice.sqlstate, notice.message))
        if result.empty:
            self._send(pgwire.empty_query_response())
            return
        columns = result.columns
        if columns is None:
            for _ in result.rows:  # the statement may do its work while rows are consumed
                pass
        else:
            self._send(pgwire.row_description(columns))
            encode = pgwire.RowEncoder(columns).encode
            out = self._out
            for row in result.rows:
                data = encode(row)
                out.append(data)
                self._out_bytes += len(data)
                if self._out_bytes >= _FLUSH_BYTES:
                    await self._flush()
                    await asyncio.sleep(0)  # let other connections run during a long result
        self._send(pgwire.command_complete(result.tag))

    @property
    def session(self) -> SqlSession | None:
        return self._session

    def cancel(self) -> None:
        """A CancelRequest named this connection."""
        log.info(
            "cancel request received; cancelling a running statement is not implemented yet",
            extra=self._fields(idle=self.idle),
        )


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
    ) -> None:
        self.session_factory = session_factory
        self.router = router
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.shutdown_grace = shutdown_grace
        self.registry = BackendRegistry()
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
        if connection is None:
            log.info("cancel request for an unknown backend", extra=fields(backend_pid=pid))
            return
        connection.cancel()

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
        log.info("postgres protocol stopped", extra=fields(connections_closed=len(tasks)))
