"""`Node`: one QuorumDB process, wiring storage, SQL and the network services.

`start` builds the stack bottom-up (RocksDB at DATA_DIR/data, MVCC, an SQL
engine, the SQL `Database`) and then opens the listeners; `stop` undoes it
top-down: listeners first, then every session is rolled back and closed,
and RocksDB is closed last, when nothing can touch it any more. Raft, gRPC
and HTTP are to be started beside the PostgreSQL server here; today only the
single-node path exists (`LocalEngine`, commits applied straight to MVCC).

Invariants: `stop` is safe to call after a failed or partial `start` and
more than once; RocksDB is never closed while a session could still read.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.session import Database, Session
from quorumdb.storage import MVCC, RocksEngine

from .config import NodeConfig
from .log import fields
from .pgserver import PgServer, SqlSession

__all__ = ["Node", "NodeStartError", "run_until_signalled"]

log = logging.getLogger(__name__)


class NodeStartError(Exception):
    """The node cannot start (data directory unusable, port taken, unsupported setting)."""


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._kv: RocksEngine | None = None
        self._db: Database | None = None
        self._pg: PgServer | None = None

    @property
    def pg_address(self) -> tuple[str, int]:
        assert self._pg is not None, "node not started"
        return self._pg.address

    async def start(self) -> None:
        config = self.config
        if config.clustered:
            raise NodeStartError("clustering (--peer/--join) is not wired yet")
        try:
            self._kv = RocksEngine(str(config.storage_dir))
        except Exception as exc:  # rocksdict raises plain Exception (lock held, corruption)
            raise NodeStartError(
                f"cannot open the data directory {config.data_dir}: {exc}"
            ) from exc
        mvcc = MVCC(self._kv)
        self._db = Database(LocalEngine(mvcc, sync=config.fsync))
        if not config.fsync:
            log.warning(
                "fsync is off: acknowledged commits can be lost on power failure or OS crash"
            )
        self._pg = PgServer(
            self._open_session,
            host=config.pg_listen.host,
            port=config.pg_listen.port,
            max_connections=config.max_connections,
        )
        try:
            await self._pg.start()
        except OSError as exc:
            self._pg = None
            raise NodeStartError(f"cannot listen on {config.pg_listen}: {exc}") from exc
        log.info(
            "node ready",
            extra=fields(
                pg=config.pg_listen,
                data_dir=config.data_dir,
                applied_index=mvcc.applied_index,
                fsync=config.fsync,
            ),
        )

    def _open_session(self, user: str, database: str) -> SqlSession:
        assert self._db is not None
        return Session(self._db, user=user, database=database)

    async def stop(self) -> None:
        pg, self._pg = self._pg, None
        if pg is not None:
            await pg.stop()
        self._db = None
        kv, self._kv = self._kv, None
        if kv is not None:
            kv.close()
            log.info("storage closed")


async def run_until_signalled(node: Node) -> int:
    """Start `node`, serve until SIGTERM or SIGINT, stop it. Returns the process exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def request_stop(signame: str) -> None:
        if not stop.is_set():
            log.info("shutting down", extra=fields(signal=signame))
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop, sig.name)
    try:
        try:
            await node.start()
        except NodeStartError as exc:
            log.error("cannot start: %s", exc)
            return 1
        await stop.wait()
    finally:
        await node.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return 0
