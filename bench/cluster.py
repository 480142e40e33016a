"""A throwaway QuorumDB cluster of real `quorumdb serve` processes, for benchmarks.

`throwaway_cluster(nodes=3)` starts N nodes on free loopback ports with their
data in a temporary directory, each with `--peer` for the others' Raft
addresses, waits until the cluster commits a write, and on exit stops every
node and deletes the directory, whatever happened. `nodes=1` runs the
single-node database (no `--peer`), the only mode that exists while Raft is
being wired; the same code drives both, so the 3-node mode needs no change
when `--peer` starts working. Until then a 3-node start fails fast with
`ClusteringUnavailable` (the node exits with usage error 2), which
`bench.run` turns into the single-node fallback.

What the workloads need from a cluster:

* `wait_ready`: poll with a deadline until a write commits (a node that
  accepts TCP connections is not yet a node that commits);
* `find_leader`: which node to point single-writer workloads at and which
  node to kill in the failover test (each node says its role on `/readyz`);
* `kill` (SIGKILL, the crash) and `restart` (same data directory, same
  ports, same flags) of one node;
* memory per node from /proc: VmRSS now, VmHWM (the kernel's exact peak),
  and a `MemorySampler` probe for RSS over time.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .support import (
    HOST,
    CpuPlan,
    Endpoint,
    call_with_timeout,
    clean_env,
    free_ports,
    log_tail,
    proc_status_kb,
    say,
    spawn,
    stop_process,
    wait_until,
)

__all__ = [
    "ClusteringUnavailable",
    "NodeSpec",
    "QuorumNode",
    "QuorumCluster",
    "throwaway_cluster",
    "PROBE_TABLE",
    "node_role",
]

QUORUMDB = [sys.executable, "-m", "quorumdb.node.cli", "serve"]
USER = DBNAME = "quorumdb"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
EXIT_USAGE = 2
PROBE_TABLE = "bench_probe"


class ClusteringUnavailable(RuntimeError):
    """`quorumdb serve` refused --peer: this build cannot run a multi-node cluster yet."""


@dataclass(frozen=True, slots=True)
class NodeSpec:
    name: str
    data_dir: Path
    log_path: Path
    pg_port: int
    grpc_port: int
    raft_port: int
    http_port: int

    @property
    def raft_address(self) -> str:
        return f"{HOST}:{self.raft_port}"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(HOST, self.pg_port, USER, DBNAME)

    def serve_args(self, peers: list[str], fsync: bool) -> list[str]:
        args = [
            "--data-dir", str(self.data_dir),
            "--pg-listen", f"{HOST}:{self.pg_port}",
            "--grpc-listen", f"{HOST}:{self.grpc_port}",
            "--raft-listen", self.raft_address,
            "--http-listen", f"{HOST}:{self.http_port}",
            "--node-id", self.name,
            "--fsync" if fsync else "--no-fsync",
        ]  # fmt: skip
        for peer in peers:
            args += ["--peer", peer]
        return args


class QuorumNode:
    """One node process; restartable with the same data directory, ports and flags."""

    def __init__(self, spec: NodeSpec, argv: list[str]) -> None:
        self.spec = spec
        self.argv = argv
        self.proc: subprocess.Popen[bytes] | None = None
        self.last_hwm_kb = 0  # VmHWM read just before the process last went away

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def endpoint(self) -> Endpoint:
        return self.spec.endpoint

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.alive(), f"{self.name} is already running"
        self.spec.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = spawn(self.argv, self.spec.log_path, env=clean_env({"PYTHONUNBUFFERED": "1"}))

    def exit_reason(self) -> str | None:
        """None while running; otherwise the exit code and the end of the log."""
        if self.proc is None or self.proc.poll() is None:
            return None
        return f"{self.name} exited with {self.proc.returncode}:\n{log_tail(self.spec.log_path)}"

    def memory_kb(self) -> dict[str, int]:
        return proc_status_kb(self.pid) if self.alive() and self.pid else {}

    def _remember_hwm(self) -> None:
        hwm = self.memory_kb().get("VmHWM", 0)
        self.last_hwm_kb = max(self.last_hwm_kb, hwm)

    def kill(self) -> None:
        """kill -9: no shutdown code runs, the crash that durability and failover are about."""
        if self.proc is not None and self.alive():
            self._remember_hwm()
            stop_process(self.proc, sig=9, timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        if self.proc is not None:
            if self.alive():
                self._remember_hwm()
            stop_process(self.proc, timeout=STOP_TIMEOUT)

    def connect(self, timeout: float = 2.0) -> psycopg.Connection:
        # ClientCursor: parameters bound client-side, simple query protocol,
        # which is what QuorumDB speaks today (and PostgreSQL is driven the same way).
        return psycopg.connect(
            self.endpoint.dsn,
            autocommit=True,
            connect_timeout=max(1, round(timeout)),
            cursor_factory=psycopg.ClientCursor,
        )


class QuorumCluster:
    def __init__(
        self, root: Path, nodes: int, fsync: bool, cpus: CpuPlan, extra_args: tuple[str, ...] = ()
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster has at least one node")
        self.root = root
        self.fsync = fsync
        ports = free_ports(4 * nodes)
        specs = [
            NodeSpec(
                name=f"node{i + 1}",
                data_dir=root / f"node{i + 1}",
                log_path=root / f"node{i + 1}.log",
                pg_port=ports[4 * i],
                grpc_port=ports[4 * i + 1],
                raft_port=ports[4 * i + 2],
                http_port=ports[4 * i + 3],
            )
            for i in range(nodes)
        ]
        self.nodes = [
            QuorumNode(
                spec,
                cpus.server_command(
                    QUORUMDB
                    + spec.serve_args([o.raft_address for o in specs if o is not spec], fsync)
                    + list(extra_args)
                ),
            )
            for spec in specs
        ]

    @property
    def size(self) -> int:
        return len(self.nodes)

    def node(self, name: str) -> QuorumNode:
        return next(n for n in self.nodes if n.name == name)

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        if self.size > 1:
            self._refuse_if_clustering_unavailable()

    def _refuse_if_clustering_unavailable(self) -> None:
        """A node that exits with a usage error at once is a build without --peer."""

        def settled() -> bool:
            return all(n.alive() and _port_open(n.endpoint.port) for n in self.nodes) or any(
                not n.alive() for n in self.nodes
            )

        wait_until(settled, READY_TIMEOUT, "the nodes to listen or exit")
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() == EXIT_USAGE:
                log = log_tail(node.spec.log_path, 3).strip()
                raise ClusteringUnavailable(log.splitlines()[-1] if log else "usage error")

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> QuorumNode:
        """Poll until some node commits a write; returns that node."""

        def a_write_commits() -> QuorumNode | None:
            for node in self.nodes:
                if node.alive() and self.try_write(node):
                    return node
            return None

        def all_dead() -> str | None:
            if any(n.alive() for n in self.nodes):
                return None
            return "\n".join(filter(None, (n.exit_reason() for n in self.nodes)))

        started = time.monotonic()
        node = wait_until(a_write_commits, timeout, "the cluster to commit a write", abort=all_dead)
        say(f"QuorumDB {self.size}-node cluster commits writes ({time.monotonic() - started:.1f}s; "
            f"fsync {'on' if self.fsync else 'off'}, data in {self.root})")  # fmt: skip
        return node

    def try_write(self, node: QuorumNode, timeout: float = 2.0) -> bool:
        """One autocommit write through `node`; False (never an exception, never a hang) if it
        does not commit within `timeout`.

        The write runs in a daemon thread that is abandoned on timeout: a
        follower that forwards to a dead leader, or a node stopped mid-way,
        must not stall the harness, and psycopg has no per-statement timeout
        that does not depend on the server honouring statement_timeout.
        """

        def write() -> bool:
            try:
                with node.connect(timeout) as conn:
                    conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {PROBE_TABLE} (id TEXT PRIMARY KEY, node TEXT)"
                    )
                    conn.execute(
                        f"INSERT INTO {PROBE_TABLE} (id, node) VALUES (%s, %s)",
                        (uuid.uuid4().hex, node.name),
                    )
                return True
            except psycopg.Error:
                return False

        return bool(call_with_timeout(write, timeout * 2))

    def find_leader(self, timeout: float = READY_TIMEOUT) -> QuorumNode:
        """The node that currently leads, by its own answer (`/readyz` says `role`).

        Committing a write no longer tells: a follower relays its connections
        to the leader, so every node commits. A node counts as the leader once
        it says so and is ready (its read lease holds). With one node, that node.
        """
        if self.size == 1:
            return self.nodes[0]

        def leading_node() -> QuorumNode | None:
            for node in self.nodes:
                if node.alive() and node_role(node) == ("leader", True):
                    return node
            return None

        return wait_until(leading_node, timeout, "a node that says it leads")

    def kill(self, node: QuorumNode) -> None:
        say(f"kill -9 {node.name} (pid {node.pid})")
        node.kill()

    def restart(self, node: QuorumNode, timeout: float = READY_TIMEOUT) -> None:
        """Start a stopped or killed node again and wait until it accepts connections."""
        node.start()
        wait_until(
            lambda: _port_open(node.endpoint.port),
            timeout,
            f"{node.name} to accept connections after restart",
            abort=node.exit_reason,
        )

    def memory_kb(self) -> dict[str, dict[str, int]]:
        """{node: {"VmRSS": kB, "VmHWM": kB}} for the running nodes."""
        return {n.name: n.memory_kb() for n in self.nodes if n.alive()}

    def rss_probe(self) -> dict[str, int]:
        """For `MemorySampler`: current VmRSS of every running node."""
        return {name: kb.get("VmRSS", 0) for name, kb in self.memory_kb().items()}

    def peak_rss_kb(self) -> dict[str, int]:
        """VmHWM per node: the kernel's exact peak, including runs before a kill/restart."""
        peaks = {}
        for node in self.nodes:
            now = node.memory_kb().get("VmHWM", 0)
            peaks[node.name] = max(now, node.last_hwm_kb)
        return peaks

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def node_role(node: QuorumNode, timeout: float = 1.0) -> tuple[str | None, bool]:
    """(role, ready) from the node's `/readyz`; (None, False) if it does not answer."""
    url = f"http://{HOST}:{node.spec.http_port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: not ready, the body still says why
        try:
            body = json.loads(exc.read())
        except (OSError, ValueError):
            return None, False
    except (OSError, ValueError):
        return None, False
    return body.get("role"), bool(body.get("ready"))


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def throwaway_cluster(
    nodes: int = 3,
    fsync: bool = True,
    tmp_root: Path | None = None,
    cpus: CpuPlan | None = None,
    ready_timeout: float = READY_TIMEOUT,
    extra_args: tuple[str, ...] = (),
) -> Iterator[QuorumCluster]:
    """A running cluster for the duration of the `with`; stopped and deleted afterwards.
    `extra_args` go to every `quorumdb serve` (e.g. ``("--no-group-commit",)``)."""
    root = Path(tempfile.mkdtemp(prefix="quorumdb-bench-qdb-", dir=tmp_root))
    cluster = QuorumCluster(root, nodes, fsync, cpus or CpuPlan(None, None), extra_args)
    try:
        cluster.start()
        cluster.wait_ready(ready_timeout)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
