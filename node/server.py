"""`Node`: one QuorumDB process, wiring storage, SQL and the network services.

`start` builds the stack bottom-up (the replica's `Store` at DATA_DIR/store,
then, in a cluster, a `RaftNode` with its journal at DATA_DIR/raft and a
`RaftEngine`; without peers a `LocalEngine` that applies commits straight to
MVCC; then the SQL `Database`) and opens the listeners; `stop` undoes it
top-down: listeners first, then every session is rolled back and closed,
Raft stops, and RocksDB is closed last, when nothing can touch it any more.

In a cluster, connections to a follower are relayed to the leader
(node/routing.py, node/pgproxy.py), and when this node stops leading its
sessions are ended so that their clients reconnect through a follower.

Invariants: `stop` is safe to call after a failed or partial `start` and
more than once; RocksDB is never closed while a session could still read.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from quorumdb.raft import RaftConfig, RaftNode
from quorumdb.sql.engine import Engine
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.engine.raft import RaftEngine, ReplicaStateMachine
from quorumdb.sql.session import Database, Session
from quorumdb.storage.errors import AdminShutdown
from quorumdb.storage.store import Store

from .config import NodeConfig
from .log import fields
from .pgserver import PgServer, SqlSession
from .routing import LeaderRouter

__all__ = ["Node", "NodeStartError", "run_until_signalled"]

log = logging.getLogger(__name__)


class NodeStartError(Exception):
    """The node cannot start (data directory unusable, port taken, unsupported setting)."""


class Node:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self._store: Store | None = None
        self._raft: RaftNode | None = None
        self._db: Database | None = None
        self._pg: PgServer | None = None
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def pg_address(self) -> tuple[str, int]:
        assert self._pg is not None, "node not started"
        return self._pg.address

    @property
    def raft(self) -> RaftNode | None:
        return self._raft

    @property
    def store(self) -> Store | None:
        return self._store

    async def start(self) -> None:
        config = self.config
        try:
            self._store = Store(str(config.storage_dir))
        except Exception as exc:  # rocksdict raises plain Exception (lock held, corruption)
            raise NodeStartError(
                f"cannot open the data directory {config.data_dir}: {exc}"
            ) from exc
        if not config.fsync:
            log.warning(
                "fsync is off: acknowledged commits can be lost on power failure or OS crash"
            )
        engine: Engine
        router: LeaderRouter | None = None
        if config.clustered:
            raft_config = RaftConfig(
                self_address=str(config.raft_advertise),
                peers=tuple(str(p) for p in config.peers),
                data_dir=str(config.raft_dir),
                fsync=config.fsync,
                snapshot_entries=config.snapshot_entries,
                bind_address=str(config.raft_listen),
                info={
                    "node_id": config.node_id,
                    "pg": str(config.pg_advertise),
                    "grpc": str(config.grpc_advertise),
                    "http": str(config.http_advertise),
                },
            )
            try:
                self._raft = RaftNode(raft_config, ReplicaStateMachine(self._store))
            except OSError as exc:
                raise NodeStartError(f"cannot listen on {config.raft_listen}: {exc}") from exc
            raft_engine = RaftEngine(self._store, self._raft)
            engine = raft_engine
            router = LeaderRouter(self._raft, config.node_id)
        else:
            engine = LocalEngine(self._store.mvcc, sync=config.fsync)
        self._db = Database(engine)
        self._pg = PgServer(
            self._open_session,
            host=config.pg_listen.host,
            port=config.pg_listen.port,
            max_connections=config.max_connections,
            router=router,
        )
        try:
            await self._pg.start()
        except OSError as exc:
            self._pg = None
            raise NodeStartError(f"cannot listen on {config.pg_listen}: {exc}") from exc
        if config.clustered:
            self._unsubscribe = raft_engine.on_leadership_lost(self._leadership_lost)
        log.info(
            "node ready",
            extra=fields(
                pg=config.pg_listen,
                raft=config.raft_advertise if config.clustered else None,
                peers=",".join(str(p) for p in config.peers) or None,
                data_dir=config.data_dir,
                applied_index=self._store.mvcc.applied_index,
                fsync=config.fsync,
            ),
        )

    def _leadership_lost(self) -> None:
        """Sessions on a node that stopped leading can neither write nor read linearizably:
        end them, so that their clients reconnect and get routed to the new leader."""
        if self._pg is None:
            return
        error = AdminShutdown(
            "terminating connection because this node is no longer the leader",
            hint="Reconnect: the connection will be routed to the new leader.",
        )
        ended = self._pg.terminate_sessions(error, keep=_reads_stale)
        log.info("leadership lost", extra=fields(sessions_terminated=ended))

    def _open_session(self, user: str, database: str) -> SqlSession:
        assert self._db is not None
        return Session(self._db, user=user, database=database)

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pg, self._pg = self._pg, None
        if pg is not None:
            await pg.stop()
        self._db = None
        raft, self._raft = self._raft, None
        if raft is not None:
            await asyncio.get_running_loop().run_in_executor(None, raft.destroy)
            log.info("raft stopped")
        store, self._store = self._store, None
        if store is not None:
            store.close()
            log.info("storage closed")


def _reads_stale(session: SqlSession) -> bool:
    settings = getattr(session, "settings", None)
    return settings is not None and settings.get("quorumdb.read_consistency") == "stale"


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
