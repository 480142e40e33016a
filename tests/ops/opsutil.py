"""Helpers for the operations tests: running cluster-cli, reading its JSON, HTTP probes,
and starting an extra node that joins a running `ProcessCluster`.

cluster-cli runs as `python -m quorumdb.cluster_cli.main`, the module behind the
installed `cluster-cli` console script, in a subprocess: the tests see exit
codes, stdout and stderr exactly as a script would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

from qdbcluster import ClusterNode, ProcessCluster
from support import NodeProcess, free_ports, wait_until

__all__ = [
    "CLI",
    "cli",
    "grpc_addr",
    "status_json",
    "wait_status",
    "http_get",
    "start_joining_node",
    "leader_id",
    "ok",
    "all_healthy",
]

CLI = [sys.executable, "-m", "quorumdb.cluster_cli.main"]


def grpc_addr(node: ClusterNode) -> str:
    return f"127.0.0.1:{node.grpc_port}"


def cli(
    *args: str, addr: str | None = None, timeout: float = 90.0
) -> subprocess.CompletedProcess[str]:
    argv = [*CLI, *(["--addr", addr] if addr else []), *args]
    env = {k: v for k, v in os.environ.items() if k != "QUORUMDB_ADDR"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result.stdout


def status_json(addr: str) -> dict[str, Any]:
    return json.loads(ok(cli("status", "--json", addr=addr)))


def leader_id(status: dict[str, Any]) -> str | None:
    return status["leader"]


def wait_status(
    addr: str, predicate: Any, *, timeout: float = 30.0, message: str = "status"
) -> dict[str, Any]:
    """Poll `status --json` on `addr` until `predicate(status)` holds; returns that status."""

    def check() -> dict[str, Any] | None:
        status = status_json(addr)
        return status if predicate(status) else None

    return wait_until(check, timeout=timeout, interval=0.2, message=message)


def all_healthy(count: int) -> Any:
    def predicate(status: dict[str, Any]) -> bool:
        members = status["members"]
        return (
            status["leader"] is not None
            and len(members) == count
            and all(m["health"] == "healthy" for m in members)
        )

    return predicate


def http_get(port: int, path: str) -> tuple[int, str, str]:
    """(status, content type, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def start_joining_node(cluster: ProcessCluster, index: int) -> ClusterNode:
    """A new, empty node started with `--join --peer <every member>`; the caller stops it."""
    ports = free_ports(4)
    node = ClusterNode(
        index,
        os.path.join(cluster.root, f"n{index}"),
        *ports,
        log_path=os.path.join(cluster.root, f"n{index}.log"),
    )
    node.peers = [n.raft_address for n in cluster.nodes]
    node.process = NodeProcess(node.args(["--join"]), node.log_path).start()
    wait_until(
        lambda: cli("status", "--local", addr=grpc_addr(node), timeout=10).returncode == 0,
        timeout=30,
        message=f"n{index} to serve gRPC",
    )
    return node
