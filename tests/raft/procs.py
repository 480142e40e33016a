"""Multi-process Raft clusters for the crash tests: start, kill -9, pause, restart, query.

Every process a test starts is stopped by `ProcCluster.stop` (the fixture
calls it). A proposal load (`Load`) runs in threads of the test process and
records which proposals were acknowledged.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from support import free_ports, wait_until

__all__ = ["ProcNode", "ProcCluster", "Load"]

SCRIPT = os.path.join(os.path.dirname(__file__), "procnode.py")


class ProcNode:
    def __init__(
        self, address: str, peers: list[str], data: str, control_port: int, extra: list[str]
    ) -> None:
        self.address = address
        self.peers = peers
        self.data = data
        self.control_port = control_port
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = os.path.join(data, "node.log")

    def start(self) -> ProcNode:
        os.makedirs(self.data, exist_ok=True)
        log = open(self.log_path, "ab")
        cmd = [
            sys.executable, SCRIPT, "--address", self.address, "--peers", ",".join(self.peers),
            "--data", self.data, "--control-port", str(self.control_port), *self.extra,
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(
            lambda: self.call("status", timeout=0.5),
            timeout=20,
            message=f"{self.address} control socket",
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def call(self, op: str, timeout: float = 10.0, **kwargs: Any) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=timeout) as s:
            s.sendall(json.dumps({"op": op, **kwargs}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("control connection closed")
                data += chunk
        return json.loads(data)  # type: ignore[no-any-return]

    def status(self) -> dict[str, Any] | None:
        try:
            return self.call("status", timeout=2.0)
        except OSError:
            return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "<no log>"


@dataclass
class ProcCluster:
    nodes: list[ProcNode] = field(default_factory=list)

    @classmethod
    def create(cls, root: str, n: int = 3, extra: list[str] | None = None) -> ProcCluster:
        ports = free_ports(2 * n)
        addresses = [f"127.0.0.1:{p}" for p in ports[:n]]
        nodes = [
            ProcNode(a, addresses, os.path.join(root, f"n{i}"), ports[n + i], extra or [])
            for i, a in enumerate(addresses)
        ]
        return cls(nodes)

    def start(self) -> ProcCluster:
        for node in self.nodes:
            node.start()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def alive(self) -> list[ProcNode]:
        return [n for n in self.nodes if n.alive()]

    def leader(self, among: list[ProcNode] | None = None) -> ProcNode | None:
        """The node that leads with the agreement of every live member, if any."""
        members = among or self.alive()
        statuses = {n.address: n.status() for n in members}
        leaders = [n for n in members if (statuses[n.address] or {}).get("role") == "leader"]
        if len(leaders) != 1:
            return None
        leader = leaders[0]
        if all((s or {}).get("leader") == leader.address for s in statuses.values()):
            return leader
        return None

    def wait_leader(self, among: list[ProcNode] | None = None, timeout: float = 15.0) -> ProcNode:
        return wait_until(
            lambda: self.leader(among), timeout=timeout, interval=0.02, message="a leader"
        )

    def wait_converged(self, timeout: float = 20.0) -> None:
        """Every node has applied everything committed so far.

        A new leader only knows what is committed once the first entry of its
        own term is (its lease requires that entry applied): until then its
        commit index is just the hint it restarted with.
        """
        leader = self.wait_leader(timeout=timeout)
        wait_until(lambda: leader.call("status")["lease"], timeout=timeout, message="the lease")
        commit = leader.call("status")["commit"]

        def done() -> bool:
            return all(n.call("status")["applied"] >= commit for n in self.nodes)

        wait_until(done, timeout=timeout, message="replicas to converge")

    def describe(self) -> str:
        return "\n\n".join(f"--- {n.address}\n{n.log_tail()}" for n in self.nodes)


class Load:
    """Threads proposing unique `set` commands to whoever leads; records the outcomes."""

    def __init__(self, cluster: ProcCluster, threads: int = 4, prefix: str = "w") -> None:
        self.cluster = cluster
        self.prefix = prefix
        self.acked: dict[str, str] = {}
        self.unknown: set[str] = set()
        self.errors: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(t,), daemon=True) for t in range(threads)
        ]
        self._leader: ProcNode | None = None

    def __enter__(self) -> Load:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)

    def count(self) -> int:
        with self._lock:
            return len(self.acked)

    def _find_leader(self) -> ProcNode | None:
        for node in self.cluster.alive():
            status = node.status()
            if status and status["role"] == "leader":
                return node
        return None

    def _run(self, slot: int) -> None:
        i = 0
        while not self._stop.is_set():
            leader = (
                self._leader
                if self._leader is not None and self._leader.alive()
                else self._find_leader()
            )
            self._leader = leader
            if leader is None:
                self._stop.wait(0.02)
                continue
            key = f"{self.prefix}{slot}-{i}"
            i += 1
            try:
                reply = leader.call("propose", command=f"set {key} {i}", timeout=2.0)
            except OSError:
                reply = {"error": "ConnectionError"}
            with self._lock:
                if "index" in reply:
                    self.acked[key] = str(i)
                else:
                    name = reply.get("error", "?")
                    self.errors[name] = self.errors.get(name, 0) + 1
                    if name != "NotLeader":  # NotLeader: definitely not appended
                        self.unknown.add(key)
            if "index" not in reply:
                self._leader = None
