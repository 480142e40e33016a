"""End to end: a real `quorumdb serve` process driven by psycopg 3 and the psql binary.

These tests need the real SQL session (`quorumdb.sql.session`). Every
process is started on free ports and stopped by its fixture.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from support import NodeProcess, free_port, free_ports, port_open, wait_until

pytestmark = pytest.mark.cluster

HOST = "127.0.0.1"


class ServeNode:
    """One `quorumdb serve` on free ports with its data in `data_dir`; restartable."""

    def __init__(self, data_dir: Path, log_path: Path, *extra: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.pg_port, grpc, raft, http = free_ports(4)
        self.args = [
            "serve",
            "--data-dir", str(data_dir),
            "--pg-listen", f"{HOST}:{self.pg_port}",
            "--grpc-listen", f"{HOST}:{grpc}",
            "--raft-listen", f"{HOST}:{raft}",
            "--http-listen", f"{HOST}:{http}",
            "--node-id", "e2e-node",
            *extra,
        ]  # fmt: skip
        self.process: NodeProcess | None = None

    def start(self) -> ServeNode:
        self.process = NodeProcess(self.args, str(self.log_path)).start()

        def ready() -> bool:
            assert self.process is not None
            if not self.process.alive():
                pytest.fail(f"quorumdb serve exited at startup:\n{self.process.log_tail()}")
            return port_open(HOST, self.pg_port)

        wait_until(ready, timeout=30, message="quorumdb serve accepting connections")
        return self

    def connect(self, **options: object) -> psycopg.Connection:
        return psycopg.connect(
            host=HOST,
            port=self.pg_port,
            user="quorumdb",
            dbname="quorumdb",
            autocommit=True,
            connect_timeout=10,
            **options,
        )

    def psql(self, *commands: str, verbose: bool = False) -> subprocess.CompletedProcess[str]:
        args = ["psql", "-X", "-w", "-q", "-A", "-t", "-h", HOST, "-p", str(self.pg_port)]
        args += ["-U", "any", "-d", "any"]
        if verbose:
            args += ["-v", "VERBOSITY=verbose"]
        for command in commands:
            args += ["-c", command]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        return subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def node(tmp_path: Path) -> Iterator[ServeNode]:
    n = ServeNode(tmp_path / "node", tmp_path / "node.log").start()
    try:
        yield n
    finally:
        n.stop()


needs_psql = pytest.mark.skipif(shutil.which("psql") is None, reason="psql not installed")


def test_crud_with_psycopg(node):
    with node.connect() as conn:
        conn.execute("CREATE TABLE accounts (id INT PRIMARY KEY, owner TEXT NOT NULL, balance INT)")
        cur = conn.execute(
            "INSERT INTO accounts (id, owner, balance) VALUES (1, 'ada', 100), (2, 'bob', 50), "
            "(3, 'cy', NULL)"
        )
        assert cur.rowcount == 3
        rows = conn.execute("SELECT id, owner, balance FROM accounts ORDER BY id").fetchall()
        assert rows == [(1, "ada", 100), (2, "bob", 50), (3, "cy", None)]
        assert conn.execute("UPDATE accounts SET balance = balance + 10 WHERE id = 1").rowcount == 1
        assert conn.execute("DELETE FROM accounts WHERE id = 2").rowcount == 1
        rows = conn.execute("SELECT id, balance FROM accounts ORDER BY id").fetchall()
        assert rows == [(1, 110), (3, None)]
        assert conn.execute("SELECT count(*) FROM accounts").fetchone() == (2,)


def test_parameters_through_client_side_binding(node):
    with node.connect(cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT)")
        with conn.cursor() as cur:
            cur.execute("INSERT INTO notes (id, body) VALUES (%s, %s)", (1, 'it\'s "quoted"'))
            cur.execute("SELECT body FROM notes WHERE id = %s", (1,))
            assert cur.fetchone() == ('it\'s "quoted"',)


def test_duplicate_key_is_23505_and_the_session_continues(node):
    with node.connect() as conn:
        conn.execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO t VALUES (1, 'a')")
        with pytest.raises(psycopg.errors.UniqueViolation) as err:
            conn.execute("INSERT INTO t VALUES (1, 'again')")
        assert err.value.sqlstate == "23505"
        conn.execute("INSERT INTO t VALUES (2, 'b')")
        assert conn.execute("SELECT id, v FROM t ORDER BY id").fetchall() == [(1, "a"), (2, "b")]

        # Inside a transaction block the error aborts the block until ROLLBACK.
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (3, 'c')")
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO t VALUES (1, 'dup')")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("SELECT 1")
        conn.execute("ROLLBACK")
        assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)


def test_transactions_commit_and_roll_back(node):
    with node.connect() as writer, node.connect() as reader:
        writer.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, v INT)")
        writer.execute("BEGIN")
        writer.execute("INSERT INTO kv VALUES ('a', 1)")
        assert reader.execute("SELECT count(*) FROM kv").fetchone() == (0,)
        writer.execute("COMMIT")
        assert reader.execute("SELECT v FROM kv WHERE k = 'a'").fetchone() == (1,)
        writer.execute("BEGIN")
        writer.execute("UPDATE kv SET v = 2 WHERE k = 'a'")
        writer.execute("ROLLBACK")
        assert reader.execute("SELECT v FROM kv WHERE k = 'a'").fetchone() == (1,)


@needs_psql
def test_crud_with_psql(node):
    out = node.psql(
        "CREATE TABLE items (id INT PRIMARY KEY, name TEXT)",
        "INSERT INTO items VALUES (1, 'one'), (2, 'two'), (3, 'three')",
        "UPDATE items SET name = 'TWO' WHERE id = 2",
        "DELETE FROM items WHERE id = 3",
        "SELECT id, name FROM items ORDER BY id",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["1|one", "2|TWO"]


@needs_psql
def test_psql_duplicate_key_then_continues_in_the_same_session(node):
    assert (
        node.psql("CREATE TABLE u (id INT PRIMARY KEY)", "INSERT INTO u VALUES (1)").returncode == 0
    )
    out = node.psql("INSERT INTO u VALUES (1)", "SELECT count(*) FROM u", verbose=True)
    assert "23505" in out.stderr
    assert out.stdout.splitlines() == ["1"]


@needs_psql
def test_psql_reports_syntax_errors(node):
    out = node.psql("SELEC 1", verbose=True)
    assert out.returncode != 0
    assert "42601" in out.stderr


def test_data_survives_kill_9_and_restart(tmp_path):
    node = ServeNode(tmp_path / "node", tmp_path / "node.log").start()
    try:
        with node.connect() as conn:
            conn.execute("CREATE TABLE durable (id INT PRIMARY KEY, v TEXT)")
            for i in range(20):
                conn.execute(f"INSERT INTO durable VALUES ({i}, 'v{i}')")
            conn.execute("UPDATE durable SET v = 'changed' WHERE id = 7")
            conn.execute("DELETE FROM durable WHERE id = 8")
        node.kill()
        node.start()
        with node.connect() as conn:
            assert conn.execute("SELECT count(*) FROM durable").fetchone() == (19,)
            assert conn.execute("SELECT v FROM durable WHERE id = 7").fetchone() == ("changed",)
            assert conn.execute("SELECT v FROM durable WHERE id = 8").fetchone() is None
    finally:
        node.stop()


def test_sigterm_rolls_back_open_transactions_and_exits_cleanly(tmp_path):
    node = ServeNode(tmp_path / "node", tmp_path / "node.log").start()
    try:
        with node.connect() as setup:
            setup.execute("CREATE TABLE t (id INT PRIMARY KEY)")
            setup.execute("INSERT INTO t VALUES (1)")
        conn = node.connect()
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (2)")
        assert node.process is not None and node.process.proc is not None
        node.process.proc.send_signal(signal.SIGTERM)
        assert node.process.proc.wait(timeout=30) == 0
        with pytest.raises(psycopg.OperationalError):
            conn.execute("COMMIT")
        conn.close()
        log = node.log()
        assert "node=e2e-node" in log
        assert "stopped" in log
        assert all("node=e2e-node" in line for line in log.splitlines() if " INFO " in line)
        node.start()
        with node.connect() as conn:
            assert conn.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,)]
    finally:
        node.stop()


def test_a_locked_data_directory_fails_to_start_with_exit_1(node, tmp_path):
    second = ServeNode(node.data_dir, tmp_path / "second.log")
    process = NodeProcess(second.args, str(second.log_path)).start()
    try:
        assert process.proc is not None
        assert process.proc.wait(timeout=30) == 1
        assert "cannot open the data directory" in second.log()
    finally:
        process.stop()
    with node.connect() as conn:  # the first node is unaffected
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_json_logs(tmp_path):
    node = ServeNode(tmp_path / "node", tmp_path / "node.log", "--log-format", "json").start()
    try:
        with node.connect() as conn:
            conn.execute("SELECT 1")
    finally:
        node.stop()
    import json

    entries = [json.loads(line) for line in node.log().splitlines() if line.startswith("{")]
    assert entries and all(e["node"] == "e2e-node" for e in entries)


def _free_dev_base_port() -> int:
    def candidate() -> int | None:
        base = free_port()
        if base + 3000 > 65535:
            return None
        for port in (base + offset + i for offset in (0, 1000, 2000, 3000) for i in range(3)):
            if port == base:
                continue
            with socket.socket() as s:
                try:
                    s.bind((HOST, port))
                except OSError:
                    return None
        return base

    return wait_until(candidate, timeout=10, message="twelve free ports for the dev cluster")


def test_devcluster_prints_how_to_connect_and_stops_on_ctrl_c(tmp_path):
    out_path = tmp_path / "devcluster.out"
    for attempt in range(3):  # free ports can be taken by another process before devcluster binds
        base = _free_dev_base_port()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "quorumdb.node.devcluster", "--dir", str(tmp_path / "dev"),
                 "--base-port", str(base)],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        line = f"psql -h 127.0.0.1 -p {base} -U quorumdb -d quorumdb"
        wait_until(
            lambda: line in out_path.read_text() or proc.poll() is not None,  # noqa: B023
            timeout=60,
            message="devcluster banner",
        )
        if proc.poll() is None or "are in use" not in out_path.read_text() or attempt == 2:
            break
    try:
        if proc.poll() is not None:
            pytest.fail(f"devcluster exited:\n{out_path.read_text()}")
        with psycopg.connect(
            host=HOST, port=base, user="quorumdb", dbname="quorumdb", autocommit=True
        ) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        text = out_path.read_text()
        assert "node1 | " in text
        assert "node1 stopped (exit code 0)" in text
        assert not port_open(HOST, base)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
