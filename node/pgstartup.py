"""The startup phase of a connection (a mixin of pgserver's `_Connection`).

From the first byte to ReadyForQuery:

1. SSLRequest is answered 'S' and the connection upgraded to TLS when the
   server has a certificate (`--tls-cert/--tls-key`), 'N' otherwise;
   GSSENCRequest is always refused with 'N'. Bytes the client pipelined
   behind its request, before our one-byte answer, are never executed: the
   connection is closed with 08P01, as PostgreSQL does against injected
   plaintext. A second request of the same kind is a protocol violation.
2. CancelRequest: routed through the server (`PgServer.cancel`); the
   connection then closes without an answer.
3. StartupMessage: protocol version negotiation, admission (53300 past
   max_connections), then either a relay to the leader (node/pgproxy.py; the
   leader authenticates) or, locally, authentication (node/pgauth.py), the
   session, the startup options (`-c name=value`), ParameterStatus,
   BackendKeyData and ReadyForQuery.
"""

from __future__ import annotations

import logging
import shlex
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quorumdb.storage.errors import ProtocolViolation, QuorumError, TooManyConnections

from . import pgproxy, pgwire

if TYPE_CHECKING:
    from .pgserver import PgServer, Router, SqlSession

__all__ = ["StartupPhase"]

log = logging.getLogger("quorumdb.node.pgserver")

_SUPPORTED_MINOR = 0
_TLS_HANDSHAKE_SECONDS = 10.0


class StartupPhase:
    """Negotiation up to the first ReadyForQuery (mixed into `_Connection`)."""

    # Provided by pgserver._Connection.
    _server: PgServer
    _session: Any
    _parser: pgwire.FrontendParser
    _reader: Any
    _writer: Any
    _announced: dict[str, str]
    _send: Any
    _flush: Any
    _read_message: Any
    _authenticate: Any
    _simple_query: Any
    _fields: Any
    key: Any
    admitted: bool
    relaying: bool
    tls: bool
    user: str
    database: str
    application_name: str

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
                context = self._server.ssl_context
                use_tls = kind is pgwire.SSLRequest and context is not None
                self._send(pgwire.SSL_ACCEPTED if use_tls else pgwire.SSL_REFUSED)
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
                if use_tls:
                    assert context is not None
                    await self._start_tls(context)
                continue
            if isinstance(message, pgwire.CancelRequest):
                self._server.cancel(message.backend_pid, message.secret)
                return False
            if isinstance(message, pgwire.StartupMessage):
                return await self._begin_session(message)
            raise ProtocolViolation("unexpected message during startup")  # pragma: no cover

    async def _start_tls(self, context: ssl.SSLContext) -> None:
        try:
            await self._writer.start_tls(context, ssl_handshake_timeout=_TLS_HANDSHAKE_SECONDS)
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError) as exc:
            from .pgserver import _ClientGone

            raise _ClientGone(f"TLS handshake failed: {exc}") from exc
        self.tls = True

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
        if not self._server.admit(self):  # type: ignore[arg-type]
            raise TooManyConnections("sorry, too many clients already")
        self.admitted = True
        router = self._server.router
        if router is not None:
            upstream = await router.route(params)
            if upstream is not None:
                return await self._relay(router, params)
        if self._server.auth is not None:
            await self._authenticate(self._server.auth, user)
        self._send(pgwire.authentication_ok())
        session = self._open(user, database, params.get("application_name", ""))
        await self._apply_options(params.get("options", ""))
        self._announced = dict(session.parameter_status())
        for name, value in self._announced.items():
            self._send(pgwire.parameter_status(name, value))
        self.key = self._server.registry.register(self)  # type: ignore[arg-type]
        if hasattr(session, "backend_pid"):
            session.backend_pid = self.key.pid
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

    def _open(self, user: str, database: str, application_name: str) -> SqlSession:
        session = self._server.session_factory(user, database)
        self._session = session
        self.user, self.database, self.application_name = user, database, application_name
        if application_name and hasattr(session, "settings"):
            try:
                session.settings.set("application_name", (application_name,))
            except QuorumError:
                pass
        if hasattr(session, "activity_source"):
            session.activity_source = self._server.activity
        if hasattr(session, "superuser"):
            session.superuser = self._server.superuser
        return session

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
        keys = self._server.relayed_keys
        learned: list[tuple[int, int]] = []

        def remember(pid: int, secret: int, upstream: pgproxy.Upstream) -> None:
            learned.append((pid, secret))
            keys.remember(pid, secret, upstream)

        try:
            outcome = await pgproxy.relay(
                self._reader, self._writer, pending, reader, writer, first, on_backend_key=remember
            )
        finally:
            self.relaying = False
            for pid, secret in learned:
                keys.forget(pid, secret)
        if outcome.lost is not None:
            log.info("relayed session lost its leader", extra=self._fields(error=outcome.lost.message))
            return False
        if outcome.stale is None:
            return False
        # The client asked for stale reads: go on with a session on this replica, carrying
        # over the settings it made upstream.
        user = params.get("user", "")
        self._open(user, params.get("database") or user, params.get("application_name", ""))
        await self._apply_options(params.get("options", ""))
        for sql in outcome.settings:
            try:
                await self._run_quietly(sql)
            except QuorumError:
                pass  # it succeeded upstream; a setting this node lacks is not fatal
        session = self._session
        assert session is not None
        self._announced = dict(session.parameter_status())
        await self._simple_query(outcome.stale)
        return True

