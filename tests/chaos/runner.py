"""Running one chaos scenario: cluster, workloads, nemesis, recovery, final reads, checks.

`run_scenario` does, in order:

1. start a `ChaosCluster` behind a `Network` of proxies and create the
   workloads' tables on the healthy cluster;
2. run every workload's client threads and the scenario's nemesis for
   `duration` seconds;
3. stop the nemesis and heal everything (network, paused and killed nodes),
   let the clients go on for `recovery` seconds and until each workload got
   an operation acknowledged again - within `recovery_deadline`, or the run
   fails (availability after the faults end);
4. stop the clients, wait until every replica has applied what the leader
   has and read every workload's final state from every replica, again if
   the applied index moved meanwhile;
5. stop the nodes and compare the replicas' whole MVCC stores (digests);
6. run the checkers - every workload's, and the isolation checker over all
   histories at once. A run is valid only if every verdict is.

Whatever happens, every process and proxy started here is stopped. When the
run is not valid (or QUORUMDB_CHAOS_KEEP=1) the histories (JSON lines, one
file per workload), the verdicts, the run's parameters and the nodes' logs
are saved under tests/chaos/artifacts/<scenario>-<timestamp>/.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from support import wait_until

from .checkers.isolation import check_isolation
from .client import Client, Watchdog
from .cluster import ChaosCluster
from .history import History, Op, Recorder, save_history
from .nemesis import Faults, Nemesis, nemesis_verdict
from .proxy import Network
from .verdict import Verdict
from .workloads.base import ALREADY_DONE, Worker, Workload

__all__ = ["Scenario", "RunResult", "run_scenario", "ARTIFACTS"]

ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass(frozen=True)
class Scenario:
    name: str
    nemesis: Callable[[], Nemesis]
    nodes: int = 3
    extra_args: tuple[str, ...] = ()
    # None if the scenario can run in this tree, else why not (e.g. a missing tool).
    unavailable: Callable[[], str | None] = lambda: None


@dataclass
class RunResult:
    scenario: str
    seed: int
    duration: float
    verdicts: list[Verdict]
    faults: dict[str, int]
    artifacts: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return all(v.valid is True for v in self.verdicts)

    def summary(self) -> dict[str, Any]:
        """The run in figures: operations and their outcomes, faults, verdicts."""
        outcomes = {"ok": 0, "fail": 0, "unknown": 0}
        for verdict in self.verdicts:
            if verdict.checker == "availability":
                for counts in verdict.stats.values():
                    for kind in outcomes:
                        outcomes[kind] += counts.get(kind, 0)
        return {
            "scenario": self.scenario,
            "seed": self.seed,
            "duration": self.duration,
            "valid": self.valid,
            "ops": sum(outcomes.values()),
            **outcomes,
            "faults": self.faults,
            "verdicts": {v.checker: v.valid for v in self.verdicts},
            "isolation": next((v.stats for v in self.verdicts if v.checker == "isolation"), None),
            "seconds": round(self.timings.get("total", 0.0), 1),
        }

    def report(self) -> str:
        lines = [
            f"scenario {self.scenario} (seed {self.seed}, {self.duration:.0f}s): "
            + ("valid" if self.valid else "NOT VALID"),
            f"faults: {self.faults}",
            *(v.summary() for v in self.verdicts),
        ]
        if self.artifacts is not None:
            lines.append(f"artifacts: {self.artifacts}")
        return "\n".join(lines)


class _Directory:
    """The cluster as clients see it: any member, by its real PostgreSQL port."""

    def __init__(self, cluster: ChaosCluster) -> None:
        self.cluster = cluster

    def client_nodes(self) -> list[int]:
        return [n.index for n in self.cluster.members()]

    def dsn(self, i: int, *, stale: bool = False, timeout: int = 10) -> str:
        return self.cluster.dsn(i, stale=stale, timeout=timeout)


def run_scenario(
    scenario: Scenario,
    workloads: Sequence[Workload],
    *,
    root: str,
    duration: float,
    recovery: float = 3.0,
    recovery_deadline: float = 30.0,
    seed: int | None = None,
) -> RunResult:
    seed = random.randrange(1 << 32) if seed is None else seed
    rng = random.Random(seed)
    histories = {w.name: History() for w in workloads}

    def record(action: str, value: Any) -> None:
        for history in (*histories.values(), faults.probes):
            history.info(action, value)

    network = Network()
    watchdog = Watchdog()
    # QUORUMDB_CHAOS_NODE_ARGS: more flags for every node, e.g. "--log-level debug".
    node_args = [*scenario.extra_args, *os.environ.get("QUORUMDB_CHAOS_NODE_ARGS", "").split()]
    cluster = ChaosCluster(root, network, scenario.nodes, extra_args=node_args)
    faults = Faults(cluster, network, random.Random(rng.random()), record)
    verdicts: list[Verdict] = []
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        cluster.start()
        cluster.wait_ready(timeout=60)
        nemesis = scenario.nemesis()
        for statements in [w.setup_statements() for w in workloads] + [
            getattr(nemesis, "setup_statements", list)()
        ]:
            if statements:
                _setup(cluster, statements)
        timings["setup"] = time.monotonic() - started

        stop_clients = threading.Event()
        directory = _Directory(cluster)
        threads: list[threading.Thread] = []
        for workload in workloads:
            for process in range(workload.threads):
                worker = Worker(
                    Client(directory, watchdog, random.Random(rng.random())),
                    Client(directory, watchdog, random.Random(rng.random()), op_timeouts=(10.0,)),
                    Client(directory, watchdog, random.Random(rng.random()), stale=True),
                    Recorder(histories[workload.name], process),
                    random.Random(rng.random()),
                )
                threads.append(
                    threading.Thread(
                        target=_client_loop,
                        args=(workload, worker, stop_clients),
                        name=f"chaos-{workload.name}-{process}",
                        daemon=True,
                    )
                )
        nemesis_thread = threading.Thread(
            target=nemesis.run, args=(faults,), name="chaos-nemesis", daemon=True
        )
        record("run-start", {"scenario": scenario.name, "seed": seed, "duration": duration})
        for thread in threads:
            thread.start()
        nemesis_thread.start()
        faults.stop.wait(duration)  # the run's length: a schedule, not a condition
        faults.stop.set()
        nemesis_thread.join(timeout=60)
        faults.heal()
        healed_at = time.monotonic()
        record("healed", None)
        # Clients go on after the heal: for `recovery` seconds, and until every workload has
        # had an operation acknowledged again (or `recovery_deadline` passed).
        stop_clients.wait(recovery)
        try:
            wait_until(
                lambda: _recovered(histories, healed_at),
                timeout=recovery_deadline,
                interval=0.1,
                message="every workload acknowledged after the heal",
            )
        except TimeoutError:
            pass  # reported by the availability verdict
        stop_clients.set()
        for thread in threads:
            thread.join(timeout=30)
        timings["run"] = time.monotonic() - started - timings["setup"]
        availability = _availability(histories, healed_at)

        finals = _final_reads(cluster, workloads)
        for workload in workloads:
            for op in finals[workload.name]:
                histories[workload.name].append(op)
        replicas = _replicas(cluster)
        verdicts = [w.check(histories[w.name].snapshot()) for w in workloads]
        isolation = {w.name: histories[w.name].snapshot() for w in workloads}
        verdicts.append(check_isolation({**isolation, "probes": faults.probes.snapshot()}))
        verdicts += [availability, replicas, nemesis_verdict(nemesis, faults)]
        timings["total"] = time.monotonic() - started
    except BaseException as exc:
        error = Verdict("harness")
        error.undecided(f"the run did not complete: {type(exc).__name__}: {exc}")
        for crash in cluster.check_crashes():
            error.anomaly("node exited on its own", **crash)
        error.stats = {f"n{n.index}": _node_state(cluster, n.index) for n in cluster.members()}
        verdicts.append(error)
        result = _finish(scenario, seed, duration, verdicts, faults, timings, histories, cluster)
        if result.artifacts is not None:
            exc.add_note(f"chaos artifacts: {result.artifacts}")
        raise
    finally:
        faults.stop.set()
        watchdog.close()
        cluster.stop()
        network.close()
    return _finish(scenario, seed, duration, verdicts, faults, timings, histories, cluster)


def _finish(
    scenario: Scenario,
    seed: int,
    duration: float,
    verdicts: list[Verdict],
    faults: Faults,
    timings: dict[str, float],
    histories: dict[str, History],
    cluster: ChaosCluster,
) -> RunResult:
    result = RunResult(
        scenario.name, seed, duration, verdicts, dict(faults.counts), timings=timings
    )
    if not result.valid or os.environ.get("QUORUMDB_CHAOS_KEEP") == "1":
        if any(op.type != "info" for op in faults.probes.snapshot()):
            histories = {**histories, "probes": faults.probes}
        result.artifacts = _save(result, histories, cluster)
    return result


def _node_state(cluster: ChaosCluster, node: int) -> str:
    """How a member is doing, for the report of a run that did not complete."""
    process = cluster.nodes[node].process
    if process is None or process.proc is None:
        return "never started"
    code = process.proc.poll()
    if code is not None:
        return f"exited with {code}"
    if cluster.nodes[node].paused:
        return "paused"
    try:
        return f"{cluster.show(node, 'role')} at {cluster.show(node, 'applied_index')}"
    except psycopg.Error as exc:
        return f"running, not answering: {str(exc).strip()[:100]}"


def _setup(cluster: ChaosCluster, statements: list[str], timeout: float = 60.0) -> None:
    """Run a workload's setup as one transaction (a replica never holds half of it),
    retrying until the cluster answers; a retry after an unknown outcome may find it done."""

    def attempt() -> bool:
        leader = cluster.wait_leader(timeout=timeout)
        try:
            with cluster.connect(leader, timeout=5) as conn:
                conn.execute("BEGIN")
                for sql in statements:
                    conn.execute(sql)
                conn.execute("COMMIT")
        except psycopg.Error as exc:
            if exc.sqlstate in ALREADY_DONE:
                return True
            raise
        return True

    wait_until(attempt, timeout=timeout, interval=0.1, message=f"setup: {statements[0][:60]}")


def _client_loop(workload: Workload, worker: Worker, stop: threading.Event) -> None:
    try:
        while not stop.is_set():
            op = workload.operate(worker)
            if op is None or op.type != "ok":
                stop.wait(0.02)  # back off a little while the cluster is in trouble
    finally:
        worker.close()


def _recovered(histories: dict[str, History], healed_at: float) -> bool:
    return all(
        any(op.type == "ok" and op.time > healed_at for op in reversed(h.snapshot()))
        for h in histories.values()
    )


def _availability(histories: dict[str, History], healed_at: float) -> Verdict:
    """Each workload got an operation acknowledged after the faults were healed."""
    verdict = Verdict("availability")
    for name, history in histories.items():
        ops = history.snapshot()
        after = [op for op in ops if op.type == "ok" and op.time > healed_at]
        counts = {t: sum(1 for op in ops if op.type == t) for t in ("ok", "fail", "unknown")}
        verdict.stats[name] = counts
        if not after:
            verdict.anomaly("nothing acknowledged after the heal", workload=name)
    return verdict


def _wait_quiet(cluster: ChaosCluster, quiet: float = 2.5, timeout: float = 90.0) -> int:
    """Every member has applied what the leader has, and that has not moved for `quiet`
    seconds (background work such as MVCC garbage collection also writes to the log)."""
    seen: dict[str, float] = {}

    def settled() -> int | None:
        index = cluster.wait_caught_up(timeout=timeout)
        now = time.monotonic()
        if seen.get("index") != index:
            seen.update(index=index, since=now)
            return None
        return index if now - seen["since"] >= quiet else None

    return wait_until(settled, timeout=timeout, interval=0.2, message="the applied index to settle")


def _final_reads(cluster: ChaosCluster, workloads: Sequence[Workload]) -> dict[str, list[Op]]:
    """Every workload's state on every member, read once the applied index stays put."""
    for _ in range(10):
        index = _wait_quiet(cluster)
        finals: dict[str, list[Op]] = {w.name: [] for w in workloads}
        for node in cluster.members():
            for workload in workloads:
                finals[workload.name].extend(_final_read(cluster, node.index, workload))
        if cluster.wait_caught_up(timeout=60) == index:
            return finals
    raise TimeoutError("the applied index kept moving after the clients stopped")


