"""The chaos scenarios: which nemesis, on what cluster, and the workloads every run uses.

Every scenario runs all four workloads at once (bank, register, set, counter
on separate tables), so one run checks every property under its faults.
QUORUMDB_CHAOS_DURATION (seconds of faults per run, default 10) makes the
same tests run longer: `make chaos DURATION=60`.
"""

from __future__ import annotations

import os

from .membership import CliMembershipAdmin, Membership, membership_available
from .nemesis import LeaderKill, LeaderPause, Partitions, RestartAll, SnapshotKills
from .runner import Scenario
from .workloads.bank import BankWorkload
from .workloads.base import Workload
from .workloads.counter import CounterWorkload
from .workloads.register import RegisterWorkload
from .workloads.set import SetWorkload

__all__ = ["SCENARIOS", "default_workloads", "chaos_duration"]

DEFAULT_DURATION = 10.0

SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("leader-kill", LeaderKill),
        Scenario("leader-pause", LeaderPause),
        Scenario("partition", Partitions),
        Scenario("restart-all", RestartAll),
        # Snapshots every 20 entries: every node writes one every second or so.
        Scenario("snapshot-kill", SnapshotKills, extra_args=("--snapshot-entries", "20")),
        Scenario(
            "membership",
            lambda: Membership(CliMembershipAdmin()),
            unavailable=lambda: (
                None
                if membership_available()
                else "waiting for `cluster-cli add/remove` (no quorumdb.cluster_cli.main in this tree)"
            ),
        ),
    )
}


def default_workloads() -> list[Workload]:
    return [BankWorkload(), RegisterWorkload(), SetWorkload(), CounterWorkload()]


def chaos_duration() -> float:
    return float(os.environ.get("QUORUMDB_CHAOS_DURATION") or DEFAULT_DURATION)
