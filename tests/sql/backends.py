"""Backends for golden scripts: QuorumDB (memory or RocksDB store) and a real PostgreSQL."""

from __future__ import annotations

import asyncio

import msgpack
from sqlscript import Backend, ErrorInfo, Outcome

from quorumdb.sql import keys
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine import Command, CommandResult, ReadConsistency
from quorumdb.sql.engine.commands import TxnCommand
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.errors import QuorumError
from quorumdb.sql.rowcodec import decode_row
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, MemoryEngine, RocksEngine, keycode

__all__ = ["QuorumBackend", "RecordingEngine", "PostgresBackend"]


class RecordingEngine:
    """An Engine that remembers every command it committed (for the `writes` tag)."""

    def __init__(self, inner: LocalEngine) -> None:
        self.inner = inner
        self.mvcc = inner.mvcc
        self.commits: list[tuple[Command, CommandResult]] = []

    def read_ts(self, consistency: ReadConsistency = ReadConsistency.LINEARIZABLE) -> int:
        return self.inner.read_ts(consistency)

    def is_writable(self) -> bool:
        return self.inner.is_writable()

    async def commit(self, command: Command) -> CommandResult:
        return self.commit_now(command)

    def commit_now(self, command: Command) -> CommandResult:
        result = self.inner.commit_now(command)
        self.commits.append((command, result))
        return result

    def describe(self) -> dict[str, str]:
        return self.inner.describe()


def describe_value(key: bytes, value: bytes) -> str:
    kind = keycode.decode(key)[0]
    if kind == keys.TABLE_DATA:
        row = decode_row(value)
        return "(" + ", ".join(repr(v) for v in row) + ")"
    if kind == keys.INDEX:  # the value is the row's key after the table prefix
        return "row " + ", ".join(repr(v) for v in keycode.decode(value))
    decoded = msgpack.unpackb(value)
    if isinstance(decoded, dict):
        return "{" + ", ".join(f"{k}: {v!r}" for k, v in decoded.items()) + "}"
    return repr(decoded)


