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
import ssl
import time
from collections.abc import Callable

from quorumdb.raft import RaftConfig, RaftNode
from quorumdb.sql.client import ClientSession
from quorumdb.sql.engine import Engine
from quorumdb.sql.engine.local import LocalEngine
from quorumdb.sql.engine.raft import RaftEngine, ReplicaStateMachine
from quorumdb.sql.gc import STALE_READ_RETENTION, GarbageCollector
from quorumdb.sql.roles import Role, lookup_role
from quorumdb.sql.session import Database
from quorumdb.storage.errors import AdminShutdown
from quorumdb.storage.store import Store

from . import backup
from .config import NodeConfig
from .grpc_service import GrpcServer
from .http import HttpServer
from .log import fields
from .metrics import NodeMetrics
from .pgauth import Authenticator
from .pgserver import PgServer, SqlSession, server_tls_context
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
        self._gc_task: asyncio.Task[None] | None = None
        self._pg: PgServer | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # Operations: gRPC (cluster-cli, forwarding) and HTTP (/metrics, /healthz, /readyz).
        self.metrics = NodeMetrics(config.node_id)
        self._grpc: GrpcServer | None = None
        self._http: HttpServer | None = None
        self._stopping = False
        self.started_at = time.monotonic()

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

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def grpc_port(self) -> int:
        assert self._grpc is not None, "node not started"
        return self._grpc.port

    @property
    def http_port(self) -> int:
        assert self._http is not None, "node not started"
        return self._http.port

    def connection_count(self) -> int:
        return self._pg.connection_count if self._pg is not None else 0

    def journal_dir(self) -> str | None:
        return str(self.config.raft_dir / "journal") if self.config.clustered else None

    def open_session(self, user: str, database: str) -> SqlSession:
        return self._open_session(user, database)

    async def start(self) -> None:
        config = self.config
        try:
            self._store = Store(str(config.storage_dir))
        except Exception as exc:  # rocksdict raises plain Exception (lock held, corruption)
            raise NodeStartError(
                f"cannot open the data directory {config.data_dir}: {exc}"
            ) from exc
        backup.remove_leftover_checkpoints(str(config.data_dir))
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
            self._first_start_after_restore(raft_config)
            state_machine = self.metrics.instrument_state_machine(ReplicaStateMachine(self._store))
            try:
                self._raft = RaftNode(raft_config, state_machine)
            except OSError as exc:
                raise NodeStartError(f"cannot listen on {config.raft_listen}: {exc}") from exc
            raft_engine = RaftEngine(
                self._store, self._raft, group_commit=config.group_commit
            )
            engine = raft_engine
            router = LeaderRouter(self._raft, config.node_id)
        else:
            self._first_start_after_restore(None)
            engine = LocalEngine(self._store.mvcc, sync=config.fsync)
        self._db = Database(self.metrics.instrument_engine(engine))
        # MVCC garbage collection: steps proposed while this node leads (sql/gc.py).
        self._gc_task = asyncio.get_running_loop().create_task(GarbageCollector(self._db, retention=STALE_READ_RETENTION).run())
        self._pg = PgServer(
            self._open_session,
            host=config.pg_listen.host,
            port=config.pg_listen.port,
            max_connections=config.max_connections,
            router=router,
            stats=self.metrics,
            auth=self._authenticator(),
            ssl_context=self._tls_context(),
            superuser=config.superuser,
        )
        try:
            await self._pg.start()
        except OSError as exc:
            self._pg = None
            raise NodeStartError(f"cannot listen on {config.pg_listen}: {exc}") from exc
        if config.clustered:
            self._unsubscribe = raft_engine.on_leadership_lost(self._leadership_lost)
        self.metrics.watch(self)
        self._grpc = GrpcServer(
            self, config.grpc_listen, on_statement=self.metrics.statement, on_error=self.metrics.error
        )
        self._http = HttpServer(self, self.metrics, config.http_listen)
        for name, server, address in (
            ("grpc", self._grpc, config.grpc_listen),
            ("http", self._http, config.http_listen),
        ):
            try:
                await server.start()
            except OSError as exc:
                raise NodeStartError(f"cannot listen on {address} ({name}): {exc}") from exc
        log.info(
            "node ready",
            extra=fields(
                pg=config.pg_listen,
                grpc=config.grpc_listen,
                http=config.http_listen,
                raft=config.raft_advertise if config.clustered else None,
                peers=",".join(str(p) for p in config.peers) or None,
                data_dir=config.data_dir,
                applied_index=self._store.mvcc.applied_index,
                fsync=config.fsync,
            ),
        )

    def _authenticator(self) -> Authenticator | None:
        """--auth scram: roles are read from this node's replica (node/pgauth.py)."""
        if self.config.auth != "scram":
            return None

        def lookup(name: str) -> Role | None:
            store = self._store
            return lookup_role(store.mvcc, name) if store is not None else None

        return Authenticator(lookup, self.config.superuser, self.config.superuser_password)

    def _tls_context(self) -> ssl.SSLContext | None:
        config = self.config
        if config.tls_cert is None or config.tls_key is None:
            return None
        try:
            return server_tls_context(str(config.tls_cert), str(config.tls_key))
        except (OSError, ssl.SSLError) as exc:
            raise NodeStartError(f"cannot load --tls-cert/--tls-key: {exc}") from exc

    def _first_start_after_restore(self, raft_config: RaftConfig | None) -> None:
        """A data directory restored by `cluster-cli restore` starts a new cluster whose Raft
        log continues after the backup's applied index (node/backup.py says why)."""
        assert self._store is not None
        config = self.config
        try:
            index = backup.prepare_first_start(
                str(config.data_dir),
                self._store,
                snapshot_dir=raft_config.snapshot_dir if raft_config else None,
                journal_dir=raft_config.journal_dir if raft_config else None,
                members=[raft_config.self_address, *raft_config.peers] if raft_config else [],
                joining=config.join,
            )
        except backup.BackupError as exc:
            raise NodeStartError(str(exc)) from exc
        if index is not None:
            log.info("first start after a restore", extra=fields(applied_index=index))

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
        return ClientSession(self._db, user=user, database=database)

    async def stop(self) -> None:
        self._stopping = True
        for server in (self._http, self._grpc):
            if server is not None:
                await server.stop()
        self._http = self._grpc = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        pg, self._pg = self._pg, None
        if pg is not None:
            await pg.stop()
        gc_task, self._gc_task = self._gc_task, None
        if gc_task is not None:
            gc_task.cancel()
            try:
                await gc_task
            except (asyncio.CancelledError, Exception):
                pass
        if self._db is not None:
            self._db.close()
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
