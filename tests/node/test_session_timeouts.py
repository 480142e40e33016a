"""Session timeouts over the wire, with real SQL sessions: idle_in_transaction_session_timeout
ends the connection (FATAL 25P03); statement_timeout cancels a statement waiting for a lock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from quorumdb.node.pgserver import PgServer
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database
from quorumdb.storage import MVCC, MemoryEngine


class _Server:
    """A PgServer over a real `Database`, on an event loop in a background thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

        async def start() -> PgServer:
            db = Database(LocalEngine(MVCC(MemoryEngine()), sync=False))
            server = PgServer(
                lambda user, database: ClientSession(db, user=user, database=database),
                host="127.0.0.1",
                port=0,
            )
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        self.dsn = f"host=127.0.0.1 port={self.server.address[1]} user=test dbname=test"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def server() -> Iterator[_Server]:
    s = _Server()
    try:
        yield s
    finally:
        s.close()


def test_idle_in_transaction_timeout_closes_the_connection(server: _Server) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("SET idle_in_transaction_session_timeout = '150ms'")
        conn.execute("SELECT 1")
        time.sleep(0.3)  # idle, but not in a transaction: nothing happens
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        time.sleep(0.3)  # now idle in a transaction for longer than the timeout
        with pytest.raises(psycopg.Error) as error:
            conn.execute("SELECT 1")
        assert error.value.sqlstate == "25P03"
        assert "idle-in-transaction timeout" in str(error.value)
        assert conn.closed


def test_statement_timeout_cancels_a_lock_wait(server: _Server) -> None:
    with psycopg.connect(server.dsn, autocommit=True) as holder, psycopg.connect(
        server.dsn, autocommit=True
    ) as waiter:
        holder.execute("CREATE TABLE t (id int PRIMARY KEY, n int)")
        holder.execute("INSERT INTO t VALUES (1, 0)")
        holder.execute("BEGIN")
        holder.execute("UPDATE t SET n = 1")
        waiter.execute("SET statement_timeout = '100ms'")
        with pytest.raises(psycopg.errors.QueryCanceled, match="statement timeout"):
            waiter.execute("UPDATE t SET n = 2")
        holder.execute("COMMIT")
        waiter.execute("UPDATE t SET n = 2")
        assert waiter.execute("SELECT n FROM t").fetchone() == (2,)
