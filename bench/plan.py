"""What a benchmark run is asked to do and what a workload hands back.

`Plan` fixes the amount of work (`QUICK`: scale 1, short runs, under three
minutes in all; `FULL`: scales 1 and 10, longer runs, more trials);
`BenchContext` is what every workload receives (the plan, where the CPUs
and temporary files are, how many QuorumDB nodes to run); `WorkloadResult`
is what it returns: report rows and extra documents (the Raft JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import Row
from .support import CpuPlan

__all__ = ["Plan", "QUICK", "FULL", "BenchContext", "WorkloadResult", "error_text"]


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of everything to run: `QUICK` (minutes, scale 1) or `FULL`."""

    name: str
    scales: tuple[int, ...]
    clients: tuple[int, ...]
    modes: tuple[str, ...]
    scripts: tuple[str, ...]
    duration_s: int
    insert_count: int
    insert_warmup: int
    failover_trials: int
    failover_write_rate: float
    bulk_scale: int
    init_timeout_s: float
    raft_args: tuple[str, ...]
    gc_seconds: float = 15.0  # the update-heavy run with MVCC GC (bench/gc_growth.py)
    gc_anchor_seconds: float = 10.0  # the same without GC
    # (script, clients, mode) run on top of scripts x clients x modes, at every scale
    extra_runs: tuple[tuple[str, int, str], ...] = ()


QUICK = Plan(
    name="quick",
    scales=(1,),
    clients=(1, 10),
    modes=("simple", "prepared"),
    scripts=("tpcb", "select-only"),
    duration_s=3,
    insert_count=300,
    insert_warmup=30,
    failover_trials=2,
    failover_write_rate=50.0,
    bulk_scale=1,
    init_timeout_s=300.0,
    raft_args=("--proposals", "200", "--seconds", "0.5"),
    extra_runs=(("insert", 10, "prepared"),),
)

FULL = Plan(
    name="full",
    scales=(1, 10),
    clients=(1, 10),
    modes=("simple", "prepared"),
    scripts=("tpcb", "select-only"),
    duration_s=20,
    insert_count=3000,
    insert_warmup=100,
    failover_trials=5,
    failover_write_rate=50.0,
    bulk_scale=10,
    init_timeout_s=1800.0,
    raft_args=(),
    extra_runs=(("insert", 1, "prepared"), ("insert", 10, "prepared")),
    gc_seconds=600.0,
    gc_anchor_seconds=120.0,
)


@dataclass(slots=True)
class BenchContext:
    """Shared by the workloads of one run; `nodes`/`nodes_note` are settled before they start."""

    plan: Plan
    cpus: CpuPlan
    nodes: int
    nodes_note: str = ""
    tmp_root: Path | None = None
    fallback_load: bool = True  # load pgbench tables with bench/pgbench_load.py if pgbench -i fails
    quorumdb_args: tuple[str, ...] = ()  # extra `quorumdb serve` flags (--quorumdb-arg), for A/B runs


@dataclass(slots=True)
class WorkloadResult:
    rows: list[Row] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


def error_text(exc: BaseException) -> str:
    """An exception as the error of a failed measurement: its message, bounded."""
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) < 2000 else text[:2000] + "..."
