"""Profile the leader of a 3-node cluster with py-spy while pgbench drives it.

    .venv/bin/python -m bench.profile --script tpcb --mode prepared --clients 10 \\
        --seconds 10 --out /tmp/tpcb.svg
    .venv/bin/python -m bench.profile --script select-only --format speedscope --out /tmp/s.json
    .venv/bin/python -m bench.profile --script tpcb --top     # a text summary, no file

Starts a throwaway cluster (bench/cluster.py, fsync on unless --no-fsync),
loads `pgbench -i -s SCALE`, warms up, then records the leader process with
`py-spy record` (all threads, idle frames dropped) for the duration of one
pgbench run, and prints pgbench's result. `--top` prints the functions with
the most own samples instead of writing a flame graph. This is a tool for
finding hot paths; the figures that count come from `bench.run`.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import pgbench
from .cluster import throwaway_cluster
from .support import say

__all__ = ["main"]

PY_SPY = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"


def _top(collapsed: Path, limit: int) -> str:
    """Own-sample totals per innermost frame, and inclusive totals per frame, from a
    py-spy `raw` (collapsed stacks) file."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "own:"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in own.most_common(limit)]
    lines += ["", "inclusive:"]
    lines += [f"{100 * n / total:6.1f}%  {f}" for f, n in inclusive.most_common(limit)]
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", choices=sorted(pgbench.SCRIPTS), default="tpcb")
    parser.add_argument("--mode", choices=pgbench.MODES, default="prepared")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--format", choices=("flamegraph", "speedscope", "raw"), default="flamegraph")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--top", type=int, nargs="?", const=40, default=None,
                        help="print the N hottest frames instead of writing --out")  # fmt: skip
    parser.add_argument("--gil", action="store_true",
                        help="only sample the thread holding the GIL (Python CPU time)")  # fmt: skip
    parser.add_argument("--cpu-only", action="store_true",
                        help="no py-spy: only CPU time per transaction of each node")  # fmt: skip
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.top is None and args.out is None and not args.cpu_only:
        parser.error("give --out FILE or --top")

    with throwaway_cluster(3, fsync=not args.no_fsync, tmp_root=args.tmp_dir) as cluster:
        leader = cluster.find_leader()
        say(f"leader is {leader.name} (pid {leader.pid}); pgbench -i -s {args.scale}")
        init = pgbench.init(leader.endpoint, args.scale)
        if not init.ok:
            say(f"pgbench -i failed: {init.error}")
            return 1
        run = pgbench.PgbenchRun(
            args.script, args.scale, args.clients, min(args.clients, 2), args.seconds, args.mode,
            log_latencies=False,
        )  # fmt: skip
        warm = pgbench.PgbenchRun(
            args.script, args.scale, args.clients, min(args.clients, 2), 2, args.mode,
            log_latencies=False,
        )  # fmt: skip
        pgbench.run(warm, leader.endpoint)
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "stacks.txt"
            out = raw if args.top is not None else args.out
            fmt = "raw" if args.top is not None else args.format
            spy = None if args.cpu_only else subprocess.Popen(
                [PY_SPY, "record", "--pid", str(leader.pid), "--rate", str(args.rate),
                 "--duration", str(args.seconds), "--format", fmt, "--output", str(out),
                 "--threads", "--nonblocking", *(["--gil"] if args.gil else [])],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            )  # fmt: skip
            before = {n.name: cpu_seconds(n.pid) for n in cluster.nodes if n.pid}
            result = pgbench.run(run, leader.endpoint)
            after = {n.name: cpu_seconds(n.pid) for n in cluster.nodes if n.pid}
            _, err = spy.communicate(timeout=args.seconds + 60) if spy else (None, b"")
            say(
                f"{run.label}: {result.summary.tps or 0:.1f} tx/s, failed {result.summary.failed}, "
                f"error {result.error}"
            )
            done = result.summary.transactions or 0
            for name in after:
                used = after[name] - before[name]
                role = "leader" if name == leader.name else "follower"
                per_tx = f", {1000 * used / done:.3f} ms CPU per transaction" if done else ""
                say(f"  {name} ({role}): {used:.2f} s CPU{per_tx}")
            for cmd in result.summary.per_command:
                say(f"  {cmd.latency_ms:8.3f} ms  {cmd.command}")
            if spy is None:
                return 0
            if spy.returncode != 0:
                say(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
                return 1
            if args.top is not None:
                print(_top(raw, args.top))
            else:
                say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
