"""The benchmark workloads, each measured on PostgreSQL and QuorumDB in the same run.

| name           | what it answers                                             |
| -------------- | ----------------------------------------------------------- |
| pgbench        | throughput and latency of TPC-B and select-only, by scale,  |
|                | clients and protocol mode                                   |
| insert_latency | what one client waits for one durable autocommit INSERT     |
| failover       | how long writes stop when the leader is killed              |
| bulk_load      | `pgbench -i` time, and the memory a node needs for it       |
| raft           | bare pysyncobj vs our Raft adapter vs the SQL INSERT path   |
| gc             | whether the MVCC store stays flat under updates with GC     |

Every workload starts its own throwaway servers, so no workload inherits
another's data, caches or memory peak, and returns `Row`s (see
bench/model.py). Anything that goes wrong on one system becomes a failed
measurement with its error, never an exception that ends the run: that is
how "QuorumDB does not speak the extended protocol yet" shows up in the
report. Only KeyboardInterrupt goes through (servers are still stopped by
their context managers).

Every QuorumDB workload runs against the cluster size in `BenchContext.nodes`
(3 in production shape, 1 while clustering is not wired) and sends its
statements to the leader.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from . import pgbench, pgbench_load
from .cluster import QuorumCluster, QuorumNode, throwaway_cluster
from .failover import run_failover
from .model import Measurement, Row, Target
from .pgbench import PgbenchResult, PgbenchRun
from .plan import FULL, QUICK, BenchContext, Plan, WorkloadResult, error_text
from .postgres import throwaway_postgres
from .support import Endpoint, MemorySampler, say

__all__ = [
    "Plan",
    "QUICK",
    "FULL",
    "BenchContext",
    "WorkloadResult",
    "WORKLOADS",
    "latency_stats",
]

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def _postgres(ctx: BenchContext) -> Iterator[Any]:
    with throwaway_postgres(ctx.tmp_root, cpus=ctx.cpus) as server:
        yield server


@contextmanager
def _quorumdb(ctx: BenchContext, fsync: bool = True) -> Iterator[tuple[QuorumCluster, QuorumNode]]:
    with throwaway_cluster(
        ctx.nodes, fsync=fsync, tmp_root=ctx.tmp_root, cpus=ctx.cpus, extra_args=ctx.quorumdb_args
    ) as cluster:
        yield cluster, cluster.find_leader()


@contextmanager
def _endpoint(ctx: BenchContext, system: str, fsync: bool = True) -> Iterator[Endpoint]:
    """A fresh server of `system` ("postgresql" or "quorumdb"): where clients connect."""
    if system == "postgresql":
        with _postgres(ctx) as pg:
            yield pg.endpoint
    else:
        with _quorumdb(ctx, fsync) as (_, leader):
            yield leader.endpoint


# --- (a) pgbench: TPC-B, select-only, INSERT ------------------------------------------------------


def _pgbench_runs(plan: Plan, scale: int) -> list[PgbenchRun]:
    cpus = os.cpu_count() or 1
    return [
        PgbenchRun(script, scale, clients, min(clients, cpus), plan.duration_s, mode)
        for script in plan.scripts
        for clients in plan.clients
        for mode in plan.modes
    ] + [
        PgbenchRun(script, scale, clients, min(clients, cpus), plan.duration_s, mode)
        for script, clients, mode in plan.extra_runs
    ]


def _pgbench_target(run: PgbenchRun) -> Target | None:
    if run.scale == 1 and run.clients == 10 and run.mode == "prepared":
        if run.script == "tpcb":
            return Target("ratio_at_least", 0.20, require_zero_failed=True)
        if run.script == "select-only":
            return Target("ratio_at_least", 0.15)
    return None


def _pgbench_measurement(result: PgbenchResult, loaded_by: str | None) -> Measurement:
    details = result.to_dict()
    if loaded_by:
        details["loaded_by"] = loaded_by
    if result.ok:
        return Measurement(result.summary.tps, details=details)
    return Measurement.failed(result.error or "pgbench failed", details)


def _pgbench_on(
    system: str,
    endpoint: Endpoint,
    ctx: BenchContext,
    measurements: dict[str, Measurement],
    inits: dict[str, Any],
) -> None:
    """Every configured run against one server, into {run label: measurement} and {scale: init}.

    Filled in as it goes, so what was measured survives a later crash of the server.
    """
    for scale in ctx.plan.scales:
        say(f"{system}: pgbench -i -s {scale}")
        init = pgbench.init(endpoint, scale, ctx.cpus, timeout=ctx.plan.init_timeout_s)
        inits[f"s{scale}"] = init.to_dict()
        loaded_by, load_error = None, None
        if not init.ok:
            say(f"{system}: pgbench -i -s {scale} failed: {init.error}")
            if system == "quorumdb" and ctx.fallback_load:
                loaded_by, load_error = _fallback_load(endpoint, scale, init.error or "")
                inits[f"s{scale}"]["fallback_loader"] = loaded_by or load_error
        for run in _pgbench_runs(ctx.plan, scale):
            if not init.ok and loaded_by is None:
                error = f"pgbench -i -s {scale} failed: {init.error}"
                if load_error:
                    error += f"; the fallback loader failed too: {load_error}"
                measurements[run.label] = Measurement.failed(error)
                continue
            result = pgbench.run(run, endpoint, ctx.cpus)
            figure = (
                f"{result.summary.tps:.1f} tx/s, p50 {_ms(result.latency_p50_ms)}, "
                f"p99 {_ms(result.latency_p99_ms)}, failed {result.summary.failed}"
                if result.ok
                else f"FAILED: {result.error}"
            )
            say(f"{system}: {run.label}: {figure}")
            measurements[run.label] = _pgbench_measurement(result, loaded_by)


def _fallback_load(
    endpoint: Endpoint, scale: int, init_error: str
) -> tuple[str | None, str | None]:
    """(description, None) if bench/pgbench_load.py loaded the tables, else (None, error)."""
    say(f"quorumdb: loading the pgbench tables with the harness's fallback loader (scale {scale})")
    started = time.monotonic()
    try:
        substituted = pgbench_load.load(endpoint, scale)
    except Exception as exc:  # noqa: BLE001
        say(f"quorumdb: fallback loader failed: {exc}")
        return None, error_text(exc)
    took = time.monotonic() - started
    note = (
        f"tables loaded by bench/pgbench_load.py in {took:.1f}s because pgbench -i failed "
        f"({init_error.strip()[:200]})"
    )
    if substituted:
        note += "; types substituted: " + ", ".join(substituted)
    say(f"quorumdb: fallback load done in {took:.1f}s")
    return note, None


def _ms(value: float | None) -> str:
    return f"{value:.2f} ms" if value is not None else "-"


def run_pgbench(ctx: BenchContext) -> WorkloadResult:
    runs = [run for scale in ctx.plan.scales for run in _pgbench_runs(ctx.plan, scale)]
    by_system: dict[str, dict[str, Measurement]] = {}
    inits: dict[str, Any] = {}
    for system in ("postgresql", "quorumdb"):
        measured = by_system[system] = {}
        inits[system] = {}
        try:
            with _endpoint(ctx, system) as endpoint:
                _pgbench_on(system, endpoint, ctx, measured, inits[system])
        except Exception as exc:  # noqa: BLE001 - one system failing is a result
            say(f"{system}: pgbench workload stopped: {exc}")
            for run in runs:
                measured.setdefault(run.label, Measurement.failed(error_text(exc)))
    rows = [
        Row(
            "pgbench",
            run.label,
            "tps",
            "tx/s",
            True,
            by_system["postgresql"].get(run.label),
            by_system["quorumdb"].get(run.label),
            _pgbench_target(run),
        )
        for run in runs
    ]
    return WorkloadResult(rows, {"pgbench_init": inits})


# --- (b) single-client autocommit INSERT latency --------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyStats:
    p50_ms: float
    p99_ms: float
    mean_ms: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {"p50_ms": self.p50_ms, "p99_ms": self.p99_ms, "mean_ms": self.mean_ms, "n": self.n}


def latency_stats(samples_ms: list[float]) -> LatencyStats:
    ordered = sorted(samples_ms)
    p50 = pgbench.percentile(ordered, 0.50)
    p99 = pgbench.percentile(ordered, 0.99)
    assert p50 is not None and p99 is not None, "no samples"
    return LatencyStats(
        round(p50, 3), round(p99, 3), round(statistics.fmean(ordered), 3), len(ordered)
    )


def measure_insert_latency(endpoint: Endpoint, count: int, warmup: int) -> LatencyStats:
    """`count` autocommit INSERTs, one at a time, timed by the client after `warmup` untimed ones.

    psycopg with client-side binding (simple query protocol) for both
    systems: the same protocol and the same client work on each side.
    """
    with psycopg.connect(
        endpoint.dsn, autocommit=True, connect_timeout=10, cursor_factory=psycopg.ClientCursor
    ) as conn:
        conn.execute("CREATE TABLE bench_insert (id INT PRIMARY KEY, payload TEXT NOT NULL)")
        payload = "x" * 64
        samples: list[float] = []
        for i in range(warmup + count):
            started = time.perf_counter()
            conn.execute("INSERT INTO bench_insert (id, payload) VALUES (%s, %s)", (i, payload))
            if i >= warmup:
                samples.append((time.perf_counter() - started) * 1000.0)
    return latency_stats(samples)


def run_insert_latency(ctx: BenchContext) -> WorkloadResult:
    plan = ctx.plan
    measured: dict[str, LatencyStats | Measurement] = {}
    variants = [
        ("postgresql", "postgresql", True),
        ("quorumdb fsync on", "quorumdb", True),
        ("quorumdb fsync off", "quorumdb", False),
    ]
    for name, system, fsync in variants:
        try:
            with _endpoint(ctx, system, fsync) as endpoint:
                stats = measure_insert_latency(endpoint, plan.insert_count, plan.insert_warmup)
            say(
                f"{name}: INSERT p50 {stats.p50_ms:.3f} ms, p99 {stats.p99_ms:.3f} ms (n={stats.n})"
            )
            measured[name] = stats
        except Exception as exc:  # noqa: BLE001
            say(f"{name}: INSERT latency failed: {exc}")
            measured[name] = Measurement.failed(error_text(exc))

    def figure(name: str, metric: str) -> Measurement:
        value = measured[name]
        if isinstance(value, Measurement):
            return value
        return Measurement(getattr(value, metric), details=value.to_dict())

    rows = []
    for switch in ("on", "off"):
        qdb = f"quorumdb fsync {switch}"
        case = f"autocommit INSERT, 1 client (QuorumDB fsync {switch}; PostgreSQL synchronous_commit on)"
        for metric, label in (("p50_ms", "latency p50"), ("p99_ms", "latency p99")):
            target = (
                Target("quorumdb_below", 5.0) if switch == "on" and metric == "p50_ms" else None
            )
            rows.append(
                Row("insert_latency", case, label, "ms", False,
                    figure("postgresql", metric), figure(qdb, metric), target)
            )  # fmt: skip
    return WorkloadResult(rows)


# --- (d) bulk load: pgbench -i time and peak memory ------------------------------------------


def run_bulk_load(ctx: BenchContext) -> WorkloadResult:
    scale = ctx.plan.bulk_scale
    case = f"pgbench -i -s {scale}"
    time_m: dict[str, Measurement] = {}
    memory_m: dict[str, Measurement] = {}

    # PostgreSQL: Pss summed over the postmaster and its backends, sampled,
    # because its memory is spread over processes that share shared_buffers.
    try:
        with _postgres(ctx) as pg:
            with MemorySampler(lambda: {"postgresql": pg.memory_kb()}) as sampler:
                init = pgbench.init(pg.endpoint, scale, ctx.cpus, timeout=ctx.plan.init_timeout_s)
            pss: dict[str, Any] = {"memory": "peak Pss of all PostgreSQL processes (sampled)"}
            time_m["postgresql"], memory_m["postgresql"] = _bulk_measurements(
                init, sampler.peak_kb.get("postgresql", 0) / 1024, pss, None
            )
    except Exception as exc:  # noqa: BLE001
        time_m["postgresql"] = memory_m["postgresql"] = Measurement.failed(error_text(exc))

    # QuorumDB: VmHWM of each node, the kernel's exact peak of a single process.
    # If pgbench -i fails, the same rows are loaded by the fallback loader so
    # that the memory a node needs for them is still measured (and marked so).
    try:
        with _quorumdb(ctx) as (cluster, leader):
            loaded_by = None
            with MemorySampler(cluster.rss_probe) as sampler:
                init = pgbench.init(
                    leader.endpoint, scale, ctx.cpus, timeout=ctx.plan.init_timeout_s
                )
                if not init.ok and ctx.fallback_load:
                    loaded_by, _ = _fallback_load(leader.endpoint, scale, init.error or "")
            peaks = {name: round(kb / 1024, 1) for name, kb in cluster.peak_rss_kb().items()}
            memory: dict[str, Any] = {
                "memory": "max over nodes of VmHWM",
                "per_node_mb": peaks,
                "sampled_rss_peak_mb": {k: round(v / 1024, 1) for k, v in sampler.peak_kb.items()},
            }
            time_m["quorumdb"], memory_m["quorumdb"] = _bulk_measurements(
                init, max(peaks.values()), memory, loaded_by
            )
    except Exception as exc:  # noqa: BLE001
        time_m["quorumdb"] = memory_m["quorumdb"] = Measurement.failed(error_text(exc))

    for system in ("postgresql", "quorumdb"):
        for label, m, unit in (
            ("time", time_m[system], "s"),
            ("peak memory", memory_m[system], "MB"),
        ):
            shown = (
                f"{m.value:.2f} {unit}" if m.ok and m.value is not None else f"FAILED: {m.error}"
            )
            say(f"{system}: {case}: {label} {shown}")
    return WorkloadResult([
        Row("bulk_load", case, "time", "s", False, time_m["postgresql"], time_m["quorumdb"]),
        Row("bulk_load", case, "peak memory per node", "MB", False, memory_m["postgresql"],
            memory_m["quorumdb"], Target("quorumdb_below", 300.0)),
    ])  # fmt: skip


def _bulk_measurements(
    init: pgbench.InitResult,
    peak_mb: float,
    memory_details: dict[str, Any],
    loaded_by: str | None,
) -> tuple[Measurement, Measurement]:
    """(time, memory). Without a load (pgbench -i and the fallback both failed) memory fails too:
    an idle peak would look like a met target."""
    if init.ok:
        seconds = init.elapsed_s if init.elapsed_s is not None else init.wall_s
        return (
            Measurement(round(seconds, 3), details=init.to_dict()),
            Measurement(round(peak_mb, 1), details=memory_details),
        )
    error = f"pgbench -i failed: {init.error}"
    failed_time = Measurement.failed(error, {"init": init.to_dict(), "fallback": loaded_by})
    if loaded_by is not None:
        return failed_time, Measurement(
            round(peak_mb, 1), details={**memory_details, "loaded_by": loaded_by}
        )
    return failed_time, Measurement.failed(
        error, {"idle_peak_mb": round(peak_mb, 1), **memory_details}
    )


# --- (e) the Raft layer: bench/raft_latency.py -------------------------------------------------


def run_raft(ctx: BenchContext) -> WorkloadResult:
    """Include `python -m bench.raft_latency`'s JSON if that module exists, else "not available"."""
    if not (REPO / "bench" / "raft_latency.py").exists():
        return WorkloadResult(extras={"raft_latency": "not available"})
    attempts = [list(ctx.plan.raft_args)] + ([[]] if ctx.plan.raft_args else [])
    last_error = ""
    for args in attempts:
        say("raft: python -m bench.raft_latency " + " ".join(args))
        try:
            proc = subprocess.run(
                ctx.cpus.client_command([sys.executable, "-m", "bench.raft_latency", *args]),
                capture_output=True, text=True, cwd=REPO, timeout=900,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            last_error = "bench.raft_latency did not finish within 900s"
            break
        if proc.returncode == 2 and args:  # a usage error: its flags changed; try the defaults
            last_error = proc.stderr.strip()[-500:]
            continue
        if proc.returncode != 0:
            last_error = f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"
            break
        try:
            return WorkloadResult(extras={"raft_latency": json.loads(proc.stdout)})
        except json.JSONDecodeError as exc:
            last_error = f"output is not JSON ({exc}): {proc.stdout[:200]!r}"
            break
    say(f"raft: failed: {last_error}")
    return WorkloadResult(extras={"raft_latency": {"status": "failed", "error": last_error}})


# --- (f) MVCC garbage collection: bench/gc_growth.py ---------------------------------------------


def run_gc(ctx: BenchContext) -> WorkloadResult:
    """`python -m bench.gc_growth`: store growth under updates with GC (QuorumDB only; the
    run without GC is its anchor, in the details)."""
    seconds, anchor = ctx.plan.gc_seconds, ctx.plan.gc_anchor_seconds
    case = f"1000 rows, 4 clients, {seconds:g} s"
    # Shorter runs end within a few memtable flushes (16 MB each): too short to judge.
    target = Target("quorumdb_below", 2.0) if seconds >= 300 else None
    row = partial(
        Row, "gc", case, "store growth after warm-up", "x", False,
        Measurement.unavailable("PostgreSQL's vacuum is not measured here"),
        target=target,
    )  # fmt: skip
    args = ["--seconds", str(seconds), "--anchor-seconds", str(anchor)]
    say("gc: python -m bench.gc_growth " + " ".join(args))
    with tempfile.TemporaryDirectory(prefix="gcbench-", dir=ctx.tmp_root) as tmp:
        out = os.path.join(tmp, "gc.json")
        try:
            proc = subprocess.run(
                ctx.cpus.client_command(
                    [sys.executable, "-m", "bench.gc_growth", *args, "--json", out]
                ),
                capture_output=True, text=True, cwd=REPO, timeout=seconds + anchor + 600,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return WorkloadResult([row(Measurement.failed("bench.gc_growth did not finish"))])
        if proc.returncode != 0:
            error = proc.stderr.strip()[-1000:] or f"exit status {proc.returncode}"
            return WorkloadResult([row(Measurement.failed(error))])
        with open(out) as f:
            document = json.load(f)
    summary = document["summary"]
    with_gc = summary["with gc"]
    details = {
        "versions_ratio": with_gc["versions_ratio"],
        "store_mb_during_warmup": round(with_gc["bytes_during_warmup"] / 1e6, 2),
        "store_mb_after_warmup": round(with_gc["bytes_after_warmup"] / 1e6, 2),
        "commits": with_gc["commits"],
        "without_gc": summary.get("without gc (anchor)"),
    }
    return WorkloadResult(
        [row(Measurement(with_gc["bytes_ratio"], details=details))],
        extras={"gc_growth": summary},
    )


WORKLOADS: dict[str, Callable[[BenchContext], WorkloadResult]] = {
    "pgbench": run_pgbench,
    "insert_latency": run_insert_latency,
    "failover": run_failover,
    "bulk_load": run_bulk_load,
    "raft": run_raft,
    "gc": run_gc,
}