def _final_read(cluster: ChaosCluster, node: int, workload: Workload) -> list[Op]:
    def read() -> tuple[Any]:
        with psycopg.connect(
            cluster.dsn(node, stale=True, timeout=5),
            autocommit=True,
            cursor_factory=psycopg.ClientCursor,
        ) as conn:
            return (workload.final_read(conn),)

    invoked = time.monotonic()
    (value,) = wait_until(read, timeout=30, interval=0.1, message=f"final read on n{node}")
    completed = time.monotonic()
    return [
        Op("final", "invoke", "final", None, invoked, key=node, node=node),
        Op("final", "ok", "final", value, completed, key=node, node=node),
    ]


def _replicas(cluster: ChaosCluster) -> Verdict:
    """No node exited on its own, and every member's whole store is identical at the end.

    The stores are compared at the same applied index: if a last entry (a
    garbage-collection step) reached some members and not others before they
    stopped, the cluster is started again, left to settle and stopped again.
    """
    verdict = Verdict("replicas")
    attempts = 0
    while True:
        attempts += 1
        cluster.stop()
        stores = {node.index: _store_state(cluster, node.index) for node in cluster.members()}
        indexes = {applied for applied, _ in stores.values()}
        if len(indexes) == 1 or attempts == 3:
            break
        cluster.start()
        cluster.wait_ready(timeout=60)
        _wait_quiet(cluster)
    for crash in cluster.check_crashes():
        verdict.anomaly("node exited on its own", **crash)
    groups: dict[str, list[int]] = {}
    for node, (_, digest) in stores.items():
        groups.setdefault(digest, []).append(node)
    verdict.stats = {
        "members": len(stores),
        "applied_index": sorted(indexes),
        "distinct_stores": len(groups),
        "attempts": attempts,
    }
    if len(indexes) > 1:
        verdict.undecided("the members never stopped at the same applied index")
    elif len(groups) > 1:
        verdict.anomaly("replica stores differ", groups=list(groups.values()))
    return verdict


