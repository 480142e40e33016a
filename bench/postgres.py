"""A throwaway PostgreSQL 15: the anchor every QuorumDB figure is compared with.

`throwaway_postgres()` runs initdb into a fresh temporary directory, starts
`postgres` on a free loopback port (its unix socket in the same directory),
waits until it accepts connections, yields a `PostgresServer`, and on exit
(normal, exception or Ctrl-C) stops it and deletes the directory.

The settings are chosen so the comparison is honest, not flattering:

* durability as shipped: fsync=on, synchronous_commit=on, full_page_writes
  on, so a PostgreSQL commit waits for its WAL flush just as a QuorumDB
  commit waits for the Raft journal fsync;
* a small shared_buffers (128MB, PostgreSQL's own default), close to the
  memory budget of one QuorumDB node;
* max_connections=100, enough for every workload's clients;
* clients connect over TCP on 127.0.0.1, like they do to QuorumDB (which has
  no unix socket), so both pay the same network stack.

initdb runs with --no-sync: the cluster is thrown away, and its initial
files need no flush; the server itself runs with fsync on.

PostgreSQL refuses to run as root. When the harness is root, initdb and
postgres run as the `postgres` account (the child process switches user
itself, so the pid held is the postmaster's) and the directory is chowned
to it; otherwise they run as the current user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from .support import (
    HOST,
    CpuPlan,
    Endpoint,
    clean_env,
    free_ports,
    log_tail,
    say,
    spawn,
    stop_process,
    tree_pss_kb,
    wait_until,
)

__all__ = [
    "PG_BIN",
    "PostgresServer",
    "PostgresSettings",
    "postgres_version",
    "throwaway_postgres",
]

PG_BIN = Path(os.environ.get("QUORUMDB_BENCH_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    fsync: bool = True
    synchronous_commit: bool = True
    shared_buffers: str = "128MB"
    max_connections: int = 100

    def server_options(self) -> dict[str, str]:
        return {
            "fsync": "on" if self.fsync else "off",
            "synchronous_commit": "on" if self.synchronous_commit else "off",
            "full_page_writes": "on",
            "shared_buffers": self.shared_buffers,
            "max_connections": str(self.max_connections),
            "listen_addresses": HOST,
            "logging_collector": "off",
        }


@dataclass(frozen=True, slots=True)
class PostgresServer:
    endpoint: Endpoint
    pid: int
    root: Path
    socket_dir: Path
    log_path: Path
    settings: PostgresSettings

    @property
    def dsn(self) -> str:
        return self.endpoint.dsn

    def memory_kb(self) -> int:
        """Pss summed over the postmaster and all its children (shared buffers counted once)."""
        return tree_pss_kb(self.pid)


def postgres_version() -> str:
    out = subprocess.run(
        [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def _run_as() -> str | None:
    """The account to run PostgreSQL as: `postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise RuntimeError(
            "running as root, but there is no 'postgres' account to run PostgreSQL"
        ) from None
    return SUPERUSER


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for base, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(base, name), entry.pw_uid, entry.pw_gid)


@contextmanager
def throwaway_postgres(
    tmp_root: Path | None = None,
    settings: PostgresSettings | None = None,
    cpus: CpuPlan | None = None,
) -> Iterator[PostgresServer]:
    """A running PostgreSQL for the duration of the `with`; gone afterwards, whatever happens."""
    settings = settings or PostgresSettings()
    cpus = cpus or CpuPlan(None, None)
    user = _run_as()
    root = Path(tempfile.mkdtemp(prefix="quorumdb-bench-pg-", dir=tmp_root))
    proc: subprocess.Popen[bytes] | None = None
    try:
        data_dir, socket_dir, log_path = root / "data", root / "socket", root / "postgres.log"
        socket_dir.mkdir()
        log_path.touch()
        if user is not None:
            _chown_tree(root, user)
        env = clean_env({"HOME": str(root), "LC_ALL": "C", "TZ": "UTC"})
        initdb = subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data_dir),
                "--locale=C",
                "--encoding=UTF8",
                "--username",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
            ],  # fmt: skip
            capture_output=True,
            text=True,
            env=env,
            cwd=root,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
        )
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed ({initdb.returncode}): {initdb.stderr.strip()}")
        (port,) = free_ports(1)
        options = {
            **settings.server_options(),
            "port": str(port),
            "unix_socket_directories": str(socket_dir),
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(data_dir)]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        proc = spawn(cpus.server_command(argv), log_path, env=env, cwd=root, user=user)
        server = PostgresServer(
            endpoint=Endpoint(HOST, port, SUPERUSER, "postgres"),
            pid=proc.pid,
            root=root,
            socket_dir=socket_dir,
            log_path=log_path,
            settings=settings,
        )
        running = proc

        def connects() -> bool:
            with psycopg.connect(server.dsn, connect_timeout=2, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return True

        def exited() -> str | None:
            if running.poll() is None:
                return None
            return f"postgres exited with {running.returncode}:\n{log_tail(log_path)}"

        wait_until(connects, READY_TIMEOUT, "PostgreSQL to accept connections", abort=exited)
        say(f"PostgreSQL ready on {HOST}:{port} (pid {proc.pid}, data in {root})")
        yield server
    finally:
        if proc is not None:
            # SIGINT is PostgreSQL's "fast shutdown": abort sessions, checkpoint, exit.
            stop_process(proc, signal.SIGINT, STOP_TIMEOUT)
        shutil.rmtree(root, ignore_errors=True)