class QuorumBackend(Backend):
    """QuorumDB on a MemoryEngine or a RocksEngine in `path`, through LocalEngine.

    Sessions are driven directly, without the wire server; what the server does
    between statements is done here the same way: while a session is idle in a
    transaction block for longer than `Session.idle_timeout()`, it is closed
    (its transaction rolled back, its locks released) and its next command gets
    the FATAL error node/pgserver.py sends, after which it reconnects.

    `client=True` gives the sessions the wire server's class (ClientSession), so
    simple queries with numbers in them run as templates (sql/literals.py); the
    scripts then check that path against the same expected output."""

    def __init__(self, kind: str, path: str | None = None, *, client: bool = False) -> None:
        self.kind = kind
        self.path = path
        self.client = client
        self._memory = MemoryEngine() if kind == "memory" else None
        self._rocks: RocksEngine | None = None
        self._open()

    def _open(self) -> None:
        if self.kind == "memory":
            kv = self._memory
        else:
            assert self.path is not None
            kv = self._rocks = RocksEngine(self.path)
        self.engine = RecordingEngine(LocalEngine(MVCC(kv), sync=False))  # type: ignore[arg-type]
        self.db = Database(self.engine)  # type: ignore[arg-type]
        self.sessions: dict[str, Session] = {}
        self._seen_commits = 0
        self._idle_timers: dict[str, asyncio.TimerHandle] = {}
        self._terminated: dict[str, QuorumError] = {}

    def _stop_timers(self) -> None:
        for timer in self._idle_timers.values():
            timer.cancel()
        self._idle_timers.clear()

    def _watch_idle(self, name: str, session: Session) -> None:
        timeout = session.idle_timeout()
        if timeout is not None:
            loop = asyncio.get_running_loop()
            self._idle_timers[name] = loop.call_later(timeout, self._end_idle, name, session)

    def _end_idle(self, name: str, session: Session) -> None:
        self._idle_timers.pop(name, None)
        if self.sessions.get(name) is session:
            session.close()
            del self.sessions[name]
            self._terminated[name] = QuorumError(
                "terminating connection due to idle-in-transaction timeout", sqlstate="25P03"
            )

    async def restart(self) -> None:
        self._stop_timers()
        for s in self.sessions.values():
            s.close()
        if self._rocks is not None:
            self._rocks.close()
        self._open()

    async def close(self) -> None:
        self._stop_timers()
        for s in self.sessions.values():
            s.close()
        if self._rocks is not None:
            self._rocks.close()

    def session(self, name: str) -> Session:
        s = self.sessions.get(name)
        if s is None:
            if self.client:
                s = ClientSession(self.db, user="postgres", database="postgres")
            else:
                s = self.db.session(user="postgres", database="postgres")
            self.sessions[name] = s
        return s

    async def run(self, session: str, sql: str) -> list[Outcome]:
        timer = self._idle_timers.pop(session, None)
        if timer is not None:
            timer.cancel()
        ended = self._terminated.pop(session, None)
        if ended is not None:
            return [Outcome(error=ErrorInfo(ended.sqlstate, ended.message, severity="FATAL"))]
        current = self.session(session)
        outcomes: list[Outcome] = []
        try:
            async for result in current.execute(sql):
                # Like libpq, a statement that fails while sending rows shows only its error.
                outcome = Outcome(
                    notices=[(n.severity, n.sqlstate, n.message) for n in result.notices]
                )
                if result.columns is not None:
                    outcome.columns = [(c.name, c.type_oid) for c in result.columns]
                    encoders = [c.encode_text for c in result.columns]
                    outcome.rows = [
                        [
                            None if v is None else enc(v).decode()
                            for enc, v in zip(encoders, row, strict=False)
                        ]
                        for row in result.rows
                    ]
                outcome.tag, outcome.empty = result.tag, result.empty
                outcomes.append(outcome)
        except QuorumError as exc:
            outcomes.append(
                Outcome(
                    error=ErrorInfo(exc.sqlstate, exc.message, exc.detail, exc.hint, exc.position)
                )
            )
        self._watch_idle(session, current)
        return outcomes

    async def blocked(self, session: str) -> bool:
        s = self.sessions.get(session)
        return s is not None and s.waiting

    def take_writes(self) -> list[str]:
        lines = []
        for command, result in self.engine.commits[self._seen_commits :]:
            if not isinstance(command, TxnCommand):
                continue
            verdict = (
                f"commit {result.commit_ts}"
                if result.error is None
                else f"rejected at {result.commit_ts}: {result.error.sqlstate}"
            )
            lines.append(verdict)
            for w in command.write_set.writes:
                expect = f" expect_ts={w.expect_ts}" if w.expect_ts is not None else ""
                if w.value is None:
                    lines.append(f"  delete {keys.describe(w.key)}{expect} key={w.key.hex()}")
                else:
                    lines.append(
                        f"  put {keys.describe(w.key)} = {describe_value(w.key, w.value)}{expect} key={w.key.hex()}"
                    )
        self._seen_commits = len(self.engine.commits)
        return lines


