"""psql's meta-commands against QuorumDB, compared with a throwaway PostgreSQL 15.

The same schema is created in both; each meta-command's output must have the
same shape: the same title, headers, rows and footers. Normalised, and why:

* owner and superuser names: QuorumDB's built-in superuser is "quorumdb"
  (`--superuser`), PostgreSQL's is "postgres", and PostgreSQL 15 gives schema
  public to the pseudo-role pg_database_owner; all become OWNER;
* ``\\l``: a QuorumDB cluster serves one database (a documented non-goal),
  so only the connected database's row is compared (PostgreSQL also lists
  template0/template1);
* ``\\du``: the superuser's row is compared by attributes (name normalised).

Outputs are compared in psql's unaligned mode (``-A``), because aligned
output pads columns to the widest value, so a normalised name would shift
every column; ``\\d items`` has no owner and is also compared aligned, exactly.
``\\d+ items`` needs no normalising: its storage column (plain/main/extended)
and access method come from pg_attribute and pg_am as in PostgreSQL, and its
query reads an outer column inside ``ARRAY(SELECT ... FROM unnest(...))``.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from qdbcluster import ProcessCluster

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.timeout(180)]

sys.path.append(str(Path(__file__).resolve().parents[2]))

PSQL = shutil.which("psql")
SCHEMA = [
    "CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(8,2) DEFAULT 0, "
    "created timestamp)",
    "CREATE INDEX items_name ON items (name)",
    "CREATE INDEX items_recent ON items (created DESC, price NULLS FIRST)",
    "CREATE TABLE orders (id bigint PRIMARY KEY, item_id int NOT NULL REFERENCES items (id), "
    "qty int CHECK (qty > 0), note varchar(20) UNIQUE)",
    "CREATE ROLE reader LOGIN",
    "CREATE SCHEMA shop",
    "CREATE TABLE shop.carts (id serial PRIMARY KEY, owner text NOT NULL, total numeric(10,2), "
    "UNIQUE (owner, total))",
    "CREATE UNIQUE INDEX carts_owner_id ON shop.carts (owner, id)",
]
COMMANDS = [
    r"\d", r"\dt", r"\di", r"\dn", r"\d items", r"\d orders", r"\l", r"\du",
    r"\dt shop.*", r"\di shop.*", r"\d shop.carts", r"\d+ items",
]  # fmt: skip
_OWNERS = re.compile(r"\b(quorumdb|postgres|pg_database_owner)\b")


@pytest.fixture(scope="module")
def reference() -> Iterator[str]:
    """A DSN of a throwaway PostgreSQL 15 holding the schema (in a database named 'test')."""
    try:
        from bench.postgres import throwaway_postgres
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"bench harness unavailable: {exc}")
    if PSQL is None or not Path("/usr/lib/postgresql/15/bin/postgres").exists():
        pytest.skip("PostgreSQL 15 is not installed")
    with throwaway_postgres() as pg:
        with psycopg.connect(pg.dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE test")
        dsn = f"host={pg.endpoint.host} port={pg.endpoint.port} user=postgres dbname=test"
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in SCHEMA:
                conn.execute(sql)
        yield dsn


@pytest.fixture(scope="module")
def quorum() -> Iterator[str]:
    """A DSN of the leader of a cluster of its own: \\d lists every table, so the
    tables other client tests leave in the shared cluster must not be there."""
    root = tempfile.mkdtemp(prefix="qdb-psql-")
    cluster = ProcessCluster(root).start()
    try:
        cluster.wait_ready()
        port = cluster.nodes[cluster.wait_leader()].pg_port
        dsn = f"host=127.0.0.1 port={port} user=test dbname=test connect_timeout=10"
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in SCHEMA:
                conn.execute(sql)
        yield dsn
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


def psql(dsn: str, *commands: str, unaligned: bool = False) -> str:
    assert PSQL is not None
    args = [PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-P", "pager=off", "-d", dsn]
    if unaligned:
        args.append("-A")
    for command in commands:
        args += ["-c", command]
    out = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )
    assert out.returncode == 0, f"psql {commands!r} failed: {out.stderr}"
    return out.stdout


def normalise(command: str, text: str) -> str:
    text = _OWNERS.sub("OWNER", text)
    if command == r"\l":  # the connected database's row, with the title and the header
        lines = text.splitlines()
        text = "\n".join(lines[:2] + [line for line in lines if line.startswith("test|")])
    return text


@pytest.mark.parametrize("command", COMMANDS)
def test_meta_command_output_matches_postgresql(reference, quorum, command):
    expected = normalise(command, psql(reference, command, unaligned=True))
    got = normalise(command, psql(quorum, command, unaligned=True))
    assert got == expected


def test_describe_table_aligned_output_is_identical(reference, quorum):
    assert psql(quorum, r"\d items") == psql(reference, r"\d items")


def test_expanded_and_timing(quorum):
    out = psql(quorum, r"\x on", "SELECT 1 AS one, 'two' AS two")
    assert "-[ RECORD 1 ]" in out and "one | 1" in out and "two | two" in out
    out = subprocess.run(
        [PSQL or "psql", "-X", "-d", quorum],
        input="\\timing on\nSELECT 1;\n",
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert re.search(r"Time: \d+\.\d+ ms", out)


def test_tab_completion(quorum):
    """psql completes a table name and a column of it (readline, in a terminal)."""
    if PSQL is None:
        pytest.skip("psql is not installed")
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child becomes psql
        os.execvpe(PSQL, [PSQL, "-X", "-d", quorum], {**os.environ, "TERM": "dumb"})
    try:
        read_until(fd, b"test=", 20)
        os.write(fd, b"SELECT * FROM ord\t")
        assert b"orders" in read_until(fd, b"orders", 20)
        os.write(fd, b" WHERE item_\t")
        assert b"item_id" in read_until(fd, b"item_id", 20)
        os.write(fd, b"\x03\\q\n")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {marker!r} from psql; got {seen[-300:]!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:
                break
    return seen
