"""Raft commit latency and throughput: QuorumDB's RaftNode vs bare pysyncobj, same run.

Run from the repository root::

    .venv/bin/python -m bench.raft_latency [--proposals 2000] [--seconds 3] [--concurrency 10]

For each system it starts 3 processes on free loopback ports (the same
machine, so the network is loopback and the CPUs are shared). The process
that becomes leader measures, in-process:

* synchronous latency: one proposal at a time, p50/p99/mean over
  ``--proposals`` (after a warm-up);
* pipelined throughput: ``--concurrency`` threads proposing back to back for
  ``--seconds``, proposals/s and latency under that load.

Systems: ``quorumdb`` (RaftNode, journal fsync on: the production setting),
``quorumdb_nofsync`` (``--no-fsync``) and ``pysyncobj`` (a plain SyncObj with
one @replicated counter, ``appendEntriesUseBatch=False`` and its file
journal, which never fsyncs). A JSON document goes to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

SYSTEMS = ("quorumdb", "quorumdb_nofsync", "pysyncobj")


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "p50_ms": round(_percentile(ordered, 0.50) * 1e3, 3),
        "p99_ms": round(_percentile(ordered, 0.99) * 1e3, 3),
        "mean_ms": round(sum(ordered) / len(ordered) * 1e3, 3) if ordered else float("nan"),
        "n": len(ordered),
    }


# ---- measuring (runs inside the leader process) ------------------------------------


def _measure(propose: Any, proposals: int, seconds: float, concurrency: int) -> dict[str, Any]:
    for i in range(200):
        propose(i)
    latencies = []
    for i in range(proposals):
        t0 = time.perf_counter()
        propose(i)
        latencies.append(time.perf_counter() - t0)

    stop = time.monotonic() + seconds
    loaded: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0]

    def worker(slot: int) -> None:
        i = 0
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            try:
                propose(i)
            except Exception:  # noqa: BLE001 - counted, reported
                errors[0] += 1
                continue
            loaded[slot].append(time.perf_counter() - t0)
            i += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(s,)) for s in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    all_loaded = [x for slot in loaded for x in slot]
    return {
        "sync": _summary(latencies),
        "pipelined": {
            "concurrency": concurrency,
            "proposals_per_s": round(len(all_loaded) / elapsed, 1),
            "errors": errors[0],
            **_summary(all_loaded),
        },
    }


class _CounterMachine:
    """The smallest StateMachine: a counter, snapshot = one file."""

    def __init__(self) -> None:
        self.index = 0
        self.count = 0

    def applied_index(self) -> int:
        return self.index

    def apply(self, index: int, command: bytes) -> object:
        self.index = index
        self.count += 1
        return index

    def snapshot(self, dir: str) -> int:
        os.makedirs(dir)
        index = self.index
        with open(os.path.join(dir, "state"), "w") as f:
            f.write(f"{index} {self.count}")
        return index

    def restore(self, dir: str) -> None:
        with open(os.path.join(dir, "state")) as f:
            index, count = f.read().split()
        self.index, self.count = int(index), int(count)


def _run_quorumdb(
    me: str, addresses: list[str], data: str, fsync: bool, args: argparse.Namespace
) -> None:
    from quorumdb.raft import RaftConfig, RaftNode

    config = RaftConfig(
        self_address=me, peers=tuple(addresses), data_dir=data, fsync=fsync, bind_address=me
    )
    node = RaftNode(config, _CounterMachine())
    payload = b"x" * 100
    try:
        while not (node.is_leader() and node.lease_valid()):
            if node.leader_address() not in (None, me):
                time.sleep(3600)  # a follower: the driver stops us
            time.sleep(0.01)
        result = _measure(
            lambda i: node.propose(payload).result(10),
            args.proposals,
            args.seconds,
            args.concurrency,
        )
        print("RESULT " + json.dumps(result), flush=True)
    finally:
        node.destroy()


def _run_pysyncobj(me: str, addresses: list[str], data: str, args: argparse.Namespace) -> None:
    from pysyncobj import SyncObj, SyncObjConf, replicated

    class Counter(SyncObj):
        def __init__(self) -> None:
            conf = SyncObjConf(
                appendEntriesUseBatch=False,
                journalFile=os.path.join(data, "journal"),
                bindAddress=me,
            )
            super().__init__(me, [a for a in addresses if a != me], conf)
            self.value = 0

        @replicated
        def incr(self) -> int:
            self.value += 1
            return self.value

    os.makedirs(data, exist_ok=True)
    obj = Counter()
    try:
        while not obj._isLeader():
            leader = obj._getLeader()
            if leader is not None and str(leader) != me:
                time.sleep(3600)
            time.sleep(0.01)
        time.sleep(0.5)  # let the followers settle on this leader
        result = _measure(
            lambda i: obj.incr(sync=True, timeout=10),
            args.proposals,
            args.seconds,
            args.concurrency,
        )
        print("RESULT " + json.dumps(result), flush=True)
    finally:
        obj.destroy()


def _worker(args: argparse.Namespace) -> None:
    addresses = args.addresses.split(",")
    me = addresses[args.index]
    data = os.path.join(args.data, f"n{args.index}")
    if args.worker == "pysyncobj":
        _run_pysyncobj(me, addresses, data, args)
    else:
        _run_quorumdb(me, addresses, data, args.worker == "quorumdb", args)


# ---- driving (the parent process) ---------------------------------------------------


def _run_cluster(system: str, args: argparse.Namespace, root: str) -> dict[str, Any]:
    addresses = [f"127.0.0.1:{p}" for p in _free_ports(3)]
    data = os.path.join(root, system)
    lines: queue.Queue[str] = queue.Queue()
    procs = []
    for i in range(3):
        cmd = [
            sys.executable, "-m", "bench.raft_latency", "--worker", system, "--index", str(i),
            "--addresses", ",".join(addresses), "--data", data,
            "--proposals", str(args.proposals), "--seconds", str(args.seconds),
            "--concurrency", str(args.concurrency),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(proc)
        threading.Thread(
            target=lambda p=proc: [lines.put(line) for line in p.stdout], daemon=True
        ).start()
    try:
        deadline = time.monotonic() + 120 + args.seconds
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                if all(p.poll() is not None for p in procs):
                    break
                continue
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT ") :])  # type: ignore[no-any-return]
        raise RuntimeError(f"{system}: no result")
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--proposals", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--addresses", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args)
        return
    # On the repository's disk (ignored by git), so that fsync costs what it costs there.
    scratch = os.path.join("bench", "results", "tmp")
    os.makedirs(scratch, exist_ok=True)
    root = tempfile.mkdtemp(prefix="raft-latency-", dir=scratch)
    try:
        results: dict[str, Any] = {
            "setup": {
                "nodes": 3,
                "network": "loopback",
                "cpus": os.cpu_count(),
                "python": sys.version.split()[0],
                "proposals": args.proposals,
                "seconds": args.seconds,
                "concurrency": args.concurrency,
            }
        }
        for system in args.systems.split(","):
            results[system] = _run_cluster(system, args, root)
        json.dump(results, sys.stdout, indent=2)
        sys.stdout.write("\n")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
