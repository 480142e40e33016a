"""`ChaosCluster`: real `quorumdb serve` processes whose node-to-node traffic crosses a `Network`.

Like tests/qdbcluster.py's `ProcessCluster` (which it extends), but:

* every node advertises a proxy of the test's `Network` as its Raft address
  (its identity) and as its PostgreSQL address (where followers relay
  clients to), and lists the other members' proxies as its peers, so the
  nemesis can partition the cluster;
* nodes can be paused (SIGSTOP) and resumed, and a paused node is not asked
  anything (it would not answer);
* nodes can be added (`add_node`, started with --join) and retired
  (`retire`), so membership changes can be exercised;
* processes that exit on their own (not killed or stopped by the test) are
  recorded in `crashes`: a node that halts rather than diverge is a finding.

Clients connect to the nodes' real PostgreSQL ports, as users do.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import psycopg
from qdbcluster import ClusterNode, ProcessCluster
from support import NodeProcess, free_ports, wait_until

from .proxy import Network

__all__ = ["ChaosCluster", "ChaosNode"]

_EXPECTED_EXITS = (None, 0, -9, -15)  # running, stopped, killed by the test, terminated


@dataclass
class ChaosNode(ClusterNode):
    raft_proxy_port: int = 0
    pg_proxy_port: int = 0
    join: bool = False
    member: bool = True
    paused: bool = False
    extra: list[str] = field(default_factory=list)

    @property
    def node_id(self) -> str:
        return f"n{self.index}"

    @property
    def identity(self) -> str:
        """The node's Raft identity: the address of the proxy in front of it."""
        return f"127.0.0.1:{self.raft_proxy_port}"

    def args(self, extra: list[str]) -> list[str]:
        args = super().args([*extra, *self.extra])
        args += [
            "--raft-advertise",
            self.identity,
            "--pg-advertise",
            f"127.0.0.1:{self.pg_proxy_port}",
        ]
        if self.join:
            args.append("--join")
        return args

    def reachable(self) -> bool:
        """Running and not paused: it can answer."""
        return self.alive() and not self.paused


