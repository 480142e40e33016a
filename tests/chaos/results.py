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

__all__ = ["table", "rounds", "main"]

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
    for number, run in rounds(runs):
        if "error" in run:  # the run did not complete (the harness raised)
            lines.append(
                f"| {number} | {run['scenario']} | | | | | | "
                f"| DID NOT COMPLETE ({run['error'][:120]}) |"
            )
            continue
        failed = [name for name, valid in run["verdicts"].items() if valid is not True]
        result = "pass" if run["valid"] else f"FAIL ({', '.join(failed)})"
        lines.append(
            f"| {number} | {run['scenario']} | {run['ops']} | {run['ok']} "
            f"| {run['fail']} | {run['unknown']} | {_faults(run['faults'])} "
            f"| {_isolation(run.get('isolation'))} | {result} |"
        )
    return "\n".join(lines)


def rounds(runs: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(round number, run): a round runs the scenarios in name order, so a scenario that
    does not sort after the previous one starts the next round."""
    numbered, number, previous = [], 0, None
    for run in runs:
        if previous is None or run["scenario"] <= previous:
            number += 1
        previous = run["scenario"]
        numbered.append((number, run))
    return numbered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="JSON lines written by QUORUMDB_CHAOS_RESULTS")
    args = parser.parse_args(argv)
    runs = [json.loads(line) for line in args.results.read_text().splitlines() if line.strip()]
    print(table(runs))


if __name__ == "__main__":
    main()
