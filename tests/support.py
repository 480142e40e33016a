"""Shared test helpers: free ports, polling with deadlines, real node processes.

Tests never sleep for a fixed time to wait for something and never use fixed
ports: they poll a condition with a deadline (`wait_until`) and bind port 0
(`free_port`). Every process a test starts is stopped by the test
(`NodeProcess.stop`, or the fixtures that own them).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["free_port", "free_ports", "wait_until", "NodeProcess", "QUORUMDB", "outcomes"]

QUORUMDB = [sys.executable, "-m", "quorumdb.node.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "condition",
) -> T:
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` passes.

    Exceptions raised by the predicate count as "not yet" and the last one is
    reported if the deadline passes.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polled until the deadline
            last_exc = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {message}") from last_exc
        time.sleep(interval)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


class NodeProcess:
    """A `quorumdb serve` process with its log captured to a file."""

    def __init__(self, args: list[str], log_path: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            QUORUMDB + self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9, the crash every durability test is about."""
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def pause(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return "<no log>"


async def outcomes(session: Any, sql: str) -> list[object]:
    """What a SQL session's `execute(sql)` gave: each statement's rows, or its tag when
    it returned none, then the SQLSTATE of the error that ended it, if one did."""
    from quorumdb.sql.errors import QuorumError

    out: list[object] = []
    try:
        async for result in session.execute(sql):
            rows = list(result.rows)
            out.append(rows if rows else result.tag)
    except QuorumError as exc:
        out.append(exc.sqlstate)
    return out
