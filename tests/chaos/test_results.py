"""results.py: the runs' figures as the RESULTS.md table."""

from __future__ import annotations

from .results import table


def test_one_row_per_run_numbered_by_round_with_failing_verdicts_named():
    run = {
        "scenario": "partition",
        "ops": 10,
        "ok": 7,
        "fail": 2,
        "unknown": 1,
        "faults": {"partition": 3, "cut": 1, "heal": 4},
        "isolation": {"minority_windows": 4, "minority_writes": 9, "deposed_windows": 0},
        "valid": True,
        "verdicts": {"bank": True, "isolation": True},
    }
    failing = {**run, "valid": False, "verdicts": {"bank": True, "isolation": False}}
    stuck = {"scenario": "restart-all", "valid": False, "error": "TimeoutError: settle"}
    rows = table([run, failing, stuck]).splitlines()[2:]
    assert rows == [
        "| 1 | partition | 10 | 7 | 2 | 1 | 3/1 partitions/cuts | 9 minority writes | pass |",
        "| 2 | partition | 10 | 7 | 2 | 1 | 3/1 partitions/cuts | 9 minority writes "
        "| FAIL (isolation) |",
        "| 2 | restart-all | | | | | | | DID NOT COMPLETE (TimeoutError: settle) |",
    ]
