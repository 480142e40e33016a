"""What every benchmark module needs: ports, polling, process hygiene, memory, CPU placement.

The harness starts real servers (PostgreSQL, `quorumdb serve`) and clients
(pgbench) and must leave nothing behind, also on Ctrl-C or an exception, so:

* every server process is started through `spawn`, in its own session (a
  Ctrl-C in the terminal reaches only the harness, which then stops the
  servers in order), and recorded in `LIVE`; `kill_all_live` is the last
  line of defence in `bench.run`;
* nothing waits with a bare sleep: `wait_until` polls a condition with a
  deadline and reports the last error when it gives up;
* memory is read from /proc (psutil is not a dependency): VmRSS/VmHWM of a
  process, and the proportional set size (Pss) summed over a process tree,
  which is the fair figure for a multi-process server with shared memory
  such as PostgreSQL;
* `CpuPlan` decides where servers and clients run (see its docstring).

`say` prints progress to stderr, so stdout stays free for machine output.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

__all__ = [
    "Endpoint",
    "CpuPlan",
    "LIVE",
    "say",
    "free_ports",
    "wait_until",
    "call_with_timeout",
    "clean_env",
    "spawn",
    "stop_process",
    "kill_all_live",
    "proc_status_kb",
    "process_tree",
    "tree_pss_kb",
    "MemorySampler",
    "log_tail",
]

T = TypeVar("T")
HOST = "127.0.0.1"
_START = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr, stamped with the seconds since the harness started."""
    sys.stderr.write(f"[bench {time.monotonic() - _START:7.1f}s] {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a PostgreSQL-protocol client connects; the same shape for both systems."""

    host: str
    port: int
    user: str
    dbname: str

    @property
    def dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"

    def libpq_args(self) -> list[str]:
        """-h/-p/-U and the database name, as pgbench and psql take them."""
        return ["-h", self.host, "-p", str(self.port), "-U", self.user, self.dbname]


@dataclass(frozen=True, slots=True)
class CpuPlan:
    """Which CPUs the servers and the load generators may use (taskset lists, or None).

    The comparison promises both systems the same 2-core budget. On a machine
    with exactly 2 cores nothing is pinned: PostgreSQL, every QuorumDB node and
    pgbench share both cores, as they would in production on a 2-core host.
    Splitting 1 core for the server and 1 for pgbench would be worse, not
    fairer: it would cap PostgreSQL's process-per-connection design at one
    core while QuorumDB (a Python process, one core at a time per node) would
    lose nothing, and a 3-node cluster would be squeezed onto one core. On a
    larger machine the servers are pinned to cores 0-1 and the clients to the
    remaining cores, so the budget stays 2 cores and the client does not
    steal from it.
    """

    server_cpus: str | None
    client_cpus: str | None

    @classmethod
    def auto(cls, cpu_count: int | None = None) -> CpuPlan:
        n = cpu_count if cpu_count is not None else (os.cpu_count() or 1)
        if n <= 2:
            return cls(None, None)
        return cls("0,1", f"2-{n - 1}")

    @classmethod
    def parse(cls, server: str, client: str | None = None) -> CpuPlan:
        """`--server-cpus auto|none|LIST` and `--client-cpus LIST`."""
        if server == "auto":
            return cls.auto()
        if server == "none":
            return cls(None, client)
        return cls(server, client)

    def server_command(self, argv: Sequence[str]) -> list[str]:
        return _pinned(self.server_cpus, argv)

    def client_command(self, argv: Sequence[str]) -> list[str]:
        return _pinned(self.client_cpus, argv)

    def pin_this_process(self) -> None:
        """Run the harness itself (psycopg clients) on the client CPUs."""
        if self.client_cpus:
            os.sched_setaffinity(0, _cpu_list(self.client_cpus))

    def describe(self) -> str:
        if not self.server_cpus and not self.client_cpus:
            return f"not pinned: servers and clients share all {os.cpu_count()} CPUs"
        return (
            f"servers on CPUs {self.server_cpus or 'any'}, clients on {self.client_cpus or 'any'}"
        )


def _pinned(cpus: str | None, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus else list(argv)


def _cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def free_ports(n: int) -> list[int]:
    """`n` distinct loopback ports that were free a moment ago (bind to port 0)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float,
    message: str,
    interval: float = 0.05,
    abort: Callable[[], str | None] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy (returned) or `timeout` passes.

    An exception from the predicate counts as "not yet"; the last one is
    chained to the TimeoutError. `abort` returning a message (say, "the
    server exited") stops the wait early with a RuntimeError.
    """
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    pause = threading.Event()  # never set: wait() is an interruptible pacing delay
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - polled until the deadline
            last_exc = exc
        if abort is not None:
            reason = abort()
            if reason:
                raise RuntimeError(f"{message}: {reason}") from last_exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc})" if last_exc else ""
            raise TimeoutError(
                f"timed out after {timeout:.0f}s waiting for {message}{detail}"
            ) from last_exc
        pause.wait(interval)