class PostgresBackend(Backend):
    """A real PostgreSQL (one connection per session) through libpq, for differential runs."""

    def __init__(self, dsn: str) -> None:
        from psycopg import OperationalError, pq

        self._pq = pq
        self._lost_connection = OperationalError
        self.dsn = dsn
        self.sessions: dict[str, object] = {}
        self._notices: dict[str, list[tuple[str, str, str]]] = {}
        self._admin = None  # a connection that watches the others' lock waits

    # PostgreSQL checks for deadlocks after deadlock_timeout (set short below).
    settle_seconds = 0.4

    def _connect(self):  # type: ignore[no-untyped-def]
        conn = self._pq.PGconn.connect(self.dsn.encode())
        if conn.status != self._pq.ConnStatus.OK:
            raise RuntimeError(conn.error_message.decode())
        return conn

    def _conn(self, name: str):  # type: ignore[no-untyped-def]
        conn = self.sessions.get(name)
        if conn is None:
            conn = self._connect()
            self._notices[name] = []
            conn.notice_handler = lambda res: self._on_notice(name, res)
            conn.exec_(b"SET deadlock_timeout = '100ms'")
            self.sessions[name] = conn
        return conn

    def _on_notice(self, name: str, res) -> None:  # type: ignore[no-untyped-def]
        f = self._pq.DiagnosticField
        self._notices[name].append(
            (
                (res.error_field(f.SEVERITY_NONLOCALIZED) or b"").decode(),
                (res.error_field(f.SQLSTATE) or b"").decode(),
                (res.error_field(f.MESSAGE_PRIMARY) or b"").decode(),
            )
        )

    async def blocked(self, session: str) -> bool:
        conn = self.sessions.get(session)
        if conn is None:
            return False
        if self._admin is None:
            self._admin = self._connect()
        pid = conn.backend_pid  # type: ignore[attr-defined]
        res = self._admin.exec_(
            f"SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = {pid}".encode()
        )
        return res.ntuples == 1 and res.get_value(0, 0) == b"t"

    async def _result(self, conn):  # type: ignore[no-untyped-def]
        """The next result without blocking the event loop (other sessions run meanwhile)."""
        while True:
            conn.consume_input()
            if not conn.is_busy():
                return conn.get_result()
            await asyncio.sleep(0.002)

    def _lost(self, session: str, conn, first) -> list[Outcome]:  # type: ignore[no-untyped-def]
        """The server closed `session`'s connection: its FATAL error as the outcome (libpq
        read it before the end of the stream); the next command reconnects."""
        f = self._pq.DiagnosticField
        results = [first] if first is not None else []
        while True:
            try:
                res = conn.get_result()
            except self._lost_connection:
                break
            if res is None:
                break
            results.append(res)
        error = ErrorInfo("", "connection lost", severity="FATAL")
        for res in results:
            sqlstate = res.error_field(f.SQLSTATE)
            if sqlstate:
                message = (res.error_field(f.MESSAGE_PRIMARY) or b"").decode()
                error = ErrorInfo(sqlstate.decode(), message, severity="FATAL")
                break
        conn.finish()
        del self.sessions[session]
        return [Outcome(error=error)]

    async def run(self, session: str, sql: str) -> list[Outcome]:
        pq = self._pq
        f = pq.DiagnosticField
        conn = self._conn(session)
        notices = self._notices[session]
        notices.clear()
        outcomes = []
        try:
            conn.send_query(sql.encode())
            while (res := await self._result(conn)) is not None:
                if res.error_field(f.SEVERITY_NONLOCALIZED) == b"FATAL":
                    return self._lost(session, conn, res)
                outcome = Outcome(notices=list(notices))
                notices.clear()
                if res.status == pq.ExecStatus.FATAL_ERROR:

                    def field(code):  # type: ignore[no-untyped-def]
                        raw = res.error_field(code)
                        return raw.decode() if raw is not None else None

                    position = field(f.STATEMENT_POSITION)
                    outcome.error = ErrorInfo(
                        field(f.SQLSTATE) or "",
                        field(f.MESSAGE_PRIMARY) or "",
                        field(f.MESSAGE_DETAIL),
                        field(f.MESSAGE_HINT),
                        int(position) if position else None,
                    )
                elif res.status == pq.ExecStatus.EMPTY_QUERY:
                    outcome.empty = True
                else:
                    outcome.tag = (res.command_status or b"").decode()
                    if res.status == pq.ExecStatus.TUPLES_OK:
                        outcome.columns = [
                            (res.fname(i).decode(), res.ftype(i)) for i in range(res.nfields)
                        ]
                        outcome.rows = [
                            [
                                None if (v := res.get_value(r, c)) is None else v.decode()
                                for c in range(res.nfields)
                            ]
                            for r in range(res.ntuples)
                        ]
                outcomes.append(outcome)
        except self._lost_connection:
            return self._lost(session, conn, None)
        if notices and outcomes:
            outcomes[-1].notices.extend(notices)
        return outcomes

    async def restart(self) -> None:
        await self.close()

    async def close(self) -> None:
        for conn in self.sessions.values():
            conn.finish()  # type: ignore[attr-defined]
        self.sessions = {}
        if self._admin is not None:
            self._admin.finish()
            self._admin = None
