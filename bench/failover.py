"""Failover: how long writes stop when the leader is killed with SIGKILL.

A `SteadyWriter` commits autocommit INSERTs at a steady rate (the load a
real client puts on the leader) and moves to the next node whenever a
statement or connection fails. A trial kills the leader with SIGKILL and
measures the time from the kill to the end of the first write that
*started* after it; the leader is then restarted (same data, same ports)
for the next trial, and the figure is the median over the trials.

In a 1-node run nothing can take over, so the killed node is restarted at
once under the same load: that row measures crash recovery plus process
start, and keeps the code path exercised until clustering is wired; the
3-node row then reads "not available" with the reason.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg

from .cluster import QuorumCluster, QuorumNode, throwaway_cluster
from .model import Measurement, Row, Target
from .plan import BenchContext, Plan, WorkloadResult, error_text
from .support import say, wait_until

__all__ = ["SteadyWriter", "run_failover"]

TABLE = "bench_failover"


class SteadyWriter:
    """A client that commits autocommit INSERTs at a steady rate, failing over between nodes.

    It records (start, end) of every committed write and counts errors by
    SQLSTATE (or exception name). After an error it moves to the next node
    and retries at once: the first commit that *started* after the kill is
    what the failover time measures, so a write that was already in flight
    on the old leader and was acknowledged just after the kill does not count.
    """

    def __init__(self, nodes: list[QuorumNode], first: QuorumNode, rate: float, table: str) -> None:
        self._nodes = nodes
        self._index = nodes.index(first)
        self._interval = 1.0 / rate
        self._table = table
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="steady-writer", daemon=True)
        self.commits: list[tuple[float, float]] = []
        self.errors: Counter[str] = Counter()

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        retry_pause = threading.Event()  # never set: an interruptible short back-off
        while not self._stop.is_set():
            node = self._nodes[self._index]
            started = time.monotonic()
            try:
                if conn is None:
                    conn = node.connect(timeout=1.0)
                conn.execute(
                    f"INSERT INTO {self._table} (id, at) VALUES (%s, %s)",
                    (uuid.uuid4().hex, time.time()),
                )
            except psycopg.Error as exc:
                self.errors[getattr(exc, "sqlstate", None) or type(exc).__name__] += 1
                if conn is not None:
                    conn.close()
                    conn = None
                self._index = (self._index + 1) % len(self._nodes)
                retry_pause.wait(0.01)
                continue
            with self._lock:
                self.commits.append((started, time.monotonic()))
            self._stop.wait(self._interval)
        if conn is not None:
            conn.close()

    def committed(self) -> int:
        with self._lock:
            return len(self.commits)

    def first_commit_started_after(self, moment: float) -> float | None:
        with self._lock:
            ends = [end for start, end in self.commits if start >= moment]
        return min(ends) if ends else None

    def __enter__(self) -> SteadyWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _kill_trial(cluster: QuorumCluster, plan: Plan, trial: int) -> dict[str, Any]:
    """Under a steady write load, kill -9 the leader; seconds until a new write commits.

    With 3 nodes the others elect a new leader and the killed node is
    restarted afterwards, for the next trial. With 1 node nothing can take
    over, so the node is restarted at once, under the same load: the figure
    is then crash recovery plus process start, and the same code is exercised.
    """
    leader = cluster.find_leader()
    with SteadyWriter(cluster.nodes, leader, plan.failover_write_rate, TABLE) as writer:
        wait_until(lambda: writer.committed() >= 10, 30, "a steady write load on the leader")
        killed_at = time.monotonic()
        cluster.kill(leader)
        if cluster.size == 1:
            leader.start()
        first = wait_until(
            lambda: writer.first_commit_started_after(killed_at),
            60,
            "a commit after the kill",
            abort=leader.exit_reason if cluster.size == 1 else None,
        )
        errors = dict(writer.errors)
    seconds = first - killed_at
    say(
        f"kill trial {trial}: {seconds:.3f}s to the next commit ({leader.name} killed; client errors {errors})"
    )
    if cluster.size > 1:
        cluster.restart(leader)
    cluster.wait_ready()
    return {"seconds": round(seconds, 4), "killed": leader.name, "client_errors": errors}


def run_failover(ctx: BenchContext) -> WorkloadResult:
    plan = ctx.plan
    load = f"under {plan.failover_write_rate:g} writes/s"
    case = f"kill -9 leader {load} -> first commit on new leader"
    target = Target("quorumdb_below", 3.0)
    trials = _trials(ctx, lambda cluster, i: _kill_trial(cluster, plan, i))
    if ctx.nodes >= 3:
        return WorkloadResult([Row("failover", case, "median", "s", False, None, trials, target)])
    reason = f"needs a 3-node cluster; {ctx.nodes_note or 'running 1 node'}"
    return WorkloadResult([
        Row("failover", case, "median", "s", False, None, Measurement.unavailable(reason), target),
        Row("failover", f"1 node: kill -9 {load}, restart -> first commit (crash recovery)",
            "median", "s", False, None, trials),
    ])  # fmt: skip


def _create_failover_table(cluster: QuorumCluster) -> None:
    with cluster.find_leader().connect() as conn:
        conn.execute(f"CREATE TABLE {TABLE} (id TEXT PRIMARY KEY, at DOUBLE PRECISION)")


def _trials(
    ctx: BenchContext,
    trial: Callable[[QuorumCluster, int], dict[str, Any]],
) -> Measurement:
    results: list[dict[str, Any]] = []
    try:
        with throwaway_cluster(
            ctx.nodes,
            fsync=True,
            tmp_root=ctx.tmp_root,
            cpus=ctx.cpus,
            extra_args=ctx.quorumdb_args,
        ) as cluster:
            _create_failover_table(cluster)
            for i in range(1, ctx.plan.failover_trials + 1):
                results.append(trial(cluster, i))
    except Exception as exc:  # noqa: BLE001
        say(f"failover: {exc}")
        return Measurement.failed(error_text(exc), {"trials": results})
    median = statistics.median(r["seconds"] for r in results)
    return Measurement(round(median, 4), details={"trials": results})