def _store_state(cluster: ChaosCluster, node: int) -> tuple[int, str]:
    """(applied index, digest) of a stopped member's store."""
    from quorumdb.storage.store import Store

    store = Store(os.path.join(cluster.nodes[node].data_dir, "store"))
    try:
        return store.mvcc.applied_index, store.mvcc.digest()
    finally:
        store.close()


def _save(result: RunResult, histories: dict[str, History], cluster: ChaosCluster) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = ARTIFACTS / f"{result.scenario}-{stamp}-{result.seed}"
    target.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        save_history(history.snapshot(), target / f"history-{name}.jsonl")
    (target / "verdicts.json").write_text(
        json.dumps([v.to_dict() for v in result.verdicts], indent=2, default=str)
    )
    (target / "run.json").write_text(
        json.dumps(
            {
                "scenario": result.scenario,
                "seed": result.seed,
                "duration": result.duration,
                "faults": result.faults,
                "timings": result.timings,
                "nodes": [
                    {"index": n.index, "args": n.args(cluster.extra_args), "member": n.member}
                    for n in cluster.nodes
                ],
            },
            indent=2,
        )
    )
    for node in cluster.nodes:
        if os.path.exists(node.log_path):
            shutil.copy(node.log_path, target / os.path.basename(node.log_path))
        if node.alive() and shutil.which("py-spy", path=os.path.dirname(sys.executable)):
            # Where a live node's threads are (it may be stuck): py-spy, when installed.
            stacks = subprocess.run(
                [
                    os.path.join(os.path.dirname(sys.executable), "py-spy"),
                    "dump",
                    "--pid",
                    str(node.process.pid),
                ],  # type: ignore[union-attr]
                capture_output=True,
                text=True,
                timeout=30,
            )
            (target / f"n{node.index}.stacks.txt").write_text(stacks.stdout + stacks.stderr)
    if any(v.checker == "harness" for v in result.verdicts):
        # The run got stuck: keep the members' data (journal, snapshots, store) to look into.
        for node in cluster.members():
            if os.path.isdir(node.data_dir):
                shutil.copytree(node.data_dir, target / f"n{node.index}-data", dirs_exist_ok=True)
    return target
