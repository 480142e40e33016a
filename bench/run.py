"""One command for the side-by-side benchmark: `python -m bench.run --quick` or `--full`.

    .venv/bin/python -m bench.run --quick                 # < 3 minutes, scale 1
    .venv/bin/python -m bench.run --full                  # everything, scale 1 and 10
    .venv/bin/python -m bench.run --quick --only pgbench,insert_latency

It runs the selected workloads of bench/workloads.py one after another
(never two systems at once, so each has the machine to itself), prints
progress on stderr and writes bench/results/:

* latest.json  machine, run settings, every measurement with its unit, the
               QuorumDB/PostgreSQL ratio and target verdict per row;
* latest.md    the same as tables; latest.png  the same as bars;
* history.jsonl  one appended line per completed run: commit, date, key figures.

QuorumDB runs as a 3-node cluster when `quorumdb serve` accepts --peer, and
as a single node otherwise (`--nodes auto`, the default, tries 3 first and
says in the report which one it used and why).

Every process the harness starts is stopped before it exits, also on
Ctrl-C, SIGTERM or an error: each server lives in a context manager, and
`kill_all_live` catches anything left. An interrupted run still writes
latest.* (marked interrupted) but adds nothing to the history.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

from . import report
from .cluster import ClusteringUnavailable, throwaway_cluster
from .model import Row
from .pgbench import pgbench_version
from .postgres import postgres_version
from .support import CpuPlan, kill_all_live, say
from .workloads import FULL, QUICK, WORKLOADS, BenchContext, Plan

__all__ = ["main", "machine_info", "choose_nodes"]

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def _command_output(argv: Sequence[str], cwd: Path | None = None) -> str | None:
    try:
        return subprocess.run(
            list(argv), capture_output=True, text=True, check=True, cwd=cwd, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_mb() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return None


def _filesystem_of(path: Path) -> str:
    """The filesystem type holding `path` (fsync costs differ wildly: ext4 vs tmpfs)."""
    best, kind = "", "unknown"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mount, fstype = parts[1], parts[2]
                if str(path).startswith(mount) and len(mount) > len(best):
                    best, kind = mount, fstype
    except OSError:
        pass
    return kind


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(tmp_root: Path) -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mb": _memory_mb(),
        "kernel": f"{platform.system()} {platform.release()}",
        "load_average_at_start": list(os.getloadavg()),
        "tmp_dir": str(tmp_root),
        "tmp_filesystem": _filesystem_of(tmp_root.resolve()),
        "python": platform.python_version(),
        "postgresql": _safe(postgres_version),
        "pgbench": _safe(pgbench_version),
        "quorumdb_commit": _command_output(["git", "rev-parse", "HEAD"], REPO),
        "quorumdb_dirty": bool(_command_output(["git", "status", "--porcelain"], REPO)),
        "packages": {p: _version(p) for p in ("psycopg", "pysyncobj", "rocksdict", "pglast")},
    }


def _safe(fn: Any) -> str | None:
    try:
        return str(fn())
    except (OSError, subprocess.SubprocessError):
        return None


def choose_nodes(requested: str, ctx: BenchContext) -> tuple[int, str]:
    """How many QuorumDB nodes to run: `--nodes 1|3`, or for `auto` 3 if a 3-node cluster starts."""
    if requested != "auto":
        return int(requested), "chosen with --nodes"
    say("probing whether quorumdb serve runs a 3-node cluster")
    try:
        with throwaway_cluster(3, tmp_root=ctx.tmp_root, cpus=ctx.cpus):
            return 3, "3-node cluster"
    except ClusteringUnavailable as exc:
        note = f"single node: clustering is not available yet ({exc})"
    except Exception as exc:  # noqa: BLE001 - any failure to cluster means: run one node
        note = f"single node: a 3-node cluster did not become ready ({str(exc)[:300]})"
    say(note)
    return 1, note


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run",
        description="Benchmark QuorumDB against PostgreSQL 15 on this machine; results in bench/results/.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--quick", action="store_true", help="scale 1, short runs, few trials (< 3 min)"
    )
    mode.add_argument(
        "--full", action="store_true", help="scale 1 and 10, longer runs, 5 failover trials"
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME[,NAME]",
        help=f"run only these workloads (repeatable): {', '.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--nodes",
        choices=("auto", "1", "3"),
        default="auto",
        help="QuorumDB cluster size; auto: 3 if `quorumdb serve` accepts --peer, else 1",
    )
    parser.add_argument(
        "--duration", type=int, metavar="S", help="seconds per pgbench run (overrides the mode)"
    )
    parser.add_argument(
        "--tmp-dir", type=Path, help="where servers keep their data (default: the system temp dir)"
    )
    parser.add_argument(
        "--server-cpus",
        default="auto",
        metavar="auto|none|LIST",
        help="taskset CPU list for the servers; auto pins only on machines with more than 2 CPUs",
    )
    parser.add_argument(
        "--client-cpus", metavar="LIST", help="taskset CPU list for pgbench and the harness"
    )
    parser.add_argument(
        "--no-fallback-load",
        action="store_true",
        help="if pgbench -i fails on QuorumDB, record its pgbench rows as failed instead of "
        "loading the tables with bench/pgbench_load.py",
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument("--no-history", action="store_true", help="do not append to history.jsonl")
    parser.add_argument(
        "--quorumdb-arg",
        action="append",
        default=[],
        metavar="FLAG",
        help="extra flag for every `quorumdb serve` (repeatable), e.g. "
        "--quorumdb-arg=--no-group-commit to measure what group commit gains",
    )
    parser.add_argument(
        "--label",
        metavar="TEXT",
        help="what this run measures (the change under test); shown in the report and history",
    )
    args = parser.parse_args(argv)
    only = [name.strip() for item in args.only or [] for name in item.split(",") if name.strip()]
    unknown = [name for name in only if name not in WORKLOADS]
    if unknown:
        parser.error(
            f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}"
        )
    args.only = only
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    plan: Plan = QUICK if args.quick else FULL
    if args.duration:
        plan = replace(plan, duration_s=args.duration)
    selected = args.only or list(WORKLOADS)
    cpus = CpuPlan.parse(args.server_cpus, args.client_cpus)
    tmp_root = (args.tmp_dir or Path(tempfile.gettempdir())).resolve()
    tmp_root.mkdir(parents=True, exist_ok=True)
    # Ctrl-C must reach the cleanup code even if the harness was started with
    # SIGINT ignored (as a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)

    started = datetime.now(UTC)
    clock = time.monotonic()
    machine = machine_info(tmp_root)
    if machine["tmp_filesystem"] in ("tmpfs", "ramfs"):
        say(
            f"WARNING: {tmp_root} is on {machine['tmp_filesystem']}: fsync costs nothing there; use --tmp-dir"
        )
    ctx = BenchContext(
        plan=plan,
        cpus=cpus,
        nodes=1,
        tmp_root=tmp_root,
        fallback_load=not args.no_fallback_load,
        quorumdb_args=tuple(args.quorumdb_arg),
    )
    run_info: dict[str, Any] = {
        "mode": plan.name,
        "only": args.only,
        "started": started.isoformat(timespec="seconds"),
        "cpus": cpus.describe(),
        "plan": asdict(plan),
        "interrupted": False,
        "fallback_load": ctx.fallback_load,
        "label": args.label,
        "quorumdb_args": list(args.quorumdb_arg),
    }
    rows: list[Row] = []
    extras: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    say(f"{plan.name} run: {', '.join(selected)}; CPUs: {cpus.describe()}")
    try:
        cpus.pin_this_process()
        if any(name not in ("raft", "gc") for name in selected):
            ctx.nodes, ctx.nodes_note = choose_nodes(args.nodes, ctx)
        for name in selected:
            say(f"== {name}")
            begun = time.monotonic()
            try:
                result = WORKLOADS[name](ctx)
            except Exception as exc:  # noqa: BLE001 - record it, run the other workloads
                say(f"{name} stopped: {exc!r}")
                errors.append({"workload": name, "error": repr(exc)})
                continue
            rows += result.rows
            extras.update(result.extras)
            say(f"== {name} done in {time.monotonic() - begun:.1f}s")
    except KeyboardInterrupt:
        run_info["interrupted"] = True
        say("interrupted: stopping every process and writing partial results")
    finally:
        leftovers = kill_all_live()
        if leftovers:
            say(f"killed leftover process(es) {leftovers}")
    run_info.update(
        quorumdb_nodes=ctx.nodes,
        quorumdb_nodes_note=ctx.nodes_note,
        duration_s=round(time.monotonic() - clock, 1),
        finished=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    machine["load_average_at_end"] = list(os.getloadavg())
    results = report.build_results(rows, machine, run_info, extras, errors)
    written = report.write_all(
        results, args.results_dir, append_history=not (args.no_history or run_info["interrupted"])
    )
    summary = results["summary"]
    say(
        f"done in {run_info['duration_s']}s: targets {summary['targets_met']} met, "
        f"{summary['targets_missed']} missed, {summary['targets_open']} open; "
        f"wrote {', '.join(str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in written)}"
    )
    return 130 if run_info["interrupted"] else 0


if __name__ == "__main__":
    sys.exit(main())
