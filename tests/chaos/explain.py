"""Reading a saved chaos run: the operations around an anomaly, with the faults in between.

    cd tests && python -m chaos.explain chaos/artifacts/<run> [--workload register]
        [--key 24] [--around 6545.99] [--window 3] [--trim out.jsonl]

prints the run's verdicts, then the operations of `--workload` (of one key,
and/or within `--window` seconds of `--around`, a history time) interleaved
with the nemesis' actions, times relative to the start of the run. `--trim`
writes the selected operations (and the final reads) as a new history: the
way a failing history becomes a small regression test in tests/chaos/regressions/.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from .history import Op, json_key, load_history, pair_up, save_history

__all__ = ["select", "main"]


def select(
    ops: list[Op],
    *,
    key: Any = None,
    around: float | None = None,
    window: float = 3.0,
    indexes: set[int] | None = None,
) -> list[Op]:
    """The operations of `key` (all if None) touching [around - window, around + window]
    (everything if `around` is None) - or only those with an entry in `indexes` - as
    complete pairs, plus nemesis events and final reads in that span."""
    lo, hi = (-float("inf"), float("inf")) if around is None else (around - window, around + window)
    keep: set[int] = set()
    for invocation, completion in pair_up(ops):
        end = completion.time if completion is not None else float("inf")
        if key is not None and invocation.key != key and invocation.process != "final":
            continue
        entries = {invocation.index} | ({completion.index} if completion is not None else set())
        if indexes is not None and not entries & indexes:
            continue
        if end >= lo and invocation.time <= hi:
            keep.add(invocation.index)
            if completion is not None:
                keep.add(completion.index)
    chosen = [op for op in ops if op.index in keep or (op.type == "info" and lo <= op.time <= hi)]
    return [_only_key(op, key) for op in chosen]


def _only_key(op: Op, key: Any) -> Op:
    """A final read of keyed state ({key: value}) reduced to `key`."""
    if key is None or op.process != "final" or not isinstance(op.value, dict):
        return op
    return replace(op, value={k: v for k, v in op.value.items() if json_key(k) == key})


def render(ops: Iterable[Op], start: float) -> str:
    lines = []
    for op in ops:
        error = f"  ! {op.error}" if op.error else ""
        node = f" n{op.node}" if op.node is not None else ""
        key = f" key={op.key}" if op.key is not None and op.process != "final" else ""
        value = json.dumps(op.value, default=str)
        if len(value) > 120:
            value = value[:117] + "..."
        lines.append(
            f"{op.time - start:9.3f} {op.index:>7} {str(op.process):>8} {op.type:<7} {op.f:<9}"
            f"{key}{node} {value}{error}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m chaos.explain", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run", type=Path, help="an artifacts directory of a chaos run")
    parser.add_argument("--workload", default=None, help="bank, register, set or counter")
    parser.add_argument("--key", default=None, help="only this key (register, counter)")
    parser.add_argument(
        "--around", type=float, default=None, help="a history time (monotonic seconds)"
    )
    parser.add_argument("--window", type=float, default=3.0)
    parser.add_argument(
        "--index", type=int, action="append", help="only the operation with this history index"
    )
    parser.add_argument("--trim", type=Path, default=None, help="write the selection as a history")
    args = parser.parse_args(argv)
    verdicts = json.loads((args.run / "verdicts.json").read_text())
    for verdict in verdicts:
        state = {True: "valid", False: "INVALID", None: "UNDECIDED"}[verdict["valid"]]
        print(f"{verdict['checker']}: {state} {verdict['stats']}")
        for anomaly in verdict["anomalies"][:5]:
            print(f"  - {json.dumps(anomaly, default=str)[:600]}")
    if args.workload is None:
        return 0
    ops = load_history(args.run / f"history-{args.workload}.jsonl")
    key = int(args.key) if args.key is not None and args.key.lstrip("-").isdigit() else args.key
    indexes = set(args.index) if args.index else None
    chosen = select(ops, key=key, around=args.around, window=args.window, indexes=indexes)
    print(render(chosen, ops[0].time if ops else 0.0))
    if args.trim is not None:
        save_history(chosen, args.trim)
        print(f"wrote {len(chosen)} operations to {args.trim}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
