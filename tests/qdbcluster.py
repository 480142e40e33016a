"""A cluster of real `quorumdb serve` processes on loopback, for tests.

Every node gets free ports (PostgreSQL, gRPC, Raft, HTTP) and its own data
directory; `--peer` lists the others. Clients connect with psycopg exactly as
users do. Which node leads is asked of the nodes themselves with
`SHOW quorumdb.role` on a stale-read connection (answered by that node, not
relayed to the leader).

The owner must call `stop()` (the fixtures do, in `finally`), which stops
every process it started, also the killed-and-restarted ones.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psycopg
from support import NodeProcess, free_ports, wait_until

__all__ = ["ClusterNode", "ProcessCluster"]

STALE = "-c quorumdb.read_consistency=stale"


@dataclass
class ClusterNode:
    index: int
    data_dir: str
    pg_port: int
    grpc_port: int
    raft_port: int
    http_port: int
    log_path: str
    process: NodeProcess | None = None
    peers: list[str] = field(default_factory=list)

    @property
    def raft_address(self) -> str:
        return f"127.0.0.1:{self.raft_port}"

    def args(self, extra: list[str]) -> list[str]:
        args = [
            "serve",
            "--data-dir",
            self.data_dir,
            "--pg-listen",
            f"127.0.0.1:{self.pg_port}",
            "--grpc-listen",
            f"127.0.0.1:{self.grpc_port}",
            "--raft-listen",
            self.raft_address,
            "--http-listen",
            f"127.0.0.1:{self.http_port}",
            "--node-id",
            f"n{self.index}",
        ]
        for peer in self.peers:
            args += ["--peer", peer]
        return args + extra

    def dsn(self, *, stale: bool = False, timeout: int = 10) -> str:
        options = f" options='{STALE}'" if stale else ""
        return (
            f"host=127.0.0.1 port={self.pg_port} user=test dbname=test "
            f"connect_timeout={timeout}{options}"
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.alive()


class ProcessCluster:
    def __init__(self, root: str, n: int = 3, *, extra_args: list[str] | None = None) -> None:
        self.root = root
        self.extra_args = list(extra_args or [])
        ports = free_ports(4 * n)
        self.nodes = [
            ClusterNode(
                i,
                os.path.join(root, f"n{i}"),
                *ports[4 * i : 4 * i + 4],
                log_path=os.path.join(root, f"n{i}.log"),
            )
            for i in range(n)
        ]
        for node in self.nodes:
            node.peers = [o.raft_address for o in self.nodes if o is not node]

    # ---- processes -----------------------------------------------------------------

    def start(self, *indexes: int) -> ProcessCluster:
        for node in [self.nodes[i] for i in indexes] if indexes else self.nodes:
            if node.process is not None and node.alive():
                continue
            node.process = NodeProcess(node.args(self.extra_args), node.log_path).start()
        return self

    def kill(self, *indexes: int) -> None:
        for i in indexes:
            process = self.nodes[i].process
            if process is not None:
                process.kill()

    def stop(self, *indexes: int) -> None:
        for node in [self.nodes[i] for i in indexes] if indexes else self.nodes:
            if node.process is not None:
                node.process.stop()

    def logs(self) -> str:
        out = []
        for node in self.nodes:
            if node.process is not None:
                out.append(f"--- n{node.index} ---\n{node.process.log_tail(40)}")
        return "\n".join(out)

    # ---- SQL -----------------------------------------------------------------------

    def connect(self, i: int, *, stale: bool = False, timeout: int = 10) -> psycopg.Connection:
        # ClientCursor: parameters are bound client-side (simple query protocol).
        return psycopg.connect(
            self.nodes[i].dsn(stale=stale, timeout=timeout),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        )

    def show(self, i: int, name: str) -> str:
        with self.connect(i, stale=True, timeout=2) as conn:
            row = conn.execute(f"SHOW quorumdb.{name}").fetchone()
            assert row is not None
            return str(row[0])

    def leader(self) -> int | None:
        """Index of the node that says it leads (among live ones), or None."""
        leaders = []
        for node in self.nodes:
            if not node.alive():
                continue
            try:
                if self.show(node.index, "role") == "leader":
                    leaders.append(node.index)
            except psycopg.Error:
                continue
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, timeout: float = 15.0) -> int:
        def boxed() -> tuple[int] | None:  # node 0 is falsy: wait_until needs a truthy value
            leader = self.leader()
            return None if leader is None else (leader,)

        return wait_until(boxed, timeout=timeout, interval=0.05, message="a single leader")[0]

    def wait_ready(self, timeout: float = 30.0) -> int:
        """Every live node answers and one leads; returns the leader's index."""
        leader = self.wait_leader(timeout)
        for node in self.nodes:
            if node.alive():
                wait_until(lambda n=node: self.show(n.index, "role"), timeout=timeout)
        return leader

    def applied_index(self, i: int) -> int:
        return int(self.show(i, "applied_index"))

    def wait_caught_up(self, timeout: float = 30.0) -> int:
        """Every live node has applied what the leader has; returns that index."""

        def caught_up() -> int | None:
            leader = self.leader()
            if leader is None:
                return None
            target = self.applied_index(leader)
            for node in self.nodes:
                if node.alive() and self.applied_index(node.index) < target:
                    return None
            return target

        return wait_until(caught_up, timeout=timeout, interval=0.05, message="replicas caught up")

    def execute_with_retry(self, i: int, sql: str, timeout: float = 15.0) -> None:
        """Run an idempotent statement through node `i`, retrying across a failover."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self.connect(i, timeout=5) as conn:
                    conn.execute(sql)
                return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def digest(self, i: int) -> str:
        """SHA-256 of node `i`'s whole replica (the node must be stopped)."""
        from quorumdb.storage.store import Store

        assert not self.nodes[i].alive(), "stop the node before reading its store"
        store = Store(os.path.join(self.nodes[i].data_dir, "store"))
        try:
            return store.mvcc.digest()
        finally:
            store.close()
