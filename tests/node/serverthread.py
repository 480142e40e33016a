"""A PgServer on its own event loop in a background thread, for blocking test clients.

`ServerThread(factory)` serves connections with sessions from `factory(user,
database)`; `LocalDatabase` is such a factory over a real SQL database (an
in-memory MVCC store, `LocalEngine`, `ClientSession`), so protocol tests run
the real SQL layer without Raft or processes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any

from quorumdb.node.pgserver import PgServer
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database
from quorumdb.storage import MVCC, MemoryEngine

__all__ = ["ServerThread", "LocalDatabase"]


class LocalDatabase:
    """A `Database` on an in-memory store; `open` is a PgServer session factory."""

    def __init__(self) -> None:
        self.mvcc = MVCC(MemoryEngine())
        self.engine = LocalEngine(self.mvcc, sync=False)
        self.db: Database | None = None
        self.sessions: list[ClientSession] = []

    def open(self, user: str, database: str) -> ClientSession:
        if self.db is None:  # created on the server's loop (Database may subscribe to it)
            self.db = Database(self.engine)
        session = ClientSession(self.db, user=user, database=database)
        self.sessions.append(session)
        return session


class ServerThread:
    """A PgServer on port 0, served by an event loop in a background thread."""

    def __init__(self, factory: Callable[[str, str], Any], **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.server = PgServer(factory, host="127.0.0.1", port=0, **options)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self.run(self.server.start())
        self.port = self.server.address[1]
        return self

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        async def invoke() -> Any:
            return fn(*args)

        return self.run(invoke())

    def dsn(self, user: str = "tester", dbname: str = "db", **extra: str) -> str:
        parts = [f"host=127.0.0.1 port={self.port} user={user} dbname={dbname}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(self.server.stop(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()
