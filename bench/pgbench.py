"""Drive the `pgbench` binary and turn its output into values.

pgbench is the common yardstick: the same client binary, the same scripts
and the same protocol modes against PostgreSQL and QuorumDB, so the client
side of every comparison is identical. This module:

* builds the command lines (`PgbenchRun.argv`, `init`);
* runs them with a timeout and never raises for a failing configuration:
  QuorumDB may not support the extended protocol or a statement pgbench
  needs yet, and such a run is a result (`ok=False` with the error), not a
  crash of the whole benchmark;
* parses pgbench's summary (TPS, failures by kind, average latency, the
  per-statement report of ``-r``) and its per-transaction logs (``-l``), from
  which the latency percentiles are computed: pgbench itself prints only
  the average and the standard deviation.

The parsing functions are pure (text in, values out) and tested on
recorded output in tests/bench.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .support import CpuPlan, Endpoint, clean_env

__all__ = [
    "PGBENCH",
    "SCRIPTS",
    "MODES",
    "PgbenchRun",
    "RunSummary",
    "LatencyLog",
    "CommandLatency",
    "PgbenchResult",
    "InitResult",
    "parse_run_output",
    "parse_per_command",
    "parse_latency_log",
    "parse_init_output",
    "error_lines",
    "percentile",
    "run",
    "init",
    "pgbench_version",
]

PGBENCH = "pgbench"
INSERT_SCRIPT = Path(__file__).resolve().parent / "pgbench_insert.sql"
SCRIPTS = {
    "tpcb": ("TPC-B", []),
    "select-only": ("select-only", ["-S"]),
    "insert": ("INSERT", ["-f", str(INSERT_SCRIPT)]),
}
MODES = ("simple", "extended", "prepared")


@dataclass(frozen=True, slots=True)
class PgbenchRun:
    """One pgbench run: script, clients, duration, protocol mode and the options around them."""

    script: str
    scale: int
    clients: int
    threads: int
    duration_s: int
    mode: str = "prepared"
    rate: float | None = None
    max_tries: int = 1
    report_per_command: bool = True
    log_latencies: bool = True

    def __post_init__(self) -> None:
        if self.script not in SCRIPTS:
            raise ValueError(
                f"unknown script {self.script!r}; expected one of {', '.join(SCRIPTS)}"
            )
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")

    @property
    def label(self) -> str:
        rate = f" R{self.rate:g}" if self.rate else ""
        return f"{SCRIPTS[self.script][0]} s{self.scale} c{self.clients} {self.mode}{rate}"

    def argv(self, endpoint: Endpoint, log_prefix: Path | None = None) -> list[str]:
        args = [PGBENCH, *SCRIPTS[self.script][1]]
        args += ["-c", str(self.clients), "-j", str(self.threads), "-T", str(self.duration_s)]
        args += ["-M", self.mode, "--failures-detailed", "--max-tries", str(self.max_tries)]
        if self.rate:
            args += ["-R", f"{self.rate:g}"]
        if self.report_per_command:
            args.append("-r")
        if self.log_latencies and log_prefix is not None:
            args += ["-l", "--log-prefix", str(log_prefix)]
        return args + endpoint.libpq_args()


@dataclass(frozen=True, slots=True)
class CommandLatency:
    """One line of pgbench's ``-r`` report: average latency of a script command."""

    latency_ms: float
    failures: int
    retries: int | None
    command: str


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What pgbench prints at the end of a run; None for lines it did not print."""

    tps: float | None = None
    transactions: int | None = None
    failed: int | None = None
    serialization_failures: int | None = None
    deadlock_failures: int | None = None
    retried: int | None = None
    latency_avg_ms: float | None = None
    latency_stddev_ms: float | None = None
    connection_time_ms: float | None = None
    schedule_lag_avg_ms: float | None = None
    per_command: tuple[CommandLatency, ...] = ()


@dataclass(frozen=True, slots=True)
class LatencyLog:
    """Per-transaction latencies (successful transactions only) from pgbench's ``-l`` logs."""

    latencies_ms: tuple[float, ...]
    failed: int = 0
    skipped: int = 0

    def percentile(self, q: float) -> float | None:
        return percentile(sorted(self.latencies_ms), q)


