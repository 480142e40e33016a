"""The figures of chaos runs as a Markdown table (the source of RESULTS.md).

    make chaos DURATION=60 RUNS=5 RESULTS=/tmp/chaos.jsonl
    cd tests && python -m chaos.results /tmp/chaos.jsonl

One row per run, in the order they ran: operations and their outcomes, the
faults injected, what the isolation checker put to the test, the verdict.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

__all__ = ["table", "main"]

# Faults worth a column, per scenario, as (label, action names summed).
_FAULTS = (
    ("kills", ("kill",)),
    ("mid-snapshot kills", ("kill-during-snapshot",)),
    ("pauses", ("pause",)),
    ("deposed", ("deposed",)),
    ("partitions/cuts", ("partition", "cut")),
    ("members added/removed", ("member-added", "member-removed")),
)


def _faults(faults: dict[str, int]) -> str:
    parts = []
    for label, names in _FAULTS:
        counts = [faults.get(n, 0) for n in names]
        if any(counts):
            parts.append(f"{'/'.join(str(c) for c in counts)} {label}")
    return ", ".join(parts)


def _isolation(stats: dict[str, Any] | None) -> str:
    if not stats:
        return ""
    parts = []
    if stats.get("minority_windows"):
        parts.append(f"{stats['minority_writes']} minority writes")
    if stats.get("deposed_windows"):
        parts.append(f"{stats['deposed_answers']} deposed answers")
    return ", ".join(parts)


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| round | scenario | ops | ok | fail | unknown | faults | isolation tested | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    rounds: dict[str, int] = {}
    for run in runs:
        rounds[run["scenario"]] = rounds.get(run["scenario"], 0) + 1
        failed = [name for name, valid in run["verdicts"].items() if valid is not True]
        result = "pass" if run["valid"] else f"FAIL ({', '.join(failed)})"
        lines.append(
            f"| {rounds[run['scenario']]} | {run['scenario']} | {run['ops']} | {run['ok']} "
            f"| {run['fail']} | {run['unknown']} | {_faults(run['faults'])} "
            f"| {_isolation(run.get('isolation'))} | {result} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="JSON lines written by QUORUMDB_CHAOS_RESULTS")
    args = parser.parse_args(argv)
    runs = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print(table(runs))


if __name__ == "__main__":
    main()
