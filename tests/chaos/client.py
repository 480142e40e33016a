"""Clients of a chaos run: PostgreSQL connections to any node, and honest outcomes.

A `Client` keeps a psycopg connection (simple query protocol via
`ClientCursor`, autocommit, so the statements it sends are exactly those
written) to each member it has used, like a connection pool, and sends each
operation to a member chosen at random - killed, paused or partitioned ones
included, as a real client does not know. After an error the connection is
dropped and reopened when that member is chosen again. Keeping idle
connections matters: a query sent on one to a paused leader is answered
when it resumes, which is when a deposed leader could serve a stale read.

`Client.perform` runs one operation and records it in the history:

* ``invoke`` just before the first statement is sent (connecting happens
  before, and a failure to connect is not an operation);
* ``ok`` with the operation's result;
* ``fail`` when the operation certainly had no effect: it raised `Abort`
  (the workload rolled back, e.g. insufficient funds), it failed before its
  committing statement was sent (`Progress.committing` is False: inside an
  explicit transaction nothing is committed before COMMIT), or the server
  answered the committing statement with a definite error (`DEFINITE`);
* ``unknown`` otherwise: the connection was lost, the server answered 08007,
  57P01 or anything else, or the `Watchdog` cut a call that took longer
  than the operation's timeout (a paused node never answers). Timeouts are
  drawn per operation, short and long: short ones let the client move on to
  the new leader, long ones let queries wait for a paused node to resume.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg

from .history import Op, Recorder

__all__ = ["Abort", "Client", "Progress", "Watchdog", "DEFINITE", "outcome_of", "NodeDirectory"]

# SQLSTATEs that promise the statement had no effect. 40001: validation failed on
# apply (or the entry was overwritten); 25006: not the leader, nothing proposed; the
# rest are refusals before anything was proposed.
DEFINITE = frozenset({"40001", "40P01", "25006", "25P02", "23505", "23502", "53000", "53300"})
DEFINITE_CLASSES = ("22", "42", "0A")


class Abort(Exception):
    """Raised by an operation that rolled itself back: it certainly had no effect."""


@dataclass(slots=True)
class Progress:
    """Whether the statement that commits (COMMIT, or an autocommit write) was sent."""

    committing: bool = True


class NodeDirectory(Protocol):
    """What a client needs to know about the cluster."""

    def client_nodes(self) -> list[int]: ...

    def dsn(self, i: int, *, stale: bool = False, timeout: int = 10) -> str: ...


def outcome_of(exc: BaseException, progress: Progress) -> str:
    """ "fail" or "unknown" for an exception raised by an operation (see the module docstring)."""
    if isinstance(exc, Abort) or not progress.committing:
        return "fail"
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate is not None and (sqlstate in DEFINITE or sqlstate[:2] in DEFINITE_CLASSES):
        return "fail"
    return "unknown"


def describe(exc: BaseException) -> str:
    sqlstate = getattr(exc, "sqlstate", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"{sqlstate or type(exc).__name__}: {text}"[:300]


class Watchdog:
    """Cuts connections whose current call has run past its deadline.

    psycopg has no per-call timeout on a blocking connection, and a paused
    (SIGSTOPped) node keeps its sockets open without answering. The watchdog
    shuts the socket down, which makes the blocked call raise at once.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[int, tuple[float, psycopg.Connection[Any], list[bool]]] = {}
        self._ids = iter(range(1 << 62))
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="chaos-watchdog", daemon=True)
        self._thread.start()

    @contextmanager
    def guard(self, conn: psycopg.Connection[Any], timeout: float) -> Iterator[list[bool]]:
        """Within the block, `conn` is cut after `timeout` seconds; the yielded flag
        list holds True once that happened."""
        fired: list[bool] = []
        with self._lock:
            token = next(self._ids)
            self._deadlines[token] = (time.monotonic() + timeout, conn, fired)
        try:
            yield fired
        finally:
            with self._lock:
                del self._deadlines[token]

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            now = time.monotonic()
            with self._lock:
                for deadline, conn, fired in list(self._deadlines.values()):
                    if now >= deadline and not fired:
                        fired.append(True)
                        _shutdown(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _shutdown(conn: psycopg.Connection[Any]) -> None:
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        return
    try:
        sock = socket.socket(fileno=os.dup(fd))
    except OSError:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        sock.close()


class Client:
    """Connections to the members (one per node, opened when first needed); each operation
    goes to a random member and is cut after a timeout drawn from `op_timeouts`."""

    def __init__(
        self,
        directory: NodeDirectory,
        watchdog: Watchdog,
        rng: random.Random,
        *,
        stale: bool = False,
        op_timeouts: tuple[float, ...] = (0.5, 1.0, 2.0, 8.0),
        connect_timeout: int = 2,
    ) -> None:
        self.directory = directory
        self.watchdog = watchdog
        self.rng = rng
        self.stale = stale
        self.op_timeouts = op_timeouts
        self.connect_timeout = connect_timeout
        self.pool: dict[int, psycopg.Connection[Any]] = {}

    def connection(self, node: int) -> psycopg.Connection[Any] | None:
        """The open connection to `node`, or a new one; None if connecting failed."""
        conn = self.pool.get(node)
        if conn is not None:
            return conn
        try:
            conn = psycopg.connect(
                self.directory.dsn(node, stale=self.stale, timeout=self.connect_timeout),
                autocommit=True,
                cursor_factory=psycopg.ClientCursor,
            )
        except psycopg.Error:
            return None
        self.pool[node] = conn
        return conn

    def drop(self, node: int) -> None:
        conn = self.pool.pop(node, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close
                pass

    def close(self) -> None:
        for node in list(self.pool):
            self.drop(node)

    def perform(
        self,
        recorder: Recorder,
        f: str,
        value: Any,
        body: Callable[[psycopg.Connection[Any], Progress], Any],
        *,
        key: Any = None,
        committing: bool = True,
    ) -> Op | None:
        """Run `body` as one operation; None if no connection could be made (not invoked).

        `committing` False: `body` runs an explicit transaction and sets
        `progress.committing` right before it sends COMMIT.
        """
        node = self.rng.choice(self.directory.client_nodes())
        conn = self.connection(node)
        if conn is None:
            return None
        timeout = self.rng.choice(self.op_timeouts)
        invocation = recorder.invoke(f, value, key=key, node=node)
        progress = Progress(committing)
        try:
            with self.watchdog.guard(conn, timeout) as fired:
                result = body(conn, progress)
        except Abort as exc:
            return recorder.fail(invocation, f"aborted: {exc}")
        except Exception as exc:  # noqa: BLE001 - every error is classified
            self.drop(node)
            error = describe(exc)
            if fired:
                error = f"timeout after {timeout}s; {error}"
            if outcome_of(exc, progress) == "fail":
                return recorder.fail(invocation, error)
            return recorder.unknown(invocation, error)
        return recorder.ok(invocation, result)
