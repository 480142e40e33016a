"""`make run`: a local QuorumDB cluster in the foreground, for development.

Starts `NODES` `quorumdb serve` processes on 127.0.0.1 with their data under
./.devcluster/nodeN, streams their logs prefixed with the node name, waits
until every node accepts PostgreSQL connections, prints the `psql` line,
and keeps running until Ctrl-C (or SIGTERM), when it stops every node
(SIGTERM, then SIGKILL after a timeout). Data is kept between runs; `--clean`
starts from scratch.

Node i (0-based) uses ports base+i (PostgreSQL), base+1000+i (gRPC),
base+2000+i (Raft) and base+3000+i (HTTP), so with the default base 5432 a
the first node has the standard ports of DESIGN.md. Every node lists the
others' Raft addresses with --peer; a client may connect to any of them
(followers relay connections to the leader).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

__all__ = ["DevNode", "layout", "DevCluster", "main"]

NODES = 3
HOST = "127.0.0.1"
DEFAULT_BASE_PORT = 5432
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


@dataclass(frozen=True, slots=True)
class DevNode:
    name: str
    data_dir: Path
    pg_port: int
    grpc_port: int
    raft_port: int
    http_port: int

    @property
    def ports(self) -> tuple[int, int, int, int]:
        return (self.pg_port, self.grpc_port, self.raft_port, self.http_port)

    @property
    def raft_address(self) -> str:
        return f"{HOST}:{self.raft_port}"

    def serve_args(self, cluster: Sequence[DevNode]) -> list[str]:
        args = [
            "serve",
            "--data-dir", str(self.data_dir),
            "--pg-listen", f"{HOST}:{self.pg_port}",
            "--grpc-listen", f"{HOST}:{self.grpc_port}",
            "--raft-listen", self.raft_address,
            "--http-listen", f"{HOST}:{self.http_port}",
            "--node-id", self.name,
        ]  # fmt: skip
        for other in cluster:
            if other is not self:
                args += ["--peer", other.raft_address]
        return args


def layout(root: Path, base_port: int, count: int) -> list[DevNode]:
    return [
        DevNode(
            name=f"node{i + 1}",
            data_dir=root / f"node{i + 1}",
            pg_port=base_port + i,
            grpc_port=base_port + 1000 + i,
            raft_port=base_port + 2000 + i,
            http_port=base_port + 3000 + i,
        )
        for i in range(count)
    ]


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.2):
            return True
    except OSError:
        return False


class DevClusterError(Exception):
    pass


class _Output:
    """Serialises lines from several threads onto one stream."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        with self._lock:
            self._stream.write(text)
            self._stream.flush()


class _NodeProcess:
    """A node process whose output is pumped, line by line and prefixed, to `output`."""

    def __init__(self, node: DevNode, args: list[str], output: _Output, exited: threading.Event):
        self.node = node
        self._args = args
        self._output = output
        self._exited = exited
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "quorumdb.node.cli", *self._args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        threading.Thread(target=self._pump, name=f"{self.node.name}-output", daemon=True).start()

    def _pump(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        prefix = f"{self.node.name} | "
        for raw in self.proc.stdout:
            self._output.write(prefix + raw.decode(errors="replace"))
        self.proc.wait()
        self._exited.set()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._output.write(
                    f"{self.node.name} did not stop in {STOP_TIMEOUT}s; killing it\n"
                )
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class DevCluster:
    def __init__(self, nodes: list[DevNode], output: IO[str]) -> None:
        self.nodes = nodes
        self._output = _Output(output)
        self._exited = threading.Event()  # set when any node process ends
        self._procs = [
            _NodeProcess(node, node.serve_args(nodes), self._output, self._exited) for node in nodes
        ]

    def start(self) -> None:
        busy = [port for node in self.nodes for port in node.ports if _port_in_use(port)]
        if busy:
            raise DevClusterError(
                f"port(s) {', '.join(map(str, busy))} on {HOST} are in use (a local PostgreSQL, "
                "or another dev cluster?); choose other ports with --base-port "
                "or QUORUMDB_DEV_BASE_PORT"
            )
        for proc in self._procs:
            proc.node.data_dir.mkdir(parents=True, exist_ok=True)
            proc.start()
        deadline = time.monotonic() + READY_TIMEOUT
        for proc in self._procs:
            while not _accepts_connections(proc.node.pg_port):
                if not proc.alive():
                    raise DevClusterError(
                        f"{proc.node.name} exited during startup (see its log above)"
                    )
                if time.monotonic() > deadline:
                    raise DevClusterError(
                        f"{proc.node.name} did not accept connections in {READY_TIMEOUT}s"
                    )
                self._exited.wait(0.05)

    def banner(self) -> str:
        first = self.nodes[0]
        root = first.data_dir.parent.resolve()
        lines = [
            "",
            f"QuorumDB dev cluster: {len(self.nodes)} node(s), data in {root}",
            *(f"  {n.name}: postgres {HOST}:{n.pg_port}" for n in self.nodes),
            "Connect with:",
            f"  psql -h {HOST} -p {first.pg_port} -U quorumdb -d quorumdb",
            "Press Ctrl-C to stop.",
            "",
        ]
        return "\n".join(lines) + "\n"

    def run(self) -> int:
        """Start, print how to connect, serve until Ctrl-C or a node dies; always stops every node."""
        try:
            self.start()
            self._output.write(self.banner())
            self._exited.wait()  # a signal interrupts this wait with KeyboardInterrupt
            dead = [p.node.name for p in self._procs if not p.alive()]
            self._output.write(f"node(s) {', '.join(dead)} exited; stopping the dev cluster\n")
            return 1
        except DevClusterError as exc:
            self._output.write(f"devcluster: {exc}\n")
            return 1
        except KeyboardInterrupt:
            self._output.write("stopping the dev cluster...\n")
            return 0
        finally:
            self.stop()

    def stop(self) -> None:
        for proc in self._procs:
            code = proc.stop()
            if code is not None:
                self._output.write(f"{proc.node.name} stopped (exit code {code})\n")


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quorumdb.node.devcluster",
        description="Run a local QuorumDB cluster in the foreground (what `make run` does).",
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("QUORUMDB_DEV_DIR", ".devcluster")),
        help="Directory for the nodes' data [env QUORUMDB_DEV_DIR; default ./.devcluster].",
    )
    parser.add_argument(
        "--base-port",
        type=int,
        default=int(os.environ.get("QUORUMDB_DEV_BASE_PORT", DEFAULT_BASE_PORT)),
        help="PostgreSQL port of the first node; gRPC, Raft and HTTP use +1000, +2000, +3000 "
        f"[env QUORUMDB_DEV_BASE_PORT; default {DEFAULT_BASE_PORT}].",
    )
    parser.add_argument(
        "--clean", action="store_true", help="Delete the data directory first (start empty)."
    )
    args = parser.parse_args(argv)
    if args.clean and args.dir.exists():
        shutil.rmtree(args.dir)
    signal.signal(signal.SIGTERM, _interrupt)
    return DevCluster(layout(args.dir, args.base_port, NODES), sys.stdout).run()


if __name__ == "__main__":
    sys.exit(main())