def call_with_timeout(fn: Callable[[], T], timeout: float) -> T | None:
    """`fn()` in a daemon thread; its result, or None if it has not returned within `timeout`.

    For client calls that can block on a misbehaving server; the thread is
    abandoned (daemon) rather than waited for.
    """
    outcome: list[T] = []
    worker = threading.Thread(target=lambda: outcome.append(fn()), daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else None


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The harness's environment without PG* and QUORUMDB_* variables.

    A developer's PGHOST or QUORUMDB_FSYNC must not silently change what is
    measured; everything a server or client needs is passed explicitly.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "QUORUMDB_"))}
    env.update(extra or {})
    return env


LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def spawn(
    argv: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process in its own session, output appended to `log_path`.

    With `user` (running as root) the child switches to that account itself,
    so the pid we hold is the server's own pid, not a runuser/su wrapper's.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else clean_env(),
            cwd=cwd,
            start_new_session=True,
            user=user,
            group=_primary_group(user) if user is not None else None,
            extra_groups=[] if user is not None else None,
        )
    with _LIVE_LOCK:
        LIVE.add(proc)
    return proc


def _primary_group(user: str) -> int:
    return pwd.getpwnam(user).pw_gid


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15.0
) -> int | None:
    """Send `sig`, wait up to `timeout`, then SIGKILL. Returns the exit code."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # its helpers too: spawn() made it a process group leader
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    proc.kill()
                proc.wait(timeout=timeout)
        return proc.returncode
    finally:
        with _LIVE_LOCK:
            LIVE.discard(proc)


def kill_all_live() -> list[int]:
    """SIGKILL every spawned process still running (and its process group); returns their pids."""
    with _LIVE_LOCK:
        procs = list(LIVE)
        LIVE.clear()
    killed = []
    for proc in procs:
        if proc.poll() is None:
            # spawn() made each server a session (and process group) leader, so
            # the group holds its helpers too (PostgreSQL backends).
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
            killed.append(proc.pid)
    return killed


def proc_status_kb(pid: int, fields: Iterable[str] = ("VmRSS", "VmHWM")) -> dict[str, int]:
    """Selected `kB` fields of /proc/PID/status; empty if the process is gone."""
    wanted = set(fields)
    found: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in wanted:
                    found[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}
    return found


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name (field 2) may contain spaces; ppid follows ") S "
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, ()))
    return tree


def tree_pss_kb(root: int) -> int:
    """Sum of Pss over `root` and its descendants: shared pages counted once in total."""
    total = 0
    for pid in process_tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


class MemorySampler:
    """Samples memory of some processes in a background thread while a workload runs.

    `probe` returns {label: kB} for the current moment (labels are node names,
    or "postgresql"); the sampler keeps the largest value seen per label.
    Sampling misses short spikes, so for a single process prefer VmHWM, the
    kernel's exact peak; the samples are the only option for a process tree.
    """

    def __init__(self, probe: Callable[[], dict[str, int]], interval: float = 0.25) -> None:
        self._probe = probe
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self.peak_kb: dict[str, int] = {}
        self.samples = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def sample(self) -> None:
        for label, kb in self._probe().items():
            if kb > self.peak_kb.get(label, 0):
                self.peak_kb[label] = kb
        self.samples += 1

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sample()


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "<no log>"