class ChaosCluster(ProcessCluster):
    nodes: list[ChaosNode]  # type: ignore[assignment]

    def __init__(
        self, root: str, network: Network, n: int = 3, *, extra_args: list[str] | None = None
    ) -> None:
        # The clients keep pools (several connections per thread and node), and every
        # connection to a follower also takes a slot on the leader it is relayed to.
        super().__init__(root, 0, extra_args=["--max-connections", "1000", *(extra_args or [])])
        self.network = network
        self.crashes: list[dict[str, object]] = []
        self._ports: set[int] = set()
        for _ in range(n):
            self._new_node(join=False)
        for node in self.nodes:
            node.peers = [o.identity for o in self.nodes if o is not node]

    def _new_node(self, *, join: bool) -> ChaosNode:
        index = len(self.nodes)
        pg, grpc, raft, http, raft_proxy, pg_proxy = self._fresh_ports(6)
        node = ChaosNode(
            index,
            os.path.join(self.root, f"n{index}"),
            pg,
            grpc,
            raft,
            http,
            log_path=os.path.join(self.root, f"n{index}.log"),
            raft_proxy_port=raft_proxy,
            pg_proxy_port=pg_proxy,
            join=join,
        )
        self.network.register(index, raft_identity=node.identity, node_id=node.node_id)
        self.network.proxy("raft", index, raft_proxy, ("127.0.0.1", raft))
        self.network.proxy("pg", index, pg_proxy, ("127.0.0.1", pg))
        self.nodes.append(node)
        return node

    def _fresh_ports(self, n: int) -> list[int]:
        """`n` free ports none of which was handed out before in this cluster: a node binds
        its ports only when it starts, so bind(0) alone could hand one of them again, e.g.
        to a proxy, and the node would fail to start."""
        while True:
            ports = free_ports(n)
            if not set(ports) & self._ports:
                self._ports.update(ports)
                return ports

    def add_node(self) -> ChaosNode:
        """A new node that starts empty and waits to be added (--join); not started yet."""
        node = self._new_node(join=True)
        node.peers = [o.identity for o in self.members() if o is not node]
        return node

    def retire(self, i: int) -> None:
        """Node `i` was removed from the cluster: kill it (its data no longer matters);
        it is no longer a member."""
        self.kill(i)
        self.nodes[i].member = False

    def members(self) -> list[ChaosNode]:
        return [n for n in self.nodes if n.member]

    # ---- processes -----------------------------------------------------------------

    def start(self, *indexes: int) -> ChaosCluster:
        for node in [self.nodes[i] for i in indexes] if indexes else self.members():
            if node.alive():
                continue
            self._note_exit(node)
            node.paused = False
            node.process = NodeProcess(node.args(self.extra_args), node.log_path).start()
        return self

    def kill(self, *indexes: int) -> None:
        for i in indexes:
            super().kill(i)
            self.nodes[i].paused = False

    def pause(self, i: int) -> None:
        """SIGSTOP node `i`; returns once every thread of it is stopped (a signal takes
        effect when the process is next scheduled, not when kill() returns)."""
        node = self.nodes[i]
        if node.process is not None and node.alive():
            node.process.pause()
            node.paused = True
            pid = node.process.pid
            wait_until(
                lambda: _stopped(pid) or not node.alive(),
                timeout=10,
                interval=0.001,
                message=f"n{i} stopped",
            )

    def resume(self, i: int) -> None:
        node = self.nodes[i]
        if node.process is not None:
            node.process.resume()
        node.paused = False

    def stop(self, *indexes: int) -> None:
        for node in [self.nodes[i] for i in indexes] if indexes else self.nodes:
            if node.process is not None:
                self._note_exit(node)
                node.process.stop()
                node.paused = False

    def _note_exit(self, node: ChaosNode) -> None:
        proc = node.process.proc if node.process is not None else None
        if proc is None:
            return
        code = proc.poll()
        if code not in _EXPECTED_EXITS and not any(
            c["node"] == node.index and c["pid"] == proc.pid for c in self.crashes
        ):
            self.crashes.append(
                {
                    "node": node.index,
                    "pid": proc.pid,
                    "exit_code": code,
                    "log": node.process.log_tail(30),
                }  # type: ignore[union-attr]
            )

    def check_crashes(self) -> list[dict[str, object]]:
        """Record processes that exited on their own since the last look; returns all so far."""
        for node in self.nodes:
            self._note_exit(node)
        return self.crashes

    # ---- asking the nodes ----------------------------------------------------------------

    def roles(self) -> dict[int, str]:
        """What each reachable member says it is ("leader", "follower", ...), or the error
        that kept it from answering."""
        roles: dict[int, str] = {}
        for node in self.members():
            if not node.reachable():
                continue
            try:
                roles[node.index] = self.show(node.index, "role")
            except psycopg.Error as exc:
                roles[node.index] = (
                    f"{getattr(exc, 'sqlstate', None) or type(exc).__name__}: {exc}"[:120]
                )
        return roles

    def leader(self) -> int | None:
        """The member that says it leads, if exactly one reachable member does."""
        leaders = [i for i, role in self.roles().items() if role == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_caught_up(self, timeout: float = 30.0) -> int:
        """Every reachable member has applied what the leader has; returns that index."""

        def caught_up() -> int | None:
            leader = self.leader()
            if leader is None:
                return None
            target = self.applied_index(leader)
            for node in self.members():
                if node.reachable() and self.applied_index(node.index) < target:
                    return None
            return target

        return wait_until(caught_up, timeout=timeout, interval=0.05, message="replicas caught up")

    def dsn(self, i: int, *, stale: bool = False, timeout: int = 10) -> str:
        return self.nodes[i].dsn(stale=stale, timeout=timeout)

    def logs(self) -> str:
        return "\n".join(
            f"--- n{node.index} ---\n{node.process.log_tail(40)}"
            for node in self.nodes
            if node.process is not None
        )


def _stopped(pid: int) -> bool:
    """Every thread of process `pid` is stopped (state T in /proc)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = []
        for task in tasks:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except OSError:
        return False
    return bool(states) and all(state in ("T", "t") for state in states)
