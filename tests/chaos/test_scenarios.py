"""Every chaos scenario, all workloads at once, checked (tests/chaos/runner.py).

A short run of each is part of `make test`; `make chaos DURATION=60` runs
them longer. A failing run leaves its histories and the nodes' logs under
tests/chaos/artifacts/. QUORUMDB_CHAOS_RESULTS=<file> appends each run's figures
to that file as a JSON line.
"""

from __future__ import annotations

import json
import os

import pytest

from .runner import run_scenario
from .scenarios import SCENARIOS, chaos_duration, default_workloads

DURATION = chaos_duration()

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.cluster,
    pytest.mark.timeout(int(DURATION) + 240),
]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario(name: str, tmp_path) -> None:
    scenario = SCENARIOS[name]
    reason = scenario.unavailable()
    if reason is not None:
        pytest.skip(reason)
    results = os.environ.get("QUORUMDB_CHAOS_RESULTS")
    try:
        result = run_scenario(scenario, default_workloads(), root=str(tmp_path), duration=DURATION)
    except Exception as exc:
        if results:
            _append(results, {"scenario": name, "valid": False, "error": str(exc)[:300]})
        raise
    print(result.report())
    if results:  # one JSON line per run, for tests/chaos/RESULTS.md
        _append(results, result.summary())
    assert result.valid, result.report()


def _append(path: str, summary: dict[str, object]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(summary, default=str) + "\n")