@dataclass(frozen=True, slots=True)
class PgbenchResult:
    run: PgbenchRun
    ok: bool
    error: str | None
    summary: RunSummary
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    latency_samples: int
    exit_code: int | None
    wall_s: float
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        return {
            "ok": self.ok,
            "error": self.error,
            "tps": s.tps,
            "transactions": s.transactions,
            "failed_transactions": s.failed,
            "serialization_failures": s.serialization_failures,
            "deadlock_failures": s.deadlock_failures,
            "retried_transactions": s.retried,
            "latency_avg_ms": s.latency_avg_ms,
            "latency_p50_ms": self.latency_p50_ms,
            "latency_p99_ms": self.latency_p99_ms,
            "latency_samples": self.latency_samples,
            "connection_time_ms": s.connection_time_ms,
            "per_command": [
                {"latency_ms": c.latency_ms, "failures": c.failures, "command": c.command}
                for c in s.per_command
            ],
            "exit_code": self.exit_code,
            "wall_s": round(self.wall_s, 3),
            "warnings": list(self.warnings),
            "command": " ".join(
                self.run.argv(Endpoint("HOST", 0, "USER", "DB"), Path("LOGDIR/tx"))
            ),
        }


@dataclass(frozen=True, slots=True)
class InitResult:
    """`pgbench -i`: pgbench's own elapsed time and per-step times, plus our wall clock."""

    scale: int
    ok: bool
    error: str | None
    elapsed_s: float | None
    steps_s: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "ok": self.ok,
            "error": self.error,
            "elapsed_s": self.elapsed_s,
            "steps_s": dict(self.steps_s),
            "wall_s": round(self.wall_s, 3),
            "exit_code": self.exit_code,
        }


_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_SUMMARY_PATTERNS: dict[str, tuple[str, type]] = {
    "tps": (rf"^tps = {_NUM}", float),
    "transactions": (r"^number of transactions actually processed: ([0-9]+)", int),
    "failed": (r"^number of failed transactions: ([0-9]+)", int),
    "serialization_failures": (r"^number of serialization failures: ([0-9]+)", int),
    "deadlock_failures": (r"^number of deadlock failures: ([0-9]+)", int),
    "retried": (r"^number of transactions retried: ([0-9]+)", int),
    "latency_avg_ms": (rf"^latency average = {_NUM} ms", float),
    "latency_stddev_ms": (rf"^latency stddev = {_NUM} ms", float),
    "connection_time_ms": (rf"^initial connection time = {_NUM} ms", float),
    "schedule_lag_avg_ms": (rf"^rate limit schedule lag: avg {_NUM}", float),
}


def parse_run_output(stdout: str) -> RunSummary:
    """The end-of-run summary pgbench writes to stdout (PostgreSQL 15 format)."""
    values: dict[str, Any] = {}
    for name, (pattern, kind) in _SUMMARY_PATTERNS.items():
        match = re.search(pattern, stdout, re.MULTILINE)
        if match:
            values[name] = kind(match.group(1))
    return RunSummary(**values, per_command=parse_per_command(stdout))


_PER_COMMAND_HEADER = re.compile(r"^statement latencies in milliseconds(.*):\s*$", re.MULTILINE)
_PER_COMMAND_LINE = re.compile(r"^\s+([0-9.]+)\s+([0-9]+)(?:\s+([0-9]+))?\s{2}(\S.*)$")


def parse_per_command(stdout: str) -> tuple[CommandLatency, ...]:
    """The ``-r`` report: 'latency failures [retries] command' lines after its header."""
    header = _PER_COMMAND_HEADER.search(stdout)
    if header is None:
        return ()
    has_retries = "retries" in header.group(1)
    commands = []
    for line in stdout[header.end() :].splitlines()[1:]:
        match = _PER_COMMAND_LINE.match(line)
        if match is None:
            break
        latency, failures, third, command = match.groups()
        if third is not None and not has_retries:  # a command that starts with a number
            command = f"{third}  {command}"
            third = None
        commands.append(
            CommandLatency(float(latency), int(failures), int(third) if third else None, command)
        )
    return tuple(commands)


def parse_latency_log(lines: Iterable[str]) -> LatencyLog:
    """pgbench ``-l`` lines: ``client tx time script epoch epoch_us [lag [retries]]``.

    `time` is the latency in microseconds, or a word for a transaction that
    did not complete: 'failed' (or, with --failures-detailed,
    'serialization' / 'deadlock') and 'skipped' (rate limit with -L).
    """
    latencies: list[float] = []
    failed = skipped = 0
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        value = fields[2]
        if value.isdigit():
            latencies.append(int(value) / 1000.0)
        elif value == "skipped":
            skipped += 1
        else:
            failed += 1
    return LatencyLog(tuple(latencies), failed, skipped)


_INIT_DONE = re.compile(rf"^done in {_NUM} s \((.*)\)\.?\s*$", re.MULTILINE)
_INIT_STEP = re.compile(rf"^(.*?) {_NUM} s$")


def parse_init_output(text: str) -> tuple[float | None, dict[str, float]]:
    """'done in 0.12 s (drop tables 0.00 s, create tables 0.01 s, ...).' -> (0.12, steps)."""
    match = _INIT_DONE.search(text)
    if match is None:
        return None, {}
    steps: dict[str, float] = {}
    for part in match.group(2).split(","):
        step = _INIT_STEP.match(part.strip())
        if step:
            steps[step.group(1)] = float(step.group(2))
    return float(match.group(1)), steps


def error_lines(stderr: str, limit: int = 4) -> tuple[list[str], list[str]]:
    """(errors, warnings) from pgbench's stderr, each distinct message once with its count.

    An error pgbench reports and then ignores ("ignoring this error and
    continuing anyway", e.g. VACUUM before a run on a server without
    VACUUM) is a warning: the run itself is unaffected. The same error from
    ten clients is one message "... (x10)", with the client number elided.
    """
    lines = stderr.splitlines()
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    for i, line in enumerate(lines):
        at = line.find("pgbench: error:")
        if at < 0:
            continue
        text = re.sub(r"\bclient [0-9]+\b", "client N", line[at:].strip())
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if "ignoring this error" in following:
            warnings[text] += 1
        else:
            errors[text] += 1
    return _counted(errors, limit), _counted(warnings, limit)


def _counted(messages: Counter[str], limit: int) -> list[str]:
    return [f"{text} (x{n})" if n > 1 else text for text, n in list(messages.items())[:limit]]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of already sorted values; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def pgbench_version() -> str:
    out = subprocess.run([PGBENCH, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def run(
    config: PgbenchRun,
    endpoint: Endpoint,
    cpus: CpuPlan | None = None,
    timeout: float | None = None,
) -> PgbenchResult:
    """Run pgbench once; a failure of any kind comes back as a result with ok=False."""
    cpus = cpus or CpuPlan(None, None)
    log_dir = Path(tempfile.mkdtemp(prefix="quorumdb-bench-pgbench-"))
    argv = cpus.client_command(config.argv(endpoint, log_dir / "tx"))
    limit = timeout or config.duration_s * 3 + 60
    started = time.monotonic()
    try:
        try:
            proc = subprocess.run(
                argv, capture_output=True, text=True, env=clean_env(), timeout=limit
            )
        except subprocess.TimeoutExpired:
            return PgbenchResult(
                config, False, f"pgbench did not finish within {limit:.0f}s", RunSummary(),
                None, None, 0, None, time.monotonic() - started,
            )  # fmt: skip
        wall = time.monotonic() - started
        summary = parse_run_output(proc.stdout)
        log = parse_latency_log(_read_logs(log_dir))
        errors, warnings = error_lines(proc.stderr)
        ok = proc.returncode == 0 and summary.tps is not None and not errors
        error = None
        if not ok:
            error = (
                "; ".join(errors)
                or f"pgbench exited with {proc.returncode}: {proc.stderr.strip()[-300:]}"
            )
        ordered = sorted(log.latencies_ms)
        return PgbenchResult(
            run=config,
            ok=ok,
            error=error,
            summary=summary,
            latency_p50_ms=percentile(ordered, 0.50),
            latency_p99_ms=percentile(ordered, 0.99),
            latency_samples=len(ordered),
            exit_code=proc.returncode,
            wall_s=wall,
            warnings=tuple(warnings),
        )
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _read_logs(log_dir: Path) -> Iterable[str]:
    for path in sorted(log_dir.glob("tx*")):  # tx.PID and tx.PID.THREAD, one per thread
        with open(path) as f:
            yield from f


def init(
    endpoint: Endpoint,
    scale: int,
    cpus: CpuPlan | None = None,
    timeout: float = 900.0,
    steps: str | None = None,
) -> InitResult:
    """`pgbench -i -s SCALE` (default steps dtgvp: drop, tables, client-side COPY, vacuum, keys)."""
    cpus = cpus or CpuPlan(None, None)
    argv = [PGBENCH, "-i", "-q", "-s", str(scale)]
    if steps:
        argv += ["-I", steps]
    argv = cpus.client_command(argv + endpoint.libpq_args())
    started = time.monotonic()
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=clean_env(), timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return InitResult(scale, False, f"pgbench -i did not finish within {timeout:.0f}s", None,
                          wall_s=time.monotonic() - started)  # fmt: skip
    wall = time.monotonic() - started
    elapsed, step_times = parse_init_output(proc.stderr + proc.stdout)
    errors, _ = error_lines(proc.stderr)
    ok = proc.returncode == 0 and elapsed is not None
    error = None
    if not ok:
        error = (
            "; ".join(errors)
            or f"pgbench -i exited with {proc.returncode}: {proc.stderr.strip()[-300:]}"
        )
    return InitResult(scale, ok, error, elapsed, step_times, wall, proc.returncode)
